// A small evaluator of the Envoy RBAC and ext_authz filter configs istiod generates (as in Istio's golden
// builder testdata, proto-JSON in YAML). Oracle-only code: it judges the golden configs so the model can be held to
// them; it is not product code. What it meets and cannot evaluate is refused by name (EnvoyRefusal), never guessed.
//
// Sources (envoyproxy/envoy):
// - source/extensions/filters/common/rbac/matchers.cc: And/Or/Not, `any`, `authenticated` (false without TLS; no
//   principal_name matches any peer; else the URI SANs, then DNS SANs, then the subject), `header`
//   (Http::HeaderUtility: an absent header matches nothing but is the only thing `present_match: false` matches),
//   `url_path` (the path without query and fragment), `uri_template`, `destination_port` (the local port), IP
//   matchers (`direct_remote_ip`, `remote_ip`, `source_ip`, `destination_ip`), `metadata` (dynamic metadata),
//   `requested_server_name`, `filter_state` (an absent key matches nothing); PolicyMatcher: some permission AND some principal.
// - source/extensions/filters/common/rbac/engine_impl.cc RoleBasedAccessControlEngineImpl::handleAction: ALLOW
//   allows when a policy matches, DENY denies when one does, LOG always allows; policies are held in a map sorted
//   by name, and the first matching one is the effective policy id.
// - source/extensions/filters/http/rbac/rbac_filter.cc: the shadow engine never decides; when it matches it writes
//   `<shadow_rules_stat_prefix>shadow_effective_policy_id` into the filter's dynamic metadata.
// - source/extensions/filters/http/ext_authz/ext_authz.cc filterEnabledMetadata: the check is made only when the
//   metadata matcher matches.

export class EnvoyRefusal extends Error {}
const refuse = (why: string): never => {
  throw new EnvoyRefusal(why);
};

/** One downstream request (HTTP) or connection (TCP) as Envoy sees it. */
export interface EnvoyRequest {
  /** The peer certificate's URI SANs; undefined: no TLS. */
  peerUriSans?: string[];
  /** HTTP request headers, names lower-case (`:method`, `:path`, `:authority`); {} on a TCP chain. */
  headers: Record<string, string>;
  localPort: number;
  localIp: string;
  directRemoteIp: string;
  remoteIp: string;
  sni?: string;
  /** Filter state strings (e.g. `io.istio.peer_principal`, the peer's SPIFFE URI, which Istio sets under mTLS). */
  filterState?: Record<string, string>;
  /** Dynamic metadata by filter name (e.g. `envoy.filters.http.jwt_authn`); filled by the filters as they run. */
  metadata: Record<string, Record<string, unknown>>;
}

type J = Record<string, unknown>;
const obj = (v: unknown, at: string): J => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as J) : refuse(`${at}: not an object`));
const list = (v: unknown, at: string): unknown[] => (Array.isArray(v) ? v : refuse(`${at}: not a list`));
/** The one field of a proto oneof (the config has no other key beside it). */
function oneof(v: unknown, at: string, ignore: string[] = []): [string, unknown] {
  const keys = Object.keys(obj(v, at)).filter((k) => !ignore.includes(k));
  if (keys.length !== 1) refuse(`${at}: expected one matcher, found ${keys.join(', ') || 'none'}`);
  return [keys[0]!, (v as J)[keys[0]!]];
}

/** envoy.type.matcher.v3.StringMatcher (source/common/common/matchers.cc StringMatcherImpl); safe_regex is a full match. */
export function stringMatcher(m: unknown, value: string, at: string): boolean {
  const [kind, pattern] = oneof(m, at, ['ignoreCase']);
  const ic = (m as J).ignoreCase === true;
  const v = ic ? value.toLowerCase() : value;
  const p = typeof pattern === 'string' ? (ic ? pattern.toLowerCase() : pattern) : '';
  switch (kind) {
    case 'exact':
      return v === p;
    case 'prefix':
      return v.startsWith(p);
    case 'suffix':
      return v.endsWith(p);
    case 'contains':
      return v.includes(p);
    case 'safeRegex': {
      const re = obj(pattern, `${at}.safeRegex`).regex;
      if (typeof re !== 'string') return refuse(`${at}.safeRegex without regex`);
      return new RegExp(`^(?:${re})$`).test(value);
    }
    default:
      return refuse(`${at}: string matcher ${kind}`);
  }
}

