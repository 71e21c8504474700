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

/**
 * A field the model does not judge (ipBlocks, requestPrincipals, a `when` condition…), kept so that a request whose
 * decision does not depend on it is still decided (Kleene's three-valued logic), and one that does is refused with
 * the field named, never guessed. `httpOnly`: istiod cannot generate it for a TCP filter chain (the generators in
 * pilot/pkg/security/authz/model/generator.go return "is HTTP only" when forTCP).
 */
/**
 * istiod puts a dry-run CUSTOM policy's rules into the RBAC filter's enforced rules with action DENY (builder.go
 * selectProviderRuleSet/buildHTTP), whatever its comment says; no golden test covers it, so the model does not judge it.
 */
export const DRY_RUN_CUSTOM = 'a dry-run CUSTOM policy (not modelled)';

export interface Unjudged {
  field: string;
  httpOnly: boolean;
  /**
   * For a field read from the request's JWT (requestPrincipals, `request.auth.*`): its value on a request that carries
   * no JWT. istiod matches them on the jwt_authn filter's dynamic metadata (generator.go requestPrincipalGenerator,
   * MetadataStringMatcherForJWTClaim), which is absent without a JWT, so `values` never match and `notValues`
   * (NOT of them) always do.
   */
  withoutJwt?: boolean;
  /**
   * For `request.headers[<name>]`: the header, and the condition's value when the request lacks it. istiod
   * generates Envoy header matchers (generator.go requestHeaderGenerator, matcher.HeaderMatcher), which an absent
   * header never matches, so `values` are false and `notValues` true.
   */
  header?: { name: string; whenAbsent: boolean };
}

export interface AuthzSource {
  principals?: string[];
  notPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  /** `<namespace>/<name>` (the front end fills the policy's namespace in for a bare `<name>`). */
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
  trustDomains?: string[];
  notTrustDomains?: string[];
  /** IPv4 addresses or CIDRs of the connection's peer (Envoy direct_remote_ip); judged when the request names its source IP. */
  ipBlocks?: string[];
  notIpBlocks?: string[];
  unjudged?: Unjudged[];
}

export interface AuthzOperation {
  /** HTTP only: the request's host (`:authority`), matched case-insensitively. */
  hosts?: string[];
  notHosts?: string[];
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
  /**
   * `when` conditions the model judges, each ANDed with the rule: on the peer (source.principal, source.namespace,
   * source.serviceAccount, source.trustDomain) and on the destination port (model.go `New` gives them the same
   * generators as the `from`/`to` fields).
   */
  whenSources?: AuthzSource[];
  whenOperations?: AuthzOperation[];
  /** The rest of the rule's `when` conditions (each ANDed with the rule). */
  when?: Unjudged[];
}

export interface AuthzPolicy {
  namespace: string;
  name: string;
  /** AUDIT only logs (Envoy RBAC action LOG): it never decides (builder.go, `auditPolicies` → rbacpb.RBAC_LOG). */
  action: 'ALLOW' | 'DENY' | 'CUSTOM' | 'AUDIT';
  /** CUSTOM only: the extension provider's name. */
  provider?: string;
  /** CUSTOM only: the provider is an HTTP ext_authz one (ignored on TCP chains) or a gRPC one (applies on TCP too). */
  providerKind?: 'http' | 'grpc';
  /**
   * CUSTOM only: why istiod cannot use the provider (undefined, invalid, or a second provider on the workload);
   * istiod then turns the policy's rules into DENY rules (builder.go getBadCustomDenyRules, "deny-due-to-bad-CUSTOM-action").
   */
  badProvider?: string;
  /** `istio.io/dry-run: "true"`: the policy is only a shadow rule, never enforced (builder.go isDryRun). */
  dryRun?: boolean;
  /** [] = `spec: {}` (ALLOW: allow-nothing); [{}] = allow-all. */
  rules: AuthzRule[];
}

