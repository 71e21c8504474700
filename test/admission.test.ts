// deploy/confine.yaml evaluated as kube-apiserver's ValidatingAdmissionPolicy plugin would (test/support/
// admission.ts, a real CEL engine), through the façade's REST endpoints over loopback: a run's own writes are
// admitted, each write the policy exists to stop is refused with its message, and a CEL mistake fails loudly.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSecrets, renderForCluster } from '../cluster/kube/render.js';
import { loadPosture, type Manifest } from '../harness/posture/load.js';
import { CelCompileError, compilePolicy, loadAdmissionPolicy } from './support/admission.js';
import { defaultState, type KubeApi, pathFor, startKubeApi } from './support/kube-api.js';
import { loadRoles } from './support/rbac.js';

const RUN = '4f1c2a9e-7b3d-4c2e-9a1f-0123456789ab';
const NS = 'mp-4f1c2a9e-mesh';
const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-admission-'));
let api: KubeApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

/**
 * The façade with deploy/rbac.yaml and rbac-sweep.yaml, widened with rolebindings create/patch and `bind` on every
 * ClusterRole, so that RBAC (its escalation check runs before validating admission: kubernetes
 * pkg/registry/rbac/rolebinding/policybased/storage.go Create) lets every write reach admission: these tests
 * prove what the policy alone refuses, for an identity bound more broadly than deploy/rbac.yaml.
 */
async function facade(): Promise<KubeApi> {
  const state = defaultState();
  state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml'), { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['create', 'patch'] }, { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'] }];
  api = await startKubeApi(state);
  return api;
}

/**
 * A write as meshproof's applier sends it (cluster/kube/apply.ts): a plain create (POST) for Namespaces and
 * Secrets, which it only ever creates, server-side apply for everything else.
 */
async function apply(a: KubeApi, m: Manifest | Record<string, unknown>): Promise<{ code: number; body: { message?: string; reason?: string } }> {
  const at = pathFor(m as Manifest);
  const post = ['Namespace', 'Secret'].includes((m as Manifest).kind);
  const url = `${a.url}${post ? at.slice(0, at.lastIndexOf('/')) : at}?fieldManager=meshproof`;
  const r = await fetch(url, { method: post ? 'POST' : 'PATCH', headers: { 'content-type': post ? 'application/json' : 'application/apply-patch+yaml' }, body: JSON.stringify(m) });
  return { code: r.status === 201 ? 200 : r.status, body: (await r.json()) as { message?: string; reason?: string } };
}

const runNamespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'meshproof.dev/run': RUN, 'istio-injection': 'enabled' } } };

function deployment(podSpec: Record<string, unknown>, name = 'evil'): Manifest {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'node:22-alpine' }], ...podSpec } } },
  } as Manifest;
}

/** confine.yaml's Pod Security baseline validation (A-L3). */
const BASELINE = /deployments\.apps "evil" is forbidden: .*meshproof pods must meet Pod Security baseline \(.*\): refused CREATE deployments evil in mp-4f1c2a9e-mesh$/;

