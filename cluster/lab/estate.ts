// A generated estate for `meshproof sweep --target lab --estate 200x3`: many Services and pods over several
// namespaces, secured the way a careful platform team would (mesh-wide STRICT and allow-nothing, per-namespace
// STRICT, per-service ALLOW from its one caller), with a few deliberate holes. Tests prove the sweep finds
// every hole with the right explanation and flags nothing else. Plain Kubernetes and Istio objects: the lab
// interprets them exactly as it interprets the fixtures.
import { ConfigError } from '../../harness/errors.js';
import type { Manifest, PostureObject } from '../../harness/posture/load.js';
import { ROOT_NAMESPACE } from '../../harness/posture/view.js';

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

function obj(m: Manifest, i: number): PostureObject {
  return { manifest: m, source: `estate#${i}` };
}

/** The estate's objects: the root namespace's mesh-wide posture, then each namespace and service. */
export function estatePosture(spec: EstateSpec): PostureObject[] {
  const at = spec.holes === false ? { 'no-sidecar': -1, 'permissive-port': -1, 'open-to-any-identity': -1, 'long-lived-cert': -1 } : holeIndexes(spec.services);
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
    // Each service admits exactly its one caller (the previous service), as a least-privilege estate would.
    const caller = i === 0 ? spec.services - 1 : i - 1;
    const rules =
      i === at['open-to-any-identity']
        ? [{ from: [{ source: { principals: ['*'] } }] }] // any authenticated identity: the hole
        : [{ from: [{ source: { principals: [`cluster.local/ns/${nsOf(caller)}/sa/${svcName(caller)}`] } }] }];
    out.push({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: `${name}-callers`, namespace: ns }, spec: { selector: { matchLabels: { app: name } }, action: 'ALLOW', rules } });
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
