// The stats an Istio sidecar keeps (istio-behaviours.md §10): the bootstrap's `stats_matcher` is an INCLUSION list,
// so a stat outside it is never created and `/stats` does not show it (absent, not zero). Pure: the lab's Envoy
// keeps exactly these (cluster/lab/envoy/stats.ts), and the Kubernetes render proves meshproof's counters survive a
// posture's own annotations with it.
//
// Sources (istio/istio 86c9f01fd735):
// - pkg/bootstrap/config.go `getStatsOptions`: per dimension (prefixes, suffixes, regexps), the pod's
//   `sidecar.istio.io/statsInclusion{Prefixes,Suffixes,Regexps}` annotation (comma-separated) REPLACES
//   `proxyStatsMatcher` ("only consider proxy config if annotation is not set instead of merging"); Istio's
//   required entries are appended (`requiredEnvoyStatsMatcherInclusionPrefixes`, `rbacEnvoyStatsMatcherInclusionSuffix`
//   or, with EXIT_ON_ZERO_ACTIVE_CONNECTIONS, `requiredEnvoyStatsMatcherInclusionSuffixes`,
//   `requiredEnvoyStatsMatcherInclusionRegexes`); `{pod_ip}` is replaced by each instance IP (`substituteValues`),
//   the IPs de-duplicated first (`removeDuplicates` in `GetNodeMetaData`).
// - tools/packaging/common/envoy_bootstrap.json `stats_matcher.inclusion_list.patterns`: `reporter=`, then
//   `workload_discovery` with metadata discovery (waypoints and ambient, not sidecars), the prefixes, the suffixes,
//   the regexps (`safe_regex`, a full match), then `component` and `istio`.
// Held against pkg/bootstrap/instance_test.go TestGolden's golden bootstraps (oracle/stats.ts).

/** The proxies the model does not cover: an HBONE proxy adds `workload_discovery` (metadata discovery). */
export const STATS_NOT_MODELLED = 'ambient (HBONE) proxies and waypoints: the model covers sidecar proxies only';

/** `proxyStatsMatcher` of ProxyConfig (API: mesh/v1alpha1/proxy.proto). */
export interface ProxyStatsMatcher {
  inclusionPrefixes?: string[];
  inclusionSuffixes?: string[];
  inclusionRegexps?: string[];
}

export interface StatsInputs {
  /** The pod's annotations (only `sidecar.istio.io/statsInclusion*` matter here). */
  annotations?: Record<string, string>;
  /** `proxyStatsMatcher` from `proxy.istio.io/config` or the mesh's defaultConfig. */
  proxyStatsMatcher?: ProxyStatsMatcher;
  /** The pod's IPs, for `{pod_ip}`. */
  instanceIPs?: string[];
  /** pilot-agent's EXIT_ON_ZERO_ACTIVE_CONNECTIONS (adds `downstream_cx_active`). */
  exitOnZeroActiveConnections?: boolean;
}

/** One entry of Envoy's `inclusion_list.patterns` (a StringMatcher). */
export type StatsPattern = { prefix: string } | { suffix: string } | { safe_regex: { regex: string } };

export const STATS_ANNOTATIONS = {
  prefixes: 'sidecar.istio.io/statsInclusionPrefixes',
  suffixes: 'sidecar.istio.io/statsInclusionSuffixes',
  regexps: 'sidecar.istio.io/statsInclusionRegexps',
} as const;

const REQUIRED_PREFIXES = ['cluster_manager', 'listener_manager', 'server', 'cluster.xds-grpc', 'wasm'];
const RBAC_SUFFIXES = ['rbac.allowed', 'rbac.denied', 'shadow_allowed', 'shadow_denied'];
const REQUIRED_REGEXES = ['vhost\\..*\\.route\\..*'];

/** `parseOption`: the annotation if set, else proxy config; then Istio's required entries; then `{pod_ip}`. */
function dimension(annotation: string | undefined, proxyConfig: string[] | undefined, required: string[], ips: string[]): string[] {
  const own = annotation !== undefined && annotation.length > 0 ? annotation.split(',') : (proxyConfig ?? []);
  return [...own, ...required].flatMap((p) => (p.includes('{pod_ip}') ? ips.map((ip) => p.replaceAll('{pod_ip}', ip)) : [p]));
}

/** The sidecar's `stats_matcher.inclusion_list.patterns`, in the bootstrap's order. */
export function statsMatcherPatterns(i: StatsInputs = {}): StatsPattern[] {
  const a = i.annotations ?? {};
  const m = i.proxyStatsMatcher ?? {};
  const ips = [...new Set(i.instanceIPs ?? [])];
  const suffixes = i.exitOnZeroActiveConnections ? [...RBAC_SUFFIXES, 'downstream_cx_active'] : RBAC_SUFFIXES;
  return [
    { prefix: 'reporter=' },
    ...dimension(a[STATS_ANNOTATIONS.prefixes], m.inclusionPrefixes, REQUIRED_PREFIXES, ips).map((prefix) => ({ prefix })),
    ...dimension(a[STATS_ANNOTATIONS.suffixes], m.inclusionSuffixes, suffixes, ips).map((suffix) => ({ suffix })),
    ...dimension(a[STATS_ANNOTATIONS.regexps], m.inclusionRegexps, REQUIRED_REGEXES, ips).map((regex) => ({ safe_regex: { regex } })),
    { prefix: 'component' },
    { prefix: 'istio' },
  ];
}

/** Envoy's StringMatcher on a stat name; `safe_regex` matches the WHOLE name (RE2 full match), not a substring. */
export function statsIncluded(patterns: StatsPattern[]): (name: string) => boolean {
  const tests = patterns.map((p): ((n: string) => boolean) => {
    if ('prefix' in p) return (n) => n.startsWith(p.prefix);
    if ('suffix' in p) return (n) => n.endsWith(p.suffix);
    const re = new RegExp(`^(?:${p.safe_regex.regex})$`);
    return (n) => re.test(n);
  });
  return (name) => tests.some((t) => t(name));
}
