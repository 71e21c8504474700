// The access matrix's Kubernetes path (issue 22), through the API façade over the lab with the real client library:
// a certificate for another identity of the estate obtained as meshproof obtains it on a cluster (TokenRequest for
// the service account, audiences exactly ["istio-ca"], 600 s; the token handed to the sidecar-less sweeper pod on
// the exec's stdin; exchanged at istiod's CreateCertificate), under exactly deploy/rbac.yaml + rbac-sweep.yaml +
// rbac-matrix.yaml with deploy/confine.yaml admitting every write; the TokenRequest API and istiod's token review as
// strict as the real ones; the token and the key nowhere but in memory.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mint } from '../agent/mint.js';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import type { KubeTarget } from '../cluster/kube/kube-target.js';
import { listClientIntents } from '../cluster/kube/intents.js';
import { INTENT_PERMISSIONS, MATRIX_BINDER_PERMISSIONS, MATRIX_PERMISSIONS, type Permission } from '../cluster/kube/permissions.js';
import { sweepPreflight } from '../cluster/kube/preflight.js';
import { AGENT_BUNDLE, SWEEP_FIXTURES } from '../harness/paths.js';
import { CertificateAuthority, uriSans } from '../harness/pki.js';
import { loadPosture, parseManifests } from '../harness/posture/load.js';
import type { ProbeHandle } from '../harness/target.js';
import { startFakeIstiod } from './support/fake-istiod.js';
import { API_SERVER_AUDIENCES, type KubeApi, startKubeApi } from './support/kube-api.js';
import { type LabCluster, startLabCluster } from './support/lab-cluster.js';
import { clusterRolesOf, grantsOf, loadRoles, type Rule } from './support/rbac.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-kube-matrix-'));

/** The user's estate, there before meshproof: a namespace and the service accounts its workloads run as. */
const ESTATE = parseManifests(
  `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: frontend, namespace: shop }
---
apiVersion: v1
kind: Namespace
metadata: { name: bank, labels: { istio-injection: enabled } }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: ledger, namespace: bank }
`,
  'test estate',
);
const SWEPT = ['shop', 'bank'];

/** Exactly what an administrator installs for `sweep --matrix`: each RoleBinding copied into every swept namespace. */
const matrixRoles = (withMatrix = true): Rule[] => [
  ...loadRoles('deploy/rbac.yaml'),
  ...loadRoles('deploy/rbac-sweep.yaml', { rolebindingsIn: SWEPT }),
  ...(withMatrix ? loadRoles('deploy/rbac-matrix.yaml', { rolebindingsIn: SWEPT }) : []),
];

