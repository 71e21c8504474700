// Pieces the authorization checks share: actors and the RBAC corroborations (istio-behaviours.md §2, §6).
import { sameAddress } from '../../harness/access-log.js';
import type { AtFault, Corroboration } from '../../harness/check.js';
import type { AuthzPolicy, AuthzRequest } from '../../harness/istio/authz.js';
import { customJudge, judge } from '../../harness/istio/authz.js';
import { appliesTo, authorizationPolicyFromIstio, type SelectedAuthzPolicy, trustDomainAliasesOf, trustDomainOf } from '../../harness/istio/authz-policy.js';
import { type PostureView, ROOT_NAMESPACE } from '../../harness/posture/view.js';
import type { Ref, Target } from '../../harness/target.js';
import { serviceBackends } from '../mtls/shared.js';

export const ECHO: Ref = { namespace: 'mesh', name: 'echo' };
export const BARE_ECHO: Ref = { namespace: 'bare', name: 'echo' };
export const UNAUTHORIZED: Ref = { namespace: 'mesh', name: 'unauthorized' };

/** The destination's record of an HTTP denial, matched to the attempt by its nonce in the logged path. */
export const rbacDeniedHttp: Corroboration = {
  describe: '403 rbac_access_denied_matched_policy',
  counter: 'rbac.denied',
  require: 'record-or-counter',
  matches: (r, o) => r.responseCode === 403 && r.responseCodeDetails.startsWith('rbac_access_denied_matched_policy[') && r.path.includes(o.nonce),
};

/**
 * The destination's record of a TCP denial, keyed to the attempt: the inbound sees the client sidecar's hop, not
 * the probe, so the client's own record (downstream = the probe, upstream local = the hop) names the hop. Without
 * a client record (client-side logging off) records are matched by kind within the attack window.
 */
export const rbacDeniedTcp: Corroboration = {
  describe: 'rbac_access_denied_matched_policy connection termination',
  counter: 'tcp.rbac.denied',
  require: 'record-or-counter',
  keyByHop: true,
  matches: (r, _o, hop) => r.connectionTerminationDetails.startsWith('rbac_access_denied_matched_policy[') && (hop === undefined || sameAddress(r.downstreamRemoteAddress, hop)),
};

type PodTemplate = { serviceAccountName?: string; template?: { metadata?: { labels?: Record<string, string> }; spec?: { serviceAccountName?: string } } };

/** Two findings on one path (plaintext through mTLS AND authorization): both objects, both fixes. */
export function both(a: AtFault | undefined, b: AtFault | undefined): AtFault | undefined {
  if (!a || !b) return a ?? b;
  return { object: `${a.object}; and ${b.object}`, remedy: `${a.remedy}; and ${b.remedy}` };
}

/** The request an authorization attack sends, as the model takes it. */
export interface AuthzAttempt {
  from: Ref;
  to: Ref;
  /** The Service port dialled. */
  port: number;
  http: boolean;
  method?: string;
  path?: string;
  /** A client without a sidecar: the request carries no principal. */
  plaintext?: boolean;
}

/**
 * Should an authorization attack get through: what the posture snapshot grants it, by the Istio model
 * (harness/istio/authz-policy.ts → authz.ts `judge`, policies selected as istiod selects them), and the fix. A request
 * the snapshot already denies is named too: then the policy is right and the mesh did not enforce it.
 */
