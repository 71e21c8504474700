// pilot/pkg/security/authz/builder/builder_test.go TestGenerator_GenerateHTTP / TestGenerator_GenerateTCP, replayed
// against harness/istio/authz.ts: for each test case, the input AuthorizationPolicies go through the model's front
// end (harness/istio/authz-policy.ts) and the golden Envoy filters through oracle/envoy-rbac.ts, and every request
// generated from the policies must get the same decision from both (allowed or denied, and whether the CUSTOM
// provider is asked). Data: test/data/istio/authz-builder/ (SOURCE.json names each case and its options).
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { type AuthzPolicy, type AuthzRequest, customJudge, judge } from '../harness/istio/authz.js';
import { appliesTo, authorizationPolicyFromIstio, type ExtensionProvider, forWorkload } from '../harness/istio/authz-policy.js';
import { EnvoyRefusal, type EnvoyRequest, runChain } from './envoy-rbac.js';
import type { OracleCase, OracleFile } from './types.js';

interface BuilderCase {
  test: string;
  name: string;
  dir: 'http' | 'tcp';
  input: string;
  want: string[];
  meshConfig?: string;
  tdBundle?: { trustDomain: string; aliases: string[] };
}

interface Source {
  source: { path: string; commit: string };
  meshConfigs: Record<string, ExtensionProvider[]>;
  cases: BuilderCase[];
}

const DATA = new URL('../test/data/istio/authz-builder/', import.meta.url);
const read = (rel: string) => readFileSync(new URL(rel, DATA), 'utf8');

/** The proxy of builder_test.go node(): namespace foo, labels app=httpbin, version=v1. */
const WORKLOAD = { namespace: 'foo', labels: { app: 'httpbin', version: 'v1' } };

/** Concrete values for an Istio string pattern and its neighbours: `x`, `x*`, `*x`, `*`. */
function instances(pattern: string, fill: string): string[] {
  if (pattern === '*') return [fill];
  if (pattern.endsWith('*')) {
    const p = pattern.slice(0, -1);
    return [p + fill, p, p.slice(0, -1)];
  }
  if (pattern.startsWith('*')) {
    const s = pattern.slice(1);
    return [fill + s, s, s.slice(1)];
  }
  return [pattern, `${pattern}x`, `x${pattern}`];
}

const uniq = <T>(xs: T[]) => [...new Set(xs)];

/** Every string value of `key` anywhere in the policies (sources, operations). */
function valuesOf(objs: unknown[], keys: string[]): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (keys.includes(k) && Array.isArray(x)) out.push(...x.filter((s): s is string => typeof s === 'string'));
        else walk(x);
      }
    }
  };
  objs.forEach(walk);
  return uniq(out);
}

