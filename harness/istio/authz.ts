// AuthorizationPolicy evaluation as Istio generates it for Envoy's RBAC filters, sidecar mode (istio-behaviours.md
// §2). Pure: no I/O, no cluster/ import. The lab's sidecars and gateway evaluate requests with it.
//
// Sources (istio/istio 86c9f01fd735):
// - pilot/pkg/security/authz/model/model.go `New`: each `from` source is one AND of its fields; each `to` operation
//   one AND of its fields; a rule is OR(from) AND OR(to).
// - model.go `rule.principal`: `values` → OR(matchers); `notValues` → NOT(OR(matchers)).
// - generator.go `srcPrincipalGenerator.principal`, `srcNamespaceGenerator.principal` → `principalAuthenticated`:
//   the `authenticated` principal is false without a peer certificate. So a positive `principals`/`namespaces` never
//   matches plaintext, and the NOT of a `notPrincipals`/`notNamespaces` matcher DOES match plaintext
//   (istio.io/latest/news/security/istio-security-2021-004: ALLOW `notNamespaces: ["foo"]` allows plaintext from foo).
// - model.go `Generate` and `rule.checkError`: an HTTP-only field (methods, paths) cannot be generated for a TCP
//   filter chain. For ALLOW the error is returned and `Generate` fails, so the WHOLE rule is skipped (builder.go
//   "skipped rule … on TCP filter chain"); for DENY the field is ignored and the rest of the operation stays (an
//   operation left empty matches any request: `generatePermission` → `permissionAny`).

export interface AuthzSource {
  principals?: string[];
  notPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
}

export interface AuthzOperation {
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
  ports?: string[];
  notPorts?: string[];
}

export interface AuthzRule {
  from?: { source: AuthzSource }[];
  to?: { operation: AuthzOperation }[];
}

export interface AuthzPolicy {
  namespace: string;
  name: string;
  action: 'ALLOW' | 'DENY' | 'CUSTOM';
  /** CUSTOM only: the extension provider's name. */
  provider?: string;
  /** [] = `spec: {}` (ALLOW: allow-nothing); [{}] = allow-all. */
  rules: AuthzRule[];
}

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
  /** The request arrived on an HTTP filter chain (HTTP RBAC filter); false: a TCP chain (network RBAC filter). */
  http: boolean;
}

export interface AuthzDecision {
  allowed: boolean;
  /** `ns[<ns>]-policy[<name>]-rule[<i>]` of the deciding DENY rule, or `none` when no ALLOW rule matched. */
  policy?: string;
}

/** Istio string match: exact, `prefix*`, `*suffix`, or `*` (presence) (I: pilot/pkg/security/authz/matcher/string.go). */
export function stringMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return pattern === value;
}

const orMatch = (patterns: string[], value: string) => patterns.some((p) => stringMatch(p, value));

/** Istio's path templates (I: pkg/config/security/security.go MatchOneTemplate, MatchAnyTemplate). */
export const MATCH_ONE_TEMPLATE = '{*}';
export const MATCH_ANY_TEMPLATE = '{**}';

/** I: pkg/config/security/security.go ContainsPathTemplate. */
export function containsPathTemplate(path: string): boolean {
  return path.includes(MATCH_ONE_TEMPLATE) || path.includes(MATCH_ANY_TEMPLATE);
}

/** Envoy's uri_template pchar set (E: source/extensions/path/uri_template_lib/uri_template_internal.cc kLiteral). */
const PCHAR = "a-zA-Z0-9\\-._~%!$&'()+,;:@";

/**
 * A `paths` entry holding `{*}`/`{**}` becomes Envoy's uri_template matcher: istiod replaces `{*}` → `*` and `{**}` →
 * `**` (I: pilot/pkg/security/authz/model/generator.go pathGenerator; matcher/template.go PathTemplateMatcher), and
 * Envoy compiles the template to `/` + segments joined by `/`, `*` → `[pchar]+` (one non-empty segment), `**` →
 * `[pchar/]*` (anything, slashes included, possibly empty), literals as themselves, full match against the path
 * without query or fragment (E: uri_template_internal.cc toRegexPattern; uri_template_match.cc match). The lab
 * schema admits templates only as whole segments, `{**}` last, as Istio's validation does (CheckValidPathTemplate).
 */
