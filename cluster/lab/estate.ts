// A generated estate for `meshproof sweep --target lab --estate 200x3`: many Services and pods over several
// namespaces, secured the way a careful platform team would (mesh-wide STRICT and allow-nothing, per-namespace
// STRICT, per-service ALLOW from its one caller), with a few deliberate holes. Tests prove the sweep finds
// every hole with the right explanation and flags nothing else. Plain Kubernetes and Istio objects: the lab
// interprets them exactly as it interprets the fixtures. For the access matrix (issue 22) it also has an intent
// (estateIntent: Otterize ClientIntents, one per caller), over-grants beyond that intent that the plain sweep's
// stranger cannot see, and a lab fault skipping one DENY (estateLabFaults), with what a correct matrix must find
// (estateMatrixFindings, estateMatrixHole).
import { ConfigError } from '../../harness/errors.js';
import type { Manifest, PostureObject } from '../../harness/posture/load.js';
import { ROOT_NAMESPACE } from '../../harness/posture/view.js';
import { stringify } from 'yaml';

export interface EstateSpec {
  services: number;
  replicas: number;
  /** false: the same estate with no planted hole (the sweep must pass it). */
  holes?: boolean;
}

/** Services per namespace: a 200-service estate spreads over four namespaces. */
const SERVICES_PER_NAMESPACE = 50;
const MAX_PODS = 3_000;

/** The planted holes and what a correct sweep must say about each (check id → ports flagged). */
export interface EstateHole {
  kind: 'no-sidecar' | 'permissive-port' | 'open-to-any-identity' | 'long-lived-cert';
  namespace: string;
  service: string;
  /** Findings expected per check, by container port; `[]` means the pod itself (SWEEP-INJECT). */
  findings: Partial<Record<'SWEEP-MTLS' | 'SWEEP-INJECT' | 'SWEEP-AUTHZ' | 'SWEEP-CERT', number[]>>;
}

export function parseEstate(text: string): EstateSpec {
  const m = /^(\d+)x(\d+)$/.exec(text.trim());
  if (!m) throw new ConfigError(`--estate ${JSON.stringify(text)}: expected <services>x<replicas>, e.g. 200x3`);
  const spec = { services: Number(m[1]), replicas: Number(m[2]) };
  if (spec.services < 6) throw new ConfigError('--estate: at least 6 services (four carry planted holes)');
  if (spec.replicas < 1 || spec.replicas > 10) throw new ConfigError('--estate: 1 to 10 replicas per service');
  if (spec.services * spec.replicas > MAX_PODS) throw new ConfigError(`--estate: at most ${MAX_PODS} pods on this machine's lab`);
  return spec;
}

const nsOf = (i: number) => `estate-${Math.floor(i / SERVICES_PER_NAMESPACE) + 1}`;
const svcName = (i: number) => `svc-${String(i).padStart(4, '0')}`;

/** Which service index carries which hole: spread over namespaces, never the first service of one. */
function holeIndexes(n: number): Record<EstateHole['kind'], number> {
  return {
    'no-sidecar': Math.min(n - 1, 3),
    'permissive-port': Math.min(n - 1, Math.floor(n / 2) + 1),
    'open-to-any-identity': n - 2,
    'long-lived-cert': Math.max(4, Math.floor(n / 3)),
  };
}

export function estateHoles(spec: EstateSpec): EstateHole[] {
  const at = holeIndexes(spec.services);
  const hole = (kind: EstateHole['kind'], findings: EstateHole['findings']): EstateHole => ({ kind, namespace: nsOf(at[kind]), service: svcName(at[kind]), findings });
  return [
    // No sidecar: nothing refuses plaintext or checks identities; the mTLS attempt finds no TLS at all.
    hole('no-sidecar', { 'SWEEP-INJECT': [], 'SWEEP-MTLS': [8080, 9000], 'SWEEP-AUTHZ': [8080, 9000] }),
    hole('permissive-port', { 'SWEEP-MTLS': [8080] }),
    hole('open-to-any-identity', { 'SWEEP-AUTHZ': [8080, 9000] }),
    hole('long-lived-cert', { 'SWEEP-CERT': [8080, 9000] }),
  ];
}

const principal = (i: number) => `cluster.local/ns/${nsOf(i)}/sa/${svcName(i)}`;
/** Each service's one caller: the previous service (the first's is the last). */
const callerOf = (n: number, i: number) => (i === 0 ? n - 1 : i - 1);

