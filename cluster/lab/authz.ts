// AuthorizationPolicy evaluation as Envoy's RBAC filters do it for Istio (istio-behaviours.md §2; API:
// security/v1beta1/authorization_policy.proto; I: pilot/pkg/security/authz/builder/builder.go). Pure.
import type { AuthzPolicyModel, AuthzRule } from './model.js';
import { ROOT_NAMESPACE, selects } from './model.js';

export interface AuthzRequest {
  /** Peer principal without `spiffe://` (`cluster.local/ns/mesh/sa/x`); undefined for plaintext. */
  principal?: string;
  /** Namespace from the peer's SPIFFE ID; undefined for plaintext. */
  namespace?: string;
  /** HTTP only. */
  method?: string;
  /** URL path without the query (Istio matches `paths` against the path, not the query string). */
  path?: string;
  port: number;
  http: boolean;
}

export interface AuthzDecision {
  allowed: boolean;
  /** `ns[<ns>]-policy[<name>]-rule[<i>]` of the deciding DENY rule, or `none` when no ALLOW rule matched. */
  policy?: string;
}

/** Istio string match: exact, `prefix*`, `*suffix`, or `*` (presence). */
export function stringMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return pattern === value;
}

const anyMatch = (patterns: string[] | undefined, value: string | undefined) =>
  patterns === undefined || (value !== undefined && patterns.some((p) => stringMatch(p, value)));
const noneMatch = (patterns: string[] | undefined, value: string | undefined) =>
  patterns === undefined || (value !== undefined && !patterns.some((p) => stringMatch(p, value)));

/** A rule's `from`: any source matches; a source's fields all match. Identity fields never match plaintext. */
function fromMatches(rule: AuthzRule, r: AuthzRequest): boolean {
  if (!rule.from) return true;
  return rule.from.some(({ source: s }) => {
    // §2: principals, namespaces and their not* forms never match a request without a peer identity.
    if ((s.principals || s.notPrincipals || s.namespaces || s.notNamespaces) && r.principal === undefined) return false;
    return anyMatch(s.principals, r.principal) && noneMatch(s.notPrincipals, r.principal) && anyMatch(s.namespaces, r.namespace) && noneMatch(s.notNamespaces, r.namespace);
  });
}

/**
 * A rule's `to`. HTTP-only fields (methods, paths) on a TCP port: an ALLOW rule using them is dropped (it never
 * matches: narrower), a DENY rule ignores them (it matches on the rest: wider) (§2).
 */
function toMatches(rule: AuthzRule, r: AuthzRequest, action: 'ALLOW' | 'DENY'): boolean {
  if (!rule.to) return true;
  return rule.to.some(({ operation: o }) => {
    const httpOnly = o.methods || o.notMethods || o.paths || o.notPaths;
    if (!r.http && httpOnly && action === 'ALLOW') return false;
    const port = String(r.port);
    if (!anyMatch(o.ports, port) || !noneMatch(o.notPorts, port)) return false;
    if (!r.http) return true;
    return anyMatch(o.methods, r.method) && noneMatch(o.notMethods, r.method) && anyMatch(o.paths, r.path) && noneMatch(o.notPaths, r.path);
  });
}

/** Policies that apply to a workload: its namespace's (selector matching or none) and the root namespace's. */
export function applicable(policies: AuthzPolicyModel[], namespace: string, labels: Record<string, string>): AuthzPolicyModel[] {
  return policies.filter((p) => (p.namespace === namespace || p.namespace === ROOT_NAMESPACE) && (!p.selector || selects(p.selector, labels)));
}

export function policyId(p: AuthzPolicyModel, rule: number): string {
  return `ns[${p.namespace}]-policy[${p.name}]-rule[${rule}]`;
}

/** DENY first, then ALLOW: with no ALLOW policy everything else is allowed; with any, one rule must match. */
export function evaluate(policies: AuthzPolicyModel[], r: AuthzRequest): AuthzDecision {
  for (const p of policies.filter((x) => x.action === 'DENY')) {
    const i = p.rules.findIndex((rule) => fromMatches(rule, r) && toMatches(rule, r, 'DENY'));
    if (i >= 0) return { allowed: false, policy: policyId(p, i) };
  }
  const allows = policies.filter((x) => x.action === 'ALLOW');
  if (allows.length === 0) return { allowed: true };
  for (const p of allows) {
    if (p.rules.some((rule) => fromMatches(rule, r) && toMatches(rule, r, 'ALLOW'))) return { allowed: true };
  }
  return { allowed: false, policy: 'none' };
}

/**
 * The CUSTOM policy whose rule matches this request, if any: istiod puts CUSTOM rules in a shadow RBAC filter that
 * marks the request, and the ext_authz filter after it calls the provider only for marked requests (I:
 * pilot/pkg/security/authz/builder/builder.go, buildHTTP; extauthz.go filter_enabled_metadata). On a TCP chain a
 * CUSTOM policy with an HTTP provider is ignored ("ignored CUSTOM action with HTTP provider on TCP filter chain",
 * builder.go buildTCP), so TCP requests never match here. CUSTOM matches rules as DENY does.
 */
export function customMatch(policies: AuthzPolicyModel[], r: AuthzRequest): { provider: string; policy: string } | undefined {
  if (!r.http) return undefined;
  for (const p of policies.filter((x) => x.action === 'CUSTOM')) {
    const i = p.rules.findIndex((rule) => fromMatches(rule, r) && toMatches(rule, r, 'DENY'));
    if (i >= 0) return { provider: p.provider!, policy: policyId(p, i) };
  }
  return undefined;
}
