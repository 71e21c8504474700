// Which policies attach to a workload: Istio's selection by namespace, root namespace, `selector` and
// `targetRef(s)`, as istiod computes it (I: pilot/pkg/model/policyattachment.go `WorkloadPolicyMatcher`,
// `ShouldAttachPolicy`; pilot/pkg/model/authorization.go `ListAuthorizationPolicies`; pkg/config/labels/instance.go
// `SubsetOf`; pilot/pkg/model/config.go `configCompareByCreationTime`). Pure: no I/O, no cluster/ import.

/** `gateway.networking.k8s.io/gateway-name`: the label that makes a workload a Gateway API gateway (`workloadGatewayName`). */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
/** constants.WaypointGatewayClassName. */
export const WAYPOINT_GATEWAY_CLASS = 'istio-waypoint';

export interface PolicyTargetReference {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

/** The part of a policy that selection reads (AuthorizationPolicy, RequestAuthentication, Telemetry …). */
export interface TargetablePolicy {
  namespace: string;
  name: string;
  /** metadata.creationTimestamp (RFC 3339); absent = Go's zero time (the earliest). */
  creationTimestamp?: string;
  selector?: { matchLabels?: Record<string, string> };
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
}

export interface ServiceInfo {
  name: string;
  namespace: string;
  /** provider.Kubernetes or provider.External (a ServiceEntry). */
  registry: 'Kubernetes' | 'External';
}

/** `WorkloadPolicyMatcher`: the workload a policy may attach to. */
export interface WorkloadPolicyMatcher {
  namespace: string;
  labels: Record<string, string>;
  isWaypoint?: boolean;
  services?: ServiceInfo[];
  /** Set by `WithRootNamespace`; only the GatewayClass attachment of waypoints reads it. */
  rootNamespace?: string;
}

/** pilot/pkg/features `ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY`, default true. */
export interface SelectionFeatures {
  selectorBasedK8sGatewayPolicy: boolean;
}
export const DEFAULT_FEATURES: SelectionFeatures = { selectorBasedK8sGatewayPolicy: true };

/** labels.Instance `SubsetOf`: an empty selector is a subset of anything; otherwise every key equal. */
export function labelsSubsetOf(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  const sel = Object.entries(selector ?? {});
  if (sel.length === 0) return true;
  const l = labels ?? {};
  return sel.every(([k, v]) => Object.hasOwn(l, k) && l[k] === v);
}

/** `GetTargetRefs`: `targetRefs`, or the legacy `targetRef` when there are none. */
export function targetRefsOf(p: Pick<TargetablePolicy, 'targetRef' | 'targetRefs'>): PolicyTargetReference[] {
  if ((p.targetRefs?.length ?? 0) > 0) return p.targetRefs!;
  return p.targetRef ? [p.targetRef] : [];
}

/** config.CanonicalGroup: the core group is "" and is spelled `core`. */
const canonicalGroup = (g: string | undefined) => (g === undefined || g === '' ? 'core' : g);
const GK = {
  Service: { group: 'core', kind: 'Service' },
  ServiceEntry: { group: 'networking.istio.io', kind: 'ServiceEntry' },
  GatewayClass: { group: 'gateway.networking.k8s.io', kind: 'GatewayClass' },
  KubernetesGateway: { group: 'gateway.networking.k8s.io', kind: 'Gateway' },
} as const;
/** `matchesGroupKind`. */
const matchesGroupKind = (r: PolicyTargetReference, gk: { group: string; kind: string }) => canonicalGroup(r.group) === gk.group && r.kind === gk.kind;

/**
 * `WorkloadPolicyMatcher.ShouldAttachPolicy` (pilot/pkg/model/policyattachment.go): a workload that is not a
 * Gateway API gateway takes a policy by `selector` (none = every workload) and never one with targetRef(s); a
 * Gateway API gateway takes it by targetRef (its Gateway; a waypoint also its Services, ServiceEntries and, from
 * the root namespace, the `istio-waypoint` GatewayClass), and without targetRefs by selector only when
 * ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY is on and it is no waypoint. The policy's namespace is not checked
 * here: the callers look only in the workload's, the root and its services' namespaces.
 */
export function shouldAttachPolicy(m: WorkloadPolicyMatcher, policy: TargetablePolicy, features: SelectionFeatures = DEFAULT_FEATURES): boolean {
  const gatewayName = m.labels[GATEWAY_NAME_LABEL];
  const isGatewayAPI = Object.hasOwn(m.labels, GATEWAY_NAME_LABEL);
  const refs = targetRefsOf(policy);
  const isSelected = () => policy.selector === undefined || labelsSubsetOf(policy.selector.matchLabels, m.labels);
  if (!isGatewayAPI) return refs.length > 0 ? false : isSelected();
  if (refs.length === 0) return m.isWaypoint || !features.selectorBasedK8sGatewayPolicy ? false : isSelected();
  for (const r of refs) {
    const target = r.name;
    const services = m.services ?? [];
    if (m.isWaypoint && matchesGroupKind(r, GK.Service) && services.some((s) => s.name === target && s.namespace === policy.namespace && s.registry === 'Kubernetes')) return true;
    if (m.isWaypoint && matchesGroupKind(r, GK.ServiceEntry) && services.some((s) => s.name === target && s.namespace === policy.namespace && s.registry === 'External')) return true;
    if (policy.namespace === m.rootNamespace && m.isWaypoint && matchesGroupKind(r, GK.GatewayClass) && r.name === WAYPOINT_GATEWAY_CLASS) return true;
    if (m.namespace !== policy.namespace) continue;
    if (!(r.namespace === undefined || r.namespace === '' || r.namespace === m.namespace)) continue;
    if (matchesGroupKind(r, GK.KubernetesGateway) && target === gatewayName) return true;
  }
  return false;
}

const timeOf = (t: string | undefined) => (t ? Date.parse(t) : 0);
/** metadata.creationTimestamp in ms; absent = 0 (Go's zero time is earlier still; no real object has it, so 0 orders the same). */
export const creationTime = (p: Pick<TargetablePolicy, 'creationTimestamp'>): number => timeOf(p.creationTimestamp);
/** `configCompareByCreationTime`: creation time, then name, then namespace (creation time is in seconds, so ties are common). */
export function byCreation(a: Pick<TargetablePolicy, 'creationTimestamp' | 'name' | 'namespace'>, b: Pick<TargetablePolicy, 'creationTimestamp' | 'name' | 'namespace'>): number {
  const ta = timeOf(a.creationTimestamp);
  const tb = timeOf(b.creationTimestamp);
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

/** Equal creation times (absent counts as Go's zero time): the order between the two was decided by name. */
export function sameCreationTime(a: Pick<TargetablePolicy, 'creationTimestamp'>, b: Pick<TargetablePolicy, 'creationTimestamp'>): boolean {
  return timeOf(a.creationTimestamp) === timeOf(b.creationTimestamp);
}

/** `slices.FilterDuplicates` over the namespaces to look in. */
export const lookupNamespaces = (first: string[], services: ServiceInfo[] | undefined): string[] => [...new Set([...first, ...(services ?? []).map((s) => s.namespace)])];

/**
 * `AuthorizationPolicies.ListAuthorizationPolicies` (pilot/pkg/model/authorization.go): every policy of the root
 * namespace, then of the workload's namespace (then of its service's), each namespace in creation order
 * (`GetAuthorizationPolicies` sorts by `configCompareByCreationTime`), that `ShouldAttachPolicy` attaches. The
 * action split (CUSTOM, DENY, ALLOW, AUDIT) is the evaluator's (harness/istio/authz.ts).
 */
export function listAuthorizationPolicies<P extends TargetablePolicy>(policies: P[], rootNamespace: string, m: WorkloadPolicyMatcher, features: SelectionFeatures = DEFAULT_FEATURES): P[] {
  if ((m.services?.length ?? 0) > 1) throw new Error('ListAuthorizationPolicies expects at most 1 service in WorkloadPolicyMatcher');
  const sorted = [...policies].sort(byCreation);
  return lookupNamespaces([rootNamespace, m.namespace], m.services).flatMap((ns) => sorted.filter((p) => p.namespace === ns && shouldAttachPolicy(m, p, features)));
}

/**
 * `getConfigsForWorkload` for RequestAuthentication (pilot/pkg/model/authentication.go `GetJwtPoliciesForWorkload`):
 * the workload's namespace, then the root namespace, then its services' namespaces, each in creation order, that
 * `WithRootNamespace(root).ShouldAttachPolicy` attaches. Selection only; the lab and the sweep do not evaluate JWTs.
 */
export function jwtPoliciesForWorkload<P extends TargetablePolicy>(policies: P[], rootNamespace: string, m: WorkloadPolicyMatcher, features: SelectionFeatures = DEFAULT_FEATURES): P[] {
  const sorted = [...policies].sort(byCreation);
  const withRoot = { ...m, rootNamespace };
  return lookupNamespaces([m.namespace, rootNamespace], m.services).flatMap((ns) => sorted.filter((p) => p.namespace === ns && shouldAttachPolicy(withRoot, p, features)));
}