/**
 * Where the access matrix's planted over-grants go (issue 22): the first services that carry no sweep hole and are
 * not the first of their namespace (so their caller shares it). parseEstate's minimum of 6 services leaves at least
 * three such indexes (the sweep holes take at most four, and index 0 is never one of these).
 * - `namespaceWide`: its ALLOW also grants its whole namespace, and a DENY (`<svc>-quarantine`) names `denied`, an
 *   identity of that namespace; the estate's LabFault makes the sidecars skip that DENY (the enforcement hole);
 * - `allMethods`: its caller's intent declares `GET /api/*` only; with holes its ALLOW grants the caller everything,
 *   without them exactly `GET /api/*` (what Otterize would generate from that intent).
 */
function matrixIndexes(n: number): { namespaceWide: number; allMethods: number; denied: number } {
  const taken = new Set(Object.values(holeIndexes(n)));
  const free: number[] = [];
  for (let i = 1; i < n && free.length < 3; i++) if (!taken.has(i) && i % SERVICES_PER_NAMESPACE !== 0) free.push(i);
  const [namespaceWide, allMethods, denied] = free as [number, number, number];
  if (free.length < 3 || nsOf(denied) !== nsOf(namespaceWide)) throw new Error(`estate ${n}: no room for the matrix's planted over-grants`);
  return { namespaceWide, allMethods, denied };
}

/** The declared call of the all-methods service's caller: what the planted over-grant exceeds. */
export const ESTATE_DECLARED_HTTP = [{ path: '/api/*', methods: ['GET'] }];

/** Service i's AuthorizationPolicies: an ALLOW from its one caller (or the planted variants), and the DENY the fault skips. */
function callerPolicies(spec: EstateSpec, i: number, at: Record<EstateHole['kind'], number>, mx: ReturnType<typeof matrixIndexes>): Manifest[] {
  const holes = spec.holes !== false;
  const ns = nsOf(i);
  const name = svcName(i);
  const from = [{ source: { principals: [principal(callerOf(spec.services, i))] } }];
  let rules: Record<string, unknown>[] = [{ from }]; // each service admits exactly its one caller, as a least-privilege estate would
  if (i === at['open-to-any-identity']) rules = [{ from: [{ source: { principals: ['*'] } }] }]; // any authenticated identity: the hole
  else if (holes && i === mx.namespaceWide) rules = [{ from: [...from, { source: { namespaces: [ns] } }] }]; // the whole namespace: beyond intent
  else if (!holes && i === mx.allMethods) rules = [{ from, to: [{ operation: { methods: ['GET'], paths: ['/api/*'] } }] }]; // exactly the intent
  const out: Manifest[] = [{ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: `${name}-callers`, namespace: ns }, spec: { selector: { matchLabels: { app: name } }, action: 'ALLOW', rules } }];
  if (holes && i === mx.namespaceWide) {
    // "The namespace, except one": the DENY the estate's LabFault skips. Why the plain sweep cannot see it skipped:
    // its fresh identity (run namespace `sweep`, SA sweeper) is outside `namespaces: [ns]`, so the ALLOW alone
    // still refuses it (Istio: DENY first, then no ALLOW match, I: pilot/pkg/security/authz/builder, Envoy RBAC
    // action ALLOW with no matching policy); only `denied`, inside the namespace, is kept out by this DENY alone.
    out.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: `${name}-quarantine`, namespace: ns },
      spec: { selector: { matchLabels: { app: name } }, action: 'DENY', rules: [{ from: [{ source: { principals: [principal(mx.denied)] } }] }] },
    });
  }
  return out;
}

/**
 * The estate's lab faults (holes on): one LabFault skipping the namespace-wide service's DENY, as if istiod never
 * pushed it. Apart from estatePosture because a cluster has no LabFault kind (the façade serves none, pathFor):
 * the CLI's lab path and lab tests add these objects; `[]` without holes.
 */
export function estateLabFaults(spec: EstateSpec): PostureObject[] {
  if (spec.holes === false) return [];
  const h = estateMatrixHole(spec);
  const m: Manifest = { apiVersion: 'lab.meshproof.dev/v1', kind: 'LabFault', metadata: { name: 'estate-unpushed-policy', namespace: ROOT_NAMESPACE }, spec: { skipAuthorizationPolicy: h.policy } };
  return [{ manifest: m, source: 'estate#lab-fault' }];
}

/** The enforcement hole the estate's LabFault makes: `identity` reaches `service` although the model denies it. */
export interface EstateMatrixHole {
  /** `ns/name` of the skipped policy. */
  policy: string;
  identity: string;
  namespace: string;
  service: string;
  ports: number[];
}

