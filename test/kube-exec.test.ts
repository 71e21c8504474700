// Exec through the real client library and the v5.channel.k8s.io protocol: stdin delivered and closed, exit
// codes from the V1Status, and a bounded wait.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { execInPod, exitCodeOf } from '../cluster/kube/exec.js';
import { InfraError } from '../harness/errors.js';
import { type KubeApi, startKubeApi } from './support/kube-api.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-exec-'));
/** The façade, with a run's namespace to exec in (deploy/confine.yaml admits exec only there). */
async function withRunNamespace(): Promise<KubeApi> {
  const a = await startKubeApi();
  a.state.namespaces.set('mp-x-mesh', { labels: { 'meshproof.dev/run': 'x' }, created: new Date().toISOString() });
  return a;
}
let api: KubeApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

describe('exec in a pod', () => {
  it('sends the request as one line on stdin and returns stdout with exit code 0', async () => {
    api = await withRunNamespace();
    api.state.exec = async (c) => ({ stdout: `${c.container}:${c.command.join(' ')}:${c.stdin.toUpperCase()}`, exitCode: 0 });
    const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} });
    const r = await execInPod(kc, { namespace: 'mp-x-mesh', pod: 'authorized-0', container: 'agent', command: ['node', '/opt/meshproof/agent.mjs', 'probe'], stdin: '{"attacks":[]}', timeoutMs: 5_000 });
    expect(r).toEqual({ stdout: 'agent:node /opt/meshproof/agent.mjs probe:{"ATTACKS":[]}\n', stderr: '', exitCode: 0 });
    expect(api.calls).toContain('EXEC /api/v1/namespaces/mp-x-mesh/pods/authorized-0/exec');
  });

  it('reads a non-zero exit code from the V1Status', async () => {
    api = await withRunNamespace();
    api.state.exec = async () => ({ stderr: 'boom', exitCode: 7 });
    const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} });
    const r = await execInPod(kc, { namespace: 'mp-x-mesh', pod: 'p', container: 'istio-proxy', command: ['pilot-agent', 'request', 'GET', 'stats'], timeoutMs: 5_000 });
    expect(r).toEqual({ stdout: '', stderr: 'boom', exitCode: 7 });
  });

  it('gives up after the timeout with an infrastructure error', async () => {
    api = await withRunNamespace();
    api.state.exec = () => new Promise(() => {});
    const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} });
    const t0 = Date.now();
    const p = execInPod(kc, { namespace: 'mp-x-mesh', pod: 'p', container: 'agent', command: ['sleep'], stdin: '', timeoutMs: 500 });
    await expect(p).rejects.toThrow(InfraError);
    await expect(p).rejects.toThrow(/exec in mp-x-mesh\/p \(agent\): sleep: no result within 500 ms/);
    // The exec never answers: only the 500 ms timeout ends the call (without it the test would hang to its guard).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
  });

  it('works against an API server that speaks only v4.channel.k8s.io (Kubernetes < 1.30): stdin is never closed early', async () => {
    api = await withRunNamespace();
    api.state.v4Only = true;
    api.state.exec = async (c) => ({ stdout: c.stdin.trim(), stderr: 'note', exitCode: 3 });
    const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} });
    const r = await execInPod(kc, { namespace: 'mp-x-mesh', pod: 'p', container: 'agent', command: ['node', '/opt/meshproof/agent.mjs', 'probe'], stdin: '{"attacks":[]}', timeoutMs: 5_000 });
    expect(r).toEqual({ stdout: '{"attacks":[]}', stderr: 'note', exitCode: 3 });
  });

  it('maps V1Status to exit codes', () => {
    expect(exitCodeOf({ status: 'Success' })).toBe(0);
    expect(exitCodeOf({ status: 'Failure', details: { causes: [{ reason: 'ExitCode', message: '2' }] } })).toBe(2);
    expect(exitCodeOf({ status: 'Failure', reason: 'InternalError' })).toBe(-1);
  });
});
