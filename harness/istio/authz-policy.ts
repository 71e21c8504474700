// The front end of the authorization model: an Istio AuthorizationPolicy object (security.istio.io/v1 or v1beta1,
// as kubectl or the Kubernetes API gives it) to the model's AuthzPolicy (harness/istio/authz.ts), or a refusal that
// names what the model does not take. Pure: no I/O, no cluster/ import.
//
// Sources (istio/istio 86c9f01fd735):
// - API: security/v1beta1/authorization_policy.proto (istio/api): Source, Operation, Condition fields.
// - pilot/pkg/security/authz/model/model.go `New`: which Source/Operation/Condition field becomes which generator.
// - pilot/pkg/security/authz/model/generator.go: which generators are HTTP only (requestPrincipals, request.auth.*,
//   request.headers, hosts, paths, methods).
// - pilot/pkg/security/authz/builder/builder.go isDryRun, buildHTTP/buildTCP (bad and multiple CUSTOM providers);
//   builder/extauthz.go processExtensionProvider, getExtAuthz, parsePort, parseStatusOnError (provider validity).
import type { AuthzOperation, AuthzPolicy, AuthzRule, AuthzSource, Unjudged } from './authz.js';
import { listAuthorizationPolicies } from './selection.js';

/** A mesh config `extensionProviders` entry, reduced to what decides how istiod uses it. */
export interface ExtensionProvider {
  name: string;
  /** The provider's oneof field: envoyExtAuthzHttp, envoyExtAuthzGrpc, or another (not an authorization provider). */
  kind: string;
  port?: number;
  pathPrefix?: string;
  statusOnError?: string;
}

/** trustdomain.NewBundle(meshConfig.trustDomain, meshConfig.trustDomainAliases): the mesh's trust domain first. */
export interface TrustDomainBundle {
  trustDomain: string;
  aliases: string[];
}

/** The bundle of a mesh on Istio's default trust domain with no aliases (only for callers that truly are on it). */
export const CLUSTER_LOCAL_BUNDLE: TrustDomainBundle = { trustDomain: 'cluster.local', aliases: [] };