export function estateMatrixHole(spec: EstateSpec): EstateMatrixHole {
  const mx = matrixIndexes(spec.services);
  const ns = nsOf(mx.namespaceWide);
  return { policy: `${ns}/${svcName(mx.namespaceWide)}-quarantine`, identity: `${nsOf(mx.denied)}/${svcName(mx.denied)}`, namespace: ns, service: svcName(mx.namespaceWide), ports: [8080, 9000] };
}

/**
 * The estate's intent: one ClientIntents (k8s.otterize.com/v2beta1) per caller, in its namespace, declaring its call
 * to the one Service it calls (the whole Service; `GET /api/*` only to the all-methods service). svc-0000 also
 * declares server-first and ext-authz-protected, which admit it (awkwardWorkloads). The same with or without holes:
 * the intent is what the team says; the holes are the policies drifting from it. Written into the bundle as
 * `intent.yaml` and used when --intent is absent.
 */
export function estateIntent(spec: EstateSpec): Manifest[] {
  const n = spec.services;
  const mx = matrixIndexes(n);
  const out: Manifest[] = [];
  for (let j = 0; j < n; j++) {
    const ns = nsOf(j);
    const callee = (j + 1) % n;
    const target = (i: number) => (nsOf(i) === ns ? svcName(i) : `${svcName(i)}.${nsOf(i)}`);
    const targets: Record<string, unknown>[] = [{ kubernetes: { name: target(callee), kind: 'Service', ...(callee === mx.allMethods ? { http: ESTATE_DECLARED_HTTP } : {}) } }];
    if (j === 0) for (const s of ['server-first', 'ext-authz-protected']) targets.push({ kubernetes: { name: s, kind: 'Service' } });
    out.push({ apiVersion: 'k8s.otterize.com/v2beta1', kind: 'ClientIntents', metadata: { name: svcName(j), namespace: ns }, spec: { workload: { name: svcName(j), kind: 'Deployment' }, targets } });
  }
  return out;
}

/** estateIntent as the bundle's `intent.yaml` (a YAML stream; harness/matrix/intent.ts parseIntents reads it back). */
export function estateIntentYaml(spec: EstateSpec): string {
  return estateIntent(spec)
    .map((m) => `---\n${stringify(m)}`)
    .join('');
}

/** The estate's identities (`ns/sa` of every service account running a pod), the gateway's included. */
export function estateIdentities(spec: EstateSpec): string[] {
  const out = Array.from({ length: spec.services }, (_, i) => `${nsOf(i)}/${svcName(i)}`);
  return [...out, ...['server-first', 'edge-gateway', 'ext-authz-protected'].map((sa) => `${nsOf(0)}/${sa}`)];
}

/** One matrix cell the planted faults make wrong: a grant beyond the intent (with its rule) or an enforcement hole. */
export interface EstateMatrixFinding {
  kind: 'open-to-any-identity' | 'namespace-wide' | 'all-methods' | 'skipped-policy';
  state: 'beyond-intent' | 'hole';
  identity: string;
  namespace: string;
  service: string;
  /** Service ports (= container ports in the estate). */
  ports: number[];
  /** beyond-intent: the ALLOW rule that grants beyond the declared call. */
  rule?: { namespace: string; name: string; rule: number };
  /** hole: why the model's refusal is not enforced. */
  why?: string;
}

/**
 * What a correct matrix must find in the estate with holes, and nothing else (estate identities against estate
 * Services; the canary is judged apart). `identities`: the estate identities the engine judges (default
 * estateIdentities, the gateway's included: pass the list without it if the engine leaves gateways out).
 * Not listed: the cells of the sweep's own `no-sidecar` hole (estateHoles): that pod has no sidecar, so an mTLS
 * attack meets a plaintext app (no handshake, and no destination record); what the matrix says of it is the
 * engine's decision (SWEEP-INJECT already reports the pod).
 */