export function authzAtFault(view: PostureView, target: Target, a: AuthzAttempt): AtFault | undefined {
  const manifests = view.posture.objects.map((o) => o.manifest);
  const find = (kind: string, r: Ref) => manifests.find((m) => m.kind === kind && m.metadata.namespace === r.namespace && m.metadata.name === r.name);
  const attacker = find('Deployment', a.from)?.spec as PodTemplate | undefined;
  // Every pod the Service selects is an endpoint, and each is judged by the policies that select ITS labels (I:
  // pilot/pkg/model/authorization.go ListAuthorizationPolicies): a canary Deployment behind the same Service may be
  // open where the first one is not (audit R4 M-3).
  const backends = serviceBackends(view, a.to, a.port);
  if (!backends || !attacker || backends.workloads.length === 0) return undefined;
  const { targetPort, workloads } = backends;
  // meshConfig.rootNamespace where the posture carries the mesh config (the lab's schema pins istio-system).
  const mesh = view.meshConfig();
  const root = typeof mesh?.rootNamespace === 'string' && mesh.rootNamespace !== '' ? mesh.rootNamespace : ROOT_NAMESPACE;
  const sa = attacker.template?.spec?.serviceAccountName ?? 'default';
  const principal = a.plaintext ? undefined : target.identity(a.from.namespace, sa).replace(/^spiffe:\/\//, '');
  // istiod migrates every policy's principals to the mesh's trust domain and aliases (builder.go `New`,
  // MigrateTrustDomain; trustdomain/bundle.go ReplaceTrustDomainAliases rewrites `cluster.local/…` too): the
  // mesh's trust domain is the one the target issues identities in; its aliases are known only where the posture
  // carries the mesh config (ConfigMap istio-system/istio, as the lab runs it) — on a cluster whose mesh config
  // sets trustDomainAliases that the posture does not, a principal written with an alias is judged unrewritten.
  const bundle = { trustDomain: trustDomainOf(target.identity(a.to.namespace, 'default')), aliases: trustDomainAliasesOf(view.meshConfig()) };
  const converted: SelectedAuthzPolicy[] = [];
  for (const m of manifests.filter((x) => x.kind === 'AuthorizationPolicy')) {
    const conv = authorizationPolicyFromIstio(m, { trustDomainBundle: bundle });
    const what = `AuthorizationPolicy ${m.metadata.namespace}/${m.metadata.name}`;
    if ('refused' in conv) return { object: `${what} is not judged by the model (${conv.refused})`, remedy: 'read it by hand: meshproof cannot say what it grants' };
    converted.push(conv);
  }
  // The Host the attack sends (R4-H1): the engine dials `via: 'service'` through `target.address`, whose authority is
  // `<svc>.<ns>.svc.cluster.local:<port>` on both targets (cluster/lab/lab-target.ts and cluster/kube/kube-target.ts
  // `address`); it is known only at attack time, so it is rebuilt here in the posture's (logical) namespace, the one
  // its policies' `hosts` are written in.
  const host = `${a.to.name}.${a.to.namespace}.svc.cluster.local:${a.port}`;
  const req: AuthzRequest = { ...(principal ? { principal, namespace: a.from.namespace } : {}), port: targetPort, http: a.http, ...(a.http ? { method: a.method ?? 'GET', path: a.path ?? '/', host } : {}) };
  const judged = workloads.map((workload) => {
    const policies: AuthzPolicy[] = converted.filter((c) => appliesTo(c, a.to.namespace, workload.labels, root)).map((c) => c.policy);
    const request = `${a.http ? `${a.method ?? 'GET'} ${a.path ?? '/'}` : 'a TCP connection'} from ${principal ?? `${a.from.namespace}/${a.from.name} in plaintext (no principal)`} to ${a.to.namespace}/${workload.name} port ${targetPort}`;
    return { workload, request, policies, v: judge(policies, req) };
  });
  const names = (xs: typeof judged) => xs.map((x) => `${a.to.namespace}/${x.workload.name}`).join(', ');
  const open = judged.filter((x) => 'allowed' in x.v && x.v.allowed);
  const others = (x: (typeof judged)[number]) => (open.length > 1 ? ` (open as well: ${names(open.filter((y) => y !== x))})` : '');
  const first = open[0];
  if (!first) {
    const unjudged = judged.find((x) => 'unjudged' in x.v);
    if (unjudged && 'unjudged' in unjudged.v) return { object: `the model cannot judge ${unjudged.request}: ${unjudged.v.unjudged}`, remedy: 'read the policies that select the workload by hand' };
    const denials = judged.map((x) => ('allowed' in x.v && !x.v.allowed ? `${x.workload.name}: ${x.v.policy === 'none' ? 'no ALLOW rule matches' : x.v.policy}` : '')).join('; ');
    const request = judged.length === 1 ? judged[0]!.request : judged[0]!.request.replace(/ to \S+ port /, ` to ${names(judged)} port `);
    return {
      object: `by the snapshot ${request} is denied (${denials}): the policy is right, the mesh did not enforce it`,
      remedy: 'check that istiod pushed it (istioctl proxy-status; istioctl x authz check <pod>) and that the workload runs an istio-proxy',
    };
  }
  const { request, v } = first;
  const asked = providerAsked(first.policies, req);
  if (!('allowed' in v) || !v.grantedBy || v.grantedBy.length === 0) {
    const unprotected = open.filter((x) => 'allowed' in x.v && (!x.v.grantedBy || x.v.grantedBy.length === 0));
    return {
      object: `no ALLOW AuthorizationPolicy selects ${names(unprotected)} (neither in ${a.to.namespace} nor mesh-wide in ${root}): with none, Istio allows ${request}${others(first)}${asked}`,
      remedy: `apply an ALLOW policy in ${a.to.namespace} granting only the callers ${a.to.name} needs, and a mesh-wide allow-nothing (\`spec: {}\`) in ${root}`,
    };
  }
  // Every rule that grants it (R4-L1), in Envoy's order: narrowing one leaves the request granted by the others.
  const [g, ...more] = v.grantedBy;
  const rule = (x: typeof g) => `AuthorizationPolicy ${x!.namespace}/${x!.name} rules[${x!.rule}]`;
  return {
    object: `${rule(g)} grants ${request}${more.length ? ` (and so do ${more.map(rule).join(', ')})` : ''}${others(first)}${asked}`,
    remedy: `narrow rules[${g!.rule}] of AuthorizationPolicy ${g!.namespace}/${g!.name}${more.map((x) => `, rules[${x.rule}] of AuthorizationPolicy ${x.namespace}/${x.name}`).join('')} (their from.source principals/namespaces and to.operation methods/paths/ports) to the callers and calls ${a.to.name} needs`,
  };
}

/**
 * What a usable CUSTOM policy adds to an "allowed" (R4-L2): `judge` leaves it out, but its ext_authz provider decides
 * every request its rule matches, before the RBAC filters (harness/istio/authz.ts `customJudge`).
 */
function providerAsked(policies: AuthzPolicy[], r: AuthzRequest): string {
  const c = customJudge(policies, r);
  if (c === undefined) return '';
  if ('unjudged' in c) return `; a CUSTOM policy may ask its ext_authz provider (not judged: ${c.unjudged})`;
  return `; the ext_authz provider ${c.provider} is asked too (CUSTOM ${c.policy}): the provider decides`;
}