/** The trust domain of a SPIFFE ID (`spiffe://<td>/ns/…`, or without the scheme, as principals are written). */
export function trustDomainOf(spiffeId: string): string {
  return spiffeId.replace(/^spiffe:\/\//, '').split('/')[0]!;
}

/** meshConfig.trustDomainAliases from a parsed mesh config (ConfigMap `istio`, key `mesh`); [] when absent. */
export function trustDomainAliasesOf(mesh: unknown): string[] {
  const v = isObj(mesh) ? mesh.trustDomainAliases : undefined;
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export interface AuthzPolicyOptions {
  /** The mesh config's extension providers; undefined: CUSTOM providers are not resolved (the caller checks them). */
  providers?: ExtensionProvider[];
  /**
   * The mesh's trust domain and its aliases. istiod ALWAYS runs `MigrateTrustDomain` with this bundle on every
   * policy (I: pilot/pkg/security/authz/builder/builder.go `New`, `m.MigrateTrustDomain(b.trustDomainBundle)`, the
   * bundle being `trustdomain.NewBundle(meshConfig.trustDomain, meshConfig.trustDomainAliases)`), and
   * `Bundle.ReplaceTrustDomainAliases` rewrites a `cluster.local/…` principal into the mesh's trust domain(s) even
   * with no aliases (audit R4 H-2). Required, so every caller states the mesh it judges for. `null` only for
   * istiod's generators tested alone (oracle/authz-generator.ts: generator_test.go runs no migration).
   */
  trustDomainBundle: TrustDomainBundle | null;
  /** PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS (default false: a second provider on a workload is bad). */
  multipleCustomProviders?: boolean;
}

/** A converted policy with its workload selector (`spec.selector.matchLabels`; undefined = the whole namespace). */
export interface SelectedAuthzPolicy {
  policy: AuthzPolicy;
  selector?: Record<string, string>;
}

export type AuthzPolicyConversion = SelectedAuthzPolicy | { refused: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Refusal extends Error {}
const refuse = (why: string): never => {
  throw new Refusal(why);
};

/** Why the front end refuses `spec.targetRef(s)` and any other spec field it does not know. */
export const NOT_MODELLED_SPEC = 'not modelled (the model judges sidecar policies selected by labels)';

/** Source fields the model judges, and those it keeps as unjudged (TCP-capable unless listed as HTTP only). */
const SOURCE_JUDGED = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts', 'trustDomains', 'notTrustDomains', 'ipBlocks', 'notIpBlocks'] as const;
export const SOURCE_UNJUDGED: Record<string, boolean> = {
  requestPrincipals: true,
  notRequestPrincipals: true,
  remoteIpBlocks: false,
  notRemoteIpBlocks: false,
};
const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

function strings(v: unknown, at: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return refuse(`${at} is not a list of strings`);
  return v as string[];
}

/** A bare service account name is in the policy's namespace (generator.go serviceAccountRegex, defaultNamespace). */
const qualify = (sas: string[] | undefined, ns: string) => sas?.map((sa) => (sa.includes('/') ? sa : `${ns}/${sa}`));

function source(v: unknown, at: string, ns: string): AuthzSource {
  if (!isObj(v)) return refuse(`${at} is not an object`);
  const out: AuthzSource = {};
  const unjudged: Unjudged[] = [];
  for (const [k, val] of Object.entries(v)) {
    if ((SOURCE_JUDGED as readonly string[]).includes(k)) out[k as (typeof SOURCE_JUDGED)[number]] = strings(val, `${at}.${k}`);
    else if (k in SOURCE_UNJUDGED) {
      strings(val, `${at}.${k}`);
      const jwt = k === 'requestPrincipals' ? { withoutJwt: false } : k === 'notRequestPrincipals' ? { withoutJwt: true } : {};
      unjudged.push({ field: `${at}.${k}`, httpOnly: SOURCE_UNJUDGED[k]!, ...jwt });
    }
    else refuse(`${at}.${k}: unknown field`);
  }
  if (unjudged.length > 0) out.unjudged = unjudged;
  if (out.serviceAccounts) out.serviceAccounts = qualify(out.serviceAccounts, ns);
  if (out.notServiceAccounts) out.notServiceAccounts = qualify(out.notServiceAccounts, ns);
  return out;
}

function operation(v: unknown, at: string): AuthzOperation {
  if (!isObj(v)) return refuse(`${at} is not an object`);
  const out: AuthzOperation = {};
  for (const [k, val] of Object.entries(v)) {
    if (!(OPERATION_FIELDS as readonly string[]).includes(k)) refuse(`${at}.${k}: unknown field`);
    out[k as (typeof OPERATION_FIELDS)[number]] = strings(val, `${at}.${k}`);
  }
  return out;
}

/** `when` keys on the peer, judged with the `from` fields' matchers (model.go `New`, the attrSrc* cases). */
const WHEN_SOURCE: Record<string, [keyof AuthzSource, keyof AuthzSource]> = {
  'source.principal': ['principals', 'notPrincipals'],
  'source.namespace': ['namespaces', 'notNamespaces'],
  'source.serviceAccount': ['serviceAccounts', 'notServiceAccounts'],
  'source.trustDomain': ['trustDomains', 'notTrustDomains'],
  'source.ip': ['ipBlocks', 'notIpBlocks'],
};

/** Other `when` keys istiod knows (model.go `New`; any other is "unknown attribute"); HTTP only: generator.go. */
export const WHEN_UNJUDGED = ['destination.ip', 'connection.sni', 'remote.ip', 'request.auth.principal', 'request.auth.audiences', 'request.auth.presenter'];
export const WHEN_UNJUDGED_PREFIX = ['experimental.envoy.filters.', 'request.headers[', 'request.auth.claims['];
const httpOnlyKey = (key: string) => key.startsWith('request.headers[') || key.startsWith('request.auth.');

/** One `when` condition into the rule: a judged peer/port condition, or an unjudged one (named). */
function when(c: unknown, at: string, out: AuthzRule, ns: string): void {
  if (!isObj(c) || typeof c.key !== 'string') throw new Refusal(`${at} has no key`);
  const key = c.key;
  for (const k of Object.keys(c)) if (!['key', 'values', 'notValues'].includes(k)) refuse(`${at}.${k}: unknown field`);
  const values = c.values === undefined ? undefined : strings(c.values, `${at}.values`);
  const notValues = c.notValues === undefined ? undefined : strings(c.notValues, `${at}.notValues`);
  const pair = <K extends string>(v: K, n: K) => ({ ...(values ? { [v]: values } : {}), ...(notValues ? { [n]: notValues } : {}) }) as Partial<Record<K, string[]>>;
  if (key in WHEN_SOURCE) {
    const [v, n] = WHEN_SOURCE[key]!;
    const src = pair(v, n) as AuthzSource;
    if (src.serviceAccounts) src.serviceAccounts = qualify(src.serviceAccounts, ns);
    if (src.notServiceAccounts) src.notServiceAccounts = qualify(src.notServiceAccounts, ns);
    out.whenSources = [...(out.whenSources ?? []), src];
  } else if (key === 'destination.port') {
    out.whenOperations = [...(out.whenOperations ?? []), pair('ports', 'notPorts')];
  } else if (WHEN_UNJUDGED.includes(key) || WHEN_UNJUDGED_PREFIX.some((p) => key.startsWith(p))) {
    // request.auth.*: the jwt_authn metadata, absent without a JWT (values never match, notValues always do).
    const jwt = key.startsWith('request.auth.') ? { withoutJwt: values === undefined } : {};
    const header = key.startsWith('request.headers[') && key.endsWith(']') ? { header: { name: key.slice('request.headers['.length, -1), whenAbsent: values === undefined } } : {};
    out.when = [...(out.when ?? []), { field: `${at} (${key})`, httpOnly: httpOnlyKey(key), ...jwt, ...header }];
  } else refuse(`${at}: unknown attribute ${key}`);
}

function rule(v: unknown, at: string, ns: string): AuthzRule {
  if (!isObj(v)) return refuse(`${at} is not an object`);
  const out: AuthzRule = {};
  for (const [k, val] of Object.entries(v)) {
    if (k === 'from') {
      if (!Array.isArray(val)) refuse(`${at}.from is not a list`);
      out.from = (val as unknown[]).map((f, j) => ({ source: source(isObj(f) ? f.source : undefined, `${at}.from[${j}].source`, ns) }));
    } else if (k === 'to') {
      if (!Array.isArray(val)) refuse(`${at}.to is not a list`);
      out.to = (val as unknown[]).map((t, j) => ({ operation: operation(isObj(t) ? t.operation : undefined, `${at}.to[${j}].operation`) }));
    } else if (k === 'when') {
      if (!Array.isArray(val)) refuse(`${at}.when is not a list`);
      for (const [j, c] of (val as unknown[]).entries()) when(c, `${at}.when[${j}]`, out, ns);
    } else refuse(`${at}.${k}: unknown field`);
  }
  return out;
}

/** strconv.ParseBool, as builder.go isDryRun reads `istio.io/dry-run` (an unparsable value is logged and false). */
export function isDryRun(annotations: unknown): boolean {
  const v = isObj(annotations) ? annotations['istio.io/dry-run'] : undefined;
  return typeof v === 'string' && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);
}

/** pilot/pkg/security/trustdomain/util.go prefixMatch, suffixMatch, stringMatch. */
const prefixMatch = (a: string, pattern: string) => pattern.endsWith('*') && a.startsWith(pattern.slice(0, -1));
const suffixMatch = (a: string, pattern: string) => pattern.startsWith('*') && a.endsWith(pattern.slice(1));
const tdListMatch = (a: string, list: string[]) => list.some((s) => a === s || s === '*' || prefixMatch(a, s) || prefixMatch(s, a) || suffixMatch(a, s) || suffixMatch(s, a));

/**
 * trustdomain.Bundle.ReplaceTrustDomainAliases: a principal `<td>/ns/<ns>/sa/<sa>` (5 parts, td not `*`) whose td
 * is in the bundle (wildcards either way) or is `cluster.local` becomes one principal per bundle trust domain (kept as
 * is where the bundle's td suffix-matches it), duplicates dropped; any other principal is kept.
 */
export function replaceTrustDomainAliases(principals: string[], bundle: string[]): string[] {
  return principals.flatMap((p) => {
    const parts = p.split('/');
    if (parts.length !== 5 || parts[0] === '*') return [p];
    const td = parts[0]!;
    if (!tdListMatch(td, bundle) && td !== 'cluster.local') return [p];
    return [...new Set(bundle.map((b) => (suffixMatch(b, td) ? p : [b, ...parts.slice(1)].join('/'))))];
  });
}

/** trustdomain.Bundle.ExpandTrustDomainAliases: a trust domain of the bundle stands for all of them. */
export function expandTrustDomainAliases(values: string[], bundle: string[]): string[] {
  return [...new Set(values.flatMap((v) => (bundle.includes(v) ? bundle : [v])))];
}

/**
 * model.go Model.MigrateTrustDomain, which istiod runs on every policy (builder.go `New` → model.New then
 * MigrateTrustDomain): principals (from `from` and `when: source.principal`) and trust domains are rewritten.
 */
function migrateTrustDomain(policy: AuthzPolicy, bundle: string[]): void {
  const fix = (s: AuthzSource) => {
    if (s.principals) s.principals = replaceTrustDomainAliases(s.principals, bundle);
    if (s.notPrincipals) s.notPrincipals = replaceTrustDomainAliases(s.notPrincipals, bundle);
    if (s.trustDomains) s.trustDomains = expandTrustDomainAliases(s.trustDomains, bundle);
    if (s.notTrustDomains) s.notTrustDomains = expandTrustDomainAliases(s.notTrustDomains, bundle);
  };
  for (const r of policy.rules) {
    for (const { source } of r.from ?? []) fix(source);
    for (const s of r.whenSources ?? []) fix(s);
  }
}

/** Envoy's StatusCode enum (envoy/type/v3/http_status.proto), which builder/extauthz.go parseStatusOnError accepts. */
const ENVOY_STATUS = new Set([
  100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413,
  414, 415, 416, 417, 421, 422, 423, 424, 426, 428, 429, 431, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

/** Why istiod cannot use this provider for ext_authz, else undefined (builder/extauthz.go buildExtAuthzHTTP/GRPC). */
export function providerProblem(p: ExtensionProvider): string | undefined {
  if (p.kind !== 'envoyExtAuthzHttp' && p.kind !== 'envoyExtAuthzGrpc') return `provider ${p.name} is not an ext_authz provider`;
  if (p.port !== undefined && (p.port < 1 || p.port > 65535)) return `port must be in the range [1, 65535], found: ${p.port}`;
  if (p.kind === 'envoyExtAuthzHttp' && p.pathPrefix && !p.pathPrefix.startsWith('/')) return `pathPrefix must begin with \`/\`, found: "${p.pathPrefix}"`;
  if (p.statusOnError && !ENVOY_STATUS.has(Number(p.statusOnError))) return `unsupported statusOnError ${p.statusOnError}`;
  return undefined;
}

/**
 * builder/extauthz.go validateProviderName: a DNS-1123-label-like name (lowercase letters, digits, `-`; at most 63;
 * no leading or trailing `-`), else the reason, in istiod's words.
 */
export function providerNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'provider name cannot be empty';
  if (name.length > 63) return `provider name too long (max 63 characters): ${name.length}`;
  for (const [i, c] of [...name].entries()) {
    if (/[a-z0-9-]/.test(c)) continue;
    if (/[A-Z]/.test(c)) return `uppercase letters not allowed (use lowercase): character '${c}' at position ${i}`;
    return `invalid character '${c}' at position ${i} (only lowercase letters, digits, and hyphens allowed)`;
  }
  if (name.startsWith('-') || name.endsWith('-')) return 'provider name cannot start or end with hyphen';
  return undefined;
}

/**
 * builder/extauthz.go processExtensionProvider: the ext_authz providers by name, each with why istiod cannot use it.
 * Other kinds are skipped (`default: continue`); a later entry with a name already resolved carries the duplicate
 * error and replaces the first. Not judged: model.LookupCluster (the provider's service must be in istiod's
 * registry) and agent.ValidateExtensionProvider*'s service-name format — a provider whose service is absent is
 * bad in Istio and judged good here.
 */
export function resolveProviders(providers: ExtensionProvider[]): Map<string, { provider: ExtensionProvider; problem?: string }> {
  const resolved = new Map<string, { provider: ExtensionProvider; problem?: string }>();
  for (const [i, p] of providers.entries()) {
    if (p.kind !== 'envoyExtAuthzHttp' && p.kind !== 'envoyExtAuthzGrpc') continue;
    const problems: string[] = [];
    if (p.name === '') problems.push(`extension provider name must not be empty, found empty at index: ${i}`);
    else if (resolved.has(p.name)) problems.push(`extension provider name must be unique, found duplicate: ${p.name}`);
    const bad = p.name === '' ? undefined : providerNameProblem(p.name);
    if (bad) problems.push(`invalid provider name "${p.name}": ${bad}`);
    const parse = providerProblem(p);
    if (parse) problems.push(`failed to parse extension provider "${p.name}": ${parse}`);
    resolved.set(p.name, problems.length > 0 ? { provider: p, problem: problems.join('; ') } : { provider: p });
  }
  return resolved;
}

/** The mesh config's `extensionProviders` (ConfigMap `istio`, key `mesh`, parsed), reduced to ExtensionProvider. */
export function extensionProvidersOf(mesh: unknown): ExtensionProvider[] {
  const list = isObj(mesh) && Array.isArray(mesh.extensionProviders) ? mesh.extensionProviders : [];
  return list.filter(isObj).map((e) => {
    const kind = Object.keys(e).find((k) => k !== 'name') ?? '';
    const body = isObj(e[kind]) ? (e[kind] as Obj) : {};
    // uint32 in the proto; YAML quotes it ("8000"), which protobuf JSON parsing accepts.
    const port = body.port === undefined ? undefined : Number(body.port);
    return {
      name: typeof e.name === 'string' ? e.name : '',
      kind,
      ...(port !== undefined ? { port } : {}),
      ...(typeof body.pathPrefix === 'string' ? { pathPrefix: body.pathPrefix } : {}),
      ...(body.statusOnError !== undefined ? { statusOnError: String(body.statusOnError) } : {}),
    };
  });
}

function convert(o: unknown, opts: AuthzPolicyOptions): SelectedAuthzPolicy {
  if (!isObj(o)) return refuse('not an object');
  if (o.apiVersion !== 'security.istio.io/v1' && o.apiVersion !== 'security.istio.io/v1beta1') refuse(`apiVersion ${String(o.apiVersion)}`);
  if (o.kind !== 'AuthorizationPolicy') refuse(`kind ${String(o.kind)}`);
  const m = isObj(o.metadata) ? o.metadata : refuse('no metadata');
  if (typeof m.name !== 'string' || typeof m.namespace !== 'string') refuse('metadata.name and metadata.namespace are required');
  const spec = o.spec === undefined ? {} : isObj(o.spec) ? o.spec : refuse('spec is not an object');
  let selector: Record<string, string> | undefined;
  const policy: AuthzPolicy = { namespace: m.namespace as string, name: m.name as string, action: 'ALLOW', rules: [] };
  for (const [k, v] of Object.entries(spec)) {
    if (k === 'selector') selector = isObj(v) && isObj(v.matchLabels) ? (v.matchLabels as Record<string, string>) : refuse('spec.selector without matchLabels');
    else if (k === 'action') policy.action = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'].includes(v as string) ? (v as AuthzPolicy['action']) : refuse(`spec.action ${String(v)}`);
    else if (k === 'provider') policy.provider = isObj(v) && typeof v.name === 'string' ? v.name : refuse('spec.provider without name');
    else if (k === 'rules') policy.rules = Array.isArray(v) ? v.map((r, i) => rule(r, `rules[${i}]`, policy.namespace)) : refuse('spec.rules is not a list');
    else refuse(`spec.${k}: ${NOT_MODELLED_SPEC}`);
  }
  if (isDryRun(m.annotations)) policy.dryRun = true;
  if (opts.trustDomainBundle !== null) migrateTrustDomain(policy, [opts.trustDomainBundle.trustDomain, ...opts.trustDomainBundle.aliases]);
  if (policy.action === 'CUSTOM' && opts.providers) {
    const resolved = resolveProviders(opts.providers);
    const r = resolved.get(policy.provider ?? '');
    if (!r) policy.badProvider = `available providers are [${[...resolved.keys()].join(' ')}] but found "${policy.provider}"`;
    else {
      policy.providerKind = r.provider.kind === 'envoyExtAuthzGrpc' ? 'grpc' : 'http';
      if (r.problem) policy.badProvider = r.problem;
    }
  }
  return selector ? { policy, selector } : { policy };
}

/** One AuthorizationPolicy object to the model, or the reason the model does not take it. */
export function authorizationPolicyFromIstio(o: unknown, opts: AuthzPolicyOptions): AuthzPolicyConversion {
  try {
    return convert(o, opts);
  } catch (e) {
    if (e instanceof Refusal) return { refused: e.message };
    throw e;
  }
}

/**
 * The policies that apply to one workload, after istiod's per-workload rule: more than one CUSTOM provider without
 * PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS makes every CUSTOM policy bad (builder.go buildHTTP/buildTCP, "multiple
 * CUSTOM authorization providers per workload requires …").
 */
export function forWorkload(policies: AuthzPolicy[], opts: Partial<AuthzPolicyOptions> = {}): AuthzPolicy[] {
  const providers = new Set(policies.filter((p) => p.action === 'CUSTOM').map((p) => p.provider));
  if (providers.size <= 1 || opts.multipleCustomProviders) return policies;
  const why = `multiple CUSTOM authorization providers per workload requires PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS, found ${providers.size}`;
  return policies.map((p) => (p.action === 'CUSTOM' ? { ...p, badProvider: p.badProvider ?? why } : p));
}

/** Istio's default root namespace (meshConfig.rootNamespace): its policies apply mesh-wide. */
export const DEFAULT_ROOT_NAMESPACE = 'istio-system';

/**
 * Whether a policy applies to a workload: the selection is Istio's, harness/istio/selection.ts
 * `listAuthorizationPolicies` (the workload's namespace or the root namespace, its selector's labels a subset of the
 * workload's; the front end refuses targetRef(s) policies, which never attach to a sidecar).
 */
export function appliesTo(p: SelectedAuthzPolicy, namespace: string, labels: Record<string, string>, rootNamespace = DEFAULT_ROOT_NAMESPACE): boolean {
  const one = { namespace: p.policy.namespace, name: p.policy.name, ...(p.selector ? { selector: { matchLabels: p.selector } } : {}) };
  return listAuthorizationPolicies([one], rootNamespace, { namespace, labels }).length === 1;
}
