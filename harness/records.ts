// Reading the destination's own access-log records (the audit trail, istio-behaviours.md §6, §10) through the
// Target: parsed in the default TEXT or JSON format, kept only when they started inside the window.
import { type AccessLogRecord, parseAccessLog, startedSince } from './access-log.js';
import type { CheckContext } from './check.js';
import type { PodRef } from './target.js';

export interface PodRecord {
  line: string;
  r: AccessLogRecord;
  pod: PodRef;
}

/** Parsed access-log records of these pods' sidecars that started at or after `since`. */
export async function readRecords(ctx: Pick<CheckContext, 'target'>, pods: PodRef[], since: Date): Promise<PodRecord[]> {
  const out: PodRecord[] = [];
  for (const pod of pods) {
    for (const line of await ctx.target.accessLog(pod, since).catch(() => [] as string[])) {
      const r = parseAccessLog(line);
      if (r && startedSince(r, since)) out.push({ line, r, pod });
    }
  }
  return out;
}

/** The client sidecar's records: probe address → the hop address its upstream connection came from. */
export async function clientHops(ctx: Pick<CheckContext, 'target'>, pod: PodRef, since: Date): Promise<Map<string, string>> {
  const hops = new Map<string, string>();
  for (const { r } of await readRecords(ctx, [pod], since)) {
    if (r.downstreamRemoteAddress && r.upstreamLocalAddress) hops.set(r.downstreamRemoteAddress, r.upstreamLocalAddress);
  }
  return hops;
}
