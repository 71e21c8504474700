// Envoy's stats as Istio configures them (istio-behaviours.md §10): the bootstrap's `stats_matcher` is an
// INCLUSION list, so a stat outside it is never created and `/stats` does not show it — absent, not zero.
// The list itself is the model's (harness/istio/stats.ts: a pod's `proxyStatsMatcher` or its
// `sidecar.istio.io/statsInclusion*` annotations, added to Istio's required entries).
import { type ProxyStatsMatcher, statsIncluded, statsMatcherPatterns } from '../../../harness/istio/stats.js';

export type { ProxyStatsMatcher };

/** What a sidecar keeps: Istio's inclusion list with the pod's own (harness/istio/stats.ts, the only copy). */
export function statsInclusion(extra: ProxyStatsMatcher = {}, annotations: Record<string, string> = {}): (name: string) => boolean {
  return statsIncluded(statsMatcherPatterns({ proxyStatsMatcher: extra, annotations }));
}

/** One sidecar's counters and gauges. Stats the matcher excludes are null stats: counted nowhere, shown nowhere. */
export class Stats {
  private readonly counters = new Map<string, number>();
  private readonly gauges = new Map<string, () => number>();
  private readonly included: (name: string) => boolean;

  constructor(matcher?: ProxyStatsMatcher, annotations?: Record<string, string>) {
    this.included = statsInclusion(matcher, annotations);
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