export interface AuthzRequest {
  /** Peer principal without `spiffe://` (`cluster.local/ns/mesh/sa/x`); undefined for plaintext. */
  principal?: string;
  /** Namespace from the peer's SPIFFE ID; undefined for plaintext. */
  namespace?: string;
  /**
   * HTTP only, like `path` and `host`: undefined = not known to the caller, and a rule naming methods/notMethods
   * (paths, hosts) is then unjudged, never matched against '' (R4-H1).
   */
  method?: string;
  /** URL path without the query (Istio matches `paths` against the path, not the query string). */
  path?: string;
  /** HTTP only: the `:authority` (Host) header, as the client sends it (`echo.mesh.svc.cluster.local:8080`, `echo:8080`…). */
  host?: string;
  port: number;
  /** The connection's peer address (IPv4), when known; `ipBlocks` are judged only then. */
  sourceIp?: string;
  /**
   * The request's headers beyond `:method`, `:path` and `:authority`, names lower-case, when the caller knows them
   * all (a `request.headers[…]` condition on an absent header is then judged); undefined: not known.
   */
  headers?: Record<string, string>;
  /** The request carries a JWT (request authentication): JWT-based fields are then not judged. */
  jwt?: boolean;
  /** The request arrived on an HTTP filter chain (HTTP RBAC filter); false: a TCP chain (network RBAC filter). */
  http: boolean;
}