export function estateMatrixFindings(spec: EstateSpec, identities: string[] = estateIdentities(spec)): EstateMatrixFinding[] {
  if (spec.holes === false) return [];
  const n = spec.services;
  const at = holeIndexes(n);
  const mx = matrixIndexes(n);
  const ports = [8080, 9000];
  const id = (i: number) => `${nsOf(i)}/${svcName(i)}`;
  const rule0 = (i: number) => ({ namespace: nsOf(i), name: `${svcName(i)}-callers`, rule: 0 });
  const cell = (kind: EstateMatrixFinding['kind'], state: EstateMatrixFinding['state'], identity: string, i: number, extra: Partial<EstateMatrixFinding>): EstateMatrixFinding => ({ kind, state, identity, namespace: nsOf(i), service: svcName(i), ports, ...extra });
  const out: EstateMatrixFinding[] = [];
  const hole = estateMatrixHole(spec);
  for (const who of identities) {
    const open = at['open-to-any-identity'];
    if (who !== id(callerOf(n, open))) out.push(cell('open-to-any-identity', 'beyond-intent', who, open, { rule: rule0(open) }));
    const wide = mx.namespaceWide;
    if (who === hole.identity) out.push(cell('skipped-policy', 'hole', who, wide, { why: `AuthorizationPolicy ${hole.policy} not pushed (LabFault)` }));
    else if (who.startsWith(`${nsOf(wide)}/`) && who !== id(callerOf(n, wide))) out.push(cell('namespace-wide', 'beyond-intent', who, wide, { rule: rule0(wide) }));
  }
  // The caller declared GET /api/* only; the ALLOW grants it every method and path, and TCP (an http-only intent
  // generates a rule istiod skips on TCP chains).
  out.push(cell('all-methods', 'beyond-intent', id(callerOf(n, mx.allMethods)), mx.allMethods, { rule: rule0(mx.allMethods) }));
  return out.sort((a, b) => `${a.identity} ${a.namespace}/${a.service}`.localeCompare(`${b.identity} ${b.namespace}/${b.service}`));
}

function obj(m: Manifest, i: number): PostureObject {
  return { manifest: m, source: `estate#${i}` };
}

/** The estate's objects: the root namespace's mesh-wide posture, then each namespace and service. */
export function estatePosture(spec: EstateSpec): PostureObject[] {
  const at = spec.holes === false ? { 'no-sidecar': -1, 'permissive-port': -1, 'open-to-any-identity': -1, 'long-lived-cert': -1 } : holeIndexes(spec.services);
  const mx = matrixIndexes(spec.services);
  const out: Manifest[] = [
    { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: ROOT_NAMESPACE }, spec: { mtls: { mode: 'STRICT' } } },
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'allow-nothing', namespace: ROOT_NAMESPACE }, spec: {} },
    {
      apiVersion: 'telemetry.istio.io/v1',
      kind: 'Telemetry',
      metadata: { name: 'mesh-default', namespace: ROOT_NAMESPACE },
      spec: { accessLogging: [{ providers: [{ name: 'envoy' }] }] },
    },
  ];
  const namespaces = new Set<string>();
  for (let i = 0; i < spec.services; i++) {
    const ns = nsOf(i);
    if (!namespaces.has(ns)) {
      namespaces.add(ns);
      out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'istio-injection': 'enabled' } } });
      out.push({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: ns }, spec: { mtls: { mode: 'STRICT' } } });
    }
    const name = svcName(i);
    const labels: Record<string, string> = { app: name };
    if (i === at['no-sidecar']) labels['sidecar.istio.io/inject'] = 'false';
    const annotations = i === at['long-lived-cert'] ? { 'proxy.istio.io/config': '{"proxyMetadata":{"SECRET_TTL":"2160h"}}' } : undefined;
    out.push(
      ...agentApp(ns, name, {
        replicas: spec.replicas,
        args: ['--http-port', '8080', '--tcp-port', '9000'],
        ports: [
          { name: 'http', port: 8080 },
          { name: 'tcp', port: 9000 },
        ],
        labels,
        annotations,
      }),
    );
    out.push(...callerPolicies(spec, i, at, mx));
    if (i === at['permissive-port']) {
      out.push({
        apiVersion: 'security.istio.io/v1',
        kind: 'PeerAuthentication',
        metadata: { name: `${name}-legacy-port`, namespace: ns },
        spec: { selector: { matchLabels: { app: name } }, mtls: { mode: 'STRICT' }, portLevelMtls: { '8080': { mode: 'PERMISSIVE' } } },
      });
    }
  }
  out.push(...awkwardWorkloads(nsOf(0)));
  return out.map(obj);
}

/** The server-first app's greeting (a MySQL-like banner: sent before the client speaks). */
export const SERVER_FIRST_BANNER = '5.7.44-meshproof-server-first';

