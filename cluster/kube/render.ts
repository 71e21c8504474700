// Renders a posture for a real cluster (ARCHITECTURE.md "Names in a real cluster"): fixture namespaces become
// run-scoped (`mp-<short run id>-<name>`), EVERY reference to them is rewritten (principals, namespaces lists,
// DestinationRule hosts, Service FQDNs), every object is labelled with the run, and the agent is delivered to
// stock Node images from a ConfigMap with a locked-down security context. Pure: no API calls.
import { parse as parseYaml } from 'yaml';
import { discoveryLabels, type LabelSelector } from '../../harness/istio/discovery.js';
import { injection } from '../../harness/istio/injection.js';
import { ConfigError } from '../../harness/errors.js';
import { EdgeAuthority } from '../../harness/pki.js';
import type { Manifest, Posture } from '../../harness/posture/load.js';
import { GATEWAY_API_REFUSAL, ROOT_NAMESPACE } from '../../harness/posture/view.js';

export const RUN_LABEL = 'meshproof.dev/run';
export const FIELD_MANAGER = 'meshproof';
export const AGENT_CONFIGMAP = 'meshproof-agent';
export const AGENT_MOUNT = '/opt/meshproof';
/** A current Node image; overridable with --image (and --image-registry for mirrors). */
export const DEFAULT_IMAGE = 'node:22-alpine';
/**
 * Where a sidecar-less probe finds its own projected service-account token for audience `istio-ca` (the kubelet
 * keeps it fresh), to ask istiod for a certificate of its own identity as any pod can (istio-behaviours.md §4b).
 */
export const ISTIO_CA_TOKEN_DIR = '/var/run/secrets/meshproof/istio-ca';
export const ISTIO_CA_TOKEN_PATH = `${ISTIO_CA_TOKEN_DIR}/token`;

export interface RenderOptions {
  runId: string;
  /** Read from the mesh config; `cluster.local` by default. */
  trustDomain: string;
  /** Root-namespace fixtures are applied only on clusters meshproof provisioned. */
  provisioned: boolean;
  image?: string;
  imageRegistry?: string;
  /** The agent bundle's text, shipped in one ConfigMap per namespace that runs the agent. */
  agentBundle: string;
  /** Token for the echo app's /admin endpoints. */
  adminToken: string;
  /**
   * A revisioned control plane: run namespaces are labelled `istio.io/rev=<rev>` instead of
   * `istio-injection=enabled` (which would win over the revision label, istio-behaviours.md §8).
   */
  revision?: string;
  /**
   * meshConfig.discoverySelectors: run namespaces get the `meshproof.dev/…` labels a selector asks for, or the
   * render refuses (istiod would not see them; harness/istio/discovery.ts).
   */
  discoverySelectors?: LabelSelector[];
}

export interface Rendered {
  /** In apply order: namespaces first. */
  objects: Manifest[];
  /** Logical namespace → cluster namespace. */
  namespaces: Record<string, string>;
  /** Fixtures not applied, with the reason (evidence: what was excluded and why). */
  skipped: { object: string; reason: string }[];
}

export function shortRunId(runId: string): string {
  return runId.replace(/-/g, '').slice(0, 8).toLowerCase();
}

export class NamespaceMap {
  readonly prefix: string;
  constructor(
    runId: string,
    private readonly logical: Set<string>,
  ) {
    this.prefix = `mp-${shortRunId(runId)}-`;
  }

  /** The cluster name of a logical namespace; the root namespace and unknown ones stay as they are. */
  ns(name: string): string {
    return this.logical.has(name) ? `${this.prefix}${name}` : name;
  }

  /** `cluster.local/ns/<ns>/sa/<sa>` (or with another trust domain, or a `*` pattern) with the namespace mapped. */
  principal(p: string, trustDomain: string): string {
    const m = /^([^/]+)\/ns\/([^/]+)\/sa\/(.+)$/.exec(p);
    if (!m) return p;
    const td = m[1] === 'cluster.local' ? trustDomain : m[1]!;
    return `${td}/ns/${this.ns(m[2]!)}/sa/${m[3]}`;
  }

