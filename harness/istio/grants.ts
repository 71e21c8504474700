// What the AuthorizationPolicies in force grant one identity on one workload port, for the access matrix
// (harness/matrix/). Nothing here decides a request itself: every request is judged by the model's `judge` and
// `customJudge` (authz.ts, held against Istio's own tests by the oracle), so the matrix's expectations cannot drift
// from the rest of meshproof. This file only chooses WHICH requests to ask about:
// - a grant is described by judging a set of witness requests (the safe and unsafe HTTP methods, a reserved nonce
//   path, and every path, method and host the policies and the declared intent name, wildcards instantiated with
//   the nonce); `all` means every witness is allowed, `none` none, `partial` some;
// - the attack is a request the model says is NOT granted, made only of a safe method (GET, HEAD, OPTIONS) and a
//   path no app serves (under RESERVED_PREFIX, with the nonce);
// - the grant probe is a request the model says IS granted, with the nonce in its path (an app's real path is never
//   sent: a grant to exact paths only is not probed);
// - a grant is beyond the intent when a witness the model allows is covered by no declared call.
// Witnesses make the description sound (every grant named is a grant Istio enforces) but not complete: a grant
// reachable only by a request no witness resembles is not named. A missed grant can hide a least-privilege finding,
// never make a false one; the attack is judged on its own exact request, so enforcement holes are unaffected.
import type { CellGrant, CellIntent, GrantRule, MatrixRequest } from '../matrix/types.js';
import { type AuthzOperation, type AuthzPolicy, type AuthzRequest, containsPathTemplate, customJudge, judge, MATCH_ANY_TEMPLATE, MATCH_ONE_TEMPLATE, pathMatch, policyId, stringMatch } from './authz.js';

/**
 * Where every attack and grant probe path lives: a prefix no application serves. Made of plain segments (no `.`/`..`
 * segment, no percent-encoding, no `//`), so every path normalization Istio offers (BASE, MERGE_SLASHES,
 * DECODE_AND_MERGE_SLASHES: istio.io/latest/docs/reference/config/security/normalization) leaves it, and the nonce
 * after it, as sent: the path judged is the path Envoy's RBAC filter sees.
 */
export const RESERVED_PREFIX = '/.meshproof/matrix/';

/** Methods without side effects (RFC 9110 §9.2.1 "safe"): the only ones meshproof ever sends in the matrix. */
export const SAFE_METHODS = ['GET', 'HEAD', 'OPTIONS'] as const;

/** Methods judged (never sent) to describe a grant: the safe ones, then those that change state. */
const WITNESS_METHODS = [...SAFE_METHODS, 'POST', 'PUT', 'PATCH', 'DELETE'];

export interface GrantQuery {
  /** The policies that apply to the workload (selection done by the caller: appliesTo, then forWorkload). */
  policies: AuthzPolicy[];
  /** The identity's principal, without `spiffe://` (`cluster.local/ns/shop/sa/frontend`). */
  principal: string;
  /** The identity's namespace. */
  namespace: string;
  /** The workload's namespace (where the policies apply; named by the "no ALLOW policy" pseudo-rule). */
  workloadNamespace: string;
  /** The container port attacked (what AuthorizationPolicy `ports` match). */
  port: number;
  /** The port is served on an HTTP filter chain (an HTTP or sniffed port) or a TCP one. */
  http: boolean;
  /** The Host the matrix sends (the Service's cluster-local name and port). */
  host: string;
}

/**
 * A call the identity declares to the Service (an Otterize intent's target): methods and a path as Otterize writes
 * them into the AuthorizationPolicy it generates. `{}` declares the whole Service; an empty list, nothing.
 */
export interface DeclaredCall {
  methods?: string[];
  path?: string;
}

interface Witness {
  method?: string;
  path?: string;
  host?: string;
  /** Carries the nonce in its path and the Service's Host: may be sent as a grant probe. */
  probeable: boolean;
  /** Carries the nonce in its path (whatever its Host): may be sent as an attack. */
  pathProbeable?: boolean;
}

const reservedPath = (nonce: string) => `${RESERVED_PREFIX}${nonce}`;
const nonceSegment = (nonce: string) => `.meshproof-${nonce}`;

