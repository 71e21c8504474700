// Every API permission a cluster run needs: the preflight asks a SelfSubjectAccessReview for each, and
// deploy/rbac.yaml grants exactly these (a test keeps the two equal).

export interface Permission {
  group: string;
  resource: string;
  subresource?: string;
  verbs: string[];
  why: string;
}

const MANAGE = ['get', 'list', 'create', 'patch', 'delete'];

export const REQUIRED: Permission[] = [
  { group: '', resource: 'namespaces', verbs: MANAGE, why: 'run-scoped namespaces (mp-<run>-*), labelled and swept by meshproof.dev/run' },
  { group: '', resource: 'serviceaccounts', verbs: MANAGE, why: 'fixture identities' },
  { group: '', resource: 'services', verbs: MANAGE, why: 'fixture Services' },
  { group: '', resource: 'configmaps', verbs: MANAGE, why: 'the agent bundle; reading istio-system/istio (mesh config) and istio-ca-root-cert' },
  { group: 'apps', resource: 'deployments', verbs: MANAGE, why: 'echo and probe workloads; reading istiod\'s image' },
  { group: '', resource: 'serviceaccounts', subresource: 'token', verbs: ['create'], why: 'a token (audience istio-ca) for the rogue probe to get its own certificate from istiod' },
  { group: '', resource: 'pods', verbs: ['get', 'list', 'watch'], why: 'readiness and sidecar presence' },
  { group: '', resource: 'pods', subresource: 'log', verbs: ['get'], why: 'istio-proxy access logs (corroboration)' },
  { group: '', resource: 'pods', subresource: 'exec', verbs: ['create', 'get'], why: 'running attacks in probe pods; pilot-agent certs and stats' },
  { group: 'security.istio.io', resource: 'peerauthentications', verbs: MANAGE, why: 'fixture policies; reading the policies in scope' },
  { group: 'security.istio.io', resource: 'authorizationpolicies', verbs: MANAGE, why: 'fixture policies; reading the policies in scope' },
  { group: 'networking.istio.io', resource: 'destinationrules', verbs: MANAGE, why: 'fixture traffic policies; reading the rules in scope' },
  { group: 'telemetry.istio.io', resource: 'telemetries', verbs: MANAGE, why: 'access logging on for the run' },
  { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verbs: ['get', 'list'], why: 'preflight: Istio CRDs present' },
  { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', verbs: ['get', 'list'], why: 'preflight: the injection webhook is installed' },
  { group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews', verbs: ['create'], why: 'preflight: these permissions' },
];