  /** `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local` with the namespace mapped; short names stay. */
  host(h: string): string {
    const parts = h.split('.');
    if (parts.length < 2) return h;
    parts[1] = this.ns(parts[1]!);
    return parts.join('.');
  }
}

type Obj = Record<string, unknown>;
const clone = <T>(v: T): T => structuredClone(v);

function label(m: Manifest, runId: string): void {
  m.metadata.labels = { ...m.metadata.labels, [RUN_LABEL]: runId };
}

function rewriteAuthz(spec: Obj, map: NamespaceMap, td: string): void {
  for (const rule of (spec.rules as Obj[] | undefined) ?? []) {
    for (const f of (rule.from as { source?: Obj }[] | undefined) ?? []) {
      const s = f.source;
      if (!s) continue;
      for (const k of ['principals', 'notPrincipals']) if (Array.isArray(s[k])) s[k] = (s[k] as string[]).map((p) => map.principal(p, td));
      for (const k of ['namespaces', 'notNamespaces']) if (Array.isArray(s[k])) s[k] = (s[k] as string[]).map((n) => map.ns(n));
    }
  }
}

/**
 * The stats meshproof reads from its own pods' sidecars, which Istio's default stats matcher drops
 * (istio-behaviours.md §10): the client's circuit-breaker and outlier counters (RES-001, RES-002) and the
 * destination's listener counters (NR and TLS-verification corroboration). Istio adds these to its defaults.
 */
export const MESHPROOF_STATS_MATCHER = {
  inclusionRegexps: ['.*upstream_rq_pending_overflow', '.*upstream_cx_overflow', '.*outlier_detection\\..*', '.*no_filter_chain_match', '.*ssl\\.fail_verify_.*', '.*ssl\\.connection_error', '.*ssl\\.session_reused'],
};

/** Merges MESHPROOF_STATS_MATCHER into a pod's `proxy.istio.io/config`, keeping what is there (SECRET_TTL, overlays). */
export function withStatsMatcher(annotation: string | undefined): string {
  const cfg = (annotation ? (parseYaml(annotation) ?? {}) : {}) as { proxyStatsMatcher?: Record<string, string[] | undefined> } & Record<string, unknown>;
  const sm = { ...(cfg.proxyStatsMatcher ?? {}) };
  sm.inclusionRegexps = [...new Set([...(sm.inclusionRegexps ?? []), ...MESHPROOF_STATS_MATCHER.inclusionRegexps])];
  return JSON.stringify({ ...cfg, proxyStatsMatcher: sm });
}

/**
 * I-L5: the `sidecar.istio.io/statsInclusion{Prefixes,Suffixes,Regexps}` annotations REPLACE, per dimension, what
 * `proxyStatsMatcher` says ("only consider proxy config if annotation is not set instead of merging", I:
 * pkg/bootstrap/config.go getStatsOptions). A posture carrying the Regexps annotation would silently discard the
 * regexps meshproof adds through proxy.istio.io/config, so they are appended to the annotation as well
 * (comma-separated, as getStatsOptions splits it; none of ours holds a comma).
 */
export const STATS_REGEXPS_ANNOTATION = 'sidecar.istio.io/statsInclusionRegexps';

export function withStatsRegexpsAnnotation(value: string): string {
  const own = value.split(',').filter((x) => x !== '');
  return [...new Set([...own, ...MESHPROOF_STATS_MATCHER.inclusionRegexps])].join(',');
}