export function pathTemplateRegExp(template: string): RegExp {
  const segments = template.slice(1).split('/');
  const body = segments.map((g) => (g === MATCH_ONE_TEMPLATE ? `[${PCHAR}]+` : g === MATCH_ANY_TEMPLATE ? `[${PCHAR}/]*` : g.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
  return new RegExp(`^/${body}$`);
}

/** One `paths`/`notPaths` entry: a uri_template when it holds a template, else Istio's string match. */
export function pathMatch(pattern: string, path: string): boolean {
  if (containsPathTemplate(pattern)) return pathTemplateRegExp(pattern).test(path.split(/[?#]/)[0]!);
  return stringMatch(pattern, path);
}

/** Istio's literal segment next to a template (I: pkg/config/security/security.go validLiteral). */
const ISTIO_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;

/**
 * Why Istio (or, after it, Envoy) refuses a `paths`/`notPaths` entry, else undefined. Istio: `{` or `}` only as a
 * whole-segment `{*}`/`{**}`, nothing after `{**}`, literal segments of a template path made of pchars (I:
 * pkg/config/security/security.go CheckValidPathTemplate, called by pkg/config/validation/validation.go
 * ValidateAuthorizationPolicy). Envoy: a template starts with `/` and its literals hold no `=` (E:
 * uri_template_internal.cc parseURLPatternSyntax, kLiteral); the lab refuses what Envoy would NACK.
 */
export function pathProblem(path: string): string | undefined {
  const template = containsPathTemplate(path);
  let any = false;
  for (const glob of path.replace(/^\/+|\/+$/g, '').split('/')) {
    if ((glob === MATCH_ONE_TEMPLATE || glob === MATCH_ANY_TEMPLATE) && any) return `invalid or unsupported path ${path}: {**} is not the last operator`;
    if (glob === MATCH_ANY_TEMPLATE) any = true;
    if (glob === MATCH_ONE_TEMPLATE || glob === MATCH_ANY_TEMPLATE) continue;
    if (/[{}]/.test(glob)) return `invalid or unsupported path ${path}: contains '{' or '}' beyond a supported path template`;
    if (template && !ISTIO_LITERAL.test(glob)) return `invalid or unsupported path ${path}: contains segment ${glob} with invalid string literal`;
    if (template && glob.includes('=')) return `path template ${path}: Envoy's uri_template refuses '=' in a literal (not implemented by the lab)`;
  }
  if (template && !path.startsWith('/')) return `path template ${path}: Envoy's uri_template must start with '/' (not implemented by the lab)`;
  return undefined;
}

const orPathMatch = (patterns: string[], path: string) => patterns.some((p) => pathMatch(p, path));

/**
 * One identity field: `values` → authenticated(OR), false without a peer identity; `notValues` →
 * NOT(authenticated(OR)), TRUE without a peer identity (model.go `rule.principal`, generator.go).
 */
function identityMatches(values: string[] | undefined, notValues: string[] | undefined, peer: string | undefined): boolean {
  if (values && (peer === undefined || !orMatch(values, peer))) return false;
  if (notValues && peer !== undefined && orMatch(notValues, peer)) return false;
  return true;
}

/**
 * A `namespaces` entry as istiod generates it: every `*` becomes `.*` (the rest regex-quoted) inside
 * `.*` + `/ns/<ns>/` + `.*`, a safe_regex (full match) on the peer's principal (I: pilot/pkg/security/authz/model/generator.go
 * srcNamespaceGenerator.principal). So `team-*-prod` matches `team-a-prod`, and `*` in any place is a wildcard.
 */
export function namespaceMatch(pattern: string, principal: string): boolean {
  const ns = pattern
    .split('*')
    .map((lp) => lp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^.*/ns/${ns}/.*$`).test(principal); // RE2's `.` stops at a newline, as JS's does
}

/** `namespaces`/`notNamespaces`: as `identityMatches`, each entry matched on the principal (`namespaceMatch`). */
function namespaceMatches(values: string[] | undefined, notValues: string[] | undefined, principal: string | undefined): boolean {
  const any = (ps: string[], p: string) => ps.some((x) => namespaceMatch(x, p));
  if (values && (principal === undefined || !any(values, principal))) return false;
  if (notValues && principal !== undefined && any(notValues, principal)) return false;
  return true;
}

/** A rule's `from`: any source matches; within a source, every field matches (model.go `New`). */
function fromMatches(rule: AuthzRule, r: AuthzRequest): boolean {
  if (!rule.from) return true;
  return rule.from.some(
    ({ source: s }) => identityMatches(s.principals, s.notPrincipals, r.principal) && namespaceMatches(s.namespaces, s.notNamespaces, r.principal),
  );
}

const httpOnly = (o: AuthzOperation) => Boolean(o.methods || o.notMethods || o.paths || o.notPaths);

/** An ALLOW rule naming an HTTP-only field in ANY of its operations is not generated on a TCP chain (model.go `Generate`). */
export function skippedOnTcp(rule: AuthzRule, action: 'ALLOW' | 'DENY'): boolean {
  return action === 'ALLOW' && (rule.to ?? []).some(({ operation }) => httpOnly(operation));
}

/** One operation. On a TCP chain a DENY rule's HTTP-only fields are ignored (`checkError`), the ports still count. */
function operationMatches(o: AuthzOperation, r: AuthzRequest): boolean {
  const port = String(r.port);
  if (o.ports && !orMatch(o.ports, port)) return false;
  if (o.notPorts && orMatch(o.notPorts, port)) return false;
  if (!r.http) return true;
  const method = r.method ?? '';
  const path = r.path ?? '';
  if (o.methods && !orMatch(o.methods, method)) return false;
  if (o.notMethods && orMatch(o.notMethods, method)) return false;
  if (o.paths && !orPathMatch(o.paths, path)) return false;
  if (o.notPaths && orPathMatch(o.notPaths, path)) return false;
  return true;
}

function toMatches(rule: AuthzRule, r: AuthzRequest): boolean {
  if (!rule.to) return true;
  return rule.to.some(({ operation }) => operationMatches(operation, r));
}

function ruleMatches(rule: AuthzRule, r: AuthzRequest, action: 'ALLOW' | 'DENY'): boolean {
  if (!r.http && skippedOnTcp(rule, action)) return false;
  return fromMatches(rule, r) && toMatches(rule, r);
}

/** Envoy's policy id (I: pilot/pkg/security/authz/builder/builder.go, policy name). */
export function policyId(p: Pick<AuthzPolicy, 'namespace' | 'name'>, rule: number): string {
  return `ns[${p.namespace}]-policy[${p.name}]-rule[${rule}]`;
}

/** DENY first, then ALLOW: with no ALLOW policy everything else is allowed; with any, one rule must match. */
export function evaluate(policies: AuthzPolicy[], r: AuthzRequest): AuthzDecision {
  for (const p of policies.filter((x) => x.action === 'DENY')) {
    const i = p.rules.findIndex((rule) => ruleMatches(rule, r, 'DENY'));
    if (i >= 0) return { allowed: false, policy: policyId(p, i) };
  }
  const allows = policies.filter((x) => x.action === 'ALLOW');
  if (allows.length === 0) return { allowed: true };
  for (const p of allows) {
    if (p.rules.some((rule) => ruleMatches(rule, r, 'ALLOW'))) return { allowed: true };
  }
  return { allowed: false, policy: 'none' };
}

/**
 * The CUSTOM policy whose rule matches this request, if any: istiod puts CUSTOM rules in a shadow RBAC filter that
 * marks the request, and the ext_authz filter after it calls the provider only for marked requests (I:
 * pilot/pkg/security/authz/builder/builder.go, buildHTTP; extauthz.go filter_enabled_metadata). On a TCP chain a
 * CUSTOM policy with an HTTP provider is ignored ("ignored CUSTOM action with HTTP provider on TCP filter chain",
 * builder.go buildTCP), so TCP requests never match here. CUSTOM matches rules as DENY does (model.go checkError
 * returns the error only for ALLOW).
 */
export function customMatch(policies: AuthzPolicy[], r: AuthzRequest): { provider: string; policy: string } | undefined {
  if (!r.http) return undefined;
  for (const p of policies.filter((x) => x.action === 'CUSTOM')) {
    const i = p.rules.findIndex((rule) => ruleMatches(rule, r, 'DENY'));
    if (i >= 0) return { provider: p.provider ?? '', policy: policyId(p, i) };
  }
  return undefined;
}
