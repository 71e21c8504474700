// What the sweep and the access matrix share to send attempts and read their destination records: batches sharded
// across the attacker probes (one exec per batch, a rate cap and bounded concurrency per probe), one access-log read
// per destination pod per batch, and the record of each attempt (recordOf). One copy, so both prove a refusal alike.
import type { Attack, Observation, ProbeReport } from '../../agent/protocol.js';
import { type AccessLogRecord, parseAccessLog, sameAddress, startedSince } from '../access-log.js';
import { messageOf } from '../errors.js';
import { auditable } from '../mesh-logging.js';
import type { PodRef, ProbeHandle, Target } from '../target.js';
import type { EstatePod } from './estate.js';
import { type AttemptSummary, type DestinationRecord, decidingLayer } from './judge.js';

/** The most the sweep reads of one pod's log per batch (K-M1): a short window, never the whole file. */
export const LOG_LIMIT_BYTES = 4 * 1024 * 1024;

export const summarize = (o: Observation): AttemptSummary => ({
  dial: o.dial,
  startedAt: o.startedAt,
  durationMs: o.durationMs,
  bytesReceived: o.bytesReceived,
  ...(o.http ? { status: o.http.status } : {}),
  ...(o.failure ? { failure: `${o.failure.class}${o.failure.code ? ` (${o.failure.code})` : ''}` } : {}),
  ...(o.tls ? { tls: { handshake: o.tls.handshake, protocol: o.tls.protocol, alpn: o.tls.alpn } } : {}),
});

/**
 * The record of one attempt (M1). A record is this attempt's only when all of these hold:
 * - its downstream remote address is the probe's side of the connection, or its path carries the attempt's nonce;
 * - its downstream local address is the address the probe dialed: Linux may give two connections to different
 *   ports of one pod the same ephemeral source port, so the remote address alone does not name a connection. For
 *   an inbound connection Envoy's DOWNSTREAM_LOCAL_ADDRESS is the original destination podIP:port, restored by the
 *   listener's original_dst filter (E: source/extensions/filters/listener/original_dst/original_dst.cc
 *   `OriginalDstFilter::onAccept` → `restoreLocalAddress`), which is what the probe dialed;
 * - a record with a path carries the nonce (every HTTP attempt sends one; a path without it is another request);
 * - on an HTTP answer, a record with a response code has the status the probe saw (another attempt's
 *   `ext_authz_denied` 403 is not this 200's record).
 */
export function recordOf(records: AccessLogRecord[], o: Observation | undefined): DestinationRecord | undefined {
  if (!o?.localAddress) return undefined;
  const mine = records.filter(
    (r) =>
      (sameAddress(r.downstreamRemoteAddress, o.localAddress) || (r.path !== '' && r.path.includes(o.nonce))) &&
      sameAddress(r.downstreamLocalAddress, o.dial) &&
      (r.path === '' || r.path.includes(o.nonce)) &&
      (!o.http || r.responseCode === 0 || r.responseCode === o.http.status),
  );
  // A denial or NR outranks a pass-through record of the same connection.
  const layers = mine.map(decidingLayer).filter((x): x is DestinationRecord => x !== undefined);
  return layers.find((x) => x.layer !== 'upstream') ?? layers[0];
}

/** One destination pod's attempts of a batch: given the pod's records of the window, or why they could not be read. */
export interface RecordReader {
  pod: EstatePod;
  attach(records: AccessLogRecord[]): void;
  fail(problem: string): void;
}

/**
 * Reads, right after a batch, the destination log of every sidecar pod the batch attacked (one read per pod, a
 * window starting at the batch, at most LOG_LIMIT_BYTES) and hands each reader its records. Returns the reads.
 */
export async function readDestinationRecords(target: Target, accessLogDelayMs: number, readers: RecordReader[], since: Date): Promise<number> {
  const byPod = new Map<string, RecordReader[]>();
  for (const r of readers) {
    if (!r.pod.sidecar) {
      r.fail('no sidecar: no destination record exists');
      continue;
    }
    const key = `${r.pod.namespace}/${r.pod.name}`;
    byPod.set(key, [...(byPod.get(key) ?? []), r]);
  }
  if (byPod.size === 0) return 0;
  if (accessLogDelayMs > 0) await new Promise((r) => setTimeout(r, accessLogDelayMs));
  let reads = 0;
  const pending = [...byPod.values()];
  const readOne = async (group: RecordReader[]) => {
    const pod = group[0]!.pod;
    const ref: PodRef = { namespace: pod.namespace, name: pod.name, workload: pod.labels.app ?? pod.name };
    try {
      const setup = await target.accessLogSetup(ref);
      if (!auditable(setup)) {
        for (const r of group) r.fail(`the destination's access log cannot be read back (${setup.reason})`);
        return;
      }
      reads++;
      const records = (await target.accessLog(ref, since, { limitBytes: LOG_LIMIT_BYTES }))
        .map(parseAccessLog)
        .filter((r): r is AccessLogRecord => r !== undefined && startedSince(r, since));
      for (const r of group) r.attach(records);
    } catch (err) {
      for (const r of group) r.fail(`reading the destination's access log failed: ${messageOf(err)}`);
    }
  };
  const workers = Array.from({ length: Math.min(8, pending.length) }, async () => {
    for (let g = pending.shift(); g; g = pending.shift()) await readOne(g);
  });
  await Promise.all(workers);
  return reads;
}

export interface ShardOptions<T> {
  probes: ProbeHandle[];
  batches: T[][];
  /** Attempts in flight per probe. */
  concurrency: number;
  /** Attempts started per second, across all probes. */
  ratePerSec: number;
  signal?: AbortSignal;
  attacksOf(batch: T[]): Attack[] | Promise<Attack[]>;
  /** The batch's report, and the start of its log window: corroborate now, from this batch's short window (K-M1). */
  onReport(batch: T[], report: ProbeReport, since: Date): Promise<void>;
}

/**
 * Batches pulled by one worker per probe (the cluster is the distributed engine), one exec per batch. Ctrl-C in a
 * terminal reaches the probes too: a batch cut short by it is simply not judged, and the run is incomplete.
 */
export async function runSharded<T>(o: ShardOptions<T>): Promise<{ execs: number; incomplete: boolean }> {
  let execs = 0;
  let next = 0;
  let incomplete = false;
  const perProbeRate = o.ratePerSec / o.probes.length;
  const worker = async (probe: ProbeHandle) => {
    while (next < o.batches.length) {
      if (o.signal?.aborted) {
        incomplete = true;
        return;
      }
      const batch = o.batches[next++]!;
      const attacks = await o.attacksOf(batch);
      if (attacks.length === 0) {
        // Nothing left to send for this batch (the access matrix: no certificate for its identities): no exec.
        await o.onReport(batch, { agent: { version: '', pod: probe.pod.name, uid: null }, observations: [] }, new Date());
        continue;
      }
      execs++;
      const since = new Date(Date.now() - 1_000);
      let report: ProbeReport;
      try {
        report = await probe.run(attacks, { concurrency: o.concurrency, ratePerSec: perProbeRate });
      } catch (e) {
        if (o.signal?.aborted) {
          incomplete = true;
          return;
        }
        throw e;
      }
      await o.onReport(batch, report, since);
    }
  };
  await Promise.all(o.probes.map(worker));
  if (next < o.batches.length) incomplete = true;
  return { execs, incomplete };
}