function renderDeployment(m: Manifest, o: RenderOptions, sidecarLess: boolean): void {
  const spec = m.spec as { template: { metadata: Obj; spec: Obj } };
  const tmpl = spec.template;
  tmpl.metadata.labels = { ...(tmpl.metadata.labels as Obj), [RUN_LABEL]: o.runId };
  const annotations = { ...((tmpl.metadata.annotations as Record<string, string> | undefined) ?? {}) };
  annotations['proxy.istio.io/config'] = withStatsMatcher(annotations['proxy.istio.io/config']);
  const regexpsAnnotation = annotations[STATS_REGEXPS_ANNOTATION];
  if (regexpsAnnotation !== undefined) annotations[STATS_REGEXPS_ANNOTATION] = withStatsRegexpsAnnotation(regexpsAnnotation);
  tmpl.metadata.annotations = annotations;
  const pod = tmpl.spec;
  const image = o.image ?? DEFAULT_IMAGE;
  const registry = o.imageRegistry ? `${o.imageRegistry.replace(/\/$/, '')}/` : '';
  pod.automountServiceAccountToken = false;
  pod.securityContext = { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } };
  const probe = ((pod.containers as Obj[])[0]?.args as string[] | undefined)?.[0] === 'probe';
  const tokenVolume = probe && sidecarLess;
  pod.volumes = [
    { name: 'meshproof-agent', configMap: { name: AGENT_CONFIGMAP } },
    ...(tokenVolume ? [{ name: 'istio-ca-token', projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 3600, path: 'token' } }] } }] : []),
  ];
  const env = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'SERVICE_ACCOUNT', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
    { name: 'MESHPROOF_ADMIN_TOKEN', value: o.adminToken },
  ];
  pod.containers = (pod.containers as Obj[]).map((c) => ({
    ...c,
    image: `${registry}${image}`,
    env,
    volumeMounts: [
      { name: 'meshproof-agent', mountPath: AGENT_MOUNT, readOnly: true },
      ...(tokenVolume ? [{ name: 'istio-ca-token', mountPath: ISTIO_CA_TOKEN_DIR, readOnly: true }] : []),
    ],
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    resources: { requests: { cpu: '10m', memory: '48Mi' }, limits: { memory: '192Mi' } },
  }));
}

/** `<namespace>/<deployment>` whose pod IPs a ServiceEntry's `addresses` get once they are known (fixtures 50-edge). */
export const ADDRESSES_OF = 'meshproof.dev/addresses-of';
/** A Secret whose certificate the Target generates (`tls`): a posture never carries a key. */
export const GENERATE = 'meshproof.dev/generate';

/** A pod template injected with Istio's `gateway` template: Envoy is the whole pod. */
export function isGatewayTemplate(m: Manifest): boolean {
  return (m.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined)?.template?.metadata?.annotations?.['inject.istio.io/templates'] === 'gateway';
}

/** The Istio kinds with `spec.exportTo` (a Sidecar has none: it applies to its own namespace's workloads). */
const EXPORTED = new Set(['VirtualService', 'DestinationRule', 'ServiceEntry']);

/**
 * The Namespace labels deploy/confine.yaml admits (its Namespace-labels validation; test/kube-render.test.ts fails
 * when the two differ): keys by name or prefix, and the pod-security labels only at a level that restricts. The
 * render's own labels are among them (RUN_LABEL and the `meshproof.dev/…` of discoverySelectors, istio-injection,
 * istio.io/rev); `kubernetes.io/metadata.name` is the API server's, never a posture's.
 */
export const CONFINE_NAMESPACE_LABELS = {
  keys: ['istio-injection', 'istio.io/rev'],
  prefixes: ['meshproof.dev/'],
  podSecurityPrefix: 'pod-security.kubernetes.io/',
  podSecurityLevels: ['baseline', 'restricted'],
} as const;

/** Why confine.yaml would refuse this Namespace label, or undefined when it admits it. */
export function refusedNamespaceLabel(key: string, value: string): string | undefined {
  const c = CONFINE_NAMESPACE_LABELS;
  if ((c.keys as readonly string[]).includes(key) || c.prefixes.some((p) => key.startsWith(p))) return undefined;
  if (key.startsWith(c.podSecurityPrefix)) {
    if (key.endsWith('-version') || (c.podSecurityLevels as readonly string[]).includes(value)) return undefined;
    return `${key}: ${value} loosens Pod Security (only ${c.podSecurityLevels.join(' or ')})`;
  }
  return `${key} is not a label deploy/confine.yaml lets meshproof put on its namespaces (only ${c.prefixes.map((p) => `${p}*`).join(', ')}, ${c.keys.join(', ')}, ${c.podSecurityPrefix}*); to allow it, add it to confine.yaml and CONFINE_NAMESPACE_LABELS`;
}

