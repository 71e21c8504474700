// TEMPORARY (issue 22): a local stand-in for harness/istio/grants.ts, which the lead is writing with exactly this API
// (HELPER-ISSUE22.md "Grants"). Delete this file and import from '../istio/grants.js' once main has it. Every answer
// here comes from the Istio model's `judge` (harness/istio/authz.ts) on a small set of requests; nothing is guessed:
// a request the model cannot judge, or any CUSTOM policy (its provider decides), makes the cell not judged.
import { type AuthzPolicy, type AuthzRequest, judge, pathMatch } from '../istio/authz.js';
import type { CellGrant, CellIntent, GrantRule, MatrixRequest } from './types.js';

export interface GrantQuery {
  /** Already selected for the workload (appliesTo + forWorkload). */
  policies: AuthzPolicy[];
  /** The identity's principal, without `spiffe://`. */
  principal: string;
  namespace: string;
  /** The container port. */
  port: number;
  http: boolean;
  host: string;
}

/** One declared call: no methods and no path = the whole Service. */
export interface DeclaredCall {
  methods?: string[];
  path?: string;
}

export const RESERVED_PREFIX = '/.meshproof/matrix/';

/** Methods the matrix may SEND (no side effects); the grant is also asked about the others, never sent. */
const SAFE = ['GET', 'HEAD', 'OPTIONS'];
const UNSAFE = ['POST', 'PUT', 'PATCH', 'DELETE'];

interface Tried {
  method?: string;
  path?: string;
  verdict: ReturnType<typeof judge>;
}

const NO_ALLOW_POLICY: GrantRule = { namespace: '', name: '(no ALLOW policy selects the workload: every request is allowed)', rule: -1 };

const ruleKey = (r: GrantRule) => `${r.namespace}/${r.name}#${r.rule}`;

/** Paths a granting rule names with a wildcard: `/api/*` → `/api/.meshproof/matrix/<nonce>` (never an app's own path). */
function wildcardPaths(policies: AuthzPolicy[], nonce: string): string[] {
  const out = new Set<string>();
  for (const p of policies) {
    if (p.action !== 'ALLOW') continue;
    for (const rule of p.rules) {
      for (const to of rule.to ?? []) {
        for (const path of to.operation.paths ?? []) {
          if (path.endsWith('*') && !path.startsWith('*')) out.add(`${path.slice(0, -1)}.meshproof-matrix-${nonce}`);
        }
      }
    }
  }
  return [...out];
}

function request(q: GrantQuery, method?: string, path?: string): AuthzRequest {
  return { principal: q.principal, namespace: q.namespace, port: q.port, http: q.http, ...(q.http ? { method, path, host: q.host, headers: {} } : {}) };
}

function tryAll(q: GrantQuery, nonce: string, extraPaths: string[] = []): Tried[] {
  if (!q.http) return [{ verdict: judge(q.policies, request(q)) }];
  const paths = [`${RESERVED_PREFIX}${nonce}`, ...wildcardPaths(q.policies, nonce), ...extraPaths];
  return [...SAFE, ...UNSAFE].flatMap((method) => paths.map((path) => ({ method, path, verdict: judge(q.policies, request(q, method, path)) })));
}

const customIn = (q: GrantQuery) => q.policies.find((p) => p.action === 'CUSTOM' && !p.dryRun);

export function cellGrant(q: GrantQuery, nonce: string, declaredPaths: string[] = []): CellGrant {
  const custom = customIn(q);
  if (custom) return { kind: 'not-judged', scope: [], rules: [], reason: `CUSTOM policy ${custom.namespace}/${custom.name}: its provider decides (not modelled)` };
  const tried = tryAll(q, nonce, declaredPaths);
  const unjudged = tried.find((t) => 'unjudged' in t.verdict);
  if (unjudged && 'unjudged' in unjudged.verdict) return { kind: 'not-judged', scope: [], rules: [], reason: unjudged.verdict.unjudged };
  const allowed = tried.filter((t) => 'allowed' in t.verdict && t.verdict.allowed);
  if (allowed.length === 0) return { kind: 'none', scope: [], rules: [] };
  const rules = new Map<string, GrantRule>();
  const scope = new Map<string, string[]>();
  for (const t of allowed) {
    const by = 'allowed' in t.verdict ? (t.verdict.grantedBy ?? []) : [];
    const what = q.http ? `${t.method} ${t.path}` : `port ${q.port}`;
    if (by.length === 0) {
      scope.set('(no ALLOW policy)', [...(scope.get('(no ALLOW policy)') ?? []), what]);
      continue;
    }
    for (const r of by) {
      rules.set(ruleKey(r), r);
      scope.set(ruleKey(r), [...(scope.get(ruleKey(r)) ?? []), what]);
    }
  }
  const kind = allowed.length === tried.length ? 'all' : 'partial';
  const words = [...scope.entries()].map(([k, v]) => (kind === 'all' ? `${k}: any request` : `${k}: ${[...new Set(v.map((x) => x.split(' ')[0]))].join(', ')} (${v.length} requests tried)`));
  return { kind, scope: words, rules: [...rules.values()] };
}