function ipInRange(cidr: unknown, ip: string, at: string): boolean {
  const c = obj(cidr, at);
  const prefix = String(c.addressPrefix);
  const len = Number(c.prefixLen ?? 32);
  const v4 = (s: string) => {
    const parts = s.split('.').map(Number);
    if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return refuse(`${at}: ${s} is not an IPv4 address (IPv6 not evaluated)`);
    return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
  };
  if (len === 0) return true;
  const mask = (0xffffffff << (32 - len)) >>> 0;
  return ((v4(prefix) & mask) >>> 0) === ((v4(ip) & mask) >>> 0);
}

/** envoy.config.route.v3.HeaderMatcher (source/common/http/header_utility.cc matchHeaders). */
function headerMatcher(h: unknown, r: EnvoyRequest, at: string): boolean {
  const m = obj(h, at);
  if (m.invertMatch || m.treatMissingHeaderAsEmpty) refuse(`${at}: invertMatch/treatMissingHeaderAsEmpty`);
  const name = String(m.name).toLowerCase();
  const value = r.headers[name];
  const [kind, spec] = oneof(m, at, ['name']);
  if (kind === 'presentMatch') return (value !== undefined) === (spec === true);
  if (value === undefined) return false;
  if (kind === 'stringMatch') return stringMatcher(spec, value, `${at}.stringMatch`);
  return refuse(`${at}: header matcher ${kind}`);
}

/** envoy.type.matcher.v3.ValueMatcher on a metadata value (undefined: the path is absent). */
function valueMatcher(vm: unknown, value: unknown, at: string): boolean {
  const [kind, spec] = oneof(vm, at);
  switch (kind) {
    case 'stringMatch':
      return typeof value === 'string' && stringMatcher(spec, value, `${at}.stringMatch`);
    case 'presentMatch':
      return (value !== undefined) === (spec === true);
    case 'listMatch': {
      const one = obj(spec, `${at}.listMatch`).oneOf ?? refuse(`${at}.listMatch without oneOf`);
      return Array.isArray(value) && value.some((x) => valueMatcher(one, x, `${at}.listMatch.oneOf`));
    }
    case 'orMatch':
      return list(obj(spec, `${at}.orMatch`).valueMatchers, `${at}.orMatch.valueMatchers`).some((x, i) => valueMatcher(x, value, `${at}.orMatch[${i}]`));
    default:
      return refuse(`${at}: value matcher ${kind}`);
  }
}

function metadataMatcher(m: unknown, r: EnvoyRequest, at: string): boolean {
  const md = obj(m, at);
  if (md.invert) refuse(`${at}: invert`);
  let v: unknown = r.metadata[String(md.filter)];
  for (const seg of list(md.path, `${at}.path`)) v = typeof v === 'object' && v !== null ? (v as J)[String(obj(seg, `${at}.path`).key)] : undefined;
  return valueMatcher(md.value, v, `${at}.value`);
}

/** RFC 3986 pchar, Envoy's literal set (source/extensions/path/uri_template_lib/uri_template_internal.cc kLiteral). */
const PCHAR = "[a-zA-Z0-9\\-._~%!$&'()+,;:@]";

/**
 * Envoy's uri_template, written apart from the model's (uri_template_internal.cc toRegexPattern): `/`-separated
 * segments, `*` one non-empty segment, `**` the rest (slashes included, possibly empty), literals quoted; variables
 * (`{name}`) are refused. Full match on the path without query.
 */