/**
 * A path the pattern matches, with the nonce wherever the pattern leaves room (Istio's string match: `*`, `prefix*`,
 * `*suffix`, or a `{*}`/`{**}` template, authz.ts pathMatch); an exact pattern is itself (judged, never sent).
 */
function instantiatePath(pattern: string, nonce: string): Witness {
  if (pattern === '*') return { path: reservedPath(nonce), probeable: true };
  if (containsPathTemplate(pattern)) {
    const path = pattern.split(MATCH_ANY_TEMPLATE).join(nonceSegment(nonce)).split(MATCH_ONE_TEMPLATE).join(nonceSegment(nonce));
    return { path, probeable: true };
  }
  if (pattern.endsWith('*')) return { path: `${pattern.slice(0, -1)}${nonceSegment(nonce)}`, probeable: true };
  if (pattern.startsWith('*')) return { path: `${reservedPath(nonce)}${pattern.slice(1)}`, probeable: true };
  return { path: pattern, probeable: false };
}

/** A Host the pattern matches (Istio's host match: exact, `*`, `*.suffix`, `prefix*`). */
function instantiateHost(pattern: string): string {
  if (pattern === '*') return 'meshproof.invalid';
  if (pattern.startsWith('*')) return `meshproof${pattern.slice(1)}`;
  if (pattern.endsWith('*')) return `${pattern.slice(0, -1)}meshproof`;
  return pattern;
}

const operations = (policies: AuthzPolicy[]): AuthzOperation[] => policies.flatMap((p) => p.rules.flatMap((r) => [...(r.to ?? []).map((t) => t.operation), ...(r.whenOperations ?? [])]));

/** Every witness request of an HTTP cell: methods × paths × hosts drawn from the policies and the declared calls. */
function httpWitnesses(q: GrantQuery, nonce: string, declared: DeclaredCall[]): (Witness & { method: string; path: string; host: string })[] {
  const ops = operations(q.policies);
  const literal = (xs: (string | undefined)[]) => xs.filter((x): x is string => x !== undefined && !x.includes('*'));
  const methods = [...new Set([...WITNESS_METHODS, ...literal(ops.flatMap((o) => [...(o.methods ?? []), ...(o.notMethods ?? [])])), ...literal(declared.flatMap((d) => d.methods ?? []))].map((m) => m.toUpperCase()))];
  const paths = new Map<string, Witness>();
  const addPath = (w: Witness) => {
    if (w.path && !paths.has(w.path)) paths.set(w.path, w);
  };
  addPath({ path: reservedPath(nonce), probeable: true });
  for (const p of [...ops.flatMap((o) => [...(o.paths ?? []), ...(o.notPaths ?? [])]), ...declared.flatMap((d) => (d.path ? [d.path] : []))]) addPath(instantiatePath(p, nonce));
  const hosts = [...new Set([q.host, ...ops.flatMap((o) => [...(o.hosts ?? []), ...(o.notHosts ?? [])]).map(instantiateHost)])];
  const out: (Witness & { method: string; path: string; host: string })[] = [];
  for (const host of hosts) for (const w of paths.values()) for (const method of methods) out.push({ method, path: w.path!, host, probeable: w.probeable && host === q.host, pathProbeable: w.probeable });
  return out;
}

const requestOf = (q: GrantQuery, w: Partial<Witness>): AuthzRequest => ({
  principal: q.principal,
  namespace: q.namespace,
  port: q.port,
  http: q.http,
  // The matrix's requests carry no JWT; their other headers are not modelled (a `request.headers[…]` condition stays unjudged).
  jwt: false,
  ...(q.http ? { method: w.method, path: w.path, host: w.host } : {}),
});

type Judged = { allowed: true; rules: GrantRule[] } | { allowed: false } | { unjudged: string };

/**
 * No ALLOW policy selects the workload: Istio allows every request (builder.go: no ALLOW filter at all). A pseudo-rule
 * in the WORKLOAD's namespace, with no index (rule < 0): print it with grantRuleText, never as "rule -1".
 */
const NO_ALLOW_POLICY = (q: GrantQuery): GrantRule => ({ namespace: q.workloadNamespace, name: '(no ALLOW policy selects the workload)', rule: -1 });

/** A granting rule in words: `ns/name rule N`, or for the pseudo-rule `no ALLOW policy selects the workload (in ns)`. */
export function grantRuleText(r: GrantRule): string {
  return r.rule < 0 ? `no ALLOW policy selects the workload (in ${r.namespace})` : `${r.namespace}/${r.name} rule ${r.rule}`;
}

