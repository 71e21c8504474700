// A small Kubernetes API server for tests (test support, not product): the REST endpoints the preflight and
// the sweep call, over plain HTTP on loopback (the kubeconfig says insecure-skip-tls-verify, as client-node
// requires for http://), with state a test can bend (permissions, CRDs, istiod, webhook, namespaces). It records every
// call. The lab-backed façade for whole conformance runs (issue 5) grows from this.
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { readFields } from '../../agent/mint.js';
import { type AdmissionAttributes, type AdmissionPolicy, admit, loadAdmissionPolicy, type Operation } from './admission.js';
import { discovered, type LabelSelector } from '../../harness/istio/discovery.js';
import { type ControlPlanes, type InjectionDecision, injection } from '../../harness/istio/injection.js';
import { modelFor, validateWith } from './schemas.js';
import { type Attributes, attributesOf, authorize, BUILT_IN, clusterRolesOf, forbiddenMessage, loadRoles, MESHPROOF_SA, notHeld, type RbacObject, type Rule, rulesFor, type ServiceAccountRef } from './rbac.js';

export interface KubeApiState {
  /**
   * The rules meshproof's identity holds from its bindings (deploy/rbac.yaml unless a test says otherwise; see
   * rbac.ts loadRoles: bound cluster-wide or per namespace), every request authorized against them as
   * kube-apiserver's RBAC authorizer would, with the built-in grants of every authenticated user and the RBAC
   * objects applied to the cluster; undefined authorizes everything meshproof asks.
   */
  rbac?: Rule[];
  /** The ClusterRoles installed in the cluster (deploy/rbac*.yaml's), which RoleBindings applied here refer to. */
  clusterRoles: Map<string, Rule[]>;
  /** The grants allowed requests used (see rbac.ts grantsOf). */
  rbacUsed: Set<string>;
  /** Requests refused with 403, for a test to assert none happened. */
  forbidden: string[];
  version: string;
  /** `verb group/resource[/sub]` entries that are denied. */
  denied: Set<string>;
  crds: Set<string>;
  /** The versions a CRD that is not built into this API serves (ClientIntents: v2beta1, v1alpha3); all when unset. */
  crdVersions?: Map<string, string[]>;
  /** CRDs served as an Istio older than 1.22 serves them: v1beta1 and v1alpha3, no v1. */
  crdsBeforeV1?: Set<string>;
  /** istiod's Deployment in istio-system: `istiod`, or `istiod-<rev>` labelled istio.io/rev for a revision (§10). */
  istiod?: { image: string; replicas: number; ready: number; revision?: string; terminating?: number };
  /**
   * How long istiod's pods take to go once scaled down: they keep a deletionTimestamp and still serve (CA, webhook,
   * xDS) for their grace period, while readyReplicas already excludes them (K: pkg/controller/controller_utils.go
   * IsPodActive; audit K-M4). The backing lab's outage begins only when they are gone.
   */
  istiodGraceMs: number;
  webhooks: string[];
  /** Revision tags (`istio-revision-tag-<tag>` MWCs): tag → revision; served in the webhook list with their labels. */
  revisionTags?: Record<string, string>;
  /** sidecarInjectorWebhook.enableNamespacesByDefault: the default revision's `auto.` webhook. */
  enableNamespacesByDefault?: boolean;
  namespaces: Map<string, { labels: Record<string, string>; created: string; phase?: 'Active' | 'Terminating'; finalizers?: string[] }>;
  /**
   * Namespace deletion is asynchronous (istio-behaviours.md §10): a deleted namespace stays Terminating this long,
   * answering 409 to a second DELETE, before it and its objects go.
   */
  terminateAfterMs: number;
  /** Namespaces whose finalizer never finishes (they stay Terminating forever, as with a stuck finalizer). */
  stuckFinalizers: Map<string, string>;
  /** Objects applied with server-side apply, by API path. */
  objects: Map<string, Record<string, unknown>>;
  /** Field managers seen per path (to check that meshproof applied with its own). */
  managers: Map<string, string>;
  /** Emulates a broken injection webhook: pods never get an istio-proxy. */
  injectionBroken: boolean;
  /** Pods report Ready only after this many listings (readiness takes a while on a real cluster). */
  readyAfterPolls: number;
  /**
   * Pod Security admission (K8s: pod-security.kubernetes.io/enforce on the namespace): under `baseline` or
   * `restricted`, istio-init (NET_ADMIN, NET_RAW, UID 0) is rejected unless istio-cni replaces it
   * (istio-behaviours.md §10). Rejected pods never appear; the ReplicaSet says ReplicaFailure and a FailedCreate
   * event carries the reason.
   */
  istioCni: boolean;
  /** Images the nodes cannot pull: their pods stay Pending in ImagePullBackOff. */
  unpullable: Set<string>;
  /** Workloads (`ns/deployment`) whose app exits at start: CrashLoopBackOff, with this last log line. */
  crashing: Map<string, string>;
  /**
   * Transient failures a real API server gives (429 with Retry-After under priority and fairness, 503 while it
   * restarts, a reset connection, or an answer lost after the request took effect): every `every`-th request
   * gets the next kind. `injected` records what was done to which request.
   */
  /** An API server older than Kubernetes 1.30: exec speaks only v4.channel.k8s.io (no stdin close). */
  v4Only?: boolean;
  faults?: { every: number; kinds: ('429' | '503' | 'reset' | 'lost')[]; injected: string[] };
  /** Bumped on every write, so a backing lab knows when to rebuild. */
  generation: number;
  /** The cluster's nodes (name → schedulable and Ready). */
  nodes: Map<string, { ready: boolean; unschedulable?: boolean }>;
  /**
   * Pods a Deployment really has while the injection webhook cannot be called (istiod at 0 replicas): the
   * webhook fails closed (failurePolicy Fail, istio/istio#3724), so a scale-up in an injected namespace creates
   * nothing and its ReplicaSet reports FailedCreate until istiod is back.
   */
  podLimit: Map<string, number>;
  /**
   * The ReplicaSet controller, one entry per Deployment (`ns/name`): it creates a Deployment's missing pods on a
   * sync; a refused create leaves `ReplicaFailure=True` (set only when absent, so its lastTransitionTime is the
   * first failure's) and a FailedCreate event (aggregated: count and lastTimestamp grow), and requeues the key
   * rate-limited; only a later successful sync removes the condition (K: pkg/controller/replicaset/
   * replica_set_utils.go calculateStatus, `manageReplicasErr == nil && failureCond != nil → RemoveCondition`;
   * replica_set.go processNextWorkItem → `queue.AddRateLimited(key)` on error, `queue.Forget(key)` on success).
   * A change of spec.replicas enqueues at once (updateRS → enqueueRS, no rate limit); istiod coming back does not.
   */
  replicaSets: Map<string, ReplicaSetController>;
  /**
   * client-go's default per-item limiter (util/workqueue/default_rate_limiters.go DefaultControllerRateLimiter:
   * NewItemExponentialFailureRateLimiter(5*time.Millisecond, 1000*time.Second), delay = base·2^failures). The
   * base is real; the cap is scaled down (1000 s → 10 s) so a lab test never waits minutes. Tests may widen the
   * base to make the stale window longer than a race.
   */
  replicaSetRetry: { baseMs: number; maxMs: number };
  /**
   * Transient admission refusals of a Deployment's pods (`ns/name` → message, until when): a ResourceQuota
   * exceeded while old pods terminate, a webhook timing out (audit K-M5). Past `untilMs` the next sync succeeds.
   */
  createRefusals: Map<string, { message: string; untilMs: number }>;
  /** Called when a Deployment's scale changes (istiod's included), so a backing lab follows without a rebuild. */
  onScale?: (namespace: string, name: string, replicas: number) => Promise<void>;
  /** Stable pod IPs: `ns/pod` → 10.244.x.y. */
  podIPs: Map<string, string>;
  /** Called before pods are listed (a lab-backed API starts its lab here). */
  beforePods?: () => Promise<void>;
  /** The `mesh` key of ConfigMap istio-system/istio, when set. */
  meshConfig?: string;
  /**
   * Issues a service-account token bound to its audiences, valid `expirationSeconds` (TokenRequest, or the
   * kubelet's projected token): what istiod's review of the token later checks.
   */
  issueToken?: (namespace: string, serviceAccount: string, audiences: string[], expirationSeconds: number) => string;
  /** The mesh root, as istiod distributes it in ConfigMap istio-ca-root-cert. */
  rootPem?: () => string | undefined;
  /** Serves pod logs. */
  logs?: (namespace: string, pod: string, container: string, since?: Date) => Promise<string>;
  /** Every pod-log request's query string, as sent (what the client really asked for). */
  logQueries: string[];
  /**
   * Largest page a list answers when the client sends `limit` (K8s API conventions: a server may return fewer
   * items than asked, with a `continue` token). Small in tests, so a client that does not follow `continue` misses
   * objects. Without `limit` a list is whole, as on a real server.
   */
  pageSize?: number;
  /** Every list request's path and query (to prove lists were paged). */
  listQueries: string[];
  /**
   * How much of a container's log the kubelet still serves: only the current file, the last `logRetainBytes`
   * bytes (it rotates at containerLogMaxSize; `kubectl logs` cannot read rotated files, kubernetes/kubernetes#59902).
   */
  logRetainBytes?: number;
  /** Serves pod exec: what the command prints and its exit code. */
  exec?: (call: ExecCall) => Promise<{ stdout?: string; stderr?: string; exitCode: number }>;
  /**
   * The ValidatingAdmissionPolicy installed with its binding (deploy/confine.yaml unless a test says otherwise):
   * evaluated with a real CEL engine on every write (test/support/admission.ts), and served read-only as the
   * admissionregistration.k8s.io objects `docs`. Undefined: no policy installed.
   */
  admission?: { policy: AdmissionPolicy; docs: { kind: string; metadata: { name: string } }[] };
  /** Writes the admission policy refused, with its message, for a test to assert on. */
  admissionDenied: string[];
  /** Who the requests come from, as admission sees it: meshproof's service account unless a test is an administrator. */
  user?: string;
}

export interface ExecCall {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  stdin: string;
}

export const MESHPROOF_USER = 'system:serviceaccount:meshproof:meshproof';

/** The API server's own audiences (--api-audiences; kind and kubeadm: the issuer), for a TokenRequest naming none. */
export const API_SERVER_AUDIENCES = ['https://kubernetes.default.svc.cluster.local'];