function uriTemplateRegExp(template: string, at: string): RegExp {
  if (!template.startsWith('/') || template.includes('{')) refuse(`${at}: uri_template ${template}`);
  const body = template
    .slice(1)
    .split('/')
    .map((seg) => (seg === '*' ? `${PCHAR}+` : seg === '**' ? `(?:${PCHAR}|/)*` : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^/${body}$`);
}

/** envoy.config.rbac.v3.Permission. */
export function permission(p: unknown, r: EnvoyRequest, at: string): boolean {
  const [kind, spec] = oneof(p, at);
  switch (kind) {
    case 'any':
      return spec === true;
    case 'andRules':
      return list(obj(spec, at).rules, at).every((x, i) => permission(x, r, `${at}.andRules[${i}]`));
    case 'orRules':
      return list(obj(spec, at).rules, at).some((x, i) => permission(x, r, `${at}.orRules[${i}]`));
    case 'notRule':
      return !permission(spec, r, `${at}.notRule`);
    case 'header':
      return headerMatcher(spec, r, `${at}.header`);
    case 'urlPath': {
      const path = r.headers[':path'];
      if (path === undefined) return false;
      return stringMatcher(obj(spec, at).path, path.split(/[?#]/)[0]!, `${at}.urlPath`);
    }
    case 'uriTemplate': {
      const cfg = obj(obj(spec, at).typedConfig, `${at}.uriTemplate.typedConfig`);
      if (cfg['@type'] !== 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig') refuse(`${at}: uri_template ${String(cfg['@type'])}`);
      return uriTemplateRegExp(String(cfg.pathTemplate), at).test((r.headers[':path'] ?? '').split(/[?#]/)[0]!);
    }
    case 'destinationPort':
      return r.localPort === Number(spec);
    case 'destinationIp':
      return ipInRange(spec, r.localIp, `${at}.destinationIp`);
    case 'requestedServerName':
      return r.sni !== undefined && stringMatcher(spec, r.sni, `${at}.requestedServerName`);
    case 'metadata':
      return metadataMatcher(spec, r, `${at}.metadata`);
    default:
      return refuse(`${at}: permission ${kind}`);
  }
}

/** envoy.config.rbac.v3.Principal. */
export function principal(p: unknown, r: EnvoyRequest, at: string): boolean {
  const [kind, spec] = oneof(p, at);
  switch (kind) {
    case 'any':
      return spec === true;
    case 'andIds':
      return list(obj(spec, at).ids, at).every((x, i) => principal(x, r, `${at}.andIds[${i}]`));
    case 'orIds':
      return list(obj(spec, at).ids, at).some((x, i) => principal(x, r, `${at}.orIds[${i}]`));
    case 'notId':
      return !principal(spec, r, `${at}.notId`);
    case 'authenticated': {
      if (r.peerUriSans === undefined) return false;
      const name = obj(spec, at).principalName;
      if (name === undefined) return true;
      // Istio's peers have URI SANs only (no DNS SAN); the subject is empty.
      return r.peerUriSans.some((u) => stringMatcher(name, u, `${at}.authenticated`)) || stringMatcher(name, '', `${at}.authenticated`);
    }
    case 'directRemoteIp':
      return ipInRange(spec, r.directRemoteIp, `${at}.directRemoteIp`);
    case 'remoteIp':
      return ipInRange(spec, r.remoteIp, `${at}.remoteIp`);
    case 'sourceIp':
      return ipInRange(spec, r.directRemoteIp, `${at}.sourceIp`);
    case 'header':
      return headerMatcher(spec, r, `${at}.header`);
    case 'urlPath': {
      const path = r.headers[':path'];
      return path !== undefined && stringMatcher(obj(spec, at).path, path.split(/[?#]/)[0]!, `${at}.urlPath`);
    }
    case 'metadata':
      return metadataMatcher(spec, r, `${at}.metadata`);
    case 'filterState': {
      // source/common/common/matchers.cc FilterStateMatcher: an absent key matches nothing.
      const fs = obj(spec, at);
      const v = r.filterState?.[String(fs.key)];
      return v !== undefined && stringMatcher(fs.stringMatch, v, `${at}.filterState`);
    }
    default:
      return refuse(`${at}: principal ${kind}`);
  }
}

/** The first policy (by name, Envoy's std::map order) whose permissions and principals both match. */
function matchingPolicy(rbac: J, r: EnvoyRequest, at: string): string | undefined {
  const policies = obj(rbac.policies ?? {}, `${at}.policies`);
  for (const name of Object.keys(policies).sort()) {
    const p = obj(policies[name], `${at}.${name}`);
    if (p.condition || p.checkedCondition) refuse(`${at}.${name}: CEL condition`);
    const perms = list(p.permissions, `${at}.${name}.permissions`).some((x, i) => permission(x, r, `${name}.permissions[${i}]`));
    if (perms && list(p.principals, `${at}.${name}.principals`).some((x, i) => principal(x, r, `${name}.principals[${i}]`))) return name;
  }
  return undefined;
}

/** What one filter did: denied the request (and by which policy), or let it through (ext_authz: whether it was asked). */
export interface FilterResult {
  filter: string;
  denied: boolean;
  policy?: string;
  extAuthzCalled?: boolean;
}

const RBAC_TYPES = ['type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC', 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC'];
const EXT_AUTHZ_TYPES = ['type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz', 'type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz'];

/** Run one filter config on the request; an RBAC filter writes its shadow result into `r.metadata`. */
export function runFilter(filter: unknown, r: EnvoyRequest): FilterResult {
  const f = obj(filter, 'filter');
  const name = String(f.name);
  const cfg = obj(f.typedConfig, `${name}.typedConfig`);
  const type = String(cfg['@type']);
  if (RBAC_TYPES.includes(type)) {
    if (cfg.matcher || cfg.shadowMatcher) refuse(`${name}: matcher-based RBAC`);
    if (cfg.shadowRules) {
      const shadow = obj(cfg.shadowRules, `${name}.shadowRules`);
      const hit = matchingPolicy(shadow, r, `${name}.shadowRules`);
      if (hit !== undefined) {
        const prefix = String(cfg.shadowRulesStatPrefix ?? '');
        r.metadata[name] = { ...(r.metadata[name] ?? {}), [`${prefix}shadow_effective_policy_id`]: hit, [`${prefix}shadow_engine_result`]: (shadow.action ?? 'ALLOW') === 'DENY' ? 'denied' : 'allowed' };
      }
    }
    if (!cfg.rules) return { filter: name, denied: false };
    const rules = obj(cfg.rules, `${name}.rules`);
    const action = String(rules.action ?? 'ALLOW');
    const hit = matchingPolicy(rules, r, `${name}.rules`);
    if (action === 'ALLOW') return hit === undefined ? { filter: name, denied: true, policy: 'none' } : { filter: name, denied: false, policy: hit };
    if (action === 'DENY') return hit === undefined ? { filter: name, denied: false } : { filter: name, denied: true, policy: hit };
    if (action === 'LOG') return { filter: name, denied: false };
    return refuse(`${name}: action ${action}`);
  }
  if (EXT_AUTHZ_TYPES.includes(type)) {
    const enabled = cfg.filterEnabledMetadata;
    const called = enabled === undefined ? true : metadataMatcher(enabled, r, `${name}.filterEnabledMetadata`);
    return { filter: name, denied: false, extAuthzCalled: called };
  }
  return refuse(`filter ${name} (${type})`);
}

/** The chain's decision: the filters in order, the first denial stops it; whether any ext_authz was asked first. */
export interface ChainDecision {
  allowed: boolean;
  extAuthzCalled: boolean;
  policy?: string;
}

export function runChain(filters: unknown[], r: EnvoyRequest): ChainDecision {
  let extAuthzCalled = false;
  for (const f of filters) {
    const res = runFilter(f, r);
    if (res.extAuthzCalled) extAuthzCalled = true;
    if (res.denied) return { allowed: false, extAuthzCalled, ...(res.policy ? { policy: res.policy } : {}) };
  }
  return { allowed: true, extAuthzCalled };
}
