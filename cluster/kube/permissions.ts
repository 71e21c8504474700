// Every API permission a cluster run needs, no more: the preflight asks a SelfSubjectAccessReview for each, and
// deploy/rbac.yaml grants exactly these (a test keeps the two equal; the API façade authorizes every request the
// tests make against deploy/rbac.yaml as kube-apiserver's RBAC authorizer would, and a test proves every grant is
// used).
//
// Scope: a permission with `scope: 'istio'` is asked (and granted, by a Role and RoleBinding) in the Istio
// namespace only; `namespace` names a fixed one; the others are asked without a namespace, which a
// SelfSubjectAccessReview reads as "in all namespaces" and only a ClusterRoleBinding satisfies (kubernetes
// plugin/pkg/auth/authorizer/rbac/rbac.go → pkg/registry/rbac/validation/rule.go `VisitRulesFor`: RoleBindings
// are visited only for a non-empty namespace).
//
// What RBAC cannot confine: the run's namespaces do not exist before the run, so writes into them, and the reads
// a run makes there, are granted cluster-wide. deploy/confine.yaml (a ValidatingAdmissionPolicy) confines the
// writes to namespaces labelled with a run; the reads (pods, pods/log, replicasets, events, telemetries) stay a
// documented residual. No SelfSubjectAccessReview grant: every authenticated user has it (system:basic-user).

export interface Permission {
  group: string;
  resource: string;
  subresource?: string;
  verbs: string[];
  /** resourceNames: the grant covers only these objects. */
  names?: string[];
  /** Asked in the Istio namespace (--istio-namespace), granted there by a Role (deploy/rbac.yaml meshproof-istio). */
  scope?: 'istio';
  why: string;
}

/** The Istio kinds a run applies and reads (istio-behaviours.md §8). */
export const ISTIO_CRDS = [
  'peerauthentications.security.istio.io',
  'authorizationpolicies.security.istio.io',
  'destinationrules.networking.istio.io',
  'gateways.networking.istio.io',
  'virtualservices.networking.istio.io',
  'sidecars.networking.istio.io',
  'serviceentries.networking.istio.io',
  'telemetries.telemetry.istio.io',
];

/** The ClusterRole (deploy/rbac.yaml) a gateway needs for its credentialName Secret, and meshproof's binding of it. */
export const GATEWAY_SECRETS_ROLE = 'meshproof-gateway-secrets';
export const GATEWAY_SECRETS_BINDING = 'ingressgateway-secrets';

/** Server-side apply creates what does not exist yet and patches what does: both verbs. */
const APPLY = ['create', 'patch'];

/** The mesh config's ConfigMap: `istio`, or `istio-<rev>` for a revisioned control plane (I: pkg/config/mesh). */
export function meshConfigName(revision?: string): string {
  return revision && revision !== 'default' ? `istio-${revision}` : 'istio';
}

/** REQUIRED for a given revision: the mesh config is read by its revisioned name. */
export function requiredFor(revision?: string): Permission[] {
  const name = meshConfigName(revision);
  return REQUIRED.map((p) => (p.names?.includes('istio') ? { ...p, names: p.names.map((n) => (n === 'istio' ? name : n)) } : p));
}

