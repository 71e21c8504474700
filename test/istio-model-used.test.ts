// Issue 20, deliverable 4: the lab, the Kubernetes façade and the sweep decide with the ONE model of Istio's
// semantics (harness/istio/), so changing one of its rules changes all three. The rule changed here: whether a
// namespace labelled `istio-injection: enabled` asks for injection (I: the `namespace.sidecar-injector.istio.io`
// webhook's namespaceSelector). The mutant is switched on per test; with it off, the same steps show injection.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KubeApplier } from '../cluster/kube/apply.js';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { generateSecrets, renderForCluster } from '../cluster/kube/render.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import type * as Injection from '../harness/istio/injection.js';
import { loadPosture } from '../harness/posture/load.js';
import { type KubeApi, startKubeApi } from './support/kube-api.js';

const mutant = vi.hoisted(() => ({ on: false }));

vi.mock('../harness/istio/injection.js', async (importOriginal) => {
  const real = await importOriginal<typeof Injection>();
  /** The mutant rule: the legacy namespace label no longer asks for injection. */
  const without = (labels: Record<string, string>): Record<string, string> => {
    if (!mutant.on || labels['istio-injection'] !== 'enabled') return labels;
    const { 'istio-injection': _, ...rest } = labels;
    return rest;
  };
  return {
    ...real,
    namespaceRequestsInjection: (labels: Record<string, string>) => real.namespaceRequestsInjection(without(labels)),
    injection: (cp: Injection.ControlPlanes, pod: Injection.PodToAdmit) => real.injection(cp, { ...pod, namespaceLabels: without(pod.namespaceLabels) }),
  };
});

const AUTHORIZED = { namespace: 'mesh', name: 'authorized' };
let dispose: (() => Promise<void>) | undefined;
afterEach(async () => {
  await dispose?.();
  dispose = undefined;
  mutant.on = false;
});

/** The lab enforces with the model: is mesh/authorized's pod given a sidecar? */
async function labSidecar(): Promise<boolean> {
  const lab = new LabTarget();
  dispose = () => lab.dispose();
  await lab.apply(loadPosture('fixtures/secure'));
  return (await lab.probe(AUTHORIZED)).sidecar;
}

/** The sweep scopes with the model: is namespace mesh swept as an injected one (or left out, "injection not enabled")? */
async function sweepSeesInjected(): Promise<boolean> {
  const lab = new LabTarget();
  dispose = () => lab.dispose();
  await lab.apply(loadPosture('fixtures/secure'));
  const estate = await lab.discover({ exclude: [], excludePorts: [], runNamespace: 'outside' });
  const pod = estate.pods.find((p) => p.namespace === 'mesh' && p.name.startsWith('authorized'));
  const left = estate.left.find((l) => l.namespace === 'mesh');
  expect(pod === undefined).toBe(left?.reason === 'injection not enabled');
  return pod?.injectedNamespace ?? false;
}

/** The façade injects with the model (its webhook), and meshproof's readiness check predicts with it. */
async function facadeSidecar(): Promise<boolean> {
  const api: KubeApi = await startKubeApi();
  dispose = () => api.close();
  const runId = '4f1c2a9e-7b3d-4c2e-9a1f-0123456789ab';
  const rendered = renderForCluster(loadPosture('fixtures/secure'), { runId, trustDomain: 'cluster.local', provisioned: false, agentBundle: '/* agent */', adminToken: 't' });
  await generateSecrets(rendered, {});
  const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(mkdtempSync(path.join(tmpdir(), 'mp-model-'))), env: {} });
  const a = new KubeApplier(kc, { runId, readyTimeoutMs: 10_000, deleteTimeoutMs: 5_000, pollMs: 20 });
  await a.apply(rendered);
  const pods = await a.waitReady(rendered);
  return pods.find((p) => p.workload === 'authorized')!.sidecar;
}

describe('the lab, the façade and the sweep follow one model rule (issue 20)', () => {
  it.each([
    ['the lab', labSidecar],
    ['the Kubernetes façade', facadeSidecar],
    ['the sweep', sweepSeesInjected],
  ] as const)('%s: mesh/authorized is injected by the real rule and not under the mutant', async (_, injected) => {
    expect(await injected()).toBe(true);
    await dispose?.();
    mutant.on = true;
    expect(await injected()).toBe(false);
  });
});