describe('deploy/confine.yaml in the façade (K-M9: evaluated on every write with a real CEL engine)', () => {
  it("K-M9: every write of a rendered run (secure fixtures, namespaces first) is admitted, and its scale of istiod and of its own echo", async () => {
    const a = await facade();
    const r = renderForCluster(loadPosture('fixtures/secure'), { runId: RUN, trustDomain: 'cluster.local', agentBundle: '/* agent */', adminToken: 't', provisioned: false });
    await generateSecrets(r, {});
    for (const m of r.objects) {
      const res = await apply(a, m);
      expect(res.code, `${m.kind} ${m.metadata.name}: ${res.body.message}`).toBe(200);
    }
    // Applied again (every SSA is now an UPDATE, oldObject set): still admitted.
    for (const m of r.objects.filter((x) => !['Namespace', 'Secret'].includes(x.kind))) expect((await apply(a, m)).code).toBe(200);
    a.state.rbac = [...(a.state.rbac ?? []), ...loadRoles('deploy/rbac-chaos.yaml')]; // the chaos suite's scales
    const scale = (ns: string, name: string, replicas: number) =>
      fetch(`${a.url}/apis/apps/v1/namespaces/${ns}/deployments/${name}/scale`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { replicas } }) });
    expect((await scale('istio-system', 'istiod', 0)).status).toBe(200);
    expect((await scale('istio-system', 'istiod', 1)).status).toBe(200);
    expect((await scale(NS, 'echo', 3)).status).toBe(200);
    for (const ns of Object.values(r.namespaces)) expect((await fetch(`${a.url}/api/v1/namespaces/${ns}`, { method: 'DELETE' })).status).toBe(200);
    expect(a.state.admissionDenied).toEqual([]);
  });

  it.each([
    ['a write in default', () => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'x', namespace: 'default' } }), /serviceaccounts "x" is forbidden: ValidatingAdmissionPolicy 'meshproof-confine' with binding 'meshproof-confine' denied request: meshproof may only write in namespaces it created \(mp-\*, labelled meshproof\.dev\/run\): refused CREATE serviceaccounts x in default$/],
    ['a namespace outside mp-', () => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod', labels: { 'meshproof.dev/run': RUN } } }), /namespaces "prod" is forbidden: .*may only write in namespaces it created.*: refused CREATE namespaces prod$/],
    ['K-H4: a namespace with a foreign label', () => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mp-4f1c2a9e-x', labels: { 'meshproof.dev/run': RUN, 'pod-security.kubernetes.io/enforce': 'privileged' } } }), /meshproof namespaces may carry only meshproof\.dev\/\*, istio-injection, istio\.io\/rev and restricting pod-security labels: refused CREATE namespaces mp-4f1c2a9e-x$/],
    ['K-H4: a privileged pod template', () => deployment({ containers: [{ name: 'c', image: 'node:22-alpine', securityContext: { privileged: true } }] }), /deployments\.apps "evil" is forbidden: .*meshproof containers may not be privileged, add capabilities or take a hostPort: refused CREATE deployments evil in mp-4f1c2a9e-mesh$/],
    ['K-H4: a capability added (in an init container)', () => deployment({ initContainers: [{ name: 'i', image: 'node:22-alpine', securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }] }), /meshproof containers may not be privileged, add capabilities/],
    ['K-H4: a hostPath volume', () => deployment({ volumes: [{ name: 'root', hostPath: { path: '/' } }] }), /meshproof pods may not use the node \(hostNetwork, hostPID, hostIPC, hostPath\): refused CREATE deployments evil/],
    ['K-H4: hostPID', () => deployment({ hostPID: true }), /meshproof pods may not use the node/],
    ['K-H4: hostNetwork', () => deployment({ hostNetwork: true }), /meshproof pods may not use the node/],
    ['K-H4: a NodePort Service', () => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'np', namespace: NS }, spec: { type: 'NodePort', selector: { app: 'x' }, ports: [{ port: 80 }] } }), /services "np" is forbidden: .*meshproof Services must be of type ClusterIP, without externalIPs: refused CREATE services np in mp-4f1c2a9e-mesh$/],
    ['K-H4: a Service with externalIPs', () => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext', namespace: NS }, spec: { selector: { app: 'x' }, ports: [{ port: 80 }], externalIPs: ['203.0.113.7'] } }), /meshproof Services must be of type ClusterIP, without externalIPs/],
    ['K-H4: a DestinationRule exported to the mesh', () => ({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'dr', namespace: NS }, spec: { host: 'echo', exportTo: ['*'] } }), /destinationrules\.networking\.istio\.io "dr" is forbidden: .*meshproof Istio routing must stay in its namespace \(spec\.exportTo: \["\."\]\): refused CREATE destinationrules dr/],
    ['K-H4: a VirtualService without exportTo (Istio exports it everywhere)', () => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'vs', namespace: NS }, spec: { hosts: ['www.bank.example'], http: [{ route: [{ destination: { host: 'echo' } }] }] } }), /meshproof Istio routing must stay in its namespace/],
    ['K-H4: a Gateway without the run label in its selector', () => ({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: NS }, spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] } }), /meshproof Gateway must select only the gateway pods of its own run \(spec\.selector meshproof\.dev\/run\): refused CREATE gateways gw/],
    ['K-H4: a Gateway selecting another run', () => ({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: NS }, spec: { selector: { istio: 'ingressgateway', 'meshproof.dev/run': 'another-run' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] } }), /meshproof Gateway must select only the gateway pods of its own run/],
    ['K-H4: a RoleBinding to cluster-admin', () => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'rb', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'ServiceAccount', name: 'ingressgateway', namespace: NS }] }), /rolebindings\.rbac\.authorization\.k8s\.io "rb" is forbidden: .*meshproof may bind only the ClusterRole meshproof-gateway-secrets to ServiceAccounts of the same namespace/],
    ['K-H4: a RoleBinding of the gateway role to another namespace\'s ServiceAccount', () => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'rb', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'meshproof-gateway-secrets' }, subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'kube-system' }] }), /meshproof may bind only the ClusterRole meshproof-gateway-secrets/],
    ["K-H4: a RoleBinding of the sweep role to another identity than meshproof's own", () => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'meshproof-sweep', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'meshproof-sweep' }, subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'kube-system' }] }), /and meshproof-sweep or meshproof-matrix to itself/],
    ["issue 22: a RoleBinding of the matrix's token role to another identity than meshproof's own", () => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'meshproof-matrix', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'meshproof-matrix' }, subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'kube-system' }] }), /and meshproof-sweep or meshproof-matrix to itself/],
    ['K-H4: a RoleBinding of the gateway role to a user', () => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'rb', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'meshproof-gateway-secrets' }, subjects: [{ kind: 'User', name: 'mallory', apiGroup: 'rbac.authorization.k8s.io' }] }), /meshproof may bind only the ClusterRole meshproof-gateway-secrets/],
    ['A-L3: a pod seccompProfile of type Unconfined', () => deployment({ securityContext: { seccompProfile: { type: 'Unconfined' } } }), BASELINE],
    ['A-L3: a container seccompProfile of type Unconfined', () => deployment({ containers: [{ name: 'c', image: 'node:22-alpine', securityContext: { seccompProfile: { type: 'Unconfined' } } }] }), BASELINE],
    ['A-L3: a container appArmorProfile of type Unconfined', () => deployment({ containers: [{ name: 'c', image: 'node:22-alpine', securityContext: { appArmorProfile: { type: 'Unconfined' } } }] }), BASELINE],
    ['A-L3: a pod appArmorProfile of type Unconfined', () => deployment({ securityContext: { appArmorProfile: { type: 'Unconfined' } } }), BASELINE],
    ['A-L3: a pod SELinux type spc_t (unconfined)', () => deployment({ securityContext: { seLinuxOptions: { type: 'spc_t' } } }), BASELINE],
    ['A-L3: an init container SELinux user', () => deployment({ initContainers: [{ name: 'i', image: 'node:22-alpine', securityContext: { seLinuxOptions: { user: 'system_u' } } }] }), BASELINE],
    ['A-L3: procMount Unmasked', () => deployment({ containers: [{ name: 'c', image: 'node:22-alpine', securityContext: { procMount: 'Unmasked' } }] }), BASELINE],
    ['A-L3: an unsafe sysctl', () => deployment({ securityContext: { sysctls: [{ name: 'net.ipv4.tcp_syncookies', value: '1' }, { name: 'kernel.msgmax', value: '65536' }] } }), BASELINE],
    ['A-L3: a Windows hostProcess container', () => deployment({ containers: [{ name: 'c', image: 'node:22-alpine', securityContext: { windowsOptions: { hostProcess: true } } }] }), BASELINE],
  ])('%s is refused by admission (403, the policy\'s message)', async (_name, make, message) => {
    const a = await facade();
    expect((await apply(a, runNamespace)).code).toBe(200);
    const r = await apply(a, make());
    expect(r.code, r.body.message).toBe(403);
    expect(r.body.reason).toBe('Forbidden');
    expect(r.body.message).toMatch(message);
    expect(a.state.admissionDenied).toEqual([r.body.message]);
    expect(a.state.forbidden).toEqual([]); // RBAC allowed it: admission refused it
  });

  it('A-L3: a pod template within Pod Security baseline (RuntimeDefault, container_t, safe sysctls, procMount Default) is admitted', async () => {
    const a = await facade();
    expect((await apply(a, runNamespace)).code).toBe(200);
    const ok = deployment({
      securityContext: { seccompProfile: { type: 'RuntimeDefault' }, appArmorProfile: { type: 'RuntimeDefault' }, seLinuxOptions: { type: 'container_t', level: 's0:c1,c2' }, sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }, { name: 'net.ipv4.tcp_keepalive_time', value: '60' }] },
      containers: [{ name: 'c', image: 'node:22-alpine', securityContext: { procMount: 'Default', seLinuxOptions: { type: 'container_init_t' }, seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } } }],
    }, 'fine');
    const r = await apply(a, ok);
    expect(r.code, r.body.message).toBe(200);
  });

  it('A-L2: an ephemeral container added to a run pod (pods/ephemeralcontainers, UPDATE) is refused', async () => {
    const a = await facade();
    a.state.rbac = [...(a.state.rbac ?? []), { apiGroups: [''], resources: ['pods/ephemeralcontainers'], verbs: ['patch'] }];
    expect((await apply(a, runNamespace)).code).toBe(200);
    expect((await apply(a, deployment({}, 'echo'))).code).toBe(200);
    const r = await fetch(`${a.url}/api/v1/namespaces/${NS}/pods/echo-0/ephemeralcontainers`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/strategic-merge-patch+json' },
      body: JSON.stringify({ spec: { ephemeralContainers: [{ name: 'debug', image: 'busybox', targetContainerName: 'c' }] } }),
    });
    const body = (await r.json()) as { message: string; reason: string };
    expect(r.status, body.message).toBe(403);
    expect(body.reason).toBe('Forbidden');
    expect(body.message).toMatch(/^pods "echo-0" is forbidden: .*meshproof does not add ephemeral containers: refused UPDATE pods\/ephemeralcontainers echo-0 in mp-4f1c2a9e-mesh$/);
    expect(a.state.forbidden).toEqual([]); // RBAC allowed it: admission refused it
  });

  it('A-L1: an UPDATE is admitted on the merged object: a field the apply leaves out but the live object has is still seen', async () => {
    const a = await facade();
    expect((await apply(a, runNamespace)).code).toBe(200);
    // Written by another hand (no field manager): hostNetwork in the template, type NodePort on the Service.
    const live = deployment({ hostNetwork: true }, 'echo');
    a.state.objects.set(pathFor(live), live as never);
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: NS }, spec: { type: 'NodePort', selector: { app: 'echo' }, ports: [{ port: 80 }] } };
    a.state.objects.set(pathFor(svc as Manifest), svc as never);
    // meshproof's apply names neither field: the stored object would keep both.
    const d = await apply(a, deployment({}, 'echo'));
    expect(d.code, d.body.message).toBe(403);
    expect(d.body.message).toMatch(/meshproof pods may not use the node .*: refused UPDATE deployments echo in mp-4f1c2a9e-mesh$/);
    const s = await apply(a, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: NS }, spec: { selector: { app: 'echo' }, ports: [{ port: 80 }] } });
    expect(s.code, s.body.message).toBe(403);
    expect(s.body.message).toMatch(/meshproof Services must be of type ClusterIP, without externalIPs: refused UPDATE services echo/);
    // The applied value wins where it names the field.
    expect((await apply(a, { ...svc, spec: { ...svc.spec, type: 'ClusterIP' } })).code).toBe(200);
  });

  it("K-H4: the gateway's RoleBinding (meshproof-gateway-secrets to a ServiceAccount of its namespace) is admitted", async () => {
    const a = await facade();
    expect((await apply(a, runNamespace)).code).toBe(200);
    const rb = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'gateway-secrets', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'meshproof-gateway-secrets' }, subjects: [{ kind: 'ServiceAccount', name: 'ingressgateway', namespace: NS }] };
    const r = await apply(a, rb);
    expect(r.code, r.body.message).toBe(200);
  });

  it("K-M7: the sweep's RoleBinding of meshproof-sweep to meshproof's own identity in its run namespace is admitted", async () => {
    const a = await facade();
    expect((await apply(a, runNamespace)).code).toBe(200);
    const rb = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'meshproof-sweep', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'meshproof-sweep' }, subjects: [{ kind: 'ServiceAccount', name: 'meshproof', namespace: 'meshproof' }] };
    const r = await apply(a, rb);
    expect(r.body.message ?? '').toBe('');
    expect(r.code).toBe(200);
  });

  it("issue 22: sweep --matrix's RoleBinding of meshproof-matrix to meshproof's own identity in its run namespace is admitted under rbac-matrix.yaml's binder", async () => {
    const a = await facade();
    a.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml'), ...loadRoles('deploy/rbac-matrix.yaml')];
    expect((await apply(a, runNamespace)).code).toBe(200);
    const rb = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'meshproof-matrix', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'meshproof-matrix' }, subjects: [{ kind: 'ServiceAccount', name: 'meshproof', namespace: 'meshproof' }] };
    const r = await apply(a, rb);
    expect(r.body.message ?? '').toBe('');
    expect(r.code).toBe(200);
    expect(a.state.rbacUsed).toContain('bind rbac.authorization.k8s.io/clusterroles [meshproof-matrix]');
    // Outside a run's namespace the same binding is refused by admission (confine.yaml's namespace rule).
    const outside = await apply(a, { ...rb, metadata: { name: 'meshproof-matrix', namespace: 'default' } });
    expect(outside.code).toBe(403);
    expect(outside.body.message).toMatch(/meshproof may only write in namespaces it created .*: refused CREATE rolebindings meshproof-matrix in default$/);
  });

  it('K-H4: a scale of a Deployment not named istiod in istio-system is refused (the chaos grant names echo cluster-wide)', async () => {
    const a = await facade();
    // The user's own Deployment, there before meshproof.
    a.state.objects.set('/apis/apps/v1/namespaces/istio-system/deployments/echo', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'echo', namespace: 'istio-system' }, spec: { replicas: 2, template: { metadata: { labels: {} } } } });
    a.state.rbac = [...(a.state.rbac ?? []), ...loadRoles('deploy/rbac-chaos.yaml')];
    const r = await fetch(`${a.url}/apis/apps/v1/namespaces/istio-system/deployments/echo/scale`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { replicas: 0 } }) });
    const body = (await r.json()) as { message: string };
    expect(r.status).toBe(403);
    expect(body.message).toMatch(/^deployments\.apps "echo" is forbidden: .*refused UPDATE deployments\/scale echo in istio-system$/);
    expect((a.state.objects.get('/apis/apps/v1/namespaces/istio-system/deployments/echo')!.spec as { replicas: number }).replicas).toBe(2);
  });

  it('K-H4: deleting a namespace meshproof did not create is refused', async () => {
    const a = await facade();
    const r = await fetch(`${a.url}/api/v1/namespaces/default`, { method: 'DELETE' });
    expect(r.status).toBe(403);
    expect(((await r.json()) as { message: string }).message).toMatch(/refused DELETE namespaces default$/);
    expect(a.state.namespaces.get('default')?.phase).toBeUndefined();
  });

  it('K-H4: an exec in a pod outside the run is refused at CONNECT, before the websocket opens', async () => {
    const a = await facade();
    a.state.exec = async () => ({ stdout: 'ran', exitCode: 0 });
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`${a.url.replace('http', 'ws')}/api/v1/namespaces/kube-system/pods/etcd-0/exec?command=sh&stdout=true`, ['v5.channel.k8s.io']);
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => resolve(-1));
    });
    ws.terminate();
    expect(status).toBe(403);
    expect(a.state.admissionDenied).toEqual([expect.stringMatching(/pods "etcd-0" is forbidden: .*refused CONNECT pods\/exec etcd-0 in kube-system$/)]);
  });
});