/** The identities to try: the policies' principals and namespaces, their neighbours, another namespace, plaintext. */
function identities(objs: unknown[]): (string | undefined)[] {
  // Every principals/notPrincipals value is a peer identity to try, with or without a `/`: a URI SAN may be any string
  // (single-policy-in.yaml's `principals: ["principal", …]`), so a source naming one must be met (R4-M4). A `when`
  // condition's values are identities only when they look like one.
  const principals = uniq([...valuesOf(objs, ['principals', 'notPrincipals']), ...valuesOf(objs, ['values', 'notValues']).filter((p) => p.includes('/') || p === '*')])
    .flatMap((p) => instances(p, 'cluster.local/ns/foo/sa/any'))
    .flatMap((p) => [p, p.replace(/^[^/]*\//, 'td1/'), p.replace(/^[^/]*\//, 'old-td/'), p.replace(/^[^/]*\//, 'some-td/')]);
  const namespaces = valuesOf(objs, ['namespaces', 'notNamespaces']).flatMap((n) => instances(n, 'any-ns').map((ns) => `cluster.local/ns/${ns}/sa/default`));
  const tds = valuesOf(objs, ['trustDomains', 'notTrustDomains']).flatMap((t) => instances(t, 'td').map((td) => `${td}/ns/foo/sa/default`));
  const sas = valuesOf(objs, ['serviceAccounts', 'notServiceAccounts']).map((s) => (s.includes('/') ? s.replace('/', '/sa/') : `foo/sa/${s}`)).map((s) => `cluster.local/ns/${s}`);
  return [undefined, 'cluster.local/ns/foo/sa/sleep', 'cluster.local/ns/other/sa/sleep', ...uniq([...principals, ...namespaces, ...tds, ...sas])];
}

/** Paths to try for the policies' `paths`: each pattern instantiated (templates filled), neighbours, `/`. */
function paths(objs: unknown[]): string[] {
  const ps = valuesOf(objs, ['paths', 'notPaths']).flatMap((p) => {
    if (p.includes('{')) {
      const filled = p.replaceAll('{**}', 'a/b').replaceAll('{*}', 'seg');
      return [filled, p.replaceAll('{**}', 'x').replaceAll('{*}', 'a/b'), `${filled}/more`];
    }
    return instances(p, '/any');
  });
  return uniq(['/', '/other', ...ps]);
}

const methods = (objs: unknown[]) => uniq(['GET', 'PATCH', ...valuesOf(objs, ['methods', 'notMethods']).flatMap((m) => instances(m, 'ANY'))]);
const hosts = (objs: unknown[]) =>
  uniq(['httpbin.foo.svc.cluster.local', ...valuesOf(objs, ['hosts', 'notHosts']).flatMap((h) => instances(h, 'any.example')), ...valuesOf(objs, ['hosts']).map((h) => h.toUpperCase().replaceAll('*', 'X'))]);
const ports = (objs: unknown[]) => uniq([8000, 1, ...valuesOf(objs, ['ports', 'notPorts']).flatMap((p) => [Number(p), Number(p) + 1])]);

type Op = { method: string; path: string; host: string; port: number; sourceIp: string };

/** Source IPs: the default peer address, and each ipBlocks/source.ip value's base address and its neighbour. */
const sourceIps = (objs: unknown[]) =>
  uniq([
    '10.0.0.7',
    ...valuesOf(objs, ['ipBlocks', 'notIpBlocks']).flatMap((b) => {
      const a = b.split('/')[0]!;
      const last = Number(a.split('.')[3]);
      return [a, a.replace(/\.\d+$/, `.${(last + 1) % 256}`)];
    }),
  ]);

/** Each operation of each rule as one request that should satisfy it (its first value of every field, instantiated). */
function ruleOps(objs: unknown[], base: Op): Op[] {
  const ops = valuesOfKey(objs, 'operation').map((o) => {
    const first = (k: string, fill: string) => (Array.isArray(o[k]) && typeof o[k][0] === 'string' ? instances(o[k][0] as string, fill)[0] : undefined);
    const path = Array.isArray(o.paths) && typeof o.paths[0] === 'string' ? (o.paths[0] as string).replaceAll('{**}', 'a/b').replaceAll('{*}', 'seg') : undefined;
    const port = Array.isArray(o.ports) ? Number(o.ports[0]) : undefined;
    return { ...base, method: first('methods', 'ANY') ?? base.method, path: path?.replace(/\*/, 'any') ?? base.path, host: first('hosts', 'any.example') ?? base.host, port: port ?? base.port };
  });
  return ops;
}

/** Every object under `key` anywhere in the policies. */
function valuesOfKey(objs: unknown[], key: string): Record<string, unknown[]>[] {
  const out: Record<string, unknown[]>[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === key && typeof x === 'object' && x !== null) out.push(x as Record<string, unknown[]>);
        walk(x);
      }
    }
  };
  objs.forEach(walk);
  return out;
}

/**
 * The requests for one test case: every identity with (a) a neutral operation, (b) an operation matching none of the
 * policies' values, each varied in one field (method, path, host, port) through the policies' values and their
 * neighbours, and (c) each rule operation's own values.
 */
export function requests(objs: unknown[], http: boolean): AuthzRequest[] {
  const ids = identities(objs);
  const neutral: Op = { method: 'GET', path: '/', host: 'httpbin.foo.svc.cluster.local', port: 8000, sourceIp: '10.0.0.7' };
  const miss: Op = { method: 'BOGUS', path: '/nowhere', host: 'nowhere.example', port: 1, sourceIp: '10.0.0.7' };
  const ops: Op[] = [];
  for (const base of [neutral, miss]) {
    ops.push(base);
    if (http) {
      ops.push(...methods(objs).map((method) => ({ ...base, method })));
      ops.push(...paths(objs).map((path) => ({ ...base, path })));
      ops.push(...hosts(objs).map((host) => ({ ...base, host })));
    }
    ops.push(...ports(objs).map((port) => ({ ...base, port })));
    ops.push(...sourceIps(objs).map((sourceIp) => ({ ...base, sourceIp })));
  }
  ops.push(...ruleOps(objs, neutral));
  const seen = new Set<string>();
  const out: AuthzRequest[] = [];
  for (const principal of ids) {
    for (const op of ops) {
      const namespace = principal === undefined ? undefined : /\/ns\/([^/]+)\//.exec(principal)?.[1];
      const r: AuthzRequest = http ? { principal, namespace, ...op, headers: {}, http } : { principal, namespace, port: op.port, sourceIp: op.sourceIp, http };
      const key = JSON.stringify(r);
      if (!seen.has(key)) {
        seen.add(key);
        out.push(r);
      }
    }
  }
  return out;
}

/** The request as Envoy sees it on the inbound listener: URI SAN spiffe://<principal>, no JWT, fixed addresses. */
export function envoyRequest(r: AuthzRequest): EnvoyRequest {
  return {
    ...(r.principal === undefined ? {} : { peerUriSans: [`spiffe://${r.principal}`], filterState: { 'io.istio.peer_principal': `spiffe://${r.principal}` } }),
    // A header the request does not name stays absent (Envoy: an absent header matches no header matcher), so the
    // evaluator never shares the model's defaults (R4-H1).
    headers: r.http ? { ...(r.method === undefined ? {} : { ':method': r.method }), ...(r.path === undefined ? {} : { ':path': r.path }), ...(r.host === undefined ? {} : { ':authority': r.host }) } : {},
    localPort: r.port,
    localIp: '10.0.0.9',
    directRemoteIp: r.sourceIp ?? '10.0.0.7',
    remoteIp: r.sourceIp ?? '10.0.0.7',
    metadata: {},
  };
}

