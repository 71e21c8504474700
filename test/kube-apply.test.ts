// Applying a rendered posture through the real client library: server-side apply with meshproof's field
// manager and run label, readiness with sidecar presence checked both ways, and cleanup by namespace.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hasSidecar, KubeApplier } from '../cluster/kube/apply.js';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { generateSecrets, RUN_LABEL, renderForCluster } from '../cluster/kube/render.js';
import { ConfigError } from '../harness/errors.js';
import { loadPosture } from '../harness/posture/load.js';
import { type KubeApi, startKubeApi } from './support/kube-api.js';

const RUN = '4f1c2a9e-7b3d-4c2e-9a1f-0123456789ab';
const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-apply-'));
const rendered = renderForCluster(loadPosture('fixtures/secure'), { runId: RUN, trustDomain: 'cluster.local', provisioned: false, agentBundle: '/* agent */', adminToken: 't' });
// What KubeTarget does before applying: the edge certificate's Secret gets its data.
await generateSecrets(rendered, {});
let api: KubeApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function applier(o: { readyTimeoutMs?: number; deleteTimeoutMs?: number } = {}) {
  api = await startKubeApi();
  const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} });
  return new KubeApplier(kc, { runId: RUN, readyTimeoutMs: o.readyTimeoutMs ?? 5_000, deleteTimeoutMs: o.deleteTimeoutMs ?? 5_000, pollMs: 20 });
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
    expect(api!.calls).toContain('POST /api/v1/namespaces');
    expect(api!.calls).not.toContain('PATCH /api/v1/namespaces/mp-4f1c2a9e-mesh');
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
    expect([...api!.state.namespaces.keys()]).toEqual(['default', 'istio-system']);
    expect(api!.state.objects.size).toBe(0);
  });

  it('a run namespace that already exists stops the run (exit 2) and is never adopted nor deleted', async () => {
    const a = await applier();
    api!.state.namespaces.set('mp-4f1c2a9e-bare', { labels: { owner: 'someone' }, created: '2026-01-01T00:00:00Z' });
    const err = await a.apply(rendered).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(String(err)).toMatch(/namespace mp-4f1c2a9e-bare already exists: meshproof creates its run's namespaces and never adopts one/);
    await a.dispose();
    expect(api!.state.namespaces.get('mp-4f1c2a9e-bare')?.labels).toEqual({ owner: 'someone' });
    expect(api!.state.namespaces.has('mp-4f1c2a9e-mesh')).toBe(false); // created before the stop, deleted
  });

  it('server-side apply never forces: a field another manager owns is a conflict naming that manager', async () => {
    const a = await applier();
    const sa = rendered.objects.find((o) => o.kind === 'Service')!;
    const apiPath = `/api/v1/namespaces/${sa.metadata.namespace}/services/${sa.metadata.name}`;
    await a.apply({ ...rendered, objects: rendered.objects.filter((o) => o.kind === 'Namespace') });
    api!.state.objects.set(apiPath, { ...sa, spec: { ...(sa.spec as object), selector: { app: 'theirs' } } } as never);
    api!.state.managers.set(apiPath, 'helm');
    await expect(a.apply({ ...rendered, objects: [sa] })).rejects.toThrow(/server-side apply of Service mp-4f1c2a9e-\w+\/echo conflicts with field manager "helm": meshproof never forces/);
    expect(api!.calls.some((c) => c.startsWith('PATCH') && c.includes('/services/'))).toBe(true);
  });

  it('deletion is asynchronous: teardown waits until the namespaces are gone', async () => {
    const a = await applier();
    api!.state.terminateAfterMs = 300;
    await a.apply(rendered);
    await a.dispose();
    expect([...api!.state.namespaces.keys()]).toEqual(['default', 'istio-system']);
  });

  it('a namespace held by a finalizer is named with it after a bounded wait, and the others still go', async () => {
    const a = await applier({ deleteTimeoutMs: 300 });
    api!.state.stuckFinalizers.set('mp-4f1c2a9e-mesh', 'example.com/backup-in-progress');
    await a.apply(rendered);
    await expect(a.dispose()).rejects.toThrow(/cleanup left namespaces behind \(run `meshproof cleanup --run 4f1c2a9e-[^`]+`\): mp-4f1c2a9e-mesh still Terminating \(finalizers: kubernetes, example\.com\/backup-in-progress\)/);
    expect([...api!.state.namespaces.keys()].sort()).toEqual(['default', 'istio-system', 'mp-4f1c2a9e-mesh']);
  });

  it('an API failure says what the Status says (reason, message, causes), not client-node\'s HTTP-Code dump', async () => {
    const a = await applier();
    const broken = rendered.objects.map((o) => (o.kind === 'Deployment' && o.metadata.name === 'echo' ? { ...o, spec: { ...(o.spec as object), replicas: 'two' } } : o));
    const err = String(await a.apply({ ...rendered, objects: broken }).catch((e: unknown) => e));
    expect(err).toMatch(/server-side apply of Deployment mp-4f1c2a9e-\w+\/echo failed: Invalid: Deployment "echo" is invalid: .*replicas/);
    expect(err).not.toMatch(/HTTP-Code|Body:/);
  });

  it('pods that Pod Security refuses (istio-init) are explained at once from the ReplicaSet, naming istio-cni', async () => {
    const a = await applier({ readyTimeoutMs: 60_000 });
    const psa = rendered.objects.map((o) =>
      o.kind === 'Namespace' && o.metadata.name === 'mp-4f1c2a9e-mesh' ? { ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, 'pod-security.kubernetes.io/enforce': 'baseline' } } } : o,
    );
    await a.apply({ ...rendered, objects: psa });
    const t0 = Date.now();
    await expect(a.waitReady({ ...rendered, objects: psa })).rejects.toThrow(
      /pods of mp-4f1c2a9e-mesh\/\w+ are never created: ReplicaSet mp-4f1c2a9e-mesh\/\w+-7d4b9c6f5 cannot create pods: Error creating: pods .* is forbidden: violates PodSecurity "baseline:latest".*istio-init.* — Pod Security rejects istio-init .*install istio-cni/,
    );
    // Explained from the ReplicaSet's condition, not after waiting out the 60 s readiness budget.
    expect(Date.now() - t0).toBeLessThan(60_000);
  });

  it('issue 19 item 1: the façade honours the sidecar.istio.io/inject annotation as well as the label (injectRequired)', async () => {
    const a = await applier({ readyTimeoutMs: 10_000 });
    const annotated = rendered.objects.map((o) => {
      if (o.kind !== 'Deployment' || o.metadata.namespace !== 'mp-4f1c2a9e-mesh' || o.metadata.name !== 'authorized') return o;
      const d = structuredClone(o) as typeof o & { spec: { template: { metadata: { annotations?: Record<string, string> } } } };
      d.spec.template.metadata.annotations = { ...d.spec.template.metadata.annotations, 'sidecar.istio.io/inject': 'false' };
      return d;
    });
    await a.apply({ ...rendered, objects: annotated });
    const pods = await a.waitReady({ ...rendered, objects: annotated });
    expect(pods.filter((p) => p.workload === 'authorized').map((p) => p.sidecar)).toEqual([false]);
    expect(pods.filter((p) => p.workload === 'unauthorized').map((p) => p.sidecar)).toEqual([true]);
  });

  it('K-L15: on a mesh that injects every unlabelled namespace (enableNamespacesByDefault), outside stays sidecar-less', async () => {
    const a = await applier({ readyTimeoutMs: 10_000 });
    api!.state.enableNamespacesByDefault = true;
    await a.apply(rendered);
    const pods = await a.waitReady(rendered);
    const outside = pods.filter((p) => p.namespace === 'mp-4f1c2a9e-outside');
    expect(outside.length).toBeGreaterThan(0);
    expect(outside.some((p) => p.sidecar)).toBe(false);
    expect(pods.filter((p) => p.namespace === 'mp-4f1c2a9e-mesh').every((p) => p.sidecar)).toBe(true);
  });

  it('K-M5: a transient FailedCreate (a quota exceeded while old pods terminate) is waited out, not final', async () => {
    const a = await applier({ readyTimeoutMs: 15_000 });
    const quota = 'pods "echo-7d4b9c6f5-x2x7q" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=10, limited: pods=10';
    api!.state.createRefusals.set('mp-4f1c2a9e-mesh/echo', { message: quota, untilMs: Date.now() + 3_000 });
    await a.apply(rendered);
    const key = 'mp-4f1c2a9e-mesh/echo';
    const pods = await a.waitReady(rendered);
    expect(pods.filter((p) => p.namespace === 'mp-4f1c2a9e-mesh' && p.workload === 'echo')).toHaveLength(2);
    expect(api!.state.replicaSets.get(key)!.events.get(quota)!.count).toBeGreaterThan(1); // refused, retried
    expect(api!.state.replicaSets.get(key)!.condition).toBeUndefined(); // and the retry succeeded
  });

  it('K-M5: a FailedCreate that never clears is reported with its last message at the deadline', async () => {
    const a = await applier({ readyTimeoutMs: 1_500 });
    const quota = 'pods "echo-7d4b9c6f5-x2x7q" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=10, limited: pods=10';
    api!.state.createRefusals.set('mp-4f1c2a9e-mesh/echo', { message: quota, untilMs: Number.POSITIVE_INFINITY });
    await a.apply(rendered);
    const t0 = Date.now();
    await expect(a.waitReady(rendered)).rejects.toThrow(/^pods not Ready after 1\.5s: mp-4f1c2a9e-mesh\/echo \(0\/2 ready\): ReplicaSet mp-4f1c2a9e-mesh\/echo-7d4b9c6f5 cannot create pods: Error creating: .*exceeded quota: compute/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_400);
  });

  it('an image the nodes cannot pull is named, with the flags that fix it', async () => {
    const a = await applier({ readyTimeoutMs: 300 });
    api!.state.unpullable.add('node:22-alpine');
    await a.apply(rendered);
    await expect(a.waitReady(rendered)).rejects.toThrow(/pods not Ready after 0\.3s: .*: ImagePullBackOff for image node:22-alpine \(Back-off pulling image "node:22-alpine"\)\. Is the registry reachable from the nodes\? See --image and --image-registry \(pulls use the nodes' credentials\)/);
  });

  it('a crash-looping app is explained with the last line it wrote', async () => {
    const a = await applier({ readyTimeoutMs: 300 });
    for (const ns of ['mesh', 'bare', 'outside']) {
      for (const d of ['echo', 'authorized', 'unauthorized', 'rotating', 'outside', 'rogue']) api!.state.crashing.set(`mp-4f1c2a9e-${ns}/${d}`, "Error: Cannot find module '/opt/meshproof/agent.mjs'");
    }
    await a.apply(rendered);
    await expect(a.waitReady(rendered)).rejects.toThrow(/CrashLoopBackOff after 3 restarts; last log line: Error: Cannot find module '\/opt\/meshproof\/agent\.mjs'/);
  });
});