describe('the AdmissionRequest the policy sees (K-M9, K-L4: omitempty fields are absent)', () => {
  const policy = (validation: string, extra = '') => `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: p}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - {apiGroups: [""], apiVersions: ["*"], operations: [CREATE, UPDATE], resources: [configmaps, namespaces]}
  validations:
    - expression: ${JSON.stringify(validation)}
${extra}---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: p}
spec: {policyName: p, validationActions: [Deny]}
`;
  const withPolicy = async (text: string) => {
    const a = await facade();
    a.state.admission = { policy: compilePolicy(text), docs: [] };
    return a;
  };

  it("K-M9: confine.yaml's old `request.subResource == 'scale'` is a CEL error on a plain write, and failurePolicy Fail denies it (422 Invalid)", async () => {
    const a = await withPolicy(policy("request.subResource == 'scale'"));
    const r = await apply(a, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mp-x', labels: { 'meshproof.dev/run': RUN } } });
    expect(r.code).toBe(422);
    expect(r.body.reason).toBe('Invalid');
    expect(r.body.message).toMatch(/^namespaces "mp-x" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'p' denied request: expression 'request\.subResource == 'scale'' resulted in error: .*subResource/);
  });

  it('K-L4: a cluster-scoped create has no request.namespace: an unguarded messageExpression falls back to the expression', async () => {
    const a = await withPolicy(policy('false', "      messageExpression: \"'refused in ' + request.namespace\"\n"));
    const r = await apply(a, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mp-x' } });
    expect(r.code).toBe(422);
    expect(r.body.message).toMatch(/denied request: failed expression: false$/);
    // A namespaced write has it.
    a.state.namespaces.set(NS, { labels: {}, created: new Date().toISOString() });
    const cm = await apply(a, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'meshproof-agent', namespace: NS }, data: {} });
    expect(cm.body.message).toMatch(/denied request: refused in mp-4f1c2a9e-mesh$/);
  });

  it('K-M9: namespaceObject is null for a Namespace request and the live namespace otherwise', async () => {
    const a = await withPolicy(policy("request.resource.resource == 'namespaces' ? namespaceObject == null : namespaceObject.metadata.labels['meshproof.dev/run'] == 'r'"));
    a.state.namespaces.set('mp-live', { labels: { 'meshproof.dev/run': 'r' }, created: new Date().toISOString() });
    expect((await apply(a, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mp-y' } })).code).toBe(200);
    expect((await apply(a, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'meshproof-agent', namespace: 'mp-live' }, data: {} })).code).toBe(200);
    expect((await apply(a, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'meshproof-agent', namespace: 'mp-y' }, data: {} })).code).toBe(422);
  });
});

