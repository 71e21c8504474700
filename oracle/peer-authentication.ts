// PeerAuthentication composition and policy selection, replayed against harness/istio/peer-authentication.ts and
// harness/istio/selection.ts (the functions the lab enforces with and the sweep explains with):
// - pilot/pkg/security/authn/policy_applier_test.go TestComposePeerAuthentication;
// - pilot/pkg/model/authentication_test.go TestGetPoliciesForWorkload, TestGetPoliciesForGatewayPolicyAttachmentOnly,
//   TestGetPoliciesForWorkloadWithoutMeshPeerAuthn (which PeerAuthentications and RequestAuthentications apply,
//   and the namespace's mTLS mode);
// - pilot/pkg/model/policyattachment_test.go TestPolicyMatcher (selector and targetRef(s) attachment);
// - pilot/pkg/model/authorization_test.go TestAuthorizationPolicies_ListAuthorizationPolicies.
import { readFileSync } from 'node:fs';
import { composePeerAuthentication, namespaceMutualTlsMode, type PeerAuthenticationObject, peerAuthenticationsForWorkload } from '../harness/istio/peer-authentication.js';
import { jwtPoliciesForWorkload, listAuthorizationPolicies, type PolicyTargetReference, type ServiceInfo, shouldAttachPolicy, type TargetablePolicy, type WorkloadPolicyMatcher } from '../harness/istio/selection.js';
import { compare, type OracleCase, type OracleFile } from './types.js';

const read = <T>(file: string): T => JSON.parse(readFileSync(new URL(`../test/data/istio/${file}`, import.meta.url), 'utf8')) as T;
const id = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

interface ComposeData {
  source: { path: string; test: string; commit: string };
  cases: { name: string; configs: PeerAuthenticationObject[]; want: { mode: string; perPort?: Record<string, string> } }[];
}

function compose(): OracleFile {
  const d = read<ComposeData>('policy_applier_test.json');
  const cases = d.cases.map((c): OracleCase => {
    const got = composePeerAuthentication('root-namespace', c.configs);
    const perPort = got.perPort.size === 0 ? undefined : Object.fromEntries([...got.perPort].map(([p, s]) => [String(p), s.mode]));
    return compare(c.name, { mode: got.mode.mode, perPort }, { mode: c.want.mode, perPort: c.want.perPort === undefined ? undefined : Object.fromEntries(Object.entries(c.want.perPort).sort(([a], [b]) => Number(a) - Number(b))) });
  });
  return { source: d.source.path, test: d.source.test, commit: d.source.commit, cases };
}

interface WorkloadCase {
  name: string;
  workloadNamespace: string;
  workloadLabels: Record<string, string>;
  isWaypoint: boolean;
  service?: ServiceInfo;
  wantRequestAuthn?: string[];
  wantPeerAuthn: string[];
  wantNamespaceMutualTLS: string | null;
}
interface WorkloadTable {
  withMeshPeerAuthn: boolean;
  selectorBasedK8sGatewayPolicy: boolean;
  cases: WorkloadCase[];
}
interface AuthnData {
  source: { path: string; commit: string; rootNamespace: string };
  requestAuthentications: TargetablePolicy[];
  peerAuthentications: PeerAuthenticationObject[];
  meshPeerAuthentications: PeerAuthenticationObject[];
  [test: string]: unknown;
}

function authentication(): OracleFile[] {
  const d = read<AuthnData>('authentication_test.json');
  const root = d.source.rootNamespace;
  return ['TestGetPoliciesForWorkload', 'TestGetPoliciesForGatewayPolicyAttachmentOnly', 'TestGetPoliciesForWorkloadWithoutMeshPeerAuthn'].map((test) => {
    const t = d[test] as WorkloadTable;
    const pas = [...d.peerAuthentications, ...(t.withMeshPeerAuthn ? d.meshPeerAuthentications : [])];
    const cases = t.cases.map((c): OracleCase => {
      const m: WorkloadPolicyMatcher = { namespace: c.workloadNamespace, labels: c.workloadLabels, isWaypoint: c.isWaypoint, services: c.service ? [c.service] : [] };
      const got = {
        requestAuthn: c.wantRequestAuthn === undefined ? undefined : jwtPoliciesForWorkload(d.requestAuthentications, root, m, { selectorBasedK8sGatewayPolicy: t.selectorBasedK8sGatewayPolicy }).map(id),
        peerAuthn: peerAuthenticationsForWorkload(pas, root, { namespace: c.workloadNamespace, labels: c.workloadLabels, services: m.services }).map(id),
        namespaceMutualTLS: namespaceMutualTlsMode(pas, root, c.workloadNamespace) ?? null,
      };
      return compare(c.name, got, { requestAuthn: c.wantRequestAuthn, peerAuthn: c.wantPeerAuthn, namespaceMutualTLS: c.wantNamespaceMutualTLS });
    });
    return { source: d.source.path, test, commit: d.source.commit, cases };
  });
}

