// Applying a rendered posture through the real client library: server-side apply with meshproof's field
// manager and run label, readiness with sidecar presence checked both ways, and cleanup by namespace.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hasSidecar, KubeApplier } from '../cluster/kube/apply.js';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { RUN_LABEL, renderForCluster } from '../cluster/kube/render.js';
import { loadPosture } from '../harness/posture/load.js';
import { type KubeApi, startKubeApi } from './support/kube-api.js';

const RUN = '4f1c2a9e-7b3d-4c2e-9a1f-0123456789ab';
const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-apply-'));
const rendered = renderForCluster(loadPosture('fixtures/secure'), { runId: RUN, trustDomain: 'cluster.local', provisioned: false, agentBundle: '/* agent */', adminToken: 't' });
let api: KubeApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function applier(o: { readyTimeoutMs?: number } = {}) {
  api = await startKubeApi();
  const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} });
  return new KubeApplier(kc, { runId: RUN, readyTimeoutMs: o.readyTimeoutMs ?? 5_000, pollMs: 20 });
}

describe('sidecar presence', () => {
  it('counts istio-proxy as a container or as a native sidecar (initContainer with restartPolicy Always)', () => {
    expect(hasSidecar({ spec: { containers: [{ name: 'agent' }, { name: 'istio-proxy' }] } })).toBe(true);
    expect(hasSidecar({ spec: { containers: [{ name: 'agent' }], initContainers: [{ name: 'istio-proxy', restartPolicy: 'Always' }] } })).toBe(true);
    expect(hasSidecar({ spec: { containers: [{ name: 'agent' }], initContainers: [{ name: 'istio-init' }, { name: 'istio-proxy' }] } })).toBe(false);
    expect(hasSidecar({ spec: { containers: [{ name: 'agent' }] } })).toBe(false);
  });
});

describe('applying to a cluster', () => {
  it('server-side applies every object with field manager meshproof, then waits for Ready pods with sidecars where injected', async () => {
    const a = await applier();
    api!.state.readyAfterPolls = 12; // not Ready at first: the applier must wait
    await a.apply(rendered);
    expect(api!.state.objects.size).toBe(rendered.objects.length);
    expect(new Set(api!.state.managers.values())).toEqual(new Set(['meshproof']));
    for (const o of api!.state.objects.values()) expect((o as { metadata: { labels: Record<string, string> } }).metadata.labels[RUN_LABEL]).toBe(RUN);
    expect(api!.calls).toContain('PATCH /api/v1/namespaces/mp-4f1c2a9e-mesh');
    expect(api!.calls).toContain('PATCH /apis/security.istio.io/v1/namespaces/mp-4f1c2a9e-mesh/authorizationpolicies/echo-allow');
    const pods = await a.waitReady(rendered);
    expect(pods.filter((p) => p.namespace === 'mp-4f1c2a9e-mesh' && p.workload === 'echo')).toHaveLength(2);
    expect(pods.find((p) => p.workload === 'outside')?.sidecar).toBe(false);
    expect(pods.find((p) => p.workload === 'authorized')?.sidecar).toBe(true);
  });

  it('a namespace labelled for injection whose pods have no istio-proxy is a clear error', async () => {
    const a = await applier();
    api!.state.injectionBroken = true;
    await a.apply(rendered);
    await expect(a.waitReady(rendered)).rejects.toThrow(/namespace mp-4f1c2a9e-\w+ is labelled for injection but pod \w+-0 has no istio-proxy: is istiod's webhook installed\?/);
  });

  it('pods that never become Ready time out with what was awaited', async () => {
    const a = await applier({ readyTimeoutMs: 300 });
    api!.state.readyAfterPolls = 1_000_000;
    await a.apply(rendered);
    await expect(a.waitReady(rendered)).rejects.toThrow(/pods not Ready after 0\.3s: mp-4f1c2a9e-\w+\/\w+ \(0\/\d ready\)/);
  });

  it('dispose deletes every namespace the run created, and nothing else', async () => {
    const a = await applier();
    await a.apply(rendered);
    await a.dispose();
    expect([...api!.state.namespaces.keys()]).toEqual(['default']);
    expect(api!.state.objects.size).toBe(0);
  });
});
