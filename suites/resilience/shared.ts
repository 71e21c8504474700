// Pieces the resilience checks share: the DestinationRule in scope, floods, the client's counters.
import type { FloodAttack, FloodResult } from '../../agent/protocol.js';
import type { CheckContext } from '../../harness/check.js';
import type { Manifest } from '../../harness/posture/load.js';
import { ROOT_NAMESPACE } from '../../harness/posture/view.js';
import type { ProbeHandle, Ref } from '../../harness/target.js';

export const ECHO: Ref = { namespace: 'mesh', name: 'echo' };
export const CLIENT: Ref = { namespace: 'mesh', name: 'authorized' };

export interface Limits {
  rule: string;
  maxConnections?: number;
  maxPending?: number;
  maxRequests?: number;
  outlier?: { consecutive5xxErrors?: number };
}

/** The DestinationRule for `svc` as a client in `clientNs` gets it: its own namespace's, the service's, the root's. */
export function ruleInScope(ctx: CheckContext, svc: Ref, clientNs: string): Limits | undefined {
  const fqdn = `${svc.name}.${svc.namespace}.svc.cluster.local`;
  const all = ctx.view.posture.objects.map((o) => o.manifest).filter((m) => m.kind === 'DestinationRule');
  const host = (m: Manifest) => {
    const h = (m.spec as { host?: string } | undefined)?.host ?? '';
    return h.includes('.') ? h : `${h}.${m.metadata.namespace}.svc.cluster.local`;
  };
  const matching = all.filter((m) => host(m) === fqdn);
  const m = [clientNs, svc.namespace, ROOT_NAMESPACE].map((ns) => matching.find((x) => x.metadata.namespace === ns)).find(Boolean);
  if (!m) return undefined;
  type Tp = {
    connectionPool?: { tcp?: { maxConnections?: number }; http?: { http1MaxPendingRequests?: number; http2MaxRequests?: number } };
    outlierDetection?: { consecutive5xxErrors?: number };
  };
  const tp = (m.spec as { trafficPolicy?: Tp }).trafficPolicy;
  return {
    rule: `${m.metadata.namespace}/${m.metadata.name}`,
    maxConnections: tp?.connectionPool?.tcp?.maxConnections,
    maxPending: tp?.connectionPool?.http?.http1MaxPendingRequests,
    maxRequests: tp?.connectionPool?.http?.http2MaxRequests,
    outlier: tp?.outlierDetection,
  };
}

export async function flood(ctx: CheckContext, probe: ProbeHandle, o: { id: string; requests: number; concurrency: number; path: string }): Promise<FloodResult> {
  const d = await ctx.target.address(ECHO, 8080, probe);
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

/** Sum of the client sidecar's counters with this suffix (the breaker lives in the client, §5). */
export async function clientCounter(ctx: CheckContext, probe: ProbeHandle, suffix: string): Promise<number | null> {
  try {
    const stats = await ctx.target.stats(probe.pod);
    return Object.entries(stats).reduce((n, [k, v]) => (k.endsWith(`.${suffix}`) ? n + v : n), 0);
  } catch {
    return null;
  }
}

/** Reads and resets each echo pod's peak in-flight, from inside the pod. */
export async function echoPeaks(ctx: CheckContext): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const pod of await ctx.target.servicePods(ECHO)) {
    const r = (await ctx.target.appAdmin(pod, '/admin/reset-stats')) as { admin?: { peakInFlight?: number } };
    out[`${pod.namespace}/${pod.name}`] = r.admin?.peakInFlight ?? Number.NaN;
  }
  return out;
}