type Named<T> = string | T;
interface AttachData {
  source: { path: string; test: string; commit: string };
  targetRefs: Record<string, PolicyTargetReference>;
  selectors: Record<string, { matchLabels: Record<string, string> }>;
  matchers: Record<string, WorkloadPolicyMatcher>;
  cases: {
    name: string;
    selection: string | { base: string; namespace?: string; services?: ServiceInfo[]; addServices?: ServiceInfo[] };
    policy: { selector?: string; targetRef?: string; targetRefs?: Named<PolicyTargetReference>[] };
    enableSelectorPolicies: boolean;
    policyNamespacedName?: { namespace: string; name: string };
    expected: boolean;
  }[];
}

function attachment(): OracleFile {
  const d = read<AttachData>('policyattachment_test.json');
  const refOf = (r: Named<PolicyTargetReference>) => (typeof r === 'string' ? d.targetRefs[r]! : r);
  const cases = d.cases.map((c): OracleCase => {
    const s = c.selection;
    const base = d.matchers[typeof s === 'string' ? s : s.base]!;
    const matcher: WorkloadPolicyMatcher =
      typeof s === 'string' ? base : { ...base, ...(s.namespace ? { namespace: s.namespace } : {}), services: [...(s.services ?? base.services ?? []), ...(s.addServices ?? [])] };
    const policy: TargetablePolicy = {
      ...(c.policyNamespacedName ?? { namespace: 'default', name: 'policy1' }),
      ...(c.policy.selector ? { selector: d.selectors[c.policy.selector]! } : {}),
      ...(c.policy.targetRef ? { targetRef: refOf(c.policy.targetRef) } : {}),
      ...(c.policy.targetRefs ? { targetRefs: c.policy.targetRefs.map(refOf) } : {}),
    };
    return compare(c.name, shouldAttachPolicy(matcher, policy, { selectorBasedK8sGatewayPolicy: c.enableSelectorPolicies }), c.expected);
  });
  return { source: d.source.path, test: d.source.test, commit: d.source.commit, cases };
}

export function peerAuthentication(): OracleFile[] {
  return [compose(), ...authentication(), attachment(), listAuthorization()];
}

interface ListData {
  source: { path: string; test: string; commit: string; rootNamespace: string };
  specs: Record<string, Omit<TargetablePolicy, 'namespace' | 'name'> & { action: string }>;
  cases: { name: string; selectionOpts: WorkloadPolicyMatcher; configs: { name: string; namespace: string; spec: string }[]; want: Record<'deny' | 'allow' | 'audit' | 'custom', string[]> }[];
}

/** pilot/pkg/model/authorization_test.go TestAuthorizationPolicies_ListAuthorizationPolicies. */
export function listAuthorization(): OracleFile {
  const d = read<ListData>('authorization_test.json');
  const cases = d.cases.map((c): OracleCase => {
    const policies = c.configs.map((x) => ({ namespace: x.namespace, name: x.name, ...d.specs[x.spec]! }));
    const listed = listAuthorizationPolicies(policies, d.source.rootNamespace, c.selectionOpts);
    // updateAuthorizationPoliciesResult: the attached policies, split by action.
    const of = (action: string) => listed.filter((p) => p.action === action).map(id);
    return compare(c.name, { deny: of('DENY'), allow: of('ALLOW'), audit: of('AUDIT'), custom: of('CUSTOM') }, c.want);
  });
  return { source: d.source.path, test: d.source.test, commit: d.source.commit, cases };
}
