// The boundary through KubeTarget and the real client library: a user's own ingress gateway (`--edge`), already in
// the cluster, attacked read-only by EDGE-001..003 while EDGE-004 and EGRESS-001 run in the run's own namespaces;
// the user's objects are never written, and a weakness in the user's edge fails its check.
import { mkdtempSync, } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../harness/check.js';
import { EdgeAuthority } from '../harness/pki.js';
import { loadPosture, parseManifests, type PostureObject } from '../harness/posture/load.js';
import { conformanceRun } from '../harness/run.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { SUITES } from '../suites/index.js';
import { type LabCluster, startLabCluster } from './support/lab-cluster.js';
import { loadRoles } from './support/rbac.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-kube-edge-'));
const HOST = 'shop.example.test';

/** The user's edge: their own gateway in istio-ingress in front of their shop app, with their own certificate. */
async function userEdge(redirect: boolean): Promise<{ objects: PostureObject[]; rootPem: string }> {
  const ca = await EdgeAuthority.create();
  const cert = await ca.issue([HOST], { validDays: 200, chain: 'complete' });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const yaml = `
apiVersion: v1
kind: Namespace
metadata: { name: istio-ingress }
---
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: shop-gateway, namespace: istio-ingress }
spec:
  selector: { matchLabels: { istio: shop-gateway } }
  template:
    metadata:
      labels: { istio: shop-gateway, sidecar.istio.io/inject: "true" }
      annotations: { inject.istio.io/templates: gateway }
    spec:
      containers: [{ name: istio-proxy, image: auto, ports: [{ containerPort: 8080 }, { containerPort: 8443 }] }]
---
apiVersion: v1
kind: Service
metadata: { name: shop-gateway, namespace: istio-ingress }
spec:
  selector: { istio: shop-gateway }
  ports: [{ name: http2, port: 80, targetPort: 8080 }, { name: https, port: 443, targetPort: 8443 }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: shop, namespace: istio-ingress }
spec:
  selector: { istio: shop-gateway }
  servers:
    - port: { number: 443, name: https, protocol: HTTPS }
      hosts: [${HOST}]
      tls: { mode: SIMPLE, credentialName: shop-cert }
    - port: { number: 80, name: http, protocol: HTTP }
      hosts: [${HOST}]
${redirect ? '      tls: { httpsRedirect: true }' : ''}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop, namespace: istio-ingress }
spec:
  hosts: [${HOST}]
  gateways: [shop]
  http: [{ route: [{ destination: { host: web.shop.svc.cluster.local, port: { number: 8080 } } }] }]
---
# What Istio's gateway chart installs beside its gateway (manifests/charts/gateway/templates/role.yaml): without
# it istiod's SDS withholds the credentialName Secret.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: shop-gateway, namespace: istio-ingress }
rules: [{ apiGroups: [""], resources: [secrets], verbs: [get, watch, list] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: shop-gateway, namespace: istio-ingress }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: shop-gateway }
subjects: [{ kind: ServiceAccount, name: default }]
---
# With the mesh-wide allow-nothing, the user admits everyone at the edge and the gateway at the app.
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ingress, namespace: istio-ingress }
spec:
  selector: { matchLabels: { istio: shop-gateway } }
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: web, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  rules: [{ from: [{ source: { principals: [cluster.local/ns/istio-ingress/sa/default] } }] }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: agent, image: node:22-alpine, command: [node, /opt/meshproof/agent.mjs], args: [echo, --http-port, "8080", --tcp-port, "9000"], ports: [{ containerPort: 8080 }, { containerPort: 9000 }] }]
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 8080 }]
`;
  // The user's Secret holds its key, as theirs would (a posture may not: parseManifests refuses Secret data).
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'shop-cert', namespace: 'istio-ingress' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(cert.chainPem), 'tls.key': b64(cert.keyPem) } };
  return { objects: [...parseManifests(yaml, 'user-edge.yaml'), { manifest: secret as PostureObject['manifest'], source: 'user-edge.yaml#secret' }], rootPem: ca.rootPem };
}