describe('a CEL mistake in the policy fails loudly (K-M9)', () => {
  it.each([
    ['a syntax error', "request.operation == 'CREATE' &&", /spec\.validations\[0\]\.expression: compilation failed/],
    ['a misspelt AdmissionRequest field', "has(request.subresource) && request.subresource == 'scale'", /spec\.validations\[0\]\.expression: compilation failed: ERROR: undefined field 'subresource'/],
    ['an undeclared variable', 'variables.nothere', /undefined field 'nothere' \(variables\)/],
    ['an unknown function', "request.name.lowerAscii() == 'x'", /undeclared reference to 'lowerAscii'/],
    ['an undeclared identifier', 'objekt == null', /undeclared reference to 'objekt'/],
  ])('%s', (_name, expression, re) => {
    const text = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: p}
spec:
  validations: [{expression: ${JSON.stringify(expression)}}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: p}
spec: {policyName: p, validationActions: [Deny]}
`;
    expect(() => compilePolicy(text)).toThrow(CelCompileError);
    expect(() => compilePolicy(text)).toThrow(re);
  });

  it('a broken deploy/confine.yaml fails whichever test starts a façade with it', () => {
    const file = path.join(dir, 'confine.yaml');
    writeFileSync(file, readFileSync('deploy/confine.yaml', 'utf8').replaceAll('request.subResource', 'request.subresource'));
    expect(() => loadAdmissionPolicy(file)).toThrow(/undefined field 'subresource'/);
    expect(() => loadAdmissionPolicy('deploy/confine.yaml')).not.toThrow();
  });
});