/** One request through the model: RBAC's answer, unless a CUSTOM provider is asked (then the model cannot say). */
function decide(q: GrantQuery, w: Partial<Witness>): Judged {
  const r = requestOf(q, w);
  const custom = customJudge(q.policies, r);
  if (custom && 'unjudged' in custom) return { unjudged: custom.unjudged };
  if (custom) return { unjudged: `a CUSTOM provider (${custom.provider}, ${custom.policy}) decides this request` };
  const v = judge(q.policies, r);
  if ('unjudged' in v) return { unjudged: v.unjudged };
  if (!v.allowed) return { allowed: false };
  return { allowed: true, rules: v.grantedBy ?? [NO_ALLOW_POLICY(q)] };
}

const witnessText = (q: GrantQuery, w: Partial<Witness>) =>
  q.http ? `${w.method} ${w.path}${w.host && w.host !== q.host ? ` (Host ${w.host})` : ''}` : `a TCP connection to port ${q.port}`;

const ruleKey = (r: GrantRule) => (r.rule < 0 ? `~${r.name}` : policyId(r, r.rule));

/** The words for what one rule grants: its `to` operations (the `from` is this identity by construction). */
function ruleScope(q: GrantQuery, g: GrantRule): string {
  const where = grantRuleText(g);
  const p = q.policies.find((x) => x.namespace === g.namespace && x.name === g.name);
  const rule = p?.rules[g.rule];
  if (!rule?.to || rule.to.length === 0) return `${where}: ${q.http ? 'any request' : 'any connection'}`;
  const op = (o: AuthzOperation) =>
    [
      o.methods && `methods ${o.methods.join(',')}`,
      o.notMethods && `not methods ${o.notMethods.join(',')}`,
      o.paths && `paths ${o.paths.join(',')}`,
      o.notPaths && `not paths ${o.notPaths.join(',')}`,
      o.hosts && `hosts ${o.hosts.join(',')}`,
      o.notHosts && `not hosts ${o.notHosts.join(',')}`,
      o.ports && `ports ${o.ports.join(',')}`,
      o.notPorts && `not ports ${o.notPorts.join(',')}`,
    ]
      .filter(Boolean)
      .join(' ') || 'any request';
  return `${where}: ${rule.to.map((t) => op(t.operation)).join(' | ')}`;
}

function witnesses(q: GrantQuery, nonce: string, declared: DeclaredCall[]): Partial<Witness>[] {
  return q.http ? httpWitnesses(q, nonce, declared) : [{ probeable: true }];
}

/** What the policies grant this identity on this port (see the file's head for what the witnesses cover). */
export function cellGrant(q: GrantQuery, nonce: string, declared: DeclaredCall[] = []): CellGrant {
  const rules = new Map<string, GrantRule>();
  let allowed = 0;
  let total = 0;
  for (const w of witnesses(q, nonce, declared)) {
    const d = decide(q, w);
    if ('unjudged' in d) return { kind: 'not-judged', scope: [], rules: [], reason: `${witnessText(q, w)}: ${d.unjudged}` };
    total++;
    if (!d.allowed) continue;
    allowed++;
    for (const r of d.rules) rules.set(ruleKey(r), r);
  }
  const sorted = [...rules.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, r]) => r);
  const kind = allowed === 0 ? 'none' : allowed === total ? 'all' : 'partial';
  return { kind, scope: sorted.map((r) => ruleScope(q, r)), rules: sorted };
}

/**
 * The attack: a request the model says this identity is NOT granted, made only of a safe method and a nonce path
 * (HTTP), or a nonce on the port (TCP). Every probeable witness is searched, not only the reserved path: a non-grant
 * enforced by a DENY on `paths`/`hosts`/`methods`, or by an ALLOW's `notPaths`/`notHosts`, is reachable only by a
 * request on that path or Host, and a policy the proxy never received leaves exactly that request open (M22-H1).
 * Order: GET before HEAD before OPTIONS (a HEAD answer carries no body, so only the destination's record can tell
 * Envoy's refusal from the app's: M22-H2), and within a method the reserved path on the Service's Host first, then
 * the policies' nonce-instantiated paths, then their Hosts (the Host a policy names is sent as the authority; Envoy
 * matches `hosts` on `:authority`, I: pilot/pkg/security/authz/matcher/header.go HostMatcher). Never an exact path
 * (an app's real path), never an unsafe method: `none` says why when nothing else is denied.
 */