const RBAC_KINDS = new Set(['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding']);

/**
 * What a service account may do in this cluster: for meshproof's own identity the rules of `state.rbac`; for
 * every identity the built-in grants (BUILT_IN) and the Roles and RoleBindings applied to the cluster (a run's
 * RoleBinding of its gateway, a user's gateway chart Role), resolved as VisitRulesFor does.
 */
export function rulesOf(state: KubeApiState, sa: ServiceAccountRef): Rule[] {
  const rbac = [...state.objects.values()].filter((o) => RBAC_KINDS.has(String(o.kind))) as unknown as RbacObject[];
  const own = sa.namespace === MESHPROOF_SA.namespace && sa.name === MESHPROOF_SA.name ? (state.rbac ?? []) : [];
  return [...own, ...BUILT_IN, ...rulesFor(rbac, sa, state.clusterRoles)];
}

/** A SubjectAccessReview for a service account (what istiod asks for a gateway's credentialName, see lab-cluster.ts). */
export function allowedFor(state: KubeApiState, sa: ServiceAccountRef, a: Attributes): boolean {
  return authorize(rulesOf(state, sa), a) !== undefined;
}

/** deploy/confine.yaml, compiled (a CEL error throws here, failing whichever test starts a façade). */
export function confinePolicy(file = 'deploy/confine.yaml'): NonNullable<KubeApiState['admission']> {
  return { policy: loadAdmissionPolicy(file), docs: parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS()) };
}

export function defaultState(): KubeApiState {
  return {
    rbac: loadRoles('deploy/rbac.yaml'),
    clusterRoles: clusterRolesOf(['deploy/rbac.yaml', 'deploy/rbac-sweep.yaml', 'deploy/rbac-chaos.yaml', 'deploy/rbac-edge.yaml', 'deploy/rbac-matrix.yaml']),
    admission: confinePolicy(),
    admissionDenied: [],
    rbacUsed: new Set(),
    forbidden: [],
    version: 'v1.33.1',
    denied: new Set(),
    crds: new Set(['peerauthentications.security.istio.io', 'authorizationpolicies.security.istio.io', 'destinationrules.networking.istio.io', 'gateways.networking.istio.io', 'virtualservices.networking.istio.io', 'sidecars.networking.istio.io', 'serviceentries.networking.istio.io', 'telemetries.telemetry.istio.io']),
    istiod: { image: 'docker.io/istio/pilot:1.30.1', replicas: 1, ready: 1 },
    istiodGraceMs: 300,
    webhooks: ['istio-sidecar-injector'],
    // A cluster with Istio installed: its own namespaces exist before any run.
    namespaces: new Map([
      ['default', { labels: {}, created: '2026-01-01T00:00:00Z' }],
      ['istio-system', { labels: {}, created: '2026-01-01T00:00:00Z' }],
    ]),
    objects: new Map(),
    managers: new Map(),
    injectionBroken: false,
    readyAfterPolls: 0,
    generation: 0,
    podIPs: new Map(),
    nodes: new Map([['kind-control-plane', { ready: true }]]),
    podLimit: new Map(),
    replicaSets: new Map(),
    replicaSetRetry: { baseMs: 5, maxMs: 10_000 },
    createRefusals: new Map(),
    logQueries: [],
    listQueries: [],
    terminateAfterMs: 150,
    istioCni: false,
    unpullable: new Set(),
    crashing: new Map(),
    stuckFinalizers: new Map(),
  };
}

export interface KubeApi {
  url: string;
  state: KubeApiState;
  calls: string[];
  kubeconfig(dir: string): string;
  close(): Promise<void>;
}

function selects(selector: string | null, labels: Record<string, string>): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return v === undefined ? k! in labels : labels[k!] === v;
  });
}

/** API discovery for the kinds meshproof applies: kind → plural, namespaced. */
const RESOURCES: Record<string, [string, string, boolean][]> = {
  v1: [
    ['Namespace', 'namespaces', false],
    ['Node', 'nodes', false],
    ['ServiceAccount', 'serviceaccounts', true],
    ['Service', 'services', true],
    ['ConfigMap', 'configmaps', true],
    ['Secret', 'secrets', true],
    ['Pod', 'pods', true],
    ['Event', 'events', true],
  ],
  'apps/v1': [
    ['Deployment', 'deployments', true],
    ['ReplicaSet', 'replicasets', true],
  ],
  'authorization.k8s.io/v1': [['SelfSubjectAccessReview', 'selfsubjectaccessreviews', false]],
  'rbac.authorization.k8s.io/v1': [
    ['Role', 'roles', true],
    ['RoleBinding', 'rolebindings', true],
  ],
  'discovery.k8s.io/v1': [['EndpointSlice', 'endpointslices', true]],
  'security.istio.io/v1': [
    ['PeerAuthentication', 'peerauthentications', true],
    ['AuthorizationPolicy', 'authorizationpolicies', true],
  ],
  'networking.istio.io/v1': [
    ['DestinationRule', 'destinationrules', true],
    ['Gateway', 'gateways', true],
    ['VirtualService', 'virtualservices', true],
    ['Sidecar', 'sidecars', true],
    ['ServiceEntry', 'serviceentries', true],
  ],
  'telemetry.istio.io/v1': [['Telemetry', 'telemetries', true]],
  'wgpolicyk8s.io/v1alpha2': [['PolicyReport', 'policyreports', true]],
  'admissionregistration.k8s.io/v1': [
    ['ValidatingAdmissionPolicy', 'validatingadmissionpolicies', false],
    ['ValidatingAdmissionPolicyBinding', 'validatingadmissionpolicybindings', false],
  ],
};

/** The verbs discovery advertises, where they differ from the usual. */
const VERBS: Record<string, string[]> = { selfsubjectaccessreviews: ['create'], pods: ['get', 'list'], replicasets: ['list'], events: ['list'], validatingadmissionpolicies: ['get', 'list'], validatingadmissionpolicybindings: ['get', 'list'] };
/** Short names as a real API server advertises them (`kubectl get sa`). */
const SHORT: Record<string, string[]> = { namespaces: ['ns'], serviceaccounts: ['sa'], services: ['svc'], configmaps: ['cm'], pods: ['po'], events: ['ev'], deployments: ['deploy'], replicasets: ['rs'], peerauthentications: ['pa'], authorizationpolicies: ['ap'], destinationrules: ['dr'] };
/** The REST path an object lives at, from the resources this API serves (objects a cluster's users applied). */
export function pathFor(m: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): string {
  const entry = RESOURCES[m.apiVersion]?.find(([kind]) => kind === m.kind);
  if (!entry) throw new Error(`the façade serves no ${m.kind} in ${m.apiVersion}`);
  const [, plural, namespaced] = entry;
  const base = m.apiVersion.includes('/') ? `/apis/${m.apiVersion}` : `/api/${m.apiVersion}`;
  return namespaced ? `${base}/namespaces/${m.metadata.namespace}/${plural}/${m.metadata.name}` : `${base}/${plural}/${m.metadata.name}`;
}

const SUBRESOURCES: Record<string, { name: string; kind: string; verbs: string[] }[]> = {
  pods: [
    { name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] },
    { name: 'log', kind: 'Pod', verbs: ['get'] },
    { name: 'ephemeralcontainers', kind: 'Pod', verbs: ['get', 'patch', 'update'] },
  ],
  deployments: [{ name: 'scale', kind: 'Scale', verbs: ['get', 'patch', 'update'] }],
};

type Obj = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Record<string, unknown> };

/** A pod's containers after the injection webhook: the proxy's args say which template made it (M2). */
type ContainerLike = { name: string; image?: string; args?: string[] };
function injectedContainers(containers: ContainerLike[], injected: boolean, gatewayTemplate: boolean): ContainerLike[] {
  const proxyArgs = (mode: string) => ['proxy', mode, '--domain', '$(POD_NAMESPACE).svc.cluster.local'];
  if (gatewayTemplate) return containers.map((c) => (c.name === 'istio-proxy' && injected ? { ...c, image: 'docker.io/istio/proxyv2', args: proxyArgs('router') } : c));
  return [...containers, ...(injected ? [{ name: 'istio-proxy', image: 'docker.io/istio/proxyv2', args: proxyArgs('sidecar') }] : [])];
}