/** Every file under `root`, read whole. */
function filesUnder(root: string): { file: string; text: string }[] {
  return readdirSync(root).flatMap((f) => {
    const p = path.join(root, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [{ file: p, text: readFileSync(p, 'latin1') }];
  });
}

/** What the process printed while `f` ran (stdout and stderr), for the leak checks. */
async function captured<T>(f: () => Promise<T>): Promise<{ value?: T; error?: unknown; printed: string }> {
  const printed: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const tap =
    (write: typeof process.stdout.write) =>
    (c: string | Uint8Array, ...rest: unknown[]): boolean => {
      printed.push(String(c));
      return write(c, ...(rest as []));
    };
  process.stdout.write = tap(out) as typeof process.stdout.write;
  process.stderr.write = tap(err) as typeof process.stderr.write;
  try {
    return { value: await f(), printed: printed.join('') };
  } catch (error) {
    return { error, printed: printed.join('') };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

/** The base64 body of a PEM key, in pieces long enough to be unique (a key is never quoted in part either). */
const keyPieces = (pem: string) => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '').match(/.{24}/g) ?? [];

describe('sweep --matrix on a cluster: certificates for the identities of the estate (façade over the lab)', () => {
  let c: LabCluster;
  let target: KubeTarget;
  let sweeper: ProbeHandle;
  const trace: string[] = [];
  const issued: { token: string; namespace: string; serviceAccount: string; audiences: string[]; expirationSeconds: number }[] = [];

  beforeAll(async () => {
    c = await startLabCluster({ existing: ESTATE });
    c.api.state.rbac = matrixRoles();
    const issue = c.api.state.issueToken!;
    c.api.state.issueToken = (namespace, serviceAccount, audiences, expirationSeconds) => {
      const token = issue(namespace, serviceAccount, audiences, expirationSeconds);
      issued.push({ token, namespace, serviceAccount, audiences, expirationSeconds });
      return token;
    };
    // Not provisioned: the requests come from meshproof's service account, which deploy/confine.yaml binds.
    target = c.kubeTarget(dir, { provisioned: false, onCall: (l) => trace.push(l) });
    await target.apply(loadPosture(SWEEP_FIXTURES, []));
    [sweeper] = (await target.probes({ namespace: 'sweep', name: 'sweeper' })) as [ProbeHandle];
    expect(sweeper.sidecar).toBe(false);
  });
  afterAll(async () => {
    await target?.dispose();
    await c?.close();
  });

  it("issue 22: mintIdentityCertificate under exactly rbac.yaml + rbac-sweep.yaml + rbac-matrix.yaml returns a certificate for that identity, from a token for istio-ca only, 600 s; neither token nor key in any file, log line, trace or output", async () => {
    const before = issued.length;
    const r = await captured(() => target.mintIdentityCertificate(sweeper, { namespace: 'shop', serviceAccount: 'frontend' }, 3_600_000));
    expect(r.error).toBeUndefined();
    const cert = r.value!;
    const leaf = `${cert.chainPem.split('-----END CERTIFICATE-----')[0]}-----END CERTIFICATE-----\n`;
    expect(uriSans(leaf)).toEqual(['spiffe://cluster.local/ns/shop/sa/frontend']);
    expect(cert.spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/frontend');
    // One TokenRequest, exactly as confine.yaml admits it, for that service account.
    const tokens = issued.slice(before);
    expect(tokens.map(({ token: _t, ...x }) => x)).toEqual([{ namespace: 'shop', serviceAccount: 'frontend', audiences: ['istio-ca'], expirationSeconds: 600 }]);
    expect(c.api.calls).toContain('POST /api/v1/namespaces/shop/serviceaccounts/frontend/token');
    expect(c.api.state.forbidden).toEqual([]);
    expect(c.api.state.admissionDenied).toEqual([]);
    expect(c.api.state.rbacUsed).toContain('create core/serviceaccounts/token in shop');
    // The secrets: the token and the private key. Nowhere but in memory.
    const secrets = [tokens[0]!.token, ...keyPieces(cert.keyPem)];
    const everywhere = [
      ...filesUnder(dir).map((f) => ({ where: f.file, text: f.text })),
      { where: 'stdout/stderr', text: r.printed },
      { where: 'onCall trace', text: trace.join('\n') },
      { where: 'API calls', text: c.api.calls.join('\n') },
      { where: 'API objects', text: JSON.stringify([...c.api.state.objects.values()]) },
    ];
    for (const s of secrets) for (const e of everywhere) expect(e.text.includes(s), `a secret in ${e.where}`).toBe(false);
    expect(trace).toContain('create serviceaccounts/token shop/frontend (audiences istio-ca, 600 s)');
  });

  it('issue 22: without deploy/rbac-matrix.yaml the TokenRequest is refused 403 and the error names the missing permission and the file; a service account that does not exist is 404', async () => {
    try {
      c.api.state.rbac = matrixRoles(false);
      const refused = await captured(() => target.mintIdentityCertificate(sweeper, { namespace: 'bank', serviceAccount: 'ledger' }, 3_600_000));
      expect(String(refused.error)).toMatch(
        /TokenRequest for bank\/ledger refused: Forbidden: serviceaccounts "ledger" is forbidden: User "system:serviceaccount:meshproof:meshproof" cannot create resource "serviceaccounts\/token" in API group "" in the namespace "bank" \(meshproof needs create on serviceaccounts\/token in bank: deploy\/rbac-matrix\.yaml\)/,
      );
      expect(String(refused.error)).not.toMatch(/HTTP-Code|Body:|Headers:/);
      c.api.state.rbac = matrixRoles();
      const missing = await captured(() => target.mintIdentityCertificate(sweeper, { namespace: 'bank', serviceAccount: 'ghost' }, 3_600_000));
      expect(String(missing.error)).toMatch(/TokenRequest for bank\/ghost refused: NotFound: serviceaccounts "ghost" not found$/);
      // And with the grant, the other namespace's identity.
      const ok = await target.mintIdentityCertificate(sweeper, { namespace: 'bank', serviceAccount: 'ledger' }, 3_600_000);
      expect(ok.spiffeId).toBe('spiffe://cluster.local/ns/bank/sa/ledger');
    } finally {
      c.api.state.rbac = matrixRoles();
    }
  });
  it("issue 22: a mint whose output is not the certificate JSON fails without quoting it (it holds a private key)", async () => {
    const exec = c.api.state.exec!;
    const KEY = 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETKEYBODY';
    c.api.state.exec = async (call) => (call.command[2] === 'mint' ? { stdout: `{"chainPem": "x", "keyPem": ${KEY}}\n`, exitCode: 0 } : exec(call));
    try {
      const r = await captured(() => target.mintIdentityCertificate(sweeper, { namespace: 'shop', serviceAccount: 'frontend' }, 3_600_000));
      expect(String(r.error)).toMatch(/mint for shop\/frontend printed no certificate$/);
      for (let i = 0; i + 8 <= KEY.length; i++) expect(`${String(r.error)}${r.printed}${trace.join('\n')}`).not.toContain(KEY.slice(i, i + 8));
    } finally {
      c.api.state.exec = exec;
    }
  });
});

describe('the TokenRequest API and istiod\'s token review, as strict as the real ones', () => {
  let api: KubeApi;
  let kc: KubeConfig;
  const issued: { namespace: string; serviceAccount: string; audiences: string[]; expirationSeconds: number }[] = [];
  beforeAll(async () => {
    api = await startKubeApi();
    api.state.namespaces.set('shop', { labels: {}, created: '2026-01-01T00:00:00Z' });
    api.state.objects.set('/api/v1/namespaces/shop/serviceaccounts/frontend', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'frontend', namespace: 'shop' } });
    api.state.namespaces.set('kube-system', { labels: {}, created: '2026-01-01T00:00:00Z' });
    api.state.objects.set('/api/v1/namespaces/kube-system/serviceaccounts/coredns', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'coredns', namespace: 'kube-system' } });
    // kube-system bound too, as a careless install might: confine.yaml must still refuse (M22-L7).
    api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-matrix.yaml', { rolebindingsIn: ['shop', 'kube-system'] })];
    api.state.issueToken = (namespace, serviceAccount, audiences, expirationSeconds) => {
      issued.push({ namespace, serviceAccount, audiences, expirationSeconds });
      return `token-${issued.length}`;
    };
    ({ kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} }));
  });
  afterAll(() => api?.close());

  const request = (spec: { audiences?: string[]; expirationSeconds?: number }, name = 'frontend', namespace = 'shop') =>
    kc
      .makeApiClient(CoreV1Api)
      .createNamespacedServiceAccountToken({ name, namespace, body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: spec as { audiences: string[] } } })
      .then(
        (r) => ({ code: 201, message: '', token: r.status?.token, audiences: r.spec.audiences }),
        (e: { code?: number; body?: string }) => ({ code: e.code, message: String((JSON.parse(e.body ?? '{}') as { message?: string }).message), token: undefined, audiences: undefined }),
      );

  it.each([
    ['another audience', { audiences: ['vault'], expirationSeconds: 600 }],
    ['istio-ca beside another audience', { audiences: ['istio-ca', 'vault'], expirationSeconds: 600 }],
    ['no audience (the API server\'s own)', { expirationSeconds: 600 }],
    ['3600 s', { audiences: ['istio-ca'], expirationSeconds: 3600 }],
    ['no expiration (defaulted to 3600 s before admission)', { audiences: ['istio-ca'] }],
  ])('issue 22: deploy/confine.yaml refuses a TokenRequest by meshproof with %s', async (_name, spec) => {
    api.state.user = undefined;
    const before = issued.length;
    const r = await request(spec);
    expect(r.code).toBe(403);
    expect(r.message).toMatch(
      /^serviceaccounts "frontend" is forbidden: ValidatingAdmissionPolicy 'meshproof-confine' with binding 'meshproof-confine' denied request: meshproof may request only tokens with spec\.audiences \["istio-ca"\] and spec\.expirationSeconds at most 600: refused CREATE serviceaccounts\/token frontend in shop$/,
    );
    expect(issued.length).toBe(before);
  });

  it('M22-L7: confine.yaml refuses a TokenRequest in Kubernetes\' own namespaces even where RBAC would allow it', async () => {
    api.state.user = undefined;
    const before = issued.length;
    const r = await request({ audiences: ['istio-ca'], expirationSeconds: 600 }, 'coredns', 'kube-system');
    expect(r).toMatchObject({ code: 403, message: expect.stringMatching(/denied request: meshproof never requests tokens for service accounts of Kubernetes' own namespaces: refused CREATE serviceaccounts\/token coredns in kube-system$/) });
    expect(issued.length).toBe(before);
  });

  it('issue 22: confine.yaml admits exactly audiences ["istio-ca"] for 600 s', async () => {
    api.state.user = undefined;
    const r = await request({ audiences: ['istio-ca'], expirationSeconds: 600 });
    expect(r.code).toBe(201);
    expect(issued.at(-1)).toEqual({ namespace: 'shop', serviceAccount: 'frontend', audiences: ['istio-ca'], expirationSeconds: 600 });
  });

  it('issue 22: as kube-apiserver, 422 under 600 s and 404 for a service account that does not exist (an administrator, whom confine.yaml does not bind)', async () => {
    api.state.user = 'kubernetes-admin';
    try {
      const short = await request({ audiences: ['istio-ca'], expirationSeconds: 599 });
      expect(short).toMatchObject({ code: 422, message: 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes' });
      expect(await request({ audiences: ['istio-ca'], expirationSeconds: 600 }, 'ghost')).toMatchObject({ code: 404, message: 'serviceaccounts "ghost" not found' });
      // `default` exists in every namespace (the service account controller makes it).
      expect((await request({ audiences: ['istio-ca'], expirationSeconds: 600 }, 'default')).code).toBe(201);
      // No audience: the API server's own, and a token bound to it.
      const own = await request({ expirationSeconds: 3600 });
      expect(own.audiences).toEqual(API_SERVER_AUDIENCES);
      expect(issued.at(-1)?.audiences).toEqual(API_SERVER_AUDIENCES);
    } finally {
      api.state.user = undefined;
    }
  });

  it("issue 22: istiod's CA accepts a token only when it is bound to istio-ca, and takes the identity from it", async () => {
    const ca = await CertificateAuthority.create();
    const istiod = await startFakeIstiod({ cert: await ca.issue('istio-system', 'istiod', { dns: ['istiod.istio-system.svc'] }), sign: (spki, ns, sa, ttlMs) => ca.issue(ns, sa, { publicKeySpki: spki, ttlMs }) });
    try {
      const soon = Date.now() + 600_000;
      istiod.tokens.set('for-kube', { namespace: 'shop', serviceAccount: 'frontend', audiences: API_SERVER_AUDIENCES, expiresAt: soon });
      istiod.tokens.set('for-istio', { namespace: 'shop', serviceAccount: 'frontend', audiences: ['istio-ca'], expiresAt: soon });
      istiod.tokens.set('expired', { namespace: 'shop', serviceAccount: 'frontend', audiences: ['istio-ca'], expiresAt: Date.now() - 1 });
      const ask = (token: string) => mint({ address: istiod.address, servername: istiod.servername, rootPem: ca.rootPem, token, ttlSeconds: 600, timeoutMs: 5_000 });
      await expect(ask('for-kube')).rejects.toThrow(/grpc-status 16\): request authenticate failure/);
      await expect(ask('expired')).rejects.toThrow(/grpc-status 16/);
      expect((await ask('for-istio')).spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/frontend');
    } finally {
      await istiod.close();
    }
  });
});

describe("the agent's mint never quotes the token it was handed", () => {
  const SECRET = 'Zq8xW3vK9pL2mN7rT4yB6cD1fG5hJ0kS.c2VjcmV0LXRva2VuLWJvZHk.c2lnbmF0dXJl';
  it.each([
    // Node's JSON.parse quotes the text it choked on: `Unexpected token 'e', "{"token": eyJ…}" is not valid JSON`.
    ['stdin that is not JSON', `{"token": ${SECRET}}`],
    ['a CA that does not answer', JSON.stringify({ address: '127.0.0.1:1', servername: 'istiod.istio-system.svc', rootPem: 'x', token: SECRET, ttlSeconds: 60, timeoutMs: 2_000 })],
    ['both token and tokenPath', JSON.stringify({ address: '127.0.0.1:1', servername: 'x', rootPem: 'x', token: SECRET, tokenPath: '/nope', ttlSeconds: 60, timeoutMs: 2_000 })],
  ])('issue 22: %s: it fails without printing the token', (_name, input) => {
    const r = spawnSync(process.execPath, [AGENT_BUNDLE, 'mint'], { input: `${input}\n`, encoding: 'utf8', timeout: 120_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^agent: /);
    // Not even a piece of it (V8 quotes ten characters around the offending one).
    const printed = `${r.stdout}${r.stderr}`;
    for (let i = 0; i + 8 <= SECRET.length; i++) expect(printed, `token characters ${i}..${i + 8} printed`).not.toContain(SECRET.slice(i, i + 8));
  });
});

describe("the agent's probe never quotes the batch it was handed (it holds private keys)", () => {
  it('M22-L2: a batch on stdin that is not JSON fails without printing any of it', () => {
    const KEY = 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7hQkZ3pL9xVb2sN4mR8tY1cW6uE0aD5fK';
    // Unquoted, so V8's message would quote the text around the offending character: the key.
    const input = `{"attacks": [{"kind": "tls", "keyPem": ${KEY}}]}`;
    const r = spawnSync(process.execPath, [AGENT_BUNDLE, 'probe'], { input: `${input}\n`, encoding: 'utf8', timeout: 120_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^agent: probe: the batch on stdin is not JSON/);
    const printed = `${r.stdout}${r.stderr}`;
    for (let i = 0; i + 8 <= KEY.length; i++) expect(printed, `key characters ${i}..${i + 8} printed`).not.toContain(KEY.slice(i, i + 8));
    expect(printed).not.toContain('PRIVATE KEY');
  });
});

describe('deploy/rbac-matrix.yaml and the --matrix preflight', () => {
  const bare = (perms: Permission[]) => perms.flatMap((p) => p.verbs.map((v) => `${v} ${p.group || 'core'}/${p.resource}${p.subresource ? `/${p.subresource}` : ''}${p.names ? ` [${[...p.names].sort().join(',')}]` : ''}`));

  it('issue 22: grants exactly create serviceaccounts/token per swept namespace (RoleBindings), and binds only itself in the run namespace', () => {
    const roles = clusterRolesOf(['deploy/rbac-matrix.yaml']);
    expect(grantsOf(roles.get('meshproof-matrix')!)).toEqual(bare(MATRIX_PERMISSIONS));
    expect(grantsOf(roles.get('meshproof-matrix-binder')!).sort()).toEqual(bare(MATRIX_BINDER_PERMISSIONS).sort());
    expect(roles.get('meshproof-matrix-binder')!.every((r) => String(r.resourceNames) === 'meshproof-matrix')).toBe(true);
    // As shipped: the token grant only through RoleBindings (never cluster-wide); the binder cluster-wide, by name.
    const shipped = loadRoles('deploy/rbac-matrix.yaml', { rolebindingsIn: ['shop'] });
    expect(shipped.filter((r) => r.resources.includes('serviceaccounts/token')).every((r) => r.namespace !== undefined)).toBe(true);
    expect(grantsOf(shipped).filter((g) => g.startsWith('create core/serviceaccounts/token')).sort()).toEqual(['create core/serviceaccounts/token in default', 'create core/serviceaccounts/token in shop']);
  });

  it('issue 22: with --matrix, one SelfSubjectAccessReview per swept namespace; a namespace without the grant is one line naming it', async () => {
    const api = await startKubeApi();
    try {
      for (const ns of SWEPT) api.state.namespaces.set(ns, { labels: {}, created: '2026-01-01T00:00:00Z' });
      api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml', { rolebindingsIn: SWEPT }), ...loadRoles('deploy/rbac-matrix.yaml', { rolebindingsIn: ['shop'] })];
      const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} });
      const o = { namespaces: SWEPT, rootNamespace: 'istio-system', nodes: false };
      await expect(sweepPreflight(kc, o)).resolves.toBeUndefined();
      const e = await sweepPreflight(kc, { ...o, matrix: true }).then(() => undefined, (x: Error) => x);
      expect(e?.name).toBe('ConfigError');
      expect(e?.message).toBe(
        'sweep --matrix: missing permissions: create core/serviceaccounts/token in bank. Apply deploy/rbac-matrix.yaml and bind ClusterRole meshproof-matrix to this identity in each namespace swept (RoleBindings) and meshproof-matrix-binder cluster-wide',
      );
      api.state.rbac = [...api.state.rbac, ...loadRoles('deploy/rbac-matrix.yaml', { rolebindingsIn: ['bank'] })];
      const asked = api.calls.length;
      await expect(sweepPreflight(kc, { ...o, matrix: true })).resolves.toBeUndefined();
      expect(api.state.forbidden).toEqual([]);
      expect(api.calls.length).toBeGreaterThan(asked);
    } finally {
      await api.close();
    }
  });
});

describe('--intent cluster: the ClientIntents already in the cluster, read-only', () => {
  const intent = (apiVersion: string, namespace: string, name: string) => ({
    apiVersion,
    kind: 'ClientIntents',
    metadata: { name, namespace },
    spec: apiVersion.endsWith('v2beta1') ? { workload: { name, kind: 'Deployment' }, targets: [{ kubernetes: { name: 'ledger.bank', kind: 'Service' } }] } : { service: { name }, calls: [{ name: 'ledger.bank', type: 'http' }] },
  });
  const start = async (o: { crd?: boolean; versions?: string[]; intents?: boolean } = {}) => {
    const api = await startKubeApi();
    for (const ns of [...SWEPT, 'elsewhere']) api.state.namespaces.set(ns, { labels: {}, created: '2026-01-01T00:00:00Z' });
    if (o.crd ?? true) api.state.crds.add('clientintents.k8s.otterize.com');
    if (o.versions) api.state.crdVersions = new Map([['clientintents.k8s.otterize.com', o.versions]]);
    const version = o.versions?.[0] ?? 'v2beta1';
    for (const [ns, name] of [['shop', 'frontend'], ['bank', 'teller'], ['elsewhere', 'intruder']] as const) {
      api.state.objects.set(`/apis/k8s.otterize.com/${version}/namespaces/${ns}/clientintents/${name}`, intent(`k8s.otterize.com/${version}`, ns, name));
    }
    api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...(o.intents === false ? [] : loadRoles('deploy/rbac-matrix.yaml', { rolebindingsIn: SWEPT }))];
    return { api, kc: loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} }).kc };
  };

  it('issue 22: lists the ClientIntents of the swept namespaces only (v2beta1), with only the list grant of meshproof-matrix-intents', async () => {
    const { api, kc } = await start();
    try {
      const got = await listClientIntents(kc, SWEPT);
      expect(got.map((o) => `${o.apiVersion} ${o.metadata?.namespace}/${o.metadata?.name}`).sort()).toEqual(['k8s.otterize.com/v2beta1 bank/teller', 'k8s.otterize.com/v2beta1 shop/frontend']);
      expect(api.state.forbidden).toEqual([]);
      expect([...api.state.rbacUsed].filter((g) => g.includes('otterize')).sort()).toEqual(['list k8s.otterize.com/clientintents in bank', 'list k8s.otterize.com/clientintents in shop']);
      expect(api.calls.filter((c) => !c.includes('clientintents'))).toEqual([]);
    } finally {
      await api.close();
    }
  });

  it('issue 22: an operator serving only v1alpha3 is read in v1alpha3', async () => {
    const { api, kc } = await start({ versions: ['v1alpha3'] });
    try {
      expect((await listClientIntents(kc, SWEPT)).map((o) => o.apiVersion)).toEqual(['k8s.otterize.com/v1alpha3', 'k8s.otterize.com/v1alpha3']);
    } finally {
      await api.close();
    }
  });

  it('issue 22: the CRD not installed is one line, exit 2; without the grant, one line naming it', async () => {
    const absent = await start({ crd: false });
    try {
      const e = await listClientIntents(absent.kc, SWEPT).then(() => undefined, (x: Error & { exitCode?: number }) => x);
      expect(e?.exitCode).toBe(2);
      expect(e?.message).toBe('--intent cluster: the ClientIntents CRD is not installed (clientintents.k8s.otterize.com serves neither v2beta1 nor v1alpha3); pass --intent <file or dir> instead');
    } finally {
      await absent.api.close();
    }
    const ungranted = await start({ intents: false });
    try {
      const e = await listClientIntents(ungranted.kc, SWEPT).then(() => undefined, (x: Error & { exitCode?: number }) => x);
      expect(e?.exitCode).toBe(2);
      expect(e?.message).toMatch(/^--intent cluster: missing permission: list k8s\.otterize\.com\/clientintents in shop\. Apply deploy\/rbac-matrix\.yaml and bind ClusterRole meshproof-matrix-intents/);
    } finally {
      await ungranted.api.close();
    }
  });

  it('issue 22: meshproof-matrix-intents grants exactly the list the preflight asks with --intent cluster, per namespace', async () => {
    const roles = clusterRolesOf(['deploy/rbac-matrix.yaml']);
    expect(grantsOf(roles.get('meshproof-matrix-intents')!)).toEqual(['list k8s.otterize.com/clientintents']);
    expect(INTENT_PERMISSIONS.flatMap((p) => p.verbs.map((v) => `${v} ${p.group}/${p.resource}`))).toEqual(['list k8s.otterize.com/clientintents']);
    const api = await startKubeApi();
    try {
      for (const ns of SWEPT) api.state.namespaces.set(ns, { labels: {}, created: '2026-01-01T00:00:00Z' });
      const matrixOnly = loadRoles('deploy/rbac-matrix.yaml', { rolebindingsIn: SWEPT }).filter((r) => !r.resources.includes('clientintents'));
      api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml', { rolebindingsIn: SWEPT }), ...matrixOnly];
      const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} });
      const o = { namespaces: SWEPT, rootNamespace: 'istio-system', nodes: false, matrix: true };
      await expect(sweepPreflight(kc, o)).resolves.toBeUndefined();
      await expect(sweepPreflight(kc, { ...o, intentCluster: true })).rejects.toThrow(
        'sweep --matrix: missing permissions: list k8s.otterize.com/clientintents in shop, list k8s.otterize.com/clientintents in bank. Apply deploy/rbac-matrix.yaml and bind ClusterRole meshproof-matrix and meshproof-matrix-intents to this identity in each namespace swept (RoleBindings) and meshproof-matrix-binder cluster-wide',
      );
    } finally {
      await api.close();
    }
  });
});