/**
 * Writes stay inside what the run creates (ARCHITECTURE.md "Kubernetes path"; deploy/confine.yaml enforces it on
 * the cluster): no cluster-scoped object but the run's own Namespaces, nothing in a namespace the posture does not
 * declare (it would be the user's) except the mesh root (applied only on a cluster meshproof provisioned), no
 * Istio config exported beyond its namespace, and no Namespace label confine.yaml would refuse (A-M4: else a 403
 * halfway through the apply). Pure and cheap, so `run` calls it before contacting any cluster: a
 * posture that would write elsewhere is a ConfigError (exit 2, one line), not a refusal halfway through an apply.
 */
export function confineWrites(posture: Posture): void {
  const logical = new Set(posture.objects.filter((x) => x.manifest.kind === 'Namespace').map((x) => x.manifest.metadata.name));
  for (const { manifest, source } of posture.objects) {
    const what = `${manifest.kind} ${manifest.metadata.namespace ? `${manifest.metadata.namespace}/` : ''}${manifest.metadata.name}`;
    if (manifest.kind !== 'Namespace' && !manifest.metadata.namespace) {
      throw new ConfigError(`${source}: ${what}: no namespace: meshproof writes no cluster-scoped object but the Namespaces it creates (a namespaced kind without one would land in the context's namespace)`);
    }
    if (manifest.metadata.namespace && manifest.metadata.namespace !== ROOT_NAMESPACE && !logical.has(manifest.metadata.namespace)) {
      throw new ConfigError(`${source}: ${what}: namespace ${manifest.metadata.namespace} is not declared in the posture; meshproof writes only into namespaces it creates`);
    }
    if (manifest.kind === 'Namespace') {
      for (const [key, value] of Object.entries(manifest.metadata.labels ?? {})) {
        const why = refusedNamespaceLabel(key, String(value));
        if (why) throw new ConfigError(`${source}: ${what}: label ${why}`);
      }
    }
    const exportTo = (manifest.spec as { exportTo?: unknown } | undefined)?.exportTo;
    if (EXPORTED.has(manifest.kind) && exportTo !== undefined && JSON.stringify(exportTo) !== '["."]') {
      throw new ConfigError(`${source}: ${what}: spec.exportTo ${JSON.stringify(exportTo)}: meshproof keeps Istio config in its own namespace (exportTo ["."]); it never exports a run's routing to the mesh`);
    }
  }
}

/** Under a revision, `istio-injection=enabled` becomes `istio.io/rev=<rev>` (the legacy label would win over it). */
function injectionLabels(labels: Record<string, string>, revision: string | undefined): Record<string, string> {
  if (!revision || labels['istio-injection'] !== 'enabled') return labels;
  const { 'istio-injection': _injection, ...rest } = labels;
  return { ...rest, 'istio.io/rev': revision };
}

/**
 * Renders the posture for a cluster. Throws a ConfigError for kinds that only the lab understands.
 */
