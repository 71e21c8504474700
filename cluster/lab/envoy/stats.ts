// Envoy's stats as Istio configures them (istio-behaviours.md §10): the bootstrap's `stats_matcher` is an
// INCLUSION list, so a stat outside it is never created and `/stats` does not show it — absent, not zero.
// I: pkg/bootstrap/config.go (requiredEnvoyStatsMatcherInclusionPrefixes, rbacEnvoyStatsMatcherInclusionSuffix,
// requiredEnvoyStatsMatcherInclusionRegexes, v2Prefixes/v2Suffix); a pod widens it with `proxyStatsMatcher` in
// `proxy.istio.io/config` (IO: ops/configuration/telemetry/envoy-stats), which Istio adds to the defaults.

/** `proxyStatsMatcher` of ProxyConfig (API: mesh/v1alpha1/proxy.proto). */
export interface ProxyStatsMatcher {
  inclusionPrefixes?: string[];
  inclusionSuffixes?: string[];
  inclusionRegexps?: string[];
}

/**
 * What every Istio sidecar keeps whatever the pod says. `downstream_cx_active` is added only when the agent runs with
 * EXIT_ON_ZERO_ACTIVE_CONNECTIONS (I-L5; I: pkg/bootstrap/config.go getStatsOptions,
 * requiredEnvoyStatsMatcherInclusionSuffixes), which the lab's proxyMetadata schema refuses: never kept here.
 */
export const ISTIO_DEFAULT_STATS: Required<ProxyStatsMatcher> = {
  inclusionPrefixes: ['reporter=', 'cluster_manager', 'listener_manager', 'server', 'cluster.xds-grpc', 'wasm', 'component', 'istio'],
  inclusionSuffixes: ['rbac.allowed', 'rbac.denied', 'shadow_allowed', 'shadow_denied'],
  inclusionRegexps: ['vhost\\..*\\.route\\..*'],
};

/** Envoy's StringMatcher `safe_regex` matches the WHOLE name (RE2 full match), not a substring. */
function fullMatch(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

export function statsInclusion(extra: ProxyStatsMatcher = {}): (name: string) => boolean {
  const prefixes = [...ISTIO_DEFAULT_STATS.inclusionPrefixes, ...(extra.inclusionPrefixes ?? [])];
  const suffixes = [...ISTIO_DEFAULT_STATS.inclusionSuffixes, ...(extra.inclusionSuffixes ?? [])];
  const regexps = [...ISTIO_DEFAULT_STATS.inclusionRegexps, ...(extra.inclusionRegexps ?? [])].map(fullMatch);
  return (name) => prefixes.some((p) => name.startsWith(p)) || suffixes.some((s) => name.endsWith(s)) || regexps.some((r) => r.test(name));
}

/** One sidecar's counters and gauges. Stats the matcher excludes are null stats: counted nowhere, shown nowhere. */
export class Stats {
  private readonly counters = new Map<string, number>();
  private readonly gauges = new Map<string, () => number>();
  private readonly included: (name: string) => boolean;

  constructor(matcher?: ProxyStatsMatcher) {
    this.included = statsInclusion(matcher);
  }

  /** Creates a counter at zero, as Envoy does when the listener or cluster that owns it is created. */
  declare(name: string): void {
    if (this.included(name) && !this.counters.has(name)) this.counters.set(name, 0);
  }

  inc(name: string, by = 1): void {
    if (this.included(name)) this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  gauge(name: string, read: () => number): void {
    if (this.included(name)) this.gauges.set(name, read);
  }

  /** Envoy's `/stats` text: `name: value`, sorted. */
  render(): string {
    const all: [string, number][] = [...this.counters.entries(), ...[...this.gauges.entries()].map(([k, f]): [string, number] => [k, f()])];
    return `${all
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n')}\n`;
  }
}