export interface AuthzDecision {
  allowed: boolean;
  /** `ns[<ns>]-policy[<name>]-rule[<i>]` of the deciding DENY rule, or `none` when no ALLOW rule matched. */
  policy?: string;
  /**
   * Allowed: EVERY ALLOW rule that surely grants the request (its policy's namespace and name, and the rule's index),
   * sorted by Envoy's policy id (`ns[..]-policy[..]-rule[..]`, string order: Envoy holds the policies in a map sorted
   * by name, E: filters/common/rbac/engine_impl.cc), since any one of them grants it (R4-L1); a rule the model cannot
   * judge is not listed. Absent when no ALLOW policy selects the workload (then Istio allows everything).
   */
  grantedBy?: { namespace: string; name: string; rule: number }[];
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

/**
 * Kleene's three values: true, false, or a string naming what the model does not judge and the answer depends on.
 * AND is false as soon as one part is false, OR true as soon as one is true, whatever the unjudged parts say; so a
 * decided answer never rests on a guess.
 */
export type Tri = boolean | string;

function and3(parts: Iterable<() => Tri>): Tri {
  let unknown: string | undefined;
  for (const p of parts) {
    const v = p();
    if (v === false) return false;
    if (typeof v === 'string') unknown ??= v;
  }
  return unknown ?? true;
}

function or3(parts: Iterable<() => Tri>): Tri {
  let unknown: string | undefined;
  for (const p of parts) {
    const v = p();
    if (v === true) return true;
    if (typeof v === 'string') unknown ??= v;
  }
  return unknown ?? false;
}

/** What an unjudged field contributes: nothing on a TCP chain when it is HTTP-only (DENY/CUSTOM/AUDIT ignore it). */
function unjudgedTri(u: Unjudged, r: AuthzRequest): Tri {
  if (u.httpOnly && !r.http) return true;
  if (u.withoutJwt !== undefined && !r.jwt) return u.withoutJwt;
  if (u.header && r.headers && !u.header.name.startsWith(':') && r.headers[u.header.name.toLowerCase()] === undefined) return u.header.whenAbsent;
  return `${u.field} (not judged by the model)`;
}

/** One source: every field matches. */
function sourceMatches(s: AuthzSource, r: AuthzRequest): Tri {
  return and3([
    () => identityMatches(s.principals, s.notPrincipals, r.principal),
    () => namespaceMatches(s.namespaces, s.notNamespaces, r.principal),
    () => peerField(s.serviceAccounts, s.notServiceAccounts, r.principal, serviceAccountMatch),
    () => peerField(s.trustDomains, s.notTrustDomains, r.principal, trustDomainMatch),
    () => ipBlocksMatch(s.ipBlocks, s.notIpBlocks, r.sourceIp, 'ipBlocks'),
    ...(s.unjudged ?? []).map((u) => () => unjudgedTri(u, r)),
  ]);
}

const quoteMeta = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A `serviceAccounts` entry `<ns>/<sa>`: the safe_regex `spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)?` on the peer's URI
 * SAN, full match (I: pilot/pkg/security/authz/model/generator.go serviceAccountRegex). So `ns/foo/x/sa/bar` and
 * `sa/bar/extra` match, `sa/bar-junk` does not.
 */
export function serviceAccountMatch(value: string, principal: string): boolean {
  const [ns, sa] = value.split(/\/(.*)/s) as [string, string];
  return new RegExp(`^spiffe://.+/ns/${quoteMeta(ns)}/(.+/|)sa/${quoteMeta(sa)}(/.+)?$`).test(`spiffe://${principal}`);
}

/**
 * A `trustDomains` entry: `*` → any SPIFFE peer (prefix `spiffe://`); no `*` → prefix `spiffe://<td>/`; one `*` →
 * `spiffe://<before>[^/]*<after>/.*` (regex, full match; a second `*` is a literal) (I: generator.go
 * srcTrustDomainGenerator.principal).
 */
export function trustDomainMatch(value: string, principal: string): boolean {
  const uri = `spiffe://${principal}`;
  if (value === '*') return true;
  if (!value.includes('*')) return uri.startsWith(`spiffe://${value}/`);
  const i = value.indexOf('*');
  return new RegExp(`^spiffe://${quoteMeta(value.slice(0, i))}[^/]*${quoteMeta(value.slice(i + 1))}/.*$`).test(uri);
}

/** A values/notValues pair of an identity field with its matcher: as `identityMatches`. */
function peerField(values: string[] | undefined, notValues: string[] | undefined, principal: string | undefined, match: (v: string, p: string) => boolean): boolean {
  if (values && (principal === undefined || !values.some((v) => match(v, principal)))) return false;
  if (notValues && principal !== undefined && notValues.some((v) => match(v, principal))) return false;
  return true;
}

const ipv4 = (s: string): number | undefined => {
  const parts = s.split('.').map(Number);
  if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
};

/**
 * An `ipBlocks` entry: an address (a /32) or a CIDR, Envoy's CidrRange on the direct remote address (I:
 * generator.go srcIPGenerator → principalDirectRemoteIP; matcher.CidrRange). IPv6 is not judged.
 */
export function ipBlockMatch(block: string, ip: string): boolean | string {
  const [addr, len] = block.split('/') as [string, string | undefined];
  const a = ipv4(addr);
  const b = ipv4(ip);
  const bits = len === undefined ? 32 : Number(len);
  if (a === undefined || b === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return `ipBlocks ${block} on ${ip} (only IPv4 is judged)`;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

/** `ipBlocks`/`notIpBlocks` on the request's source IP; unjudged when the request does not name it. */
function ipBlocksMatch(values: string[] | undefined, notValues: string[] | undefined, ip: string | undefined, field: string): Tri {
  if (!values && !notValues) return true;
  if (ip === undefined) return `${field} (the request's source IP is not known)`;
  const any = (bs: string[]): Tri => or3(bs.map((b) => () => ipBlockMatch(b, ip)));
  const not = (v: Tri): Tri => (typeof v === 'string' ? v : !v);
  return and3([() => (values ? any(values) : true), () => (notValues ? not(any(notValues)) : true)]);
}

/** A rule's `from`: any source matches; within a source, every field matches (model.go `New`). */
function fromMatches(rule: AuthzRule, r: AuthzRequest): Tri {
  if (!rule.from) return true;
  return or3(rule.from.map(({ source }) => () => sourceMatches(source, r)));
}

const httpOnly = (o: AuthzOperation) => Boolean(o.methods || o.notMethods || o.paths || o.notPaths || o.hosts || o.notHosts);

/**
 * An ALLOW rule naming an HTTP-only field anywhere (an operation's methods/paths/hosts, a source's requestPrincipals,
 * a `when` on request.*) is not generated on a TCP chain (model.go `Generate`, `checkError` returns the error for
 * ALLOW only).
 */
export function skippedOnTcp(rule: AuthzRule, action: AuthzPolicy['action']): boolean {
  if (action !== 'ALLOW') return false;
  const unjudgedHttp = (us: Unjudged[] | undefined) => (us ?? []).some((u) => u.httpOnly);
  return (rule.to ?? []).some(({ operation }) => httpOnly(operation)) || (rule.from ?? []).some(({ source }) => unjudgedHttp(source.unjudged)) || unjudgedHttp(rule.when);
}

/**
 * `hosts`: Envoy header matchers on `:authority` with ignore_case, `*` → present, `*x` → suffix, `x*` → prefix (I:
 * pilot/pkg/security/authz/matcher/header.go HostMatcher).
 */
export function hostMatch(pattern: string, host: string): boolean {
  return stringMatch(pattern.toLowerCase(), host.toLowerCase());
}

/**
 * One HTTP field of an operation (`hosts`/`methods`/`paths` and their `not*`) on the request's header. Every HTTP
 * request has `:authority`, `:method` and `:path`, and istiod turns the field into an Envoy header matcher on it (I:
 * pilot/pkg/security/authz/model/generator.go hostGenerator, methodGenerator, pathGenerator); a request that does not
 * name the value leaves the field unjudged (R4-H1), never matched against a guessed ''.
 */
function httpField(values: string[] | undefined, notValues: string[] | undefined, value: string | undefined, match: (p: string, v: string) => boolean, field: string, header: string): Tri {
  if (!values && !notValues) return true;
  if (value === undefined) return `${values ? field : `not${field[0]!.toUpperCase()}${field.slice(1)}`} (the request's ${header} is not known)`;
  if (values && !values.some((p) => match(p, value))) return false;
  if (notValues?.some((p) => match(p, value))) return false;
  return true;
}

/** One operation. On a TCP chain a DENY rule's HTTP-only fields are ignored (`checkError`), the ports still count. */
function operationMatches(o: AuthzOperation, r: AuthzRequest): Tri {
  const port = String(r.port);
  if (o.ports && !orMatch(o.ports, port)) return false;
  if (o.notPorts && orMatch(o.notPorts, port)) return false;
  if (!r.http) return true;
  return and3([
    () => httpField(o.hosts, o.notHosts, r.host, hostMatch, 'hosts', ':authority'),
    () => httpField(o.methods, o.notMethods, r.method, stringMatch, 'methods', ':method'),
    () => httpField(o.paths, o.notPaths, r.path, pathMatch, 'paths', ':path'),
  ]);
}

/** A rule's `to`: any operation matches (model.go `New`), three-valued. */
function toMatches(rule: AuthzRule, r: AuthzRequest): Tri {
  if (!rule.to) return true;
  return or3(rule.to.map(({ operation }) => () => operationMatches(operation, r)));
}

/** A rule: OR(from) AND OR(to) AND every `when` (model.go `New`). */
function ruleMatches(rule: AuthzRule, r: AuthzRequest, action: AuthzPolicy['action']): Tri {
  if (!r.http && skippedOnTcp(rule, action)) return false;
  return and3([
    () => toMatches(rule, r),
    () => fromMatches(rule, r),
    ...(rule.whenSources ?? []).map((s) => () => sourceMatches(s, r)),
    ...(rule.whenOperations ?? []).map((o) => () => operationMatches(o, r)),
    ...(rule.when ?? []).map((u) => () => unjudgedTri(u, r)),
  ]);
}

/** Envoy's policy id (I: pilot/pkg/security/authz/builder/builder.go, policy name). */
export function policyId(p: Pick<AuthzPolicy, 'namespace' | 'name'>, rule: number): string {
  return `ns[${p.namespace}]-policy[${p.name}]-rule[${rule}]`;
}

/**
 * The id of a bad CUSTOM policy's DENY rule: the CUSTOM builder's name (`istio-ext-authz-<provider>-` + policyId)
 * and the suffix `-deny-due-to-bad-CUSTOM-action` (builder.go policyName, getBadCustomDenyRules).
 */
export function badCustomPolicyId(p: Pick<AuthzPolicy, 'namespace' | 'name' | 'provider'>, rule: number): string {
  return `istio-ext-authz-${p.provider ? `${p.provider}-` : ''}${policyId(p, rule)}-deny-due-to-bad-CUSTOM-action`;
}

/**
 * The first rule of a policy that surely matches (the policy matches whatever the unjudged rules say), else what the
 * model could not judge, else undefined (no rule matches).
 */
function firstMatch(p: AuthzPolicy, r: AuthzRequest, action: AuthzPolicy['action']): number | string | undefined {
  let unknown: string | undefined;
  for (const [i, rule] of p.rules.entries()) {
    const v = ruleMatches(rule, r, action);
    if (v === true) return i;
    if (typeof v === 'string') unknown ??= `${policyId(p, i)}: ${v}`;
  }
  return unknown;
}

/** The model's answer, or what it could not judge (`unjudged` names the policy, rule and field). */
export type AuthzVerdict = AuthzDecision | { unjudged: string };

/** The policies istiod enforces: no AUDIT (it only logs), no dry-run (shadow rules only; builder.go isDryRun). */
const enforced = (policies: AuthzPolicy[]) => policies.filter((p) => p.action !== 'AUDIT' && !p.dryRun);

/**
 * A CUSTOM policy whose provider istiod cannot use becomes DENY rules (builder.go buildHTTP/buildTCP,
 * getBadCustomDenyRules), on a TCP chain too whatever the provider's kind (R4-M1): buildTCP denies for two providers
 * before looking at any, and calls getExtAuthz (the error → DENY rules) BEFORE it drops a valid HTTP provider's policy
 * (`else if extauthz.tcp == nil { … continue }`); the rules were built forTCP with action DENY, so their HTTP-only
 * fields are ignored (`checkError`), as `ruleMatches` does for DENY.
 */
const badCustom = (p: AuthzPolicy) => p.action === 'CUSTOM' && p.badProvider !== undefined;

/**
 * A dry-run CUSTOM policy with a usable provider: istiod puts its rules into the RBAC filter's ENFORCED `rules`, action
 * DENY (builder.go selectProviderRuleSet → providerShadowRules; buildHTTP/buildTCP `rbac.Rules = providerShadowRules`),
 * so a request it matches is denied, whatever builder.go's comment says. No golden holds it, so `judge` refuses to
 * answer for a request it matches or may match (R4-M2). On TCP an HTTP provider's policy is skipped first (buildTCP
 * `extauthz.tcp == nil`); a bad provider's dry-run rules are dropped (getBadCustomDenyRules takes providerRules only).
 */
function dryRunCustom(policies: AuthzPolicy[], r: AuthzRequest): string | undefined {
  for (const p of policies.filter((x) => x.action === 'CUSTOM' && x.dryRun && x.badProvider === undefined)) {
    if (!r.http && p.providerKind !== 'grpc') continue;
    const i = firstMatch(p, r, 'CUSTOM');
    if (i !== undefined) return `${typeof i === 'number' ? policyId(p, i) : i}: ${DRY_RUN_CUSTOM}`;
  }
  return undefined;
}

/**
 * Istio's decision by its RBAC filters, three-valued: DENY (and bad CUSTOM) first, then ALLOW; with no ALLOW policy
 * everything else is allowed; with any, one rule must match (builder.go: CUSTOM, DENY and ALLOW filters in that order,
 * each must pass).
 *
 * Not in the answer (R4-L2): a usable (non-dry-run) CUSTOM policy. Its ext_authz filter runs before the RBAC filters
 * (I: pilot/pkg/networking/core/listener_builder.go, authzCustomBuilder first) and its provider decides every request
 * its rule matches, so `allowed: true` means "allowed by the AuthorizationPolicies the mesh enforces itself"; a
 * caller that needs the full answer asks `customJudge` too (an access matrix built on `judge` alone over-states
 * access wherever a provider is asked). A dry-run CUSTOM policy that matches makes the answer unjudged (R4-M2).
 */
export function judge(policies: AuthzPolicy[], r: AuthzRequest): AuthzVerdict {
  const dry = dryRunCustom(policies, r);
  if (dry) return { unjudged: dry };
  const live = enforced(policies);
  let unknown: string | undefined;
  // The bad-CUSTOM DENY filter comes first, then the DENY filter (builder.go BuildHTTP); within one, Envoy holds the
  // policies in a map sorted by name and reports the first that matches (E: filters/common/rbac/engine_impl.cc).
  for (const [ps, idOf] of [
    [live.filter(badCustom), badCustomPolicyId],
    [live.filter((x) => x.action === 'DENY'), policyId],
  ] as const) {
    const ids: string[] = [];
    for (const p of ps) {
      for (const [i, rule] of p.rules.entries()) {
        const v = ruleMatches(rule, r, 'DENY');
        if (v === true) ids.push(idOf(p, i));
        else if (typeof v === 'string') unknown ??= `${policyId(p, i)}: ${v}`;
      }
    }
    if (ids.length > 0) return { allowed: false, policy: ids.sort()[0]! };
  }
  const allows = live.filter((x) => x.action === 'ALLOW');
  if (allows.length === 0) return unknown ? { unjudged: unknown } : { allowed: true };
  const grants: { namespace: string; name: string; rule: number }[] = [];
  let allowUnknown: string | undefined;
  for (const p of allows) {
    for (const [i, rule] of p.rules.entries()) {
      const v = ruleMatches(rule, r, 'ALLOW');
      if (v === true) grants.push({ namespace: p.namespace, name: p.name, rule: i });
      else if (typeof v === 'string') allowUnknown ??= `${policyId(p, i)}: ${v}`;
    }
  }
  if (unknown) return { unjudged: unknown };
  if (grants.length > 0) return { allowed: true, grantedBy: grants.sort((a, b) => (policyId(a, a.rule) < policyId(b, b.rule) ? -1 : 1)) };
  return allowUnknown ? { unjudged: allowUnknown } : { allowed: false, policy: 'none' };
}

/**
 * `judge` for callers whose policies hold nothing unjudged (the lab's schema refuses every such field): a request the
 * model cannot decide is an error, never a guess.
 */
export function evaluate(policies: AuthzPolicy[], r: AuthzRequest): AuthzDecision {
  const v = judge(policies, r);
  if ('unjudged' in v) throw new Error(`authorization not judged by the model: ${v.unjudged}`);
  return v;
}

/**
 * The CUSTOM policy whose rule matches this request, if any: istiod puts CUSTOM rules in a shadow RBAC filter that
 * marks the request, and the ext_authz filter after it calls the provider only for marked requests (I:
 * pilot/pkg/security/authz/builder/builder.go, buildHTTP; extauthz.go filter_enabled_metadata). On a TCP chain a
 * CUSTOM policy with an HTTP provider is ignored ("ignored CUSTOM action with HTTP provider on TCP filter chain",
 * builder.go buildTCP), a gRPC provider's applies. CUSTOM matches rules as DENY does (model.go checkError returns the
 * error only for ALLOW). A bad provider's policy is a DENY (`judge`), never a call.
 */
export function customJudge(policies: AuthzPolicy[], r: AuthzRequest): { provider: string; policy: string } | undefined | { unjudged: string } {
  let unknown: string | undefined;
  for (const p of policies.filter((x) => x.action === 'CUSTOM' && x.badProvider === undefined)) {
    if (!r.http && p.providerKind !== 'grpc') continue;
    if (p.dryRun) return { unjudged: `${p.namespace}/${p.name}: ${DRY_RUN_CUSTOM}` };
    const i = firstMatch(p, r, 'CUSTOM');
    if (typeof i === 'number') return { provider: p.provider ?? '', policy: policyId(p, i) };
    if (typeof i === 'string') unknown ??= i;
  }
  return unknown ? { unjudged: unknown } : undefined;
}

/** `customJudge` for the lab (no unjudged field, HTTP providers only). */
export function customMatch(policies: AuthzPolicy[], r: AuthzRequest): { provider: string; policy: string } | undefined {
  const v = customJudge(policies.map((p) => (p.action === 'CUSTOM' && !p.providerKind ? { ...p, providerKind: 'http' as const } : p)), r);
  if (v && 'unjudged' in v) throw new Error(`CUSTOM authorization not judged by the model: ${v.unjudged}`);
  return v;
}