export function renderForCluster(posture: Posture, o: RenderOptions): Rendered {
  confineWrites(posture);
  const logical = new Set(posture.objects.filter((x) => x.manifest.kind === 'Namespace').map((x) => x.manifest.metadata.name));
  const map = new NamespaceMap(o.runId, logical);
  // The labels each posture namespace gets on the cluster, for the injection decision of its pods.
  const namespaceLabels = new Map(posture.objects.filter((x) => x.manifest.kind === 'Namespace').map((x) => [x.manifest.metadata.name, injectionLabels(x.manifest.metadata.labels ?? {}, o.revision)]));
  const skipped: Rendered['skipped'] = [];
  const out: Manifest[] = [];
  const agentNamespaces = new Set<string>();
  for (const { manifest, source } of posture.objects) {
    const what = `${manifest.kind} ${manifest.metadata.namespace ? `${manifest.metadata.namespace}/` : ''}${manifest.metadata.name}`;
    if (manifest.apiVersion.startsWith('gateway.networking.k8s.io/')) throw new ConfigError(`${source}: ${what}: ${GATEWAY_API_REFUSAL}`);
    if (manifest.apiVersion.startsWith('lab.meshproof.dev/')) {
      throw new ConfigError(`${source}: ${what}: ${manifest.kind} is a lab-only fault and cannot be applied to a cluster`);
    }
    if (manifest.metadata.namespace === ROOT_NAMESPACE && !o.provisioned) {
      skipped.push({ object: what, reason: `meshproof never writes to ${ROOT_NAMESPACE} on a cluster it did not provision; checks depending on mesh-wide posture test what the cluster has` });
      continue;
    }
    const m = clone(manifest);
    if (m.kind === 'Namespace') {
      m.metadata.name = map.ns(m.metadata.name);
      if (m.metadata.labels) m.metadata.labels = injectionLabels(m.metadata.labels, o.revision);
    }
    else if (m.metadata.namespace) m.metadata.namespace = map.ns(m.metadata.namespace);
    label(m, o.runId);
    if (m.kind === 'Namespace') seenByIstiod(m, o.discoverySelectors);
    const spec = m.spec as Obj | undefined;
    if (m.kind === 'AuthorizationPolicy' && spec) rewriteAuthz(spec, map, o.trustDomain);
    if (m.kind === 'DestinationRule' && spec && typeof spec.host === 'string') spec.host = map.host(spec.host);
    if (EXPORTED.has(m.kind) && spec) {
      // Istio exports routing config to the whole mesh by default (istio pkg/config/mesh/mesh.go:
      // DefaultVirtualServiceExportTo, DefaultDestinationRuleExportTo, DefaultServiceExportTo = ["*"]); a run's config
      // stays in its own namespace, which deploy/confine.yaml enforces. Every consumer meshproof deploys is in the
      // namespace of the config it relies on. A fixture that exports elsewhere was refused in confineWrites.
      spec.exportTo = ['.'];
    }
    if (m.kind === 'Gateway' && spec) {
      // A Gateway selects pods in every namespace (PILOT_SCOPE_GATEWAY_TO_NAMESPACE is off by default): the run
      // label keeps it to this run's own gateway pods, never a user's or another run's.
      spec.selector = { ...(spec.selector as Obj), [RUN_LABEL]: o.runId };
    }
    if (m.kind === 'VirtualService' && spec) {
      const vsNs = manifest.metadata.namespace ?? '';
      spec.gateways = ((spec.gateways as string[] | undefined) ?? []).map((g) => (g.includes('/') ? `${map.ns(g.split('/')[0]!)}/${g.split('/')[1]}` : `${map.ns(vsNs)}/${g}`));
      for (const r of (spec.http as { route?: { destination: { host: string } }[] }[] | undefined) ?? []) for (const d of r.route ?? []) d.destination.host = map.host(d.destination.host);
    }
    if (m.kind === 'RoleBinding') {
      // A ServiceAccount subject names its namespace: the run's, mapped like every other reference to it (an
      // unmapped `edge` would bind a service account of a namespace the run does not own).
      const subjects = (m as unknown as { subjects?: { kind: string; namespace?: string }[] }).subjects ?? [];
      for (const sub of subjects) if (sub.kind === 'ServiceAccount' && sub.namespace) sub.namespace = map.ns(sub.namespace);
    }
    if (m.kind === 'ServiceEntry' && m.metadata.annotations?.[ADDRESSES_OF]) {
      const [ns, name] = m.metadata.annotations[ADDRESSES_OF].split('/') as [string, string];
      m.metadata.annotations = { ...m.metadata.annotations, [ADDRESSES_OF]: `${map.ns(ns)}/${name}` };
    }
    if (m.kind === 'Deployment' && isGatewayTemplate(manifest)) {
      // Istio's gateway injection fills in the istio-proxy container (IO: setup/additional-setup/gateway).
      const tmpl = (m.spec as { template: { metadata: Obj } }).template;
      // Under a revision the pod names it: only the default revision (or a `default` tag) renders the `object.`
      // webhook that injects on `sidecar.istio.io/inject: "true"` alone; a revision's `rev.object.` webhook needs
      // `istio.io/rev: <rev>` on the pod (I: istio-discovery/templates/mutatingwebhook.yaml; harness/istio/injection.ts).
      tmpl.metadata.labels = { ...(tmpl.metadata.labels as Obj), [RUN_LABEL]: o.runId, ...(o.revision ? { 'istio.io/rev': o.revision } : {}) };
      const annotations = { ...((tmpl.metadata.annotations as Record<string, string> | undefined) ?? {}) };
      annotations['proxy.istio.io/config'] = withStatsMatcher(annotations['proxy.istio.io/config']);
      tmpl.metadata.annotations = annotations;
    } else if (m.kind === 'Deployment') {
      // Sidecar-less: what Istio's webhooks and injector decide for the pod on the revision under test
      // (harness/istio/injection.ts; the same call as apply.ts hasSidecar).
      const meta = (manifest.spec as { template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } } } | undefined)?.template?.metadata ?? {};
      const namespace = manifest.metadata.namespace ?? '';
      const decision = injection({ revisions: [o.revision ?? 'default'] }, { namespace, namespaceLabels: namespaceLabels.get(namespace) ?? {}, labels: meta.labels ?? {}, annotations: meta.annotations ?? {} });
      renderDeployment(m, o, !decision.injected);
      agentNamespaces.add(m.metadata.namespace!);
    }
    out.push(m);
  }
  const configMaps: Manifest[] = [...agentNamespaces].map((ns) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: AGENT_CONFIGMAP, namespace: ns, labels: { [RUN_LABEL]: o.runId } },
    data: { 'agent.mjs': o.agentBundle },
  }));
  const namespaces = Object.fromEntries([...logical].map((n) => [n, map.ns(n)]));
  const isNs = (m: Manifest) => m.kind === 'Namespace';
  return { objects: [...out.filter(isNs), ...configMaps, ...out.filter((m) => !isNs(m))], namespaces, skipped };
}