/**
 * Workloads a real estate has that a sweep must not report (issue 19 "done when"), none of them a hole:
 * - `scaled-to-zero`: a Service whose Deployment has no pods (its EndpointSlice has `endpoints: null`, K-H1);
 * - `server-first`: a TCP app that greets first, like MySQL, behind a correct ALLOW (only `svc-0000` may call it):
 *   its greeting reaches the denied sweeper before the RBAC close (I-H1), which the destination records;
 * - `edge-gateway`: an Istio gateway pod (gateway injection template) in an injected namespace (I-M7);
 * - `ext-authz-protected`: an HTTP app behind a CUSTOM policy (provider `lab-ext-authz`, an envoyExtAuthzHttp
 *   entry of the mesh config) and a correct ALLOW: the provider's own 403 denies the sweeper, which the destination
 *   records as `ext_authz_denied` (I-M6).
 */
export function awkwardWorkloads(ns: string): Manifest[] {
  return [
    ...agentApp(ns, 'scaled-to-zero', { replicas: 0, args: ['--http-port', '8080', '--tcp-port', '9000'], ports: [{ name: 'http', port: 8080 }] }),
    ...agentApp(ns, 'server-first', { replicas: 1, args: ['--http-port', '8080', '--tcp-port', '3306', '--tcp-banner', SERVER_FIRST_BANNER], ports: [{ name: 'tcp-mysql', port: 3306 }] }),
    {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'server-first-callers', namespace: ns },
      spec: { selector: { matchLabels: { app: 'server-first' } }, action: 'ALLOW', rules: [{ from: [{ source: { principals: [`cluster.local/ns/${ns}/sa/${svcName(0)}`] } }] }] },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'edge-gateway', namespace: ns } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'edge-gateway', namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'edge-gateway', istio: 'edge-gateway' } },
        template: {
          metadata: { labels: { app: 'edge-gateway', istio: 'edge-gateway', 'sidecar.istio.io/inject': 'true' }, annotations: { 'inject.istio.io/templates': 'gateway' } },
          spec: { serviceAccountName: 'edge-gateway', containers: [{ name: 'istio-proxy', image: 'auto' }] },
        },
      },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'edge-gateway', namespace: ns }, spec: { selector: { app: 'edge-gateway' }, ports: [{ name: 'http-status', port: 15021, targetPort: 15021 }] } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio', namespace: ROOT_NAMESPACE },
      data: { mesh: `extensionProviders:\n- name: ${EXT_AUTHZ_PROVIDER}\n  envoyExtAuthzHttp:\n    service: ext-authz.${ROOT_NAMESPACE}.svc.cluster.local\n    port: "8000"\n    includeRequestHeadersInCheck: ["x-ext-authz"]\n` },
    },
    ...agentApp(ns, 'ext-authz-protected', { replicas: 1, args: ['--http-port', '8080', '--tcp-port', '9000'], ports: [{ name: 'http-web', port: 8080 }] }),
    {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'ext-authz-protected-custom', namespace: ns },
      spec: { selector: { matchLabels: { app: 'ext-authz-protected' } }, action: 'CUSTOM', provider: { name: EXT_AUTHZ_PROVIDER }, rules: [{}] },
    },
    {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'ext-authz-protected-callers', namespace: ns },
      spec: { selector: { matchLabels: { app: 'ext-authz-protected' } }, action: 'ALLOW', rules: [{ from: [{ source: { principals: [`cluster.local/ns/${ns}/sa/${svcName(0)}`] } }] }] },
    },
  ];
}

/** The estate's CUSTOM provider: an envoyExtAuthzHttp extensionProvider of the mesh config. */
export const EXT_AUTHZ_PROVIDER = 'lab-ext-authz';

/** A ServiceAccount, a Deployment of the agent in echo mode and its Service (each port to the same container port), all named `name`. */
function agentApp(
  ns: string,
  name: string,
  o: { replicas: number; args: string[]; ports: { name: string; port: number }[]; labels?: Record<string, string>; annotations?: Record<string, string> },
): Manifest[] {
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: ns },
      spec: {
        replicas: o.replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: o.labels ?? { app: name }, ...(o.annotations ? { annotations: o.annotations } : {}) },
          spec: {
            serviceAccountName: name,
            containers: [{ name: 'app', image: 'node:22-alpine', command: ['node', '/opt/meshproof/agent.mjs'], args: ['echo', ...o.args], ports: o.ports.map((p) => ({ containerPort: p.port, name: p.name })) }],
          },
        },
      },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app: name }, ports: o.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port })) } },
  ] as Manifest[];
}