/** Pods as a ReplicaSet and the injection webhook would make them from the applied Deployments. */
function podsOf(state: KubeApiState, namespace: string, selector: string | null, polls: number): unknown[] {
  const ns = [...state.objects.values()].find((o) => (o as Obj).kind === 'Namespace' && (o as Obj).metadata.name === namespace) as Obj | undefined;
  const out: unknown[] = [];
  const ipOf = (key: string) => {
    let ip = state.podIPs.get(key);
    if (!ip) {
      const n = state.podIPs.size + 10;
      ip = `10.244.${Math.floor(n / 250)}.${n % 250}`;
      state.podIPs.set(key, ip);
    }
    return ip;
  };
  if (namespace === 'istio-system' && state.istiod) out.push(...istiodPods(state).filter((p) => selects(selector, p.metadata.labels)));
  for (const o of state.objects.values()) {
    const d = o as Obj;
    if (d.kind !== 'Deployment' || d.metadata.namespace !== namespace) continue;
    const spec = d.spec as { replicas?: number; template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: { containers: { name: string }[] } } };
    const labels = spec.template.metadata.labels;
    const decision = injectionOf(state, ns, namespace, spec.template.metadata);
    if (podSecurityRejects(state, ns, decision.injected)) continue; // never created: see replicaSetsOf
    const limit = state.podLimit.get(`${namespace}/${d.metadata.name}`);
    for (let i = 0; i < Math.min(spec.replicas ?? 1, limit ?? Number.POSITIVE_INFINITY); i++) {
      if (!selects(selector, labels)) continue;
      const sidecar = decision.injected && !state.injectionBroken;
      const image = (spec.template.spec.containers[0] as { image?: string } | undefined)?.image ?? '';
      // A gateway template not injected keeps `image: auto`, which no registry serves (audit K-M2).
      const unpullable = state.unpullable.has(image) || (image === 'auto' && !sidecar);
      const crash = state.crashing.get(`${namespace}/${d.metadata.name}`);
      const waiting = unpullable
        ? { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` }
        : crash !== undefined
          ? { reason: 'CrashLoopBackOff', message: `back-off 40s restarting failed container=agent pod=${d.metadata.name}-${i}` }
          : undefined;
      const ready = !waiting && polls > state.readyAfterPolls;
      out.push({
        // Owned by the Deployment's ReplicaSet (`<deployment>-<pod-template-hash>`, the hash also a pod label), as the
        // ReplicaSet controller creates pods (kubernetes pkg/controller/controller_utils.go `GetPodFromTemplate`:
        // controller ownerReference); the name keeps the lab's `<deployment>-<i>` so the lab behind can serve it.
        metadata: {
          name: `${d.metadata.name}-${i}`,
          namespace,
          labels: { ...labels, 'pod-template-hash': RS_HASH },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rsName(d.metadata.name), uid: `uid-rs-${namespace}-${d.metadata.name}`, controller: true, blockOwnerDeletion: true }],
          ...(spec.template.metadata.annotations ? { annotations: spec.template.metadata.annotations } : {}),
        },
        spec: {
          ...((spec.template.spec as { serviceAccountName?: string }).serviceAccountName ? { serviceAccountName: (spec.template.spec as { serviceAccountName?: string }).serviceAccountName } : {}),
          // The gateway template fills in the pod's own istio-proxy container as `proxy router`; the sidecar template
          // adds one running `proxy sidecar` (I: manifests/charts/istio-control/istio-discovery/files/
          // gateway-injection-template.yaml and injection-template.yaml, the istio-proxy container's args).
          containers: injectedContainers(spec.template.spec.containers, sidecar, spec.template.metadata.annotations?.['inject.istio.io/templates'] === 'gateway'),
        },
        status: {
          phase: waiting?.reason === 'ImagePullBackOff' ? 'Pending' : 'Running',
          podIP: ipOf(`${namespace}/${d.metadata.name}-${i}`),
          conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
          containerStatuses: [{ name: 'agent', image, ready, restartCount: crash !== undefined ? 3 : 0, state: waiting ? { waiting } : { running: {} } }],
        },
      });
    }
  }
  return out;
}

/** istiod's labels (its chart's pod template: app, istio, istio.io/rev), on its Deployment's selector and its pods. */
export function istiodLabels(state: KubeApiState): Record<string, string> {
  return { app: 'istiod', istio: 'pilot', 'istio.io/rev': state.istiod?.revision ?? 'default' };
}

/** istiod's pods: the active ones, and those still terminating (deletionTimestamp set, not Ready). */
function istiodPods(state: KubeApiState): { metadata: { name: string; labels: Record<string, string>; deletionTimestamp?: string }; status: unknown }[] {
  const d = state.istiod!;
  const base = d.revision ? `istiod-${d.revision}` : 'istiod';
  const pod = (i: number, terminating: boolean) => ({
    metadata: { name: `${base}-5c8f9d7b6-${i}`, namespace: 'istio-system', labels: istiodLabels(state), ...(terminating ? { deletionTimestamp: kubeTime(), deletionGracePeriodSeconds: 30 } : {}) },
    spec: { containers: [{ name: 'discovery', image: d.image }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: terminating ? 'False' : 'True' }] },
  });
  return [...Array.from({ length: d.ready }, (_, i) => pod(i, false)), ...Array.from({ length: d.terminating ?? 0 }, (_, i) => pod(d.ready + i, true))];
}

/** The control planes this cluster has: istiod's revision and the revision tags, as harness/istio/injection.ts models them. */
export function controlPlanesOf(state: KubeApiState): ControlPlanes {
  return { revisions: state.istiod ? [state.istiod.revision ?? 'default'] : [], tags: state.revisionTags, enableNamespacesByDefault: state.enableNamespacesByDefault };
}

/** Istio's webhooks and injector on a pod of this namespace (harness/istio/injection.ts). */
function injectionOf(state: KubeApiState, ns: Obj | undefined, namespace: string, pod: { labels?: Record<string, string>; annotations?: Record<string, string> }): InjectionDecision {
  return injection(controlPlanesOf(state), { namespace, namespaceLabels: ns?.metadata.labels ?? {}, labels: pod.labels ?? {}, annotations: pod.annotations });
}

/** A protobuf SelfSubjectAccessReview in the `k8s\0` envelope (runtime.Unknown: raw = field 2). */
function decodeSsar(raw: Buffer): unknown {
  if (raw.subarray(0, 4).toString('latin1') !== 'k8s\0') return undefined;
  const field = (msg: Buffer, n: number) => readFields(msg).find((f) => f.field === n)?.value;
  const text = (msg: Buffer, n: number) => {
    const v = field(msg, n);
    return Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
  };
  const unknown = raw.subarray(4);
  const obj = field(unknown, 2);
  const spec = Buffer.isBuffer(obj) ? field(obj, 2) : undefined;
  const ra = Buffer.isBuffer(spec) ? field(spec, 1) : undefined;
  if (!Buffer.isBuffer(ra)) return undefined;
  const attrs = { namespace: text(ra, 1), verb: text(ra, 2), group: text(ra, 3) ?? '', version: text(ra, 4), resource: text(ra, 5), subresource: text(ra, 6), name: text(ra, 7) };
  return { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attrs } };
}

function podSecurityRejects(state: KubeApiState, ns: Obj | undefined, injected: boolean): boolean {
  const level = ns?.metadata.labels?.['pod-security.kubernetes.io/enforce'];
  return injected && !state.istioCni && (level === 'baseline' || level === 'restricted');
}

const PSA_MESSAGE = (level: string) =>
  `violates PodSecurity "${level}:latest": non-default capabilities (container "istio-init" must not include "NET_ADMIN", "NET_RAW" in securityContext.capabilities.add)`;

/** One Deployment's ReplicaSet, as its controller keeps it (see KubeApiState.replicaSets). */
export interface ReplicaSetController {
  failures: number;
  timer?: NodeJS.Timeout;
  condition?: { message: string; lastTransitionTime: string };
  /** FailedCreate events by message (client-go's EventCorrelator aggregates identical ones). */
  events: Map<string, { count: number; firstTimestamp: string; lastTimestamp: string }>;
}

/** metav1.Time serializes with whole seconds (RFC 3339). */
const kubeTime = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const RS_HASH = '7d4b9c6f5';
const rsName = (deployment: string) => `${deployment}-${RS_HASH}`;

const WEBHOOK_DOWN = 'Internal error occurred: failed calling webhook "namespace.sidecar-injector.istio.io": failed to call webhook: Post "https://istiod.istio-system.svc:443/inject?timeout=10s": no endpoints available for service "istiod"';

/** Why admission refuses this Deployment's next pod now, if it does. */
function createRefusal(state: KubeApiState, d: Obj): string | undefined {
  const namespace = d.metadata.namespace!;
  const ns = [...state.objects.values()].find((o) => (o as Obj).kind === 'Namespace' && (o as Obj).metadata.name === namespace) as Obj | undefined;
  const decision = injectionOf(state, ns, namespace, (d.spec as { template: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } } }).template.metadata);
  if (podSecurityRejects(state, ns, decision.injected)) return `pods "${rsName(d.metadata.name)}-x2x7q" is forbidden: ${PSA_MESSAGE(ns?.metadata.labels?.['pod-security.kubernetes.io/enforce'] ?? '')}`;
  // The webhook fails closed once no istiod pod is left to answer it (failurePolicy Fail).
  if (decision.selected && state.istiod && state.istiod.ready === 0 && !state.istiod.terminating) return WEBHOOK_DOWN;
  const t = state.createRefusals.get(`${namespace}/${d.metadata.name}`);
  return t && Date.now() < t.untilMs ? t.message : undefined;
}

/**
 * One sync of a Deployment's ReplicaSet (replica_set.go syncReplicaSet): create what is missing unless admission
 * refuses; on error the condition (if absent) and an event, and a rate-limited retry; on success Forget.
 */
function syncReplicaSet(state: KubeApiState, key: string): void {
  const c = state.replicaSets.get(key);
  const d = state.objects.get(`/apis/apps/v1/namespaces/${key.split('/')[0]}/deployments/${key.split('/')[1]}`) as Obj | undefined;
  if (!c) return;
  if (!d) {
    clearTimeout(c.timer);
    state.replicaSets.delete(key);
    return;
  }
  const want = (d.spec as { replicas?: number }).replicas ?? 1;
  const have = state.podLimit.get(key) ?? want;
  const refusal = have < want ? createRefusal(state, d) : undefined;
  if (!refusal) {
    state.podLimit.delete(key);
    c.failures = 0; // queue.Forget
    c.condition = undefined;
    return;
  }
  const now = kubeTime();
  c.condition ??= { message: refusal, lastTransitionTime: now };
  const e = c.events.get(refusal) ?? { count: 0, firstTimestamp: now, lastTimestamp: now };
  c.events.set(refusal, { ...e, count: e.count + 1, lastTimestamp: now });
  const delay = Math.min(state.replicaSetRetry.baseMs * 2 ** c.failures, state.replicaSetRetry.maxMs);
  c.failures++;
  clearTimeout(c.timer);
  c.timer = setTimeout(() => syncReplicaSet(state, key), delay);
  c.timer.unref();
}

/** spec.replicas changed (or the Deployment is new): the ReplicaSet is enqueued at once, not rate-limited. */
function replicasChanged(state: KubeApiState, key: string, existingPods: number): void {
  if (!state.replicaSets.has(key)) state.replicaSets.set(key, { failures: 0, events: new Map() });
  if (!state.podLimit.has(key)) state.podLimit.set(key, existingPods);
  syncReplicaSet(state, key);
}

/** ReplicaSets of the applied Deployments and their FailedCreate events, as their controller left them. */
function replicaSetsOf(state: KubeApiState, namespace: string): { items: unknown[]; events: unknown[] } {
  const items: unknown[] = [];
  const events: unknown[] = [];
  for (const o of state.objects.values()) {
    const d = o as Obj;
    if (d.kind !== 'Deployment' || d.metadata.namespace !== namespace) continue;
    const labels = (d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    const rs = rsName(d.metadata.name);
    const c = state.replicaSets.get(`${namespace}/${d.metadata.name}`);
    const cond = c?.condition;
    items.push({
      metadata: { name: rs, namespace, labels, ownerReferences: [{ kind: 'Deployment', name: d.metadata.name }] },
      status: { replicas: 0, conditions: cond ? [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: cond.message, lastTransitionTime: cond.lastTransitionTime }] : [] },
    });
    let i = 0;
    for (const [message, e] of c?.events ?? []) {
      events.push({ metadata: { name: `${rs}.${++i}`, namespace }, involvedObject: { kind: 'ReplicaSet', name: rs, namespace }, reason: 'FailedCreate', type: 'Warning', message: `Error creating: ${message}`, count: e.count, firstTimestamp: e.firstTimestamp, lastTimestamp: e.lastTimestamp });
    }
  }
  return { items, events };
}

/** The applied object over the live one, as server-side apply merges them for maps (A-L1); lists and scalars are the applied ones. */
export function mergeApplied(live: unknown, applied: unknown): unknown {
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isMap(live) || !isMap(applied)) return applied;
  const out: Record<string, unknown> = { ...live };
  for (const [k, v] of Object.entries(applied)) out[k] = k in live ? mergeApplied(live[k], v) : v;
  return out;
}

/** The resource a REST path names, as admission.Attributes carries it (kube-apiserver's RequestInfo). */
export function requestInfoOf(pathname: string): { group: string; version: string; resource: string; subResource?: string; namespace?: string; name?: string } {
  const parts = pathname.split('/').filter(Boolean);
  const [group, version, rest] = parts[0] === 'api' ? ['', parts[1]!, parts.slice(2)] : [parts[1]!, parts[2]!, parts.slice(3)];
  const [namespace, tail] = rest[0] === 'namespaces' && rest.length >= 3 ? [rest[1], rest.slice(2)] : [undefined, rest];
  const [resource, name, subResource] = tail as [string, string | undefined, string | undefined];
  return { group, version, resource, ...(subResource ? { subResource } : {}), ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) };
}

/** The kind admission sees for a request (subresources have their own: Scale, PodExecOptions). */
function kindOf(info: ReturnType<typeof requestInfoOf>): AdmissionAttributes['kind'] {
  if (info.subResource === 'scale') return { group: 'autoscaling', version: 'v1', kind: 'Scale' };
  if (info.subResource === 'exec') return { group: '', version: 'v1', kind: 'PodExecOptions' };
  if (info.subResource === 'ephemeralcontainers') return { group: '', version: 'v1', kind: 'Pod' };
  if (info.subResource === 'token') return { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' };
  const gv = info.group ? `${info.group}/${info.version}` : info.version;
  const kind = RESOURCES[gv]?.find(([, plural]) => plural === info.resource)?.[0] ?? '';
  return { group: info.group, version: info.version, kind };
}

/**
 * One page of a list (K8s API conventions, "Retrieving large results sets in chunks"): with `limit`, at most
 * min(limit, pageSize) items and a `continue` token for the rest; the token is only valid for the same path.
 */
function pageOf(state: KubeApiState, url: URL, items: unknown[]): { items: unknown[]; metadata: { continue?: string } } | { error: string } {
  state.listQueries.push(`${url.pathname}${url.search}`);
  const limit = Number(url.searchParams.get('limit') ?? 0);
  const token = url.searchParams.get('continue');
  let offset = 0;
  if (token) {
    try {
      const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { path: string; offset: number };
      if (t.path !== url.pathname || !Number.isInteger(t.offset)) throw new Error('mismatch');
      offset = t.offset;
    } catch {
      return { error: 'continue key is not valid for this list' };
    }
  }
  if (!(limit > 0)) return { items: items.slice(offset), metadata: {} };
  const size = Math.min(limit, state.pageSize ?? limit);
  const page = items.slice(offset, offset + size);
  const rest = offset + size < items.length;
  return { items: page, metadata: rest ? { continue: Buffer.from(JSON.stringify({ path: url.pathname, offset: offset + size })).toString('base64url') } : {} };
}

export async function startKubeApi(state: KubeApiState = defaultState()): Promise<KubeApi> {
  const calls: string[] = [];
  // The real schemas for every kind this API serves: an object they refuse is a 422 with causes, as a real server's.
  const models = new Map<string, Awaited<ReturnType<typeof modelFor>>>();
  for (const [gv, kinds] of Object.entries(RESOURCES)) for (const [kind] of kinds) models.set(`${gv}/${kind}`, await modelFor(gv, kind));
  let polls = 0;
  const json = (res: http.ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const listReply = (res: http.ServerResponse, url: URL, apiVersion: string, kind: string, items: unknown[]) => {
    const page = pageOf(state, url, items);
    if ('error' in page) return json(res, 410, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: page.error });
    return json(res, 200, { apiVersion, kind, metadata: { resourceVersion: String(state.generation), ...page.metadata }, items: page.items });
  };
  const notFound = (res: http.ServerResponse, what: string) => json(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${what} not found` });
  /** RBAC, as kube-apiserver's authorizer: 403 with a Status naming what was refused. */
  const check = (needs: Attributes[]): Attributes | undefined => {
    if (!state.rbac) return undefined;
    const grants: string[] = [];
    for (const a of needs) {
      const grant = state.denied.has(`${a.verb} ${a.group}/${a.resource}`) ? undefined : authorize(rulesOf(state, MESHPROOF_SA), a);
      if (!grant) return a;
      grants.push(grant);
    }
    // A rule counts as used only when the whole request was allowed.
    for (const g of grants) state.rbacUsed.add(g);
    return undefined;
  };
  /**
   * RBAC's escalation check on a binding write (kubernetes pkg/registry/rbac/rolebinding/policybased/storage.go
   * Create/Update): allowed if the writer may `bind` the role (pkg/registry/rbac/escalation_check.go
   * `BindingAuthorized`: verb bind on clusterroles/roles, the role's name, in the binding's namespace) or already
   * holds every permission of the role there (validation `ConfirmNoEscalation`); otherwise 403, whatever the
   * writer's create/patch on rolebindings.
   */
  const escalationRefused = (b: RbacObject): string | undefined => {
    if (!state.rbac || !b.roleRef || !b.metadata.namespace) return undefined;
    const holder = rulesOf(state, MESHPROOF_SA);
    const resource = b.roleRef.kind === 'ClusterRole' ? 'clusterroles' : 'roles';
    const bind = authorize(holder, { verb: 'bind', group: 'rbac.authorization.k8s.io', resource, name: b.roleRef.name, namespace: b.metadata.namespace });
    if (bind) {
      state.rbacUsed.add(bind);
      return undefined;
    }
    const roleObject = [...state.objects.values()].find((o) => o.kind === 'Role' && (o as Obj).metadata.namespace === b.metadata.namespace && (o as Obj).metadata.name === b.roleRef!.name) as RbacObject | undefined;
    const role = b.roleRef.kind === 'ClusterRole' ? state.clusterRoles.get(b.roleRef.name) : roleObject?.rules;
    const missing = role ? notHeld(holder, role, b.metadata.namespace) : [{ apiGroups: ['?'], resources: [`${resource} "${b.roleRef.name}" (not found)`], verbs: ['?'] }];
    if (missing.length === 0) return undefined;
    const held = missing.map((r) => `{APIGroups:[${r.apiGroups.map((g) => `"${g}"`).join(' ')}], Resources:[${r.resources.map((x) => `"${x}"`).join(' ')}], ${r.resourceNames ? `ResourceNames:[${r.resourceNames.map((x) => `"${x}"`).join(' ')}], ` : ''}Verbs:[${r.verbs.map((v) => `"${v}"`).join(' ')}]}`).join('\n');
    return `rolebindings.rbac.authorization.k8s.io "${b.metadata.name}" is forbidden: user "${MESHPROOF_USER}" (groups=["system:serviceaccounts" "system:serviceaccounts:meshproof" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n${held}`;
  };
  const needsOf = (req: http.IncomingMessage, url: URL): Attributes[] => {
    const a = attributesOf(req.method ?? 'GET', url.pathname, url.searchParams);
    if (!a) return [];
    // Server-side apply of an object that does not exist yet creates it: RBAC asks for create too.
    if (a.verb === 'patch' && req.headers['content-type']?.startsWith('application/apply-patch') && !state.objects.has(url.pathname)) return [a, { ...a, verb: 'create' }];
    return [a];
  };
  const authorized = (req: http.IncomingMessage & { res?: http.ServerResponse }, url: URL): boolean => {
    const refused = check(needsOf(req, url));
    if (!refused) return true;
    const message = forbiddenMessage(refused, MESHPROOF_USER);
    state.forbidden.push(message);
    req.res!.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Forbidden', message, code: 403 }));
    return false;
  };
  /**
   * Validating admission (the ValidatingAdmissionPolicy plugin, after authorization, schema validation and SSA
   * conflict detection, right before the object is stored): the denial's Status, or undefined when admitted.
   */
  const admission = (operation: Operation, pathname: string, object: unknown, oldObject: unknown): { code: number; status: unknown } | undefined => {
    if (!state.admission) return undefined;
    const info = requestInfoOf(pathname);
    // A POST to a collection names the object in its body (a generated name stays empty).
    const name = info.name ?? (object as { metadata?: { name?: string } } | null)?.metadata?.name;
    const attrs: AdmissionAttributes = {
      operation,
      resource: { group: info.group, version: info.version, resource: info.resource },
      ...(info.subResource ? { subResource: info.subResource } : {}),
      kind: kindOf(info),
      ...(name ? { name } : {}),
      ...(info.namespace ? { namespace: info.namespace } : {}),
      object,
      oldObject,
      username: state.user ?? MESHPROOF_USER,
    };
    const live = (ns: string) => {
      const n = state.namespaces.get(ns);
      return n && { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: n.labels, creationTimestamp: n.created }, spec: { finalizers: ['kubernetes'] }, status: { phase: n.phase ?? 'Active' } };
    };
    const denial = admit(state.admission.policy, attrs, live);
    if (denial) state.admissionDenied.push(denial.status.message);
    return denial;
  };
  let requests = 0;
  const nextFault = (what: string): string | undefined => {
    const f = state.faults;
    if (!f) return undefined;
    requests++;
    if (requests % f.every !== 0) return undefined;
    const kind = f.kinds[Math.floor(requests / f.every) % f.kinds.length]!;
    // An answer lost after the request took effect is what makes a blind retry of a create dangerous.
    if (kind === 'lost' && !what.startsWith('POST') && !what.startsWith('PATCH') && !what.startsWith('DELETE')) return undefined;
    f.injected.push(`${kind} ${what}`);
    return kind;
  };
  const server = http.createServer((req, res) => {
    (req as http.IncomingMessage & { res?: http.ServerResponse }).res = res;
    const url = new URL(req.url ?? '/', 'http://kube');
    calls.push(`${req.method} ${url.pathname}`);
    let body = '';
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => {
      chunks.push(d);
    });
    req.on('end', () => {
      try {
        const raw = Buffer.concat(chunks);
        body = raw.toString('utf8');
        // kubectl sends built-in types as protobuf (K8s: the `k8s\0` envelope). This API decodes the one kubectl
        // posts (SelfSubjectAccessReview, for `kubectl auth can-i`) and refuses other protobuf bodies with 415.
        if (req.headers['content-type']?.startsWith('application/vnd.kubernetes.protobuf')) {
          const ssar = url.pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews' ? decodeSsar(raw) : undefined;
          if (!ssar) return json(res, 415, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'UnsupportedMediaType', message: 'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/apply-patch+yaml', code: 415 });
          body = JSON.stringify(ssar);
        }
        // Server-side apply from kubectl comes as YAML.
        if (req.headers['content-type']?.startsWith('application/apply-patch+yaml')) body = JSON.stringify(parseYaml(body));
        const fault = nextFault(`${req.method} ${url.pathname}`);
        if (fault === '429') res.setHeader('retry-after', '1');
        if (fault === '429') return json(res, 429, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'TooManyRequests', message: 'too many requests, please try again later', code: 429 });
        if (fault === '503') return json(res, 503, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'ServiceUnavailable', message: 'the server is currently unable to handle the request', code: 503 });
        if (fault === 'reset') return void req.socket.destroy();
        if (fault === 'lost') {
          // The request takes effect; its answer never arrives.
          res.end = (() => {
            req.socket.destroy();
            return res;
          }) as typeof res.end;
          res.writeHead = (() => res) as unknown as typeof res.writeHead;
        }
        if (!authorized(req, url)) return;
        route();
      } catch (e) {
        // A bug in a handler must answer, not hang the client: a real API server answers 500.
        if (!res.headersSent) json(res, 500, { kind: 'Status', status: 'Failure', code: 500, message: (e as Error).message });
      }
    });
    const route = () => {
      const p = url.pathname;
      if (req.method === 'GET' && p === '/version') return json(res, 200, { major: '1', minor: '33', gitVersion: state.version });
      if (req.method === 'POST' && p === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
        const ra = (JSON.parse(body) as { spec: { resourceAttributes: { verb: string; group?: string; resource: string; subresource?: string } } }).spec.resourceAttributes;
        const key = `${ra.verb} ${ra.group ?? ''}/${ra.resource}${ra.subresource ? `/${ra.subresource}` : ''}`;
        const attrs = { verb: ra.verb, group: ra.group ?? '', resource: `${ra.resource}${ra.subresource ? `/${ra.subresource}` : ''}`, name: (ra as { name?: string }).name, namespace: (ra as { namespace?: string }).namespace };
        // Answered from the same role the requests are authorized against (and never counted as a use of it).
        // An SSAR without a namespace asks "in all namespaces": only ClusterRoleBindings answer it (rbac.ts).
        const allowed = !state.denied.has(key) && (!state.rbac || authorize(rulesOf(state, MESHPROOF_SA), attrs) !== undefined);
        return json(res, 201, { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: ra }, status: { allowed } });
      }
      if (req.method === 'POST' && p === '/apis/authentication.k8s.io/v1/selfsubjectreviews') {
        // Who the caller is (`kubectl auth whoami`): the identity admission sees (state.user), meshproof's service
        // account unless a test says otherwise.
        const username = state.user ?? MESHPROOF_USER;
        const userInfo = { username, groups: username === MESHPROOF_USER ? ['system:serviceaccounts', 'system:serviceaccounts:meshproof', 'system:authenticated'] : ['system:authenticated'] };
        return json(res, 201, { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview', metadata: {}, status: { userInfo } });
      }
      let m = /^\/apis\/apiextensions\.k8s\.io\/v1\/customresourcedefinitions\/([^/]+)$/.exec(p);
      if (req.method === 'GET' && m) {
        // The versions an Istio >= 1.22 CRD serves (v1 beside the older ones), or only the older ones (crdsBeforeV1).
        const versions = state.crdsBeforeV1?.has(m[1]!) ? ['v1beta1', 'v1alpha3'] : ['v1', 'v1beta1', 'v1alpha3'];
        const spec = { group: m[1]!.split('.').slice(1).join('.'), names: { plural: m[1]!.split('.')[0] }, scope: 'Namespaced', versions: versions.map((name, i) => ({ name, served: true, storage: i === 0 })) };
        return state.crds.has(m[1]!) ? json(res, 200, { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: m[1] }, spec }) : notFound(res, `crd ${m[1]}`);
      }
      const vap = /^\/apis\/admissionregistration\.k8s\.io\/v1\/(validatingadmissionpolicies|validatingadmissionpolicybindings)(?:\/([^/]+))?$/.exec(p);
      if (req.method === 'GET' && vap) {
        const kind = vap[1] === 'validatingadmissionpolicies' ? 'ValidatingAdmissionPolicy' : 'ValidatingAdmissionPolicyBinding';
        const items = (state.admission?.docs ?? []).filter((d) => d.kind === kind);
        if (!vap[2]) return json(res, 200, { apiVersion: 'admissionregistration.k8s.io/v1', kind: `${kind}List`, metadata: {}, items });
        const one = items.find((d) => d.metadata.name === vap[2]);
        return one ? json(res, 200, one) : json(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${vap[1]}.admissionregistration.k8s.io "${vap[2]}" not found` });
      }
      if (req.method === 'GET' && p === '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations') {
        return json(res, 200, { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfigurationList', metadata: {}, items: [
          ...state.webhooks.map((name) => ({ metadata: { name, labels: { 'istio.io/rev': state.istiod?.revision ?? 'default' } } })),
          // Revision tags (I: revision-tags-mwc.yaml): istio.io/tag names the tag, istio.io/rev its revision.
          ...Object.entries(state.revisionTags ?? {}).map(([tag, rev]) => ({ metadata: { name: `istio-revision-tag-${tag}`, labels: { 'istio.io/tag': tag, 'istio.io/rev': rev } } })),
        ] });
      }
      if (req.method === 'GET' && p === '/apis/apps/v1/namespaces/istio-system/deployments') {
        const d = state.istiod;
        const labels = istiodLabels(state);
        const items = d && selects(url.searchParams.get('labelSelector'), labels)
          ? [{
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { name: d.revision ? `istiod-${d.revision}` : 'istiod', namespace: 'istio-system', labels },
              spec: { replicas: d.replicas, selector: { matchLabels: labels }, template: { spec: { containers: [{ name: 'discovery', image: d.image }] } } },
              status: { readyReplicas: d.ready },
            }]
          : [];
        return json(res, 200, { apiVersion: 'apps/v1', kind: 'DeploymentList', metadata: {}, items });
      }
      // Discovery (K8s API conventions: the legacy and the group discovery documents), as kubectl needs it to map
      // kinds to resources. Unversioned JSON only: kubectl falls back from aggregated discovery.
      if (req.method === 'GET' && p === '/api') {
        return json(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? '' }] });
      }
      if (req.method === 'GET' && p === '/apis') {
        const groups = Object.keys(RESOURCES)
          .filter((gv) => gv.includes('/'))
          .map((gv) => {
            const [name, version] = gv.split('/') as [string, string];
            return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
          });
        return json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
      }
      // OpenAPI v3, as far as kubectl reads it: the root, and per group-version the PATCH operations with their
      // GVK and the `fieldValidation` parameter, so `kubectl apply --server-side` leaves validation to this server
      // (which validates against the real schemas: 422 with causes).
      if (req.method === 'GET' && p === '/openapi/v3') {
        const paths = Object.fromEntries(Object.keys(RESOURCES).map((gv) => [gv === 'v1' ? 'api/v1' : `apis/${gv}`, { serverRelativeURL: `/openapi/v3/${gv === 'v1' ? 'api/v1' : `apis/${gv}`}?hash=${state.version}` }]));
        return json(res, 200, { paths });
      }
      const oapi = /^\/openapi\/v3\/(api\/v1|apis\/[^/]+\/[^/]+)$/.exec(p);
      if (req.method === 'GET' && oapi) {
        const gv = oapi[1] === 'api/v1' ? 'v1' : oapi[1]!.slice('apis/'.length);
        const [group, version] = gv.includes('/') ? (gv.split('/') as [string, string]) : ['', gv];
        const paths = Object.fromEntries(
          (RESOURCES[gv] ?? []).map(([kind, plural, namespaced]) => [
            `/${oapi[1]}/${namespaced ? 'namespaces/{namespace}/' : ''}${plural}/{name}`,
            { patch: { 'x-kubernetes-group-version-kind': { group, version, kind }, parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }], responses: {} } },
          ]),
        );
        return json(res, 200, { openapi: '3.0.0', info: { title: 'Kubernetes', version: state.version }, paths });
      }
      const disc = p === '/api/v1' ? 'v1' : /^\/apis\/([^/]+\/[^/]+)$/.exec(p)?.[1];
      if (req.method === 'GET' && disc && RESOURCES[disc]) {
        return json(res, 200, {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: disc,
          resources: RESOURCES[disc]!.flatMap(([kind, name, namespaced]) => [
            { kind, name, namespaced, singularName: kind.toLowerCase(), verbs: VERBS[name] ?? ['get', 'list', 'create', 'patch', 'delete'], ...(SHORT[name] ? { shortNames: SHORT[name] } : {}) },
            ...(SUBRESOURCES[name] ?? []).map((sub) => ({ kind: sub.kind, name: `${name}/${sub.name}`, namespaced, singularName: '', verbs: sub.verbs })),
          ]),
        });
      }
      const status = (code: number, reason: string, message: string, causes?: { reason?: string; message: string; field?: string }[]) =>
        json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, message, code, ...(causes ? { details: { causes } } : {}) });
      /**
       * TokenRequest, as kube-apiserver serves it (kubernetes pkg/registry/core/serviceaccount/storage/token.go
       * `TokenREST.Create`): the body decoded with its defaults (pkg/apis/authentication/v1/defaults.go
       * `SetDefaults_TokenRequestSpec`: expirationSeconds 3600 when unset), then validating admission on the
       * TokenRequest itself (`createValidation(obj)`: a ValidatingAdmissionPolicy matching `serviceaccounts/token`
       * CREATE sees it as `object`), then `ValidateTokenRequest` (422 under 600 s, pkg/apis/authentication/
       * validation/validation.go `MinTokenAgeSec`), then the service account looked up (404), then empty audiences
       * defaulted to the API server's own. The token is bound to its audiences (istiod's review checks them).
       * RBAC (`create` on `serviceaccounts/token` in the namespace) was checked before this, as for any request.
       */
      const tokenRequest = (namespace: string, name: string) => {
        const tr = (JSON.parse(body || '{}') ?? {}) as { metadata?: Record<string, unknown>; spec?: { audiences?: string[]; expirationSeconds?: number } };
        const spec = { ...(tr.spec ?? {}) };
        spec.expirationSeconds ??= 3600;
        const object = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', metadata: tr.metadata ?? {}, spec };
        const denied = admission('CREATE', p, object, null);
        if (denied) return json(res, denied.code, denied.status);
        const exp = spec.expirationSeconds;
        const invalid = (why: string) =>
          status(422, 'Invalid', `TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: ${exp}: ${why}`, [{ reason: 'FieldValueInvalid', field: 'spec.expirationSeconds', message: `Invalid value: ${exp}: ${why}` }]);
        if (!Number.isInteger(exp) || exp < 600) return invalid('may not specify a duration less than 10 minutes');
        if (exp > 2 ** 32) return invalid('may not specify a duration larger than 2^32 seconds');
        // The service account controller creates `default` in every namespace; any other must have been applied.
        const exists = state.objects.has(`/api/v1/namespaces/${namespace}/serviceaccounts/${name}`) || (name === 'default' && state.namespaces.has(namespace));
        if (!exists) return json(res, 404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', message: `serviceaccounts "${name}" not found`, details: { name, kind: 'serviceaccounts' }, code: 404 });
        const audiences = spec.audiences && spec.audiences.length > 0 ? spec.audiences : API_SERVER_AUDIENCES;
        const expirationTimestamp = new Date(Date.now() + exp * 1000).toISOString();
        return json(res, 201, { ...object, spec: { ...spec, audiences }, status: { token: state.issueToken!(namespace, name, audiences, exp), expirationTimestamp } });
      };
      // The ephemeralcontainers subresource (kubernetes pkg/registry/core/pod/storage EphemeralContainersREST): an
      // UPDATE of the Pod for admission, the Pod with the new spec.ephemeralContainers as its object. Pods here are
      // derived from their Deployments, so an admitted change is answered but not kept.
      const ephemeral = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/ephemeralcontainers$/.exec(p);
      if (ephemeral && (req.method === 'PATCH' || req.method === 'PUT')) {
        const [, ns, name] = ephemeral as unknown as [string, string, string];
        const pod = (podsOf(state, ns, null, polls) as Obj[]).find((x) => x.metadata.name === name);
        if (!pod) return notFound(res, `pods "${name}"`);
        const current = { ...pod, apiVersion: 'v1', kind: 'Pod' };
        const patch = JSON.parse(body) as { spec?: { ephemeralContainers?: unknown[] } };
        const updated = { ...current, spec: { ...(current.spec as Obj), ephemeralContainers: patch.spec?.ephemeralContainers ?? [] } };
        const denied = admission('UPDATE', p, updated, current);
        if (denied) return json(res, denied.code, denied.status);
        return json(res, 200, updated);
      }
      // The scale subresource (autoscaling/v1 Scale): istiod's, and the run's own Deployments'. A scale does not
      // bump the generation: a backing lab follows it (onScale) instead of being rebuilt.
      const scaleOf = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)\/scale$/.exec(p);
      if (scaleOf && (req.method === 'GET' || req.method === 'PATCH')) {
        const [, ns, name] = scaleOf as unknown as [string, string, string];
        const istiodName = state.istiod ? (state.istiod.revision ? `istiod-${state.istiod.revision}` : 'istiod') : undefined;
        const isIstiod = ns === 'istio-system' && name === istiodName;
        const key = `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;
        const d = isIstiod ? undefined : (state.objects.get(key) as Obj | undefined);
        if (!isIstiod && !d) return notFound(res, `deployments.apps "${name}"`);
        const current = isIstiod ? state.istiod!.replicas : ((d!.spec as { replicas?: number }).replicas ?? 1);
        const view = (replicas: number) => ({ kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name, namespace: ns }, spec: { replicas }, status: { replicas, selector: isIstiod ? Object.entries(istiodLabels(state)).map(([k, v]) => `${k}=${v}`).join(',') : '' } });
        if (req.method === 'GET') return json(res, 200, view(current));
        if (!req.headers['content-type']?.startsWith('application/merge-patch+json')) return status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json`);
        const replicas = (JSON.parse(body) as { spec?: { replicas?: number } }).spec?.replicas;
        if (!Number.isInteger(replicas) || (replicas as number) < 0) return status(422, 'Invalid', 'Scale.autoscaling "x" is invalid: spec.replicas: Invalid value');
        const want = replicas as number;
        const denied = admission('UPDATE', p, { ...view(want), metadata: { name, namespace: ns } }, view(current));
        if (denied) return json(res, denied.code, denied.status);
        if (isIstiod) {
          const i = state.istiod!;
          // Scaled down, pods terminate for their grace period before they stop serving.
          if (want < i.ready) i.terminating = (i.terminating ?? 0) + i.ready - want;
          i.replicas = want;
          i.ready = want;
          // Nothing re-enqueues a ReplicaSet whose pods the webhook refused: its backed-off retry brings them.
          if (want === 0) {
            const gone = setTimeout(() => {
              i.terminating = 0;
              if (i.replicas === 0) void state.onScale?.(ns, name, 0).catch(() => {});
            }, state.istiodGraceMs);
            gone.unref();
            return json(res, 200, view(want));
          }
        } else {
          (d!.spec as { replicas: number }).replicas = want;
          // A change of spec.replicas syncs the ReplicaSet at once; the same value changes nothing.
          if (want !== current) replicasChanged(state, `${ns}/${name}`, current);
        }
        const done = state.onScale ? state.onScale(ns, name, want) : Promise.resolve();
        done.then(
          () => json(res, 200, view(want)),
          (e: Error) => json(res, 500, { kind: 'Status', status: 'Failure', code: 500, message: e.message }),
        );
        return;
      }
      if (req.method === 'POST' && p === '/api/v1/namespaces') {
        // A plain create (K8s API conventions: create of an existing name is 409 AlreadyExists).
        const obj = JSON.parse(body) as Obj;
        const name = obj.metadata.name;
        if (state.namespaces.has(name)) return status(409, 'AlreadyExists', `namespaces "${name}" already exists`);
        // Defaulting labels every namespace with its name at decode, before admission sees it
        // (kubernetes pkg/apis/core/v1/defaults.go SetDefaults_Namespace: kubernetes.io/metadata.name).
        const denied = admission('CREATE', p, { ...obj, metadata: { ...obj.metadata, labels: { ...obj.metadata.labels, 'kubernetes.io/metadata.name': name } } }, null);
        if (denied) return json(res, denied.code, denied.status);
        state.namespaces.set(name, { labels: obj.metadata.labels ?? {}, created: new Date().toISOString(), phase: 'Active' });
        state.objects.set(`${p}/${name}`, obj);
        state.managers.set(`${p}/${name}`, url.searchParams.get('fieldManager') ?? 'create');
        state.generation++;
        return json(res, 201, { ...obj, metadata: { ...obj.metadata, uid: `uid-${state.objects.size}` }, status: { phase: 'Active' } });
      }
      const secrets = /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/.exec(p);
      if (req.method === 'POST' && secrets) {
        // A plain create: 409 on an existing name; a kubernetes.io/tls Secret must hold tls.crt and tls.key
        // (K8s: pkg/apis/core/validation ValidateSecret for SecretTypeTLS).
        const obj = JSON.parse(body) as Obj & { type?: string; data?: Record<string, string> };
        const nsState = state.namespaces.get(secrets[1]!);
        if (!nsState) return status(404, 'NotFound', `namespaces "${secrets[1]}" not found`);
        const key = `${p}/${obj.metadata.name}`;
        if (state.objects.has(key)) return status(409, 'AlreadyExists', `secrets "${obj.metadata.name}" already exists`);
        const causes = validateWith(models.get('v1/Secret')!, obj);
        if (obj.type === 'kubernetes.io/tls') for (const k of ['tls.crt', 'tls.key']) if (!obj.data?.[k]) causes.push({ field: `data[${k}]`, message: 'Required value' });
        if (causes.length > 0) return status(422, 'Invalid', `Secret "${obj.metadata.name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, causes.map((c) => ({ reason: 'FieldValueInvalid', ...c })));
        const denied = admission('CREATE', p, obj, null);
        if (denied) return json(res, denied.code, denied.status);
        state.objects.set(key, obj);
        state.managers.set(key, url.searchParams.get('fieldManager') ?? 'create');
        state.generation++;
        return json(res, 201, { ...obj, metadata: { ...obj.metadata, uid: `uid-${state.objects.size}` } });
      }
      if (req.method === 'PATCH' && req.headers['content-type']?.startsWith('application/apply-patch')) {
        const obj = JSON.parse(body) as Obj;
        const ns = obj.metadata.namespace;
        // A namespaced object needs its namespace to exist, and not be terminating.
        const nsState = ns ? state.namespaces.get(ns) : undefined;
        if (ns && !nsState) return status(404, 'NotFound', `namespaces "${ns}" not found`);
        if (nsState?.phase === 'Terminating') return status(403, 'Forbidden', `unable to create new content in namespace ${ns} because it is being terminated`);
        const model = models.get(`${obj.apiVersion}/${obj.kind}`);
        const causes = model ? validateWith(model, obj) : [{ field: 'kind', message: `no ${obj.kind} in ${obj.apiVersion}` }];
        if (causes.length > 0) {
          return status(422, 'Invalid', `${obj.kind} "${obj.metadata.name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, causes.map((c) => ({ reason: 'FieldValueInvalid', ...c })));
        }
        const escalation = obj.kind === 'RoleBinding' ? escalationRefused(obj as unknown as RbacObject) : undefined;
        if (escalation) {
          state.forbidden.push(escalation);
          return status(403, 'Forbidden', escalation);
        }
        // Server-side apply without force never takes fields another manager owns (K8s: server-side apply, conflicts).
        const manager = url.searchParams.get('fieldManager') ?? '';
        const owner = state.managers.get(p);
        const existing = state.objects.get(p);
        if (existing && owner && owner !== manager && url.searchParams.get('force') !== 'true' && JSON.stringify(existing.spec ?? existing.data) !== JSON.stringify(obj.spec ?? obj.data)) {
          return status(409, 'Conflict', `Apply failed with 1 conflict: conflict with "${owner}" using ${obj.apiVersion}: .${obj.spec ? 'spec' : 'data'}`, [
            { reason: 'FieldManagerConflict', message: `conflict with "${owner}" using ${obj.apiVersion}`, field: `.${obj.spec ? 'spec' : 'data'}` },
          ]);
        }
        // Server-side apply of an object that does not exist is a CREATE for admission, else an UPDATE. Admission
        // sees the object as it will be stored (A-L1: kubernetes staging/src/k8s.io/apiserver/pkg/endpoints/handlers/
        // patch.go `applyPatcher.applyPatchToCurrentObject` merges the applied config into the live object before `admissionCheck` runs), so
        // on an UPDATE the fields others set and this apply does not name stay: the live object deep-merged with the
        // applied one, maps by key; lists are replaced whole (atomic lists; associative ones, like containers by
        // name, would merge their items too: a list-valued field is not merged here).
        const merged = existing ? (mergeApplied(existing, obj) as Obj) : obj;
        const admitted = obj.kind === 'Namespace' ? { ...merged, metadata: { ...merged.metadata, labels: { ...merged.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name } } } : merged;
        const denied = admission(existing ? 'UPDATE' : 'CREATE', p, admitted, existing ?? null);
        if (denied) return json(res, denied.code, denied.status);
        state.objects.set(p, obj);
        state.generation++;
        if (!owner) state.managers.set(p, manager);
        if (obj.kind === 'Deployment') {
          const was = existing ? ((existing.spec as { replicas?: number }).replicas ?? 1) : 0;
          if (!existing || was !== ((obj.spec as { replicas?: number }).replicas ?? 1)) replicasChanged(state, `${ns}/${obj.metadata.name}`, was);
        }
        if (obj.kind === 'Namespace') state.namespaces.set(obj.metadata.name, { labels: obj.metadata.labels ?? {}, created: new Date().toISOString(), phase: 'Active' });
        return json(res, 200, { ...obj, metadata: { ...obj.metadata, uid: `uid-${state.objects.size}` } });
      }
      if (req.method === 'GET' && p === '/api/v1/nodes') {
        const items = [...state.nodes].map(([name, n]) => ({
          metadata: { name, labels: { 'kubernetes.io/hostname': name } },
          spec: n.unschedulable ? { unschedulable: true } : {},
          status: { conditions: [{ type: 'Ready', status: n.ready ? 'True' : 'False' }] },
        }));
        return json(res, 200, { apiVersion: 'v1', kind: 'NodeList', metadata: {}, items });
      }
      const onePod = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(p);
      if (req.method === 'GET' && onePod) {
        const pod = (podsOf(state, onePod[1]!, null, polls) as Obj[]).find((x) => x.metadata.name === onePod[2]);
        return pod ? json(res, 200, { ...pod, apiVersion: 'v1', kind: 'Pod' }) : notFound(res, `pods "${onePod[2]}"`);
      }
      // One Service, as stored (`--edge` reads the user's edge Service: deploy/rbac-edge.yaml).
      const oneService = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)$/.exec(p);
      if (req.method === 'GET' && oneService) {
        const svc = state.objects.get(p);
        return svc ? json(res, 200, svc) : notFound(res, `services "${oneService[2]}"`);
      }
      const pods = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(p);
      if (req.method === 'GET' && pods) {
        polls++;
        if (state.beforePods) {
          state.beforePods().then(
            () => listReply(res, url, 'v1', 'PodList', podsOf(state, pods[1]!, url.searchParams.get('labelSelector'), polls)),
            (e: Error) => json(res, 500, { kind: 'Status', status: 'Failure', code: 500, message: e.message }),
          );
          return;
        }
        return listReply(res, url, 'v1', 'PodList', podsOf(state, pods[1]!, url.searchParams.get('labelSelector'), polls));
      }
      // The mesh config of the control plane: ConfigMap istio, or istio-<rev> for a revision.
      const meshCm = state.istiod?.revision ? `istio-${state.istiod.revision}` : 'istio';
      if (req.method === 'GET' && p === `/api/v1/namespaces/istio-system/configmaps/${meshCm}`) {
        if (state.meshConfig === undefined) return notFound(res, `configmap ${meshCm}`);
        return json(res, 200, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: meshCm, namespace: 'istio-system' }, data: { mesh: state.meshConfig } });
      }
      const tok = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)\/token$/.exec(p);
      if (req.method === 'POST' && tok && state.issueToken) return tokenRequest(tok[1]!, tok[2]!);
      const rootCm = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/istio-ca-root-cert$/.exec(p);
      // istiod writes the root only into namespaces its discoverySelectors let it see (harness/istio/discovery.ts).
      const seen = rootCm ? discovered((parseYaml(state.meshConfig ?? '') as { discoverySelectors?: LabelSelector[] } | null)?.discoverySelectors, state.namespaces.get(rootCm[1]!)?.labels ?? {}) : false;
      const root = req.method === 'GET' && rootCm && seen ? state.rootPem?.() : undefined;
      if (rootCm && root) {
        return json(res, 200, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio-ca-root-cert', namespace: rootCm[1] }, data: { 'root-cert.pem': root } });
      }
      const rsList = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/replicasets$/.exec(p);
      if (req.method === 'GET' && rsList) {
        const items = (replicaSetsOf(state, rsList[1]!).items as Obj[]).filter((r) => selects(url.searchParams.get('labelSelector'), r.metadata.labels ?? {}));
        return json(res, 200, { apiVersion: 'apps/v1', kind: 'ReplicaSetList', metadata: {}, items });
      }
      const evList = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(p);
      if (req.method === 'GET' && evList) {
        const reason = /reason=([^,]+)/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
        const items = (replicaSetsOf(state, evList[1]!).events as { reason: string }[]).filter((e) => !reason || e.reason === reason);
        return json(res, 200, { apiVersion: 'v1', kind: 'EventList', metadata: {}, items });
      }
      const log = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(p);
      if (req.method === 'GET' && log) {
        // PodLogOptions (K8s API: core/v1 PodLogOptions) travel as query parameters. A parameter this façade does
        // not honour is refused rather than silently ignored, so a client relying on one is caught here.
        state.logQueries.push(url.search);
        const unknown = [...url.searchParams.keys()].find((k) => !['container', 'sinceSeconds', 'sinceTime', 'tailLines', 'previous', 'limitBytes'].includes(k));
        if (unknown) return json(res, 400, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'BadRequest', code: 400, message: `unsupported query parameter ${unknown}` });
        if (url.searchParams.get('previous') === 'true') {
          // The crashed container's last words.
          const crash = [...state.crashing].find(([k]) => k.startsWith(`${log[1]}/`) && log[2]!.startsWith(`${k.split('/')[1]}-`))?.[1];
          if (crash === undefined) return json(res, 400, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'BadRequest', code: 400, message: `previous terminated container "agent" in pod "${log[2]}" not found` });
          return res.writeHead(200, { 'content-type': 'text/plain' }).end(`${crash}\n`);
        }
        if (!state.logs) return notFound(res, `pod ${log[2]}`);
        const ss = url.searchParams.get('sinceSeconds');
        const st = url.searchParams.get('sinceTime');
        const since = ss !== null ? new Date(Date.now() - Number(ss) * 1000) : st !== null ? new Date(st) : undefined;
        const tail = url.searchParams.get('tailLines');
        const limitBytes = url.searchParams.get('limitBytes');
        const logs = state.logs;
        const retain = state.logRetainBytes;
        // Rotation: the kubelet serves only the current file, so lines older than the last `retain` bytes are gone
        // whatever `since` asks for; `limitBytes` then cuts what is served (K8s API: core/v1 PodLogOptions).
        const served = async () => {
          const container = url.searchParams.get('container') ?? '';
          if (retain === undefined) return logs(log[1]!, log[2]!, container, since);
          const whole = await logs(log[1]!, log[2]!, container, undefined);
          const kept = whole.length <= retain ? whole : whole.slice(whole.indexOf('\n', whole.length - retain) + 1);
          if (!since) return kept;
          return kept
            .split('\n')
            .filter((l) => l && !(Date.parse(/^\[([^\]]+)\]/.exec(l)?.[1] ?? '') < since.getTime()))
            .map((l) => `${l}\n`)
            .join('');
        };
        served().then(
          (text) => {
            const tailed = tail === null ? text : text.split('\n').filter(Boolean).slice(-Number(tail)).join('\n');
            res.writeHead(200, { 'content-type': 'text/plain' }).end(limitBytes === null ? tailed : Buffer.from(tailed).subarray(0, Number(limitBytes)));
          },
          (e: Error) => json(res, 500, { kind: 'Status', status: 'Failure', code: 500, message: e.message }),
        );
        return;
      }
      // EndpointSlices, as the EndpointSlice controller keeps them: one per Service, its ready and not-ready pods,
      // named target ports resolved against each pod's container ports.
      const slices = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/.exec(p);
      if (req.method === 'GET' && slices) {
        const ns = slices[1]!;
        const pods = podsOf(state, ns, null, polls) as { metadata: { name: string; labels: Record<string, string> }; spec: { containers: { ports?: { name?: string; containerPort: number }[] }[] }; status: { podIP: string; conditions: { type: string; status: string }[] } }[];
        const items = [...state.objects.values()]
          .filter((o) => (o as Obj).kind === 'Service' && (o as Obj).metadata.namespace === ns)
          .map((o) => {
            const svc = o as Obj & { spec: { selector?: Record<string, string>; ports: { name?: string; port: number; targetPort?: number | string; appProtocol?: string }[] } };
            const selected = pods.filter((pod) => svc.spec.selector && Object.entries(svc.spec.selector).every(([k, v]) => pod.metadata.labels[k] === v));
            const resolve = (tp: number | string | undefined, port: number) =>
              typeof tp === 'string' ? selected.flatMap((pod) => pod.spec.containers.flatMap((c) => c.ports ?? [])).find((cp) => cp.name === tp)?.containerPort : (tp ?? port);
            return {
              apiVersion: 'discovery.k8s.io/v1',
              kind: 'EndpointSlice',
              metadata: { name: `${svc.metadata.name}-abcde`, namespace: ns, labels: { 'kubernetes.io/service-name': svc.metadata.name } },
              addressType: 'IPv4',
              // A Service with no pods (scaled to zero) gets `endpoints: null, ports: null`: Go's []Endpoint and
              // []EndpointPort have no omitempty (kubernetes/api discovery/v1/types.go; kubernetes/kubernetes#135968).
              ports: selected.length === 0 ? null : svc.spec.ports.map((sp) => ({ ...(sp.name ? { name: sp.name } : {}), port: resolve(sp.targetPort, sp.port), protocol: 'TCP', ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}) })),
              endpoints: selected.length === 0 ? null : selected.map((pod) => ({
                addresses: [pod.status.podIP],
                conditions: { ready: pod.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True') },
                targetRef: { kind: 'Pod', name: pod.metadata.name, namespace: ns },
              })),
            };
          });
        return listReply(res, url, 'discovery.k8s.io/v1', 'EndpointSliceList', items);
      }
      const list = /^\/apis\/([^/]+)\/([^/]+)\/namespaces\/([^/]+)\/([^/]+)$/.exec(p) ?? /^\/api\/(v1)()\/namespaces\/([^/]+)\/(serviceaccounts|services|configmaps)$/.exec(p);
      if (req.method === 'GET' && list) {
        // A group this API does not build in is a CRD's: with no CRD installed for it (or not serving that
        // version) the API server has no such resource and answers 404 (the apiextensions-apiserver serves a
        // CRD's REST paths only while it is installed, and only its served versions).
        const crd = `${list[4]}.${list[1]}`;
        const builtIn = !list[2] || Object.keys(RESOURCES).some((gv) => gv.split('/')[0] === list[1]);
        if (!builtIn && (!state.crds.has(crd) || (state.crdVersions?.get(crd) && !state.crdVersions.get(crd)!.includes(list[2]!)))) {
          return json(res, 404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', message: 'the server could not find the requested resource', details: {}, code: 404 });
        }
        const prefix = `${p}/`;
        const items = [...state.objects].filter(([k]) => k.startsWith(prefix)).map(([, o]) => o);
        return listReply(res, url, list[2] ? `${list[1]}/${list[2]}` : 'v1', 'List', items);
      }
      const nsView = (name: string, n: { labels: Record<string, string>; created: string; phase?: string; finalizers?: string[] }) => ({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: n.labels, creationTimestamp: n.created, resourceVersion: String(state.generation), ...(n.finalizers ? { finalizers: n.finalizers } : {}) },
        spec: { finalizers: ['kubernetes'] },
        status: { phase: n.phase ?? 'Active' },
      });
      if (req.method === 'GET' && p === '/api/v1/namespaces') {
        const byName = /metadata\.name=([^,]+)/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
        const items = [...state.namespaces]
          .filter(([name, n]) => selects(url.searchParams.get('labelSelector'), n.labels) && (!byName || name === byName))
          .map(([name, n]) => nsView(name, n));
        if (url.searchParams.get('watch') === 'true') {
          // A watch (kubectl delete --wait): a DELETED event when the watched namespace is gone.
          res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
          res.flushHeaders(); // a watch answers at once and streams events as they happen
          const seen = new Map(items.map((i) => [i.metadata.name, i]));
          const tick = setInterval(() => {
            for (const [name, view] of seen) {
              if (state.namespaces.has(name)) continue;
              res.write(`${JSON.stringify({ type: 'DELETED', object: view })}\n`);
              seen.delete(name);
            }
            if (seen.size === 0) {
              clearInterval(tick);
              res.end();
            }
          }, 25);
          res.on('close', () => clearInterval(tick)); // the client went away (a request's own 'close' fires once its body is read)
          return;
        }
        if (req.headers.accept?.includes('as=Table')) {
          // Server-side printing, as kubectl asks for it (meta.k8s.io/v1 Table): NAME STATUS AGE.
          const age = (t: string) => `${Math.max(0, Math.floor((Date.now() - Date.parse(t)) / 86_400_000))}d`;
          return json(res, 200, {
            kind: 'Table',
            apiVersion: 'meta.k8s.io/v1',
            metadata: {},
            columnDefinitions: [
              { name: 'Name', type: 'string', format: 'name', description: 'Name', priority: 0 },
              { name: 'Status', type: 'string', format: '', description: 'The status of the namespace', priority: 0 },
              { name: 'Age', type: 'string', format: '', description: 'Age', priority: 0 },
            ],
            rows: items.map((i) => ({ cells: [i.metadata.name, i.status.phase, age(i.metadata.creationTimestamp)], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: i.metadata } })),
          });
        }
        return listReply(res, url, 'v1', 'NamespaceList', items);
      }
      m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(p);
      if (req.method === 'GET' && m) {
        const n = state.namespaces.get(m[1]!);
        return n ? json(res, 200, nsView(m[1]!, n)) : status(404, 'NotFound', `namespaces "${m[1]}" not found`);
      }
      if (req.method === 'DELETE' && m) {
        const name = m[1]!;
        const n = state.namespaces.get(name);
        if (!n) return status(404, 'NotFound', `namespaces "${name}" not found`);
        // Asynchronous (istio-behaviours.md §10): Terminating first; a second DELETE is 409 until it is gone.
        if (n.phase === 'Terminating') return status(409, 'Conflict', `Operation cannot be fulfilled on namespaces "${name}": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.`);
        const deniedDelete = admission('DELETE', p, null, nsView(name, n));
        if (deniedDelete) return json(res, deniedDelete.code, deniedDelete.status);
        n.phase = 'Terminating';
        const stuck = state.stuckFinalizers.get(name);
        if (stuck) n.finalizers = [stuck];
        else {
          setTimeout(() => {
            state.namespaces.delete(name);
            state.generation++;
            // Namespace deletion cascades to everything in it.
            for (const [k, o] of [...state.objects]) {
              const meta = (o as Obj).metadata;
              if (meta.namespace === name || ((o as Obj).kind === 'Namespace' && meta.name === name)) state.objects.delete(k);
            }
          }, state.terminateAfterMs).unref();
        }
        return json(res, 200, nsView(name, n));
      }
      notFound(res, `${req.method} ${p}`);
    };
  });
  // Exec over the v5.channel.k8s.io websocket protocol: channel 0 stdin, 255 close (of stdin), 1 stdout,
  // 2 stderr, 3 the V1Status.
  // v5.channel.k8s.io from Kubernetes 1.30 (stdin closed on channel 255); v4 only before (istio-behaviours.md §10).
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (p) => (state.v4Only ? (p.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false) : p.has('v5.channel.k8s.io') ? 'v5.channel.k8s.io' : p.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false),
  });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://kube');
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
    calls.push(`EXEC ${url.pathname}`);
    if (!m || !state.exec) {
      socket.destroy();
      return;
    }
    const fault = nextFault(`EXEC ${url.pathname}`);
    if (fault === '429' || fault === '503' || fault === 'reset') {
      if (fault === 'reset') socket.destroy();
      else socket.end(`HTTP/1.1 ${fault === '429' ? '429 Too Many Requests\r\nretry-after: 1' : '503 Service Unavailable'}\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    // A websocket exec is a GET; from Kubernetes 1.35 it needs create on pods/exec as well (feature
    // AuthorizePodWebsocketUpgradeCreatePermission, Beta and on by default from 1.35: kubernetes
    // pkg/features/versioned_kube_features.go). The façade asks for both at every version (stricter).
    const exec = { group: '', resource: 'pods/exec', namespace: m[1], name: m[2] };
    const refused = check([
      { ...exec, verb: 'get' },
      { ...exec, verb: 'create' },
    ]);
    if (refused) {
      state.forbidden.push(forbiddenMessage(refused, MESHPROOF_USER));
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n\r\n');
      return;
    }
    // CONNECT admission (pods/exec), after authorization, on the PodExecOptions the query carries.
    const q = url.searchParams;
    const options = { kind: 'PodExecOptions', apiVersion: 'v1', stdin: q.get('stdin') === 'true', stdout: q.get('stdout') === 'true', stderr: q.get('stderr') === 'true', tty: q.get('tty') === 'true', container: q.get('container') ?? '', command: q.getAll('command') };
    const denied = admission('CONNECT', url.pathname, options, null);
    if (denied) {
      const text = JSON.stringify(denied.status);
      socket.end(`HTTP/1.1 ${denied.code} ${denied.code === 403 ? 'Forbidden' : 'Unprocessable Entity'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const call: ExecCall = { namespace: m[1]!, pod: m[2]!, container: url.searchParams.get('container') ?? '', command: url.searchParams.getAll('command'), stdin: '' };
      const wantsStdin = url.searchParams.get('stdin') === 'true';
      let started = false;
      const run = () => {
        if (started) return;
        started = true;
        void state.exec!(call).then((r) => {
          const frame = (ch: number, text: string) => ws.send(Buffer.concat([Buffer.from([ch]), Buffer.from(text)]));
          if (r.stdout) frame(1, r.stdout);
          if (r.stderr) frame(2, r.stderr);
          frame(
            3,
            JSON.stringify(
              r.exitCode === 0
                ? { metadata: {}, status: 'Success' }
                : { metadata: {}, status: 'Failure', reason: 'NonZeroExitCode', message: `command terminated with non-zero exit code: ${r.exitCode}`, details: { causes: [{ reason: 'ExitCode', message: String(r.exitCode) }] } },
            ),
          );
          ws.close(1000); // normal closure, as a real server ends an exec
        });
      };
      ws.on('message', (data: Buffer) => {
        // The process in the pod (the agent) reads one line of stdin and starts; v5 can also close stdin.
        if (data[0] === 0) {
          call.stdin += data.subarray(1).toString('utf8');
          if (call.stdin.includes('\n')) run();
        } else if (data[0] === 255 && data[1] === 0 && ws.protocol === 'v5.channel.k8s.io') run();
      });
      if (!wantsStdin) run();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    state,
    calls,
    kubeconfig: (dir: string) => {
      const file = `${dir}/kubeconfig-${(server.address() as AddressInfo).port}.yaml`;
      const text = `apiVersion: v1\nkind: Config\nclusters: [{name: facade, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]\nusers: [{name: tester, user: {token: test-token}}]\ncontexts: [{name: facade, context: {cluster: facade, user: tester}}]\ncurrent-context: facade\n`;
      writeFileSync(file, text);
      return file;
    },
    close: () =>
      new Promise((r) => {
        for (const c of state.replicaSets.values()) clearTimeout(c.timer);
        for (const c of wss.clients) c.terminate();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