export const describe = (r: AuthzRequest) =>
  `${r.principal ?? 'plaintext'} from ${r.sourceIp} ${r.http ? `${r.method} ${r.host}${r.path} :${r.port}` : `tcp :${r.port}`}`;

function oneCase(c: BuilderCase, policies: AuthzPolicy[] | string, filters: unknown[], r: AuthzRequest): OracleCase {
  const name = `${c.name}: ${describe(r)}`;
  let envoy: ReturnType<typeof runChain>;
  try {
    envoy = runChain(filters, envoyRequest(r));
  } catch (e) {
    if (e instanceof EnvoyRefusal) return { name, outcome: { kind: 'refused', reason: `envoy-rbac evaluator: ${e.message}` } };
    throw e;
  }
  const golden = envoy.allowed ? ('allowed' as const) : ('denied' as const);
  const withGolden = (x: OracleCase): OracleCase => ({ ...x, golden });
  if (typeof policies === 'string') return withGolden({ name, outcome: { kind: 'refused', reason: policies } });
  return withGolden(decide(name, policies, envoy, r));
}

function decide(name: string, policies: AuthzPolicy[], envoy: ReturnType<typeof runChain>, r: AuthzRequest): OracleCase {
  const decision = judge(policies, r);
  if ('unjudged' in decision) return { name, outcome: { kind: 'refused', reason: decision.unjudged } };
  const custom = customJudge(policies, r);
  if (custom && 'unjudged' in custom) return { name, outcome: { kind: 'refused', reason: custom.unjudged } };
  // The denying policy id is compared too: it is what Envoy writes into rbac_access_denied_matched_policy[…].
  const deniedBy = (allowed: boolean, p: string | undefined) => (allowed ? undefined : p);
  const model = { allowed: decision.allowed, extAuthzCalled: custom !== undefined, policy: deniedBy(decision.allowed, decision.policy) };
  const istio = { allowed: envoy.allowed, extAuthzCalled: envoy.extAuthzCalled, policy: deniedBy(envoy.allowed, envoy.policy) };
  const same = model.allowed === istio.allowed && model.extAuthzCalled === istio.extAuthzCalled && model.policy === istio.policy;
  return { name, outcome: same ? { kind: 'agree' } : { kind: 'disagree', detail: `model ${JSON.stringify({ ...model, policy: decision.policy })}, golden Envoy ${JSON.stringify(istio)}` } };
}

/** The model's policies for the test's proxy, or the model's refusal of one of them. */
function modelPolicies(docs: unknown[], c: BuilderCase, src: Source): AuthzPolicy[] | string {
  const opts = { ...(c.meshConfig ? { providers: src.meshConfigs[c.meshConfig] } : {}), trustDomainBundle: c.tdBundle ?? null };
  const out: AuthzPolicy[] = [];
  for (const d of docs) {
    const conv = authorizationPolicyFromIstio(d, opts);
    if ('refused' in conv) return `model refuses ${(d as { metadata?: { name?: string } }).metadata?.name}: ${conv.refused}`;
    if (appliesTo(conv, WORKLOAD.namespace, WORKLOAD.labels)) out.push(conv.policy);
  }
  // builder_test.go sets IsCustomBuilder exactly when a meshConfig is given: that build holds the CUSTOM filters only.
  const built = out.filter((p) => (c.meshConfig ? p.action === 'CUSTOM' : p.action !== 'CUSTOM'));
  return forWorkload(built, opts);
}

/** A golden RBAC filter whose enforced `rules` allow (Envoy: an absent action is ALLOW) and hold a policy. */
function enforcesAllow(filter: unknown): boolean {
  const rules = (filter as { typedConfig?: { rules?: { action?: string; policies?: Record<string, unknown> } } }).typedConfig?.rules;
  return rules !== undefined && (rules.action === undefined || rules.action === 'ALLOW') && Object.keys(rules.policies ?? {}).length > 0;
}

export function authzBuilder(): OracleFile[] {
  const src = JSON.parse(read('SOURCE.json')) as Source;
  return src.cases.map((c) => {
    const docs = parseAllDocuments(read(`${c.dir}/${c.input}`))
      .map((d) => d.toJSON() as unknown)
      .filter((d) => d !== null);
    const filters = c.want.map((w) => parseAllDocuments(read(`${c.dir}/${w}`))[0]!.toJSON() as unknown);
    const policies = modelPolicies(docs, c, src);
    return {
      source: `pilot/pkg/security/authz/builder/testdata/${c.dir}/${c.input}`,
      test: `${c.test}/${c.name}`,
      commit: src.source.commit,
      cases: requests(docs, c.dir === 'http').map((r) => oneCase(c, policies, filters, r)),
      enforcesAllow: filters.some(enforcesAllow),
    };
  });
}
