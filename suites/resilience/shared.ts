// Pieces the resilience checks share: the DestinationRule in scope, floods, the client's counters, the backend's
// request intervals.
import type { FloodAttack, FloodResult } from '../../agent/protocol.js';
import { statPresent, sumStat } from '../../harness/access-log.js';
import type { CheckContext } from '../../harness/check.js';
import { messageOf } from '../../harness/errors.js';
import type { Manifest } from '../../harness/posture/load.js';
import { ROOT_NAMESPACE } from '../../harness/posture/view.js';
import type { ProbeHandle, Ref } from '../../harness/target.js';

export const ECHO: Ref = { namespace: 'mesh', name: 'echo' };
export const CLIENT: Ref = { namespace: 'mesh', name: 'authorized' };

/**
 * The most requests the agent holds in flight in one flood (measured in `npm run bench`: RSS stays small at this
 * concurrency). A pool the flood cannot exceed cannot be shown to trip: not-applicable, with the reason.
 */
export const MAX_FLOOD_CONCURRENCY = 512;

export interface Limits {
  rule: string;
  maxConnections?: number;
  maxPending?: number;
  maxRequests?: number;
  /** Unset or 0: Envoy reuses a pooled connection without limit (I: cluster_traffic_policy.go applyConnectionPool). */
  maxRequestsPerConnection?: number;
  outlier?: { consecutive5xxErrors?: number; baseEjectionTime?: string; maxEjectionPercent?: number };
}

/** Istio treats 0 as unset for these limits (I: pilot/pkg/networking/core/cluster_traffic_policy.go applyConnectionPool's `> 0` guards). */
export const positive = (v: number | undefined): number | undefined => (v !== undefined && v > 0 ? v : undefined);

type TrafficPolicy = {
  connectionPool?: { tcp?: { maxConnections?: number }; http?: { http1MaxPendingRequests?: number; http2MaxRequests?: number; maxRequestsPerConnection?: number } };
  outlierDetection?: Limits['outlier'];
  portLevelSettings?: ({ port?: { number?: number } } & Omit<TrafficPolicy, 'portLevelSettings'>)[];
};

/**
 * The policy for one destination port: a portLevelSettings entry for it replaces the top-level policy wholesale
 * (connection pool, outlier detection, load balancer, TLS: nothing is inherited), else the top-level one applies
 * (I: pilot/pkg/networking/util/util.go GetPortLevelTrafficPolicy; pilot/pkg/model/destination_rule.go
 * MergeTrafficPolicy with hasPortLevel).
 */
export function policyForPort(tp: TrafficPolicy | undefined, port: number | undefined): TrafficPolicy | undefined {
  if (!tp || port === undefined) return tp;
  return tp.portLevelSettings?.find((p) => p.port?.number === port) ?? tp;
}

/**
 * The DestinationRule for `svc` as a client in `clientNs` gets it: its own namespace's, the service's, the root's;
 * its policy for `port` (echo's HTTP port) when given.
 */
export function ruleInScope(ctx: CheckContext, svc: Ref, clientNs: string, port?: number): Limits | undefined {
  const fqdn = `${svc.name}.${svc.namespace}.svc.cluster.local`;
  const all = ctx.view.posture.objects.map((o) => o.manifest).filter((m) => m.kind === 'DestinationRule');
  const host = (m: Manifest) => {
    const h = (m.spec as { host?: string } | undefined)?.host ?? '';
    return h.includes('.') ? h : `${h}.${m.metadata.namespace}.svc.cluster.local`;
  };
  const matching = all.filter((m) => host(m) === fqdn);
  const m = [clientNs, svc.namespace, ROOT_NAMESPACE].map((ns) => matching.find((x) => x.metadata.namespace === ns)).find(Boolean);
  if (!m) return undefined;
  const tp = policyForPort((m.spec as { trafficPolicy?: TrafficPolicy }).trafficPolicy, port);
  return {
    rule: `${m.metadata.namespace}/${m.metadata.name}`,
    maxConnections: positive(tp?.connectionPool?.tcp?.maxConnections),
    maxPending: positive(tp?.connectionPool?.http?.http1MaxPendingRequests),
    maxRequests: positive(tp?.connectionPool?.http?.http2MaxRequests),
    maxRequestsPerConnection: positive(tp?.connectionPool?.http?.maxRequestsPerConnection),
    outlier: tp?.outlierDetection,
  };
}

export async function flood(ctx: CheckContext, probe: ProbeHandle, port: number, o: { id: string; requests: number; concurrency: number; path: string }): Promise<FloodResult> {
  const d = await ctx.target.address(ECHO, port, probe);
  const a: FloodAttack = {
    kind: 'flood',
    id: o.id,
    dial: d.dial,
    authority: d.authority,
    path: o.path,
    requests: o.requests,
    concurrency: o.concurrency,
    requestTimeoutMs: ctx.timeouts.attackMs,
    timeoutMs: ctx.timeouts.convergenceMs,
  };
  const { observations } = await probe.run([a]);
  const f = observations[0]?.flood;
  if (!f) throw new Error('the flood returned no result');
  return f;
}

/** A client-sidecar counter: its sum, or why there is none. Absent is not zero (istio-behaviours.md §10). */
export type Counter = { value: number } | { absent: string } | { unreadable: string };

/** Sum of the client sidecar's counters with this suffix (the breaker lives in the client, §5). */
export async function clientCounter(ctx: CheckContext, probe: ProbeHandle, suffix: string): Promise<Counter> {
  try {
    const stats = await ctx.target.stats(probe.pod);
    if (!statPresent(stats, suffix)) {
      return {
        absent: `${probe.pod.namespace}/${probe.pod.name}'s sidecar does not export ${suffix} (Istio's default stats matcher drops cluster stats): add proxy.istio.io/config {"proxyStatsMatcher":{"inclusionRegexps":[".*${suffix.replace(/\./g, '\\\\.')}"]}} to its pod template`,
      };
    }
    return { value: sumStat(stats, suffix) };
  } catch (e) {
    return { unreadable: `the client sidecar's stats could not be read: ${messageOf(e)}` };
  }
}

/** The rise between two readings, or the one-line reason there is none. */
export function rise(before: Counter, after: Counter): { delta: number } | { problem: string } {
  for (const c of [before, after]) {
    if ('absent' in c) return { problem: c.absent };
    if ('unreadable' in c) return { problem: c.unreadable };
  }
  return { delta: (after as { value: number }).value - (before as { value: number }).value };
}

/** Reads and clears each echo pod's request intervals ([start, end], epoch ms), from inside the pod. */
export async function echoIntervals(ctx: CheckContext): Promise<Record<string, [number, number][]>> {
  const out: Record<string, [number, number][]> = {};
  for (const pod of await ctx.target.servicePods(ECHO)) {
    const r = (await ctx.target.appAdmin(pod, '/admin/intervals')) as { intervals?: [number, number][] };
    if (!Array.isArray(r.intervals)) throw new Error(`${pod.namespace}/${pod.name} reported no request intervals`);
    out[`${pod.namespace}/${pod.name}`] = r.intervals;
  }
  return out;
}