/** The attack: a request the policies do NOT grant this identity (a safe method on a reserved path), or why none exists. */
export function requestOutsideGrant(q: GrantQuery, nonce: string): MatrixRequest | { none: string } {
  if (customIn(q)) return { none: 'a CUSTOM policy selects the workload: its provider decides' };
  if (!q.http) {
    const v = judge(q.policies, request(q));
    if ('unjudged' in v) return { none: `not judged: ${v.unjudged}` };
    return v.allowed ? { none: `every request on port ${q.port} is granted` } : { kind: 'tcp', nonce };
  }
  const path = `${RESERVED_PREFIX}${nonce}`;
  for (const method of SAFE) {
    const v = judge(q.policies, request(q, method, path));
    if ('unjudged' in v) return { none: `not judged: ${v.unjudged}` };
    if (!v.allowed) return { kind: 'http', method, path, nonce };
  }
  return { none: 'every safe request (GET, HEAD, OPTIONS) on a reserved path is granted' };
}

/** The grant probe: a safe request the policies DO grant, on a path no app serves, or why none exists. */
export function requestInsideGrant(q: GrantQuery, nonce: string): MatrixRequest | { none: string } {
  if (customIn(q)) return { none: 'a CUSTOM policy selects the workload: its provider decides' };
  if (!q.http) {
    const v = judge(q.policies, request(q));
    if ('unjudged' in v) return { none: `not judged: ${v.unjudged}` };
    return v.allowed ? { kind: 'tcp', nonce } : { none: 'nothing is granted on this port' };
  }
  for (const path of [`${RESERVED_PREFIX}${nonce}`, ...wildcardPaths(q.policies, nonce)]) {
    for (const method of SAFE) {
      const v = judge(q.policies, request(q, method, path));
      if ('allowed' in v && v.allowed) return { kind: 'http', method, path, nonce };
    }
  }
  return { none: 'no safe request on a path no app serves is granted' };
}

const covers = (c: DeclaredCall, method: string | undefined, path: string | undefined) =>
  (c.methods === undefined || c.methods.length === 0 || (method !== undefined && c.methods.map((m) => m.toUpperCase()).includes(method))) &&
  (c.path === undefined || (path !== undefined && pathMatch(c.path, path)));

/** Requests granted that no declared call covers, one per granting rule (a least-privilege finding each). */
export function beyondIntent(q: GrantQuery, nonce: string, declared: DeclaredCall[] | undefined): CellIntent['beyond'] {
  if (declared === undefined) return [];
  const out = new Map<string, CellIntent['beyond'][number]>();
  for (const t of tryAll(q, nonce, declared.flatMap((c) => (c.path && !c.path.includes('*') && !c.path.includes('{') ? [c.path] : [])))) {
    if (!('allowed' in t.verdict) || !t.verdict.allowed) continue;
    // A TCP chain carries no method or path: only a whole-Service declaration covers it.
    const covered = q.http ? declared.some((c) => covers(c, t.method, t.path)) : declared.some((c) => !c.methods?.length && c.path === undefined);
    if (covered) continue;
    // No ALLOW policy selects the workload: Istio allows every request, and no rule stands for it.
    for (const r of t.verdict.grantedBy ?? [NO_ALLOW_POLICY]) {
      if (!out.has(ruleKey(r))) out.set(ruleKey(r), { rule: r, witness: q.http ? `${t.method} ${t.path}` : `TCP port ${q.port}` });
    }
  }
  return [...out.values()];
}