export function requestOutsideGrant(q: GrantQuery, nonce: string): MatrixRequest | { none: string } {
  if (!q.http) {
    const d = decide(q, {});
    if ('unjudged' in d) return { none: `not judged: ${d.unjudged}` };
    return d.allowed ? { none: `every connection to port ${q.port} is granted` } : { kind: 'tcp', nonce };
  }
  const reserved = decide(q, { method: SAFE_METHODS[0], path: reservedPath(nonce), host: q.host });
  if ('unjudged' in reserved) return { none: `not judged: ${reserved.unjudged}` };
  const candidates = httpWitnesses(q, nonce, []).filter((w) => w.pathProbeable);
  for (const method of SAFE_METHODS) {
    // httpWitnesses lists the Service's Host first and, for each Host, the reserved path first.
    for (const w of candidates.filter((x) => x.method === method)) {
      const d = decide(q, w);
      if ('unjudged' in d || d.allowed) continue;
      return { kind: 'http', method, path: w.path, nonce, ...(w.host !== q.host ? { host: w.host } : {}) };
    }
  }
  return { none: `every safe request (${SAFE_METHODS.join(', ')} on a nonce path: the reserved one and the policies' own paths and Hosts) is granted; what is not granted needs an unsafe method or an exact path, never sent` };
}

/** The grant probe: a safe request the model says IS granted, with the nonce in its path; `none` when there is none. */
export function requestInsideGrant(q: GrantQuery, nonce: string): MatrixRequest | { none: string } {
  if (!q.http) {
    const d = decide(q, {});
    if ('unjudged' in d) return { none: `not judged: ${d.unjudged}` };
    return d.allowed ? { kind: 'tcp', nonce } : { none: 'nothing is granted' };
  }
  const safe = new Set<string>(SAFE_METHODS);
  for (const w of httpWitnesses(q, nonce, [])) {
    if (!w.probeable || !safe.has(w.method)) continue;
    const d = decide(q, w);
    if (!('unjudged' in d) && d.allowed) return { kind: 'http', method: w.method, path: w.path, nonce };
  }
  return { none: 'no safe request with a nonce path lies inside the grant (it names exact paths only, or grants nothing)' };
}

/**
 * Whether declared calls cover a request, as the AuthorizationPolicy Otterize generates from them matches it: one
 * ALLOW rule per target, one operation per http entry with `methods` as written and `paths: [path]`, no ports
 * (otterize/intents-operator controllers/istiopolicy/policy_manager.go generateAuthorizationPolicy,
 * intentsHTTPResourceToIstioOperations), matched with Istio's own string and path matching. An HTTP-only declaration
 * generates a rule with methods/paths, which istiod skips on a TCP chain (authz.ts skippedOnTcp).
 */
export function callsCover(calls: DeclaredCall[], req: { http: boolean; method?: string; path?: string }): boolean {
  return calls.some((d) => {
    const whole = d.path === undefined && !d.methods?.length;
    if (!req.http) return whole;
    const methodOk = !d.methods?.length || d.methods.some((m) => stringMatch(m, req.method ?? ''));
    const pathOk = d.path === undefined || pathMatch(d.path, req.path ?? '');
    return methodOk && pathOk;
  });
}

/**
 * What is granted beyond the declared calls: one witness per granting rule, a request the model allows that no
 * declared call covers. `declared` = the identity's calls to this Service (`[]`: none declared, so every grant is beyond).
 */
export function beyondIntent(q: GrantQuery, nonce: string, declared: DeclaredCall[]): CellIntent['beyond'] {
  const out = new Map<string, CellIntent['beyond'][number]>();
  for (const w of witnesses(q, nonce, declared)) {
    const d = decide(q, w);
    if ('unjudged' in d || !d.allowed || callsCover(declared, { http: q.http, method: w.method, path: w.path })) continue;
    for (const rule of d.rules) if (!out.has(ruleKey(rule))) out.set(ruleKey(rule), { rule, witness: witnessText(q, w) });
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, b]) => b);
}