/** A run namespace istiod must see (meshConfig.discoverySelectors): add meshproof's own labels, or refuse in one line. */
function seenByIstiod(ns: Manifest, selectors: LabelSelector[] | undefined): void {
  const r = discoveryLabels(selectors, ns.metadata.labels ?? {});
  if ('needs' in r) {
    throw new ConfigError(
      `meshConfig.discoverySelectors select none of the namespaces meshproof creates (${ns.metadata.name}), so istiod would ignore them (no istio-ca-root-cert, no policies): being seen needs ${r.needs}, a label meshproof does not put on its namespaces; add a selector its own labels satisfy, e.g. matchExpressions [{key: meshproof.dev/run, operator: Exists}]`,
    );
  }
  ns.metadata.labels = { ...ns.metadata.labels, ...r.add };
}

/**
 * Fills each `meshproof.dev/generate: tls` Secret with a certificate for its hosts from the run's edge CA (root →
 * intermediate → leaf, as a public CA issues; created in `holder` on first use). The key lives only in the Secret:
 * never logged, never in the evidence (the posture snapshot is the fixture, without data).
 */
export async function generateSecrets(rendered: Rendered, holder: { authority?: EdgeAuthority }): Promise<void> {
  for (const m of rendered.objects) {
    const a = m.metadata.annotations ?? {};
    if (m.kind !== 'Secret' || a[GENERATE] !== 'tls') continue;
    holder.authority ??= await EdgeAuthority.create();
    const hosts = (a['meshproof.dev/tls-hosts'] ?? '').split(',').map((h) => h.trim()).filter(Boolean);
    const c = await holder.authority.issue(hosts, { validDays: Number(a['meshproof.dev/tls-valid-days'] ?? 365), chain: a['meshproof.dev/tls-chain'] === 'leaf-only' ? 'leaf-only' : 'complete' });
    (m as Manifest & { data?: Record<string, string> }).data = { 'tls.crt': Buffer.from(c.chainPem).toString('base64'), 'tls.key': Buffer.from(c.keyPem).toString('base64') };
  }
}
