// A client no one here wrote must agree with the API façade: the machine's kubectl, against the façade, for what
// meshproof relies on — discovery, get, apply --server-side, auth can-i, logs, exec, delete namespace — with
// what it prints asserted. (kubectl sends some bodies as protobuf; the façade decodes the SelfSubjectAccessReview
// it needs for `auth can-i`.)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { KubeTarget } from '../cluster/kube/kube-target.js';
import { AGENT_BUNDLE } from '../harness/paths.js';
import { loadPosture } from '../harness/posture/load.js';
import { runProcess } from './support/cli.js';
import { startLabCluster } from './support/lab-cluster.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-kubectl-'));
const hasKubectl = (() => {
  try {
    readFileSync('/usr/bin/kubectl');
    return true;
  } catch {
    return false;
  }
})();

describe.runIf(hasKubectl)('kubectl against the API façade', () => {
  it('discovery, get, apply --server-side, auth can-i, logs, exec and delete namespace', async () => {
    const cluster = await startLabCluster();
    const kubeconfig = cluster.api.kubeconfig(dir);
    const kubectl = (...args: string[]) => runProcess('kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig } });
    try {
      // The meshproof role: what it may and may not do, as kubectl asks it.
      expect((await kubectl('auth', 'can-i', 'create', 'pods', '--subresource=exec')).stdout.trim()).toBe('yes');
      expect((await kubectl('auth', 'can-i', 'get', 'configmaps/istio', '-n', 'istio-system')).stdout.trim()).toBe('yes');
      expect((await kubectl('auth', 'can-i', 'get', 'configmaps/other', '-n', 'istio-system')).stdout.trim()).toBe('no');
      expect((await kubectl('auth', 'can-i', 'patch', 'namespaces')).stdout.trim()).toBe('no');

      // An administrator from here on.
      cluster.api.state.rbac = undefined;
      cluster.api.state.user = 'kubernetes-admin'; // deploy/confine.yaml binds meshproof's service account only
      const ns = await kubectl('get', 'namespaces');
      expect(ns.code, ns.stderr).toBe(0);
      expect(ns.stdout).toMatch(/^NAME\s+STATUS\s+AGE\n(default|istio-system)\s+Active\s+\d+d\n/);
      const file = path.join(dir, 'objects.yaml');
      writeFileSync(file, 'apiVersion: v1\nkind: Namespace\nmetadata: {name: kubectl-test, labels: {team: pay}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa1, namespace: kubectl-test}\n');
      const applied = await kubectl('apply', '--server-side', '-f', file);
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.stdout).toBe('namespace/kubectl-test serverside-applied\nserviceaccount/sa1 serverside-applied\n');
      expect((await kubectl('get', 'sa', '-n', 'kubectl-test', '-o', 'name')).stdout).toBe('serviceaccount/sa1\n');
      // What a real server refuses, kubectl shows as the server said it.
      writeFileSync(file, 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: kubectl-test}\nspec: {replicas: two}\n');
      const invalid = await kubectl('apply', '--server-side', '-f', file);
      expect(invalid.code).not.toBe(0);
      expect(invalid.stderr).toMatch(/is invalid/);

      // Pods of a posture meshproof applied: their sidecar's log and an exec in them.
      const { kc } = loadKubeConfig({ kubeconfig, env: {} });
      const target = new KubeTarget({ kc, runId: crypto.randomUUID(), agentBundle: readFileSync(AGENT_BUNDLE, 'utf8'), adminToken: 't', provisioned: true, readyTimeoutMs: 30_000 });
      try {
        await target.apply(loadPosture('fixtures/secure'));
        const meshNs = target.ns('mesh');
        const stats = await kubectl('exec', '-n', meshNs, 'echo-0', '-c', 'istio-proxy', '--', 'pilot-agent', 'request', 'GET', 'stats');
        expect(stats.code, stats.stderr).toBe(0);
        expect(stats.stdout).toMatch(/http\.inbound_0\.0\.0\.0_8080\.rbac\.denied: \d+/);
        const logs = await kubectl('logs', '-n', meshNs, 'echo-0', '-c', 'istio-proxy', '--since=1h');
        expect(logs.code, logs.stderr).toBe(0);
      } finally {
        await target.dispose();
      }

      // kubectl waits for the deletion (a watch for the DELETED event): the namespace is Terminating first.
      cluster.api.state.terminateAfterMs = 500;
      const deleted = await kubectl('delete', 'namespace', 'kubectl-test');
      expect(deleted.code, deleted.stderr).toBe(0);
      expect(deleted.stdout).toBe('namespace "kubectl-test" deleted\n');
      expect((await kubectl('get', 'namespaces', '-o', 'name')).stdout).not.toContain('kubectl-test');
    } finally {
      await cluster.close();
    }
  });
});
