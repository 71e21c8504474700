// Preflight and cleanup through the real client library against a small Kubernetes API, and through the CLI.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { preflight } from '../cluster/kube/preflight.js';
import { RUN_LABEL } from '../cluster/kube/render.js';
import { cli } from './support/cli.js';
import { type KubeApi, startKubeApi } from './support/kube-api.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-preflight-'));
let api: KubeApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function ready(): Promise<KubeApi> {
  api = await startKubeApi();
  return api;
}

describe('preflight', () => {
  it('passes on a ready cluster and reports what it found', async () => {
    const a = await ready();
    const { kc } = loadKubeConfig({ kubeconfig: a.kubeconfig(dir), env: {} });
    const r = await preflight(kc);
    expect(r).toMatchObject({ kubernetes: 'v1.33.1', istiod: { image: 'docker.io/istio/pilot:1.30.1', ready: '1/1' }, webhooks: ['istio-sidecar-injector'] });
    expect(a.calls.filter((c) => c.includes('selfsubjectaccessreviews')).length).toBe(r.permissions);
  });

  it('reads the trust domain from the mesh config', async () => {
    const a = await ready();
    const { kc } = loadKubeConfig({ kubeconfig: a.kubeconfig(dir), env: {} });
    expect((await preflight(kc)).trustDomain).toBe('cluster.local');
    a.state.meshConfig = 'trustDomain: bank.example\naccessLogFile: /dev/stdout\n';
    expect((await preflight(kc)).trustDomain).toBe('bank.example');
  });

  it.each([
    { name: 'a missing permission', code: 2, bend: (a: KubeApi): void => void a.state.denied.add('create /pods/exec'), re: /^meshproof: missing permissions: create core\/pods\/exec\. Apply deploy\/rbac\.yaml/ },
    { name: 'K-L12: an Istio CRD that does not serve v1 (Istio before 1.22)', code: 2, bend: (a: KubeApi): void => {
        a.state.crdsBeforeV1 = new Set(['peerauthentications.security.istio.io']);
      }, re: /^meshproof: Istio CRD peerauthentications\.security\.istio\.io does not serve v1 \(served: v1beta1, v1alpha3\): meshproof needs Istio 1\.22 or later/ },
    { name: 'a missing Istio CRD', code: 2, bend: (a: KubeApi): void => void a.state.crds.delete('destinationrules.networking.istio.io'), re: /^meshproof: Istio CRD destinationrules\.networking\.istio\.io is not installed/ },
    { name: 'no istiod', code: 2, bend: (a: KubeApi): void => {
        a.state.istiod = undefined;
      }, re: /^meshproof: no istiod in istio-system: install Istio or pass --istio-namespace/ },
    { name: 'istiod not ready', code: 3, bend: (a: KubeApi): void => {
        a.state.istiod = { image: 'x', replicas: 1, ready: 0 };
      }, re: /^meshproof: istiod in istio-system has 0\/1 replicas ready/ },
    { name: 'no injection webhook', code: 2, bend: (a: KubeApi): void => {
        a.state.webhooks = [];
      }, re: /^meshproof: no sidecar injection webhook/ },
  ])('$name: one line, exit $code', async ({ bend, code, re }) => {
    const a = await ready();
    bend(a);
    const r = await cli(['preflight', '--kubeconfig', a.kubeconfig(dir)]);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(re);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('K-M8: reports deploy/confine.yaml when it is installed and bound with Deny', async () => {
    const a = await ready();
    const { kc } = loadKubeConfig({ kubeconfig: a.kubeconfig(dir), env: {} });
    const r = await preflight(kc);
    expect(r.confine).toBe('meshproof-confine');
    expect(r.warnings).toEqual([]);
    const out = await cli(['preflight', '--kubeconfig', a.kubeconfig(dir)]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/, confined by ValidatingAdmissionPolicy meshproof-confine\n$/);
    expect(out.stderr).toBe('');
  });

  it.each([
    ['absent', (a: KubeApi) => {
      a.state.admission = undefined;
    }, /^meshproof: warning: ValidatingAdmissionPolicy meshproof-confine \(deploy\/confine\.yaml\) is not installed: meshproof's write grants reach every namespace\. Apply it: kubectl apply -f deploy\/confine\.yaml\n$/],
    ['not bound to deny', (a: KubeApi) => {
      const docs = a.state.admission!.docs.map((d) => (d.kind === 'ValidatingAdmissionPolicyBinding' ? { ...d, spec: { policyName: 'meshproof-confine', validationActions: ['Audit'] } } : d));
      a.state.admission = { ...a.state.admission!, docs };
    }, /^meshproof: warning: ValidatingAdmissionPolicy meshproof-confine has no binding with validationActions \[Deny\]/],
  ])('K-M8: says in one line when the confine policy is %s', async (_name, bend, re) => {
    const a = await ready();
    bend(a);
    const r = await cli(['preflight', '--kubeconfig', a.kubeconfig(dir)]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(re);
    expect(r.stdout).not.toContain('confined by');
  });

  const withDocs = (a: KubeApi, f: (d: { kind: string; metadata: { name: string }; spec?: Record<string, unknown> }) => object) => {
    a.state.admission = { ...a.state.admission!, docs: a.state.admission!.docs.map((d) => f(d) as typeof d) };
  };
  it.each([
    ['the caller is a kubeconfig user, not the service account the matchCondition names', (a: KubeApi) => {
      a.state.user = 'kubernetes-admin';
    }, /^meshproof: warning: ValidatingAdmissionPolicy meshproof-confine applies only to system:serviceaccount:meshproof:meshproof \(matchCondition meshproof-service-account\), but this identity is kubernetes-admin: meshproof's writes are not confined\. Change the username .* to kubernetes-admin, or run as system:serviceaccount:meshproof:meshproof\n$/],
    ['the caller is another service account', (a: KubeApi) => {
      a.state.user = 'system:serviceaccount:ci:deployer';
    }, /^meshproof: warning: .*applies only to system:serviceaccount:meshproof:meshproof .*but this identity is system:serviceaccount:ci:deployer/],
    ['failurePolicy is Ignore', (a: KubeApi) => withDocs(a, (d) => (d.kind === 'ValidatingAdmissionPolicy' ? { ...d, spec: { ...d.spec, failurePolicy: 'Ignore' } } : d)),
      /^meshproof: warning: ValidatingAdmissionPolicy meshproof-confine has failurePolicy Ignore: a request its expressions cannot evaluate is admitted; deploy\/confine\.yaml sets Fail\n$/],
    ['its only binding is narrowed by matchResources', (a: KubeApi) => withDocs(a, (d) => (d.kind === 'ValidatingAdmissionPolicyBinding' ? { ...d, spec: { ...d.spec, matchResources: { namespaceSelector: { matchLabels: { team: 'none' } } } } } : d)),
      /^meshproof: warning: ValidatingAdmissionPolicy meshproof-confine is bound only through matchResources that narrow it \(binding meshproof-confine: namespaceSelector\)/],
    ['its matchCondition is not a username comparison', (a: KubeApi) => withDocs(a, (d) => (d.kind === 'ValidatingAdmissionPolicy' ? { ...d, spec: { ...d.spec, matchConditions: [{ name: 'ci', expression: "request.userInfo.username.startsWith('system:serviceaccount:ci:')" }] } } : d)),
      /^meshproof: warning: cannot tell whether ValidatingAdmissionPolicy meshproof-confine applies to this identity \(system:serviceaccount:meshproof:meshproof\): matchCondition ci is `request\.userInfo\.username\.startsWith\('system:serviceaccount:ci:'\)`/],
  ])('A-M3: says in one line, and not "confined", when %s', async (_name, bend, re) => {
    const a = await ready();
    bend(a);
    const r = await cli(['preflight', '--kubeconfig', a.kubeconfig(dir)]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(re);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).not.toContain('confined by');
  });

  it('A-M3: an empty matchResources (what the API server defaults) still confines; the identity is asked with a SelfSubjectReview', async () => {
    const a = await ready();
    withDocs(a, (d) => (d.kind === 'ValidatingAdmissionPolicyBinding' ? { ...d, spec: { ...d.spec, matchResources: { namespaceSelector: {}, objectSelector: {}, matchPolicy: 'Equivalent' } } } : d));
    const { kc } = loadKubeConfig({ kubeconfig: a.kubeconfig(dir), env: {} });
    const r = await preflight(kc);
    expect(r.warnings).toEqual([]);
    expect(r.confine).toBe('meshproof-confine');
    expect(a.calls).toContain('POST /apis/authentication.k8s.io/v1/selfsubjectreviews');
  });

  it('K-H4: a posture that writes outside its own namespaces is refused before the cluster is contacted (exit 2, one line)', async () => {
    const a = await ready();
    const overlay = path.join(dir, 'outside.yaml');
    writeFileSync(overlay, 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x, namespace: default}\n');
    const r = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', a.kubeconfig(dir), '--overlay', overlay, '--out', path.join(dir, 'out')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^meshproof: .*outside\.yaml#1: ServiceAccount default\/x: namespace default is not declared in the posture; meshproof writes only into namespaces it creates\n$/);
    expect(a.calls).toEqual([]);
  });

  it('A-M4: a posture namespace label confine.yaml would refuse stops the run before the cluster is contacted (exit 2, one line naming it)', async () => {
    const a = await ready();
    const overlay = path.join(dir, 'label.yaml');
    writeFileSync(overlay, 'apiVersion: v1\nkind: Namespace\nmetadata: {name: extra, labels: {istio-discovery: enabled}}\n');
    const r = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', a.kubeconfig(dir), '--overlay', overlay, '--out', path.join(dir, 'out')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^meshproof: .*label\.yaml#1: Namespace extra: label istio-discovery is not a label deploy\/confine\.yaml lets meshproof put on its namespaces .*\n$/);
    expect(a.calls).toEqual([]);
  });

  it('an unreachable API is an infrastructure error (exit 3)', async () => {
    const a = await ready();
    const file = a.kubeconfig(dir);
    await a.close();
    api = undefined;
    const r = await cli(['preflight', '--kubeconfig', file]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^meshproof: cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:\d+: .*Is the cluster running/);
  });

  it('a malformed kubeconfig or an unknown context is a usage error (exit 2)', async () => {
    const a = await ready();
    const r1 = await cli(['preflight', '--kubeconfig', a.kubeconfig(dir), '--context', 'prod']);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/^meshproof: context prod is not in .* \(available: facade\)\n$/);
    const r2 = await cli(['preflight', '--kubeconfig', 'package.json']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('cleanup', () => {
  it('--run deletes only that run\'s namespaces; --stale only run-labelled ones past the age', async () => {
    const a = await ready();
    const old = '2026-01-01T00:00:00Z';
    const fresh = new Date().toISOString();
    a.state.namespaces.set('mp-aaaa-mesh', { labels: { [RUN_LABEL]: 'run-a' }, created: old });
    a.state.namespaces.set('mp-aaaa-bare', { labels: { [RUN_LABEL]: 'run-a' }, created: old });
    a.state.namespaces.set('mp-bbbb-mesh', { labels: { [RUN_LABEL]: 'run-b' }, created: fresh });
    a.state.namespaces.set('payments', { labels: { team: 'pay' }, created: old });
    const file = a.kubeconfig(dir);
    const r1 = await cli(['cleanup', '--run', 'run-a', '--kubeconfig', file]);
    expect(r1.code).toBe(0);
    expect([...a.state.namespaces.keys()].sort()).toEqual(['default', 'istio-system', 'mp-bbbb-mesh', 'payments']);
    const r2 = await cli(['cleanup', '--stale', '--older-than', '1h', '--kubeconfig', file]);
    expect(r2.stdout).toMatch(/kept namespace mp-bbbb-mesh/);
    expect([...a.state.namespaces.keys()].sort()).toEqual(['default', 'istio-system', 'mp-bbbb-mesh', 'payments']);
    await cli(['cleanup', '--stale', '--older-than', '0s', '--kubeconfig', file]);
    expect([...a.state.namespaces.keys()].sort()).toEqual(['default', 'istio-system', 'payments']);
  });

  it('--stale needs both marks (the run label and the mp- name), carries on past a stuck namespace and names it', async () => {
    const a = await ready();
    const old = '2026-01-01T00:00:00Z';
    a.state.namespaces.set('payments-mirror', { labels: { [RUN_LABEL]: 'copied-by-hand' }, created: old });
    a.state.namespaces.set('mp-cccc-mesh', { labels: { [RUN_LABEL]: 'run-c' }, created: old });
    a.state.namespaces.set('mp-cccc-bare', { labels: { [RUN_LABEL]: 'run-c' }, created: old });
    a.state.stuckFinalizers.set('mp-cccc-mesh', 'example.com/stuck');
    const r = await cli(['cleanup', '--stale', '--older-than', '0s', '--kubeconfig', a.kubeconfig(dir)], { env: { ...process.env, MESHPROOF_TIMEOUTS: 'lab' } });
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/deleted namespace mp-cccc-bare/);
    expect(r.stderr).toMatch(/^meshproof: cleanup left namespaces behind .*mp-cccc-mesh still Terminating \(finalizers: kubernetes, example\.com\/stuck\)\n$/);
    expect(a.state.namespaces.has('payments-mirror')).toBe(true);
    // Run again: the stuck one answers 409 to a second delete, which is "in progress", not an error.
    const again = await cli(['cleanup', '--run', 'run-c', '--kubeconfig', a.kubeconfig(dir)], { env: { ...process.env, MESHPROOF_TIMEOUTS: 'lab' } });
    expect(again.stderr).not.toMatch(/409|Conflict/);
    expect(again.stderr).toMatch(/mp-cccc-mesh still Terminating/);
  });

  it('needs exactly one of --run or --stale', async () => {
    const r = await cli(['cleanup']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^meshproof: cleanup needs exactly one of --run <id> or --stale\n$/);
  });
});