export const REQUIRED: Permission[] = [
  { group: '', resource: 'namespaces', verbs: ['create', 'get', 'list', 'delete'], why: 'run-scoped namespaces (mp-<run>-*): created, waited for on deletion, swept by meshproof.dev/run' },
  { group: '', resource: 'serviceaccounts', verbs: APPLY, why: 'fixture identities' },
  { group: '', resource: 'services', verbs: APPLY, why: 'fixture Services' },
  { group: '', resource: 'configmaps', verbs: APPLY, names: ['meshproof-agent'], why: 'the agent bundle (ConfigMap meshproof-agent in each run namespace; server-side apply carries the name to RBAC on create too)' },
  { group: '', resource: 'configmaps', verbs: ['get'], names: ['istio-ca-root-cert'], why: 'the mesh root bundle istiod publishes in each run namespace' },
  { group: '', resource: 'configmaps', verbs: ['get'], names: ['istio'], scope: 'istio', why: 'the mesh config (trust domain, access logging; `istio-<revision>` for a revisioned control plane)' },
  { group: 'apps', resource: 'deployments', verbs: APPLY, why: 'echo and probe workloads' },
  { group: 'apps', resource: 'deployments', verbs: ['list'], scope: 'istio', why: 'preflight: istiod found by its labels (app=istiod, istio.io/rev), ready, its image' },
  { group: '', resource: 'pods', verbs: ['list'], why: "readiness and sidecar presence in the run's namespaces (created by the run, so granted cluster-wide)" },
  { group: 'apps', resource: 'replicasets', verbs: ['list'], why: 'why pods are never created (ReplicaFailure: Pod Security, quotas)' },
  { group: '', resource: 'events', verbs: ['list'], why: 'why pods are never created (FailedCreate events)' },
  { group: '', resource: 'pods', subresource: 'log', verbs: ['get'], why: 'istio-proxy access logs (corroboration)' },
  { group: '', resource: 'pods', subresource: 'exec', verbs: ['create', 'get'], why: 'running attacks in probe pods; pilot-agent certs and stats (websocket exec needs both from Kubernetes 1.35: AuthorizePodWebsocketUpgradeCreatePermission)' },
  { group: 'security.istio.io', resource: 'peerauthentications', verbs: APPLY, why: 'fixture policies' },
  { group: 'security.istio.io', resource: 'authorizationpolicies', verbs: APPLY, why: 'fixture policies' },
  { group: 'networking.istio.io', resource: 'destinationrules', verbs: APPLY, why: 'fixture traffic policies' },
  { group: 'networking.istio.io', resource: 'gateways', verbs: APPLY, why: "the run's own ingress gateway (boundary suite)" },
  { group: 'networking.istio.io', resource: 'virtualservices', verbs: APPLY, why: 'the route from the gateway to echo (boundary suite)' },
  { group: 'networking.istio.io', resource: 'sidecars', verbs: APPLY, why: 'the egress lock of the mesh namespace (REGISTRY_ONLY, boundary suite)' },
  { group: 'networking.istio.io', resource: 'serviceentries', verbs: APPLY, why: 'the one registered external destination (boundary suite)' },
  { group: '', resource: 'secrets', verbs: ['create'], why: "the edge certificate meshproof generates for its own gateway: created only, never read or patched" },
  { group: 'rbac.authorization.k8s.io', resource: 'rolebindings', verbs: APPLY, names: [GATEWAY_SECRETS_BINDING], why: "the run's gateway may list secrets in its namespace, or istiod's SDS withholds its certificate (RoleBinding ingressgateway-secrets)" },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', verbs: ['bind'], names: [GATEWAY_SECRETS_ROLE], why: "binding the gateway's ClusterRole without holding its secrets permissions (RBAC escalation check)" },
  { group: 'telemetry.istio.io', resource: 'telemetries', verbs: [...APPLY, 'list'], why: 'fixture logging; reading the Telemetry in force for each destination' },
  { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verbs: ['get'], names: ISTIO_CRDS, why: 'preflight: Istio CRDs present' },
  { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verbs: ['get'], names: ['policyreports.wgpolicyk8s.io'], why: '--policy-report: the PolicyReport CRD is installed' },
  { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', verbs: ['list'], why: 'preflight: the injection webhook is installed' },
  { group: 'admissionregistration.k8s.io', resource: 'validatingadmissionpolicies', verbs: ['list'], why: 'preflight: deploy/confine.yaml (ValidatingAdmissionPolicy meshproof-confine) is installed' },
  { group: 'admissionregistration.k8s.io', resource: 'validatingadmissionpolicybindings', verbs: ['list'], why: 'preflight: deploy/confine.yaml is bound, with validationActions Deny' },
];

/** The namespace meshproof's own resources live in (deploy/rbac.yaml): PolicyReports go there. */
export const MESHPROOF_NAMESPACE = 'meshproof';

/**
 * What `meshproof sweep` reads beyond a run, read-only, in each namespace it sweeps and in the root namespace
 * (deploy/rbac-sweep.yaml's ClusterRole meshproof-sweep grants exactly these; bind it per namespace).
 */
export const SWEEP_PERMISSIONS: Permission[] = [
  { group: '', resource: 'services', verbs: ['list'], why: 'sweep discovery: the Services in scope (which ports, which protocol)' },
  { group: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list'], why: 'sweep discovery: which pods serve which Service port, target ports resolved (what istiod reads)' },
  { group: '', resource: 'pods', verbs: ['list'], why: 'sweep discovery: the pods swept' },
  { group: '', resource: 'pods', subresource: 'log', verbs: ['get'], why: "sweep: the destinations' access logs, each denial's record" },
  { group: 'security.istio.io', resource: 'peerauthentications', verbs: ['list'], why: 'sweep snapshot: the mTLS mode in force, explaining each finding' },
  { group: 'security.istio.io', resource: 'authorizationpolicies', verbs: ['list'], why: 'sweep snapshot: the policies selecting each workload' },
  { group: 'networking.istio.io', resource: 'destinationrules', verbs: ['list'], why: 'sweep snapshot' },
  { group: 'networking.istio.io', resource: 'sidecars', verbs: ['list'], why: 'sweep snapshot' },
];

/**
 * The sweep binds ClusterRole meshproof-sweep in its own run namespace to its own identity (that namespace cannot
 * be bound beforehand): deploy/rbac-sweep.yaml meshproof-sweep-binder, cluster-wide, by name.
 */
export const SWEEP_BINDER_PERMISSIONS: Permission[] = [
  { group: 'rbac.authorization.k8s.io', resource: 'rolebindings', verbs: APPLY, names: ['meshproof-sweep'], why: "sweep: the sweep role bound in its own run namespace (RoleBinding meshproof-sweep)" },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', verbs: ['bind'], names: ['meshproof-sweep'], why: 'sweep: binding the sweep role without an escalation (RBAC escalation check)' },
];

/**
 * `sweep --matrix`: a token for each identity of the estate (TokenRequest, audiences `["istio-ca"]`, 600 s), asked
 * in each swept namespace (deploy/rbac-matrix.yaml's ClusterRole meshproof-matrix, bound per namespace).
 */
export const MATRIX_PERMISSIONS: Permission[] = [
  { group: '', resource: 'serviceaccounts', subresource: 'token', verbs: ['create'], why: "sweep --matrix: a token for each identity swept (audience istio-ca, 600 s), exchanged at istiod's CA for its certificate" },
];

/**
 * `sweep --matrix` binds ClusterRole meshproof-matrix in its own run namespace to its own identity (its canary
 * identities live there; that namespace cannot be bound beforehand): deploy/rbac-matrix.yaml meshproof-matrix-binder.
 */
export const MATRIX_BINDER_PERMISSIONS: Permission[] = [
  { group: 'rbac.authorization.k8s.io', resource: 'rolebindings', verbs: APPLY, names: ['meshproof-matrix'], why: 'sweep --matrix: the token role bound in its own run namespace (RoleBinding meshproof-matrix), for the canary identities' },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', verbs: ['bind'], names: ['meshproof-matrix'], why: 'sweep --matrix: binding the token role without an escalation (RBAC escalation check)' },
];

/** `sweep --matrix --intent cluster`: the Otterize ClientIntents of each swept namespace (meshproof-matrix-intents). */
export const INTENT_PERMISSIONS: Permission[] = [
  { group: 'k8s.otterize.com', resource: 'clientintents', verbs: ['list'], why: '--intent cluster: the calls each workload declares (Otterize ClientIntents), read-only' },
];

/** Without --probes only: one attacker per schedulable node (deploy/rbac-sweep.yaml meshproof-sweep-nodes; cluster-scoped). */
export const SWEEP_NODE_PERMISSIONS: Permission[] = [{ group: '', resource: 'nodes', verbs: ['list'], why: 'sweep: one attacker pod per schedulable node by default (without --probes)' }];

/**
 * What the chaos suite needs (deploy/rbac-chaos.yaml grants exactly these): istiod's scale in the Istio namespace
 * only (a Role: RBAC names are not namespaced), and the run's bare/echo, in a namespace the run creates.
 */
export const CHAOS_PERMISSIONS: Permission[] = [
  { group: 'apps', resource: 'deployments', subresource: 'scale', verbs: ['get', 'patch'], names: ['istiod'], scope: 'istio', why: 'chaos: istiod to 0 and back' },
  { group: 'apps', resource: 'deployments', subresource: 'scale', verbs: ['patch'], names: ['echo'], why: 'chaos: a bare/echo replica started during the outage (patched only; its scale is never read)' },
];

/**
 * `--edge <namespace>/<service>` naming a Service the posture does not hold: read once, right after preflight and
 * before any work, so a Service that does not exist (or lacks the HTTPS port) is one line and exit 2, not every
 * EDGE check running to an error. Asked in the edge's namespace only (deploy/rbac-edge.yaml: ClusterRole
 * meshproof-edge, bound by a RoleBinding there).
 */
export const EDGE_PERMISSIONS: Permission[] = [{ group: '', resource: 'services', verbs: ['get'], why: "--edge: the user's edge Service exists and serves the HTTPS port, read before any attack" }];

/** The PolicyReport a run writes, and the one a sweep writes (so neither replaces the other). */
export const POLICY_REPORT_NAMES = { run: 'meshproof', sweep: 'meshproof-sweep' } as const;

export const policyReportName = (run: { sweep?: unknown }) => (run.sweep ? POLICY_REPORT_NAMES.sweep : POLICY_REPORT_NAMES.run);

/**
 * `--policy-report`: a Role in meshproof's namespace (deploy/rbac.yaml `meshproof-reports`), checked only then,
 * and only for the report the command writes (`policyReportPermissions`).
 */
export const POLICY_REPORT_PERMISSIONS: (Permission & { namespace: string })[] = [
  { group: 'wgpolicyk8s.io', resource: 'policyreports', verbs: APPLY, names: Object.values(POLICY_REPORT_NAMES), namespace: MESHPROOF_NAMESPACE, why: 'the verdicts as a PolicyReport (server-side applied: create and patch by name)' },
];

export const policyReportPermissions = (kind: keyof typeof POLICY_REPORT_NAMES) => POLICY_REPORT_PERMISSIONS.map((p) => ({ ...p, names: [POLICY_REPORT_NAMES[kind]] }));
