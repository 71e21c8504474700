// Every API permission a cluster run needs, no more: the preflight asks a SelfSubjectAccessReview for each, and
// deploy/rbac.yaml grants exactly these (a test keeps the two equal; the API façade authorizes every request the
// tests make against deploy/rbac.yaml and a test proves every grant is used).
//
// What RBAC cannot confine: the run's namespaces do not exist before the run, so writes into them are granted
// cluster-wide. deploy/confine.yaml (a ValidatingAdmissionPolicy) confines them to namespaces labelled with a run.

export interface Permission {
  group: string;
  resource: string;
  subresource?: string;
  verbs: string[];
  /** resourceNames: the grant covers only these objects. */
  names?: string[];
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
  { group: '', resource: 'configmaps', verbs: ['create'], why: 'the agent bundle (ConfigMap meshproof-agent in each run namespace)' },
  { group: '', resource: 'configmaps', verbs: ['patch'], names: ['meshproof-agent'], why: 'the agent bundle, applied again' },
  { group: '', resource: 'configmaps', verbs: ['get'], names: ['istio', 'istio-ca-root-cert'], why: 'the mesh config (trust domain, access logging; `istio-<revision>` for a revisioned control plane) and the mesh root bundle' },
  { group: 'apps', resource: 'deployments', verbs: APPLY, why: 'echo and probe workloads' },
  { group: 'apps', resource: 'deployments', verbs: ['list'], why: 'preflight: istiod found by its labels (app=istiod, istio.io/rev), ready, its image' },
  { group: '', resource: 'pods', verbs: ['list'], why: 'readiness and sidecar presence' },
  { group: 'apps', resource: 'replicasets', verbs: ['list'], why: 'why pods are never created (ReplicaFailure: Pod Security, quotas)' },
  { group: '', resource: 'events', verbs: ['list'], why: 'why pods are never created (FailedCreate events)' },
  { group: '', resource: 'pods', subresource: 'log', verbs: ['get'], why: 'istio-proxy access logs (corroboration)' },
  { group: '', resource: 'pods', subresource: 'exec', verbs: ['create', 'get'], why: 'running attacks in probe pods; pilot-agent certs and stats (websocket exec needs both from Kubernetes 1.31)' },
  { group: 'security.istio.io', resource: 'peerauthentications', verbs: APPLY, why: 'fixture policies' },
  { group: 'security.istio.io', resource: 'authorizationpolicies', verbs: APPLY, why: 'fixture policies' },
  { group: 'networking.istio.io', resource: 'destinationrules', verbs: APPLY, why: 'fixture traffic policies' },
  { group: 'networking.istio.io', resource: 'gateways', verbs: APPLY, why: "the run's own ingress gateway (boundary suite)" },
  { group: 'networking.istio.io', resource: 'virtualservices', verbs: APPLY, why: 'the route from the gateway to echo (boundary suite)' },
  { group: 'networking.istio.io', resource: 'sidecars', verbs: APPLY, why: 'the egress lock of the mesh namespace (REGISTRY_ONLY, boundary suite)' },
  { group: 'networking.istio.io', resource: 'serviceentries', verbs: APPLY, why: 'the one registered external destination (boundary suite)' },
  { group: '', resource: 'secrets', verbs: ['create'], why: "the edge certificate meshproof generates for its own gateway: created only, never read or patched" },
  { group: 'telemetry.istio.io', resource: 'telemetries', verbs: [...APPLY, 'list'], why: 'fixture logging; reading the Telemetry in force for each destination' },
  { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verbs: ['get'], names: ISTIO_CRDS, why: 'preflight: Istio CRDs present' },
  { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verbs: ['get'], names: ['policyreports.wgpolicyk8s.io'], why: '--policy-report: the PolicyReport CRD is installed' },
  { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', verbs: ['list'], why: 'preflight: the injection webhook is installed' },
  { group: 'admissionregistration.k8s.io', resource: 'validatingadmissionpolicies', verbs: ['list'], why: 'preflight: deploy/confine.yaml (ValidatingAdmissionPolicy meshproof-confine) is installed' },
  { group: 'admissionregistration.k8s.io', resource: 'validatingadmissionpolicybindings', verbs: ['list'], why: 'preflight: deploy/confine.yaml is bound, with validationActions Deny' },
  { group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews', verbs: ['create'], why: 'preflight: these permissions' },
];

/** The namespace meshproof's own resources live in (deploy/rbac.yaml): PolicyReports go there. */
export const MESHPROOF_NAMESPACE = 'meshproof';

/** `--policy-report`: a Role in meshproof's namespace (deploy/rbac.yaml `meshproof-reports`), checked only then. */
/** What `meshproof sweep` reads beyond a run, read-only (deploy/rbac-sweep.yaml grants exactly these). */
export const SWEEP_PERMISSIONS: Permission[] = [
  { group: '', resource: 'services', verbs: ['list'], why: 'sweep discovery: the Services in scope (which ports, which protocol)' },
  { group: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list'], why: 'sweep discovery: which pods serve which Service port, target ports resolved (what istiod reads)' },
  { group: '', resource: 'nodes', verbs: ['list'], why: 'sweep: one attacker pod per schedulable node by default (--probes)' },
  { group: 'security.istio.io', resource: 'peerauthentications', verbs: ['list'], why: 'sweep snapshot: the mTLS mode in force, explaining each finding' },
  { group: 'security.istio.io', resource: 'authorizationpolicies', verbs: ['list'], why: 'sweep snapshot: the policies selecting each workload' },
  { group: 'networking.istio.io', resource: 'destinationrules', verbs: ['list'], why: 'sweep snapshot' },
  { group: 'networking.istio.io', resource: 'sidecars', verbs: ['list'], why: 'sweep snapshot' },
];

/** What the chaos suite needs (deploy/rbac-chaos.yaml grants exactly these): scale istiod and the run's bare/echo. */
export const CHAOS_PERMISSIONS: Permission[] = [
  { group: 'apps', resource: 'deployments', subresource: 'scale', verbs: ['get', 'patch'], names: ['istiod', 'echo'], why: 'chaos: istiod to 0 and back; a bare/echo replica started during the outage' },
];

export const POLICY_REPORT_PERMISSIONS: (Permission & { namespace: string })[] = [
  { group: 'wgpolicyk8s.io', resource: 'policyreports', verbs: ['create'], namespace: MESHPROOF_NAMESPACE, why: 'the verdicts as a PolicyReport' },
  { group: 'wgpolicyk8s.io', resource: 'policyreports', verbs: ['patch'], names: ['meshproof'], namespace: MESHPROOF_NAMESPACE, why: 'the verdicts as a PolicyReport, replaced each run' },
];