async function edgeRun(redirect: boolean) {
  const user = await userEdge(redirect);
  const cluster = await startLabCluster({ existing: user.objects, meshWide: 'fixtures/secure/10-mesh-wide.yaml' });
  const before = new Map([...cluster.api.state.objects].filter(([p]) => /\/namespaces\/(istio-ingress|shop)\//.test(p)).map(([p, o]) => [p, JSON.stringify(o)]));
  const target = cluster.kubeTarget(dir, { provisioned: false });
  try {
    const edge = { service: { namespace: 'istio-ingress', name: 'shop-gateway' }, host: HOST, httpsPort: 443, httpPort: 80, trustPem: [user.rootPem] };
    const r = await conformanceRun({ target, posture: loadPosture('fixtures/secure'), checks: SUITES.boundary!, timeouts: LAB_TIMEOUTS, settings: { ...DEFAULT_SETTINGS, edge } });
    const writes = cluster.api.calls.filter((c) => !c.startsWith('GET') && /\/namespaces\/(istio-ingress|shop)(\/|$)/.test(c));
    const after = new Map([...cluster.api.state.objects].filter(([p]) => before.has(p)).map(([p, o]) => [p, JSON.stringify(o)]));
    return { r, writes, before, after };
  } finally {
    await target.dispose();
    await cluster.close();
  }
}

describe("the user's own edge through the Kubernetes path (--edge)", () => {
  it('EDGE-001..003 attack it read-only and pass; EDGE-004 and EGRESS-001 run on the run\'s own gateway and lock', async () => {
    const { r, writes, before, after } = await edgeRun(true);
    expect(Object.fromEntries(r.results.map((x) => [x.id, x.verdict]))).toEqual({ 'EDGE-001': 'pass', 'EDGE-002': 'pass', 'EDGE-003': 'pass', 'EDGE-004': 'pass', 'EGRESS-001': 'pass' });
    expect(r.results[0]!.cases[0]!.label).toMatch(/istio-ingress\/shop-gateway/);
    expect(r.results[3]!.cases[0]!.label).toMatch(/ns\/mp-[0-9a-f]{8}-edge\/sa\/ingressgateway/);
    expect(writes).toEqual([]);
    expect(after).toEqual(before);
  });

  it('a user edge that serves plaintext on port 80 fails EDGE-001, and only it', async () => {
    const { r } = await edgeRun(false);
    expect(Object.fromEntries(r.results.map((x) => [x.id, x.verdict]))).toEqual({ 'EDGE-001': 'fail', 'EDGE-002': 'pass', 'EDGE-003': 'pass', 'EDGE-004': 'pass', 'EGRESS-001': 'pass' });
    expect(r.results[0]!.reason).toMatch(/plaintext HTTP got 200 from the app behind the edge/);
  });
});

/** A boundary run on the run's own gateway (no --edge), with the posture bent by `bend`. */
async function ownEdgeRun(bend: (objects: PostureObject[]) => PostureObject[], rbac?: (c: LabCluster) => void) {
  const cluster = await startLabCluster({ meshWide: 'fixtures/secure/10-mesh-wide.yaml' });
  rbac?.(cluster);
  const target = cluster.kubeTarget(dir, { provisioned: false });
  try {
    const posture = loadPosture('fixtures/secure');
    const r = await conformanceRun({ target, posture: { ...posture, objects: bend(posture.objects) }, checks: SUITES.boundary!, timeouts: LAB_TIMEOUTS, settings: DEFAULT_SETTINGS });
    return { r, forbidden: cluster.api.state.forbidden, used: cluster.api.state.rbacUsed };
  } finally {
    await target.dispose();
    await cluster.close();
  }
}

const isGrant = (o: PostureObject) => o.manifest.kind === 'RoleBinding' && o.manifest.metadata.name === 'ingressgateway-secrets';

describe("K-H2: the run's own gateway gets its credentialName only when its service account may list secrets (istiod's SDS)", () => {
  it('with the RoleBinding to meshproof-gateway-secrets (written under deploy/rbac.yaml with bind, no 403) EDGE-001..004 pass', async () => {
    const { r, forbidden, used } = await ownEdgeRun((objects) => objects);
    expect(Object.fromEntries(r.results.map((x) => [x.id, x.verdict]))).toEqual({ 'EDGE-001': 'pass', 'EDGE-002': 'pass', 'EDGE-003': 'pass', 'EDGE-004': 'pass', 'EGRESS-001': 'pass' });
    expect(forbidden).toEqual([]);
    expect(used.has('bind rbac.authorization.k8s.io/clusterroles [meshproof-gateway-secrets]')).toBe(true);
  });

  it('without it the gateway has no certificate and EDGE-001..004 are error, never pass', async () => {
    const { r } = await ownEdgeRun((objects) => objects.filter((o) => !isGrant(o)));
    const verdicts = Object.fromEntries(r.results.map((x) => [x.id, x.verdict]));
    expect(verdicts).toMatchObject({ 'EDGE-001': 'error', 'EDGE-002': 'error', 'EDGE-003': 'error', 'EDGE-004': 'error' });
  });

  it('a RoleBinding to a role whose permissions meshproof lacks, without bind on it, is refused 403 by the escalation check', async () => {
    const noBind = (c: LabCluster) => {
      c.api.state.rbac = loadRoles('deploy/rbac.yaml').filter((x) => !x.verbs.includes('bind'));
    };
    const refused = ownEdgeRun((objects) => objects, noBind);
    await expect(refused).rejects.toThrow(/server-side apply of RoleBinding mp-[0-9a-f]{8}-edge\/ingressgateway-secrets failed: Forbidden: .*attempting to grant RBAC permissions not currently held/);
  });
});
