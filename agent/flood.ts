// The `flood` attack: bounded load from inside a probe pod, to trip the client sidecar's circuit breaker.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { splitHostPort } from './dial.js';
import type { FloodAttack, FloodResult, Observation } from './protocol.js';

/** Envoy's local reply when a circuit breaker overflows (E: source/common/router/router.cc). */
export const OVERFLOW_BODY = 'upstream connect error or disconnect/reset before headers. reset reason: overflow';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function floodAttack(a: FloodAttack): Promise<Observation> {
  const started = new Date();
  const deadline = started.getTime() + a.timeoutMs;
  const { host, port } = splitHostPort(a.dial);
  const agent = new http.Agent({ keepAlive: true, maxSockets: a.concurrency });
  const r: FloodResult = {
    sent: 0,
    statuses: {},
    overflow: { header: 0, body: 0, either: 0 },
    noHealthyUpstream: 0,
    failures: {},
    pods: {},
    latencyMs: { p50: 0, p90: 0, p99: 0, max: 0 },
    stoppedByDeadline: false,
    timeline: [],
  };
  const mark = (what: string) => {
    if (r.timeline!.length < 5_000) r.timeline!.push([Date.now() - started.getTime(), what]);
  };
  const latencies: number[] = [];
  let bytes = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = Date.now();
      const req = http.get({ host, port, path: a.path ?? '/', agent, headers: { host: a.authority ?? a.dial }, timeout: a.requestTimeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          bytes += body.length;
          const code = String(res.statusCode);
          r.statuses[code] = (r.statuses[code] ?? 0) + 1;
          if (res.statusCode === 503) {
            const header = res.headers['x-envoy-overloaded'] === 'true';
            const marked = body === OVERFLOW_BODY;
            if (header) r.overflow.header++;
            if (marked) r.overflow.body++;
            if (header || marked) r.overflow.either++;
            if (body === 'no healthy upstream') r.noHealthyUpstream++;
          } else if (res.statusCode === 200) {
            const pod = /"pod":"([^"]+)"/.exec(body)?.[1] ?? 'unknown';
            r.pods[pod] = (r.pods[pod] ?? 0) + 1;
          }
          latencies.push(Date.now() - t0);
          mark(code);
          resolve();
        });
        res.on('error', () => resolve());
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('request timeout'), { code: 'MESHPROOF_TIMEOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => {
        const k = e.code ?? 'other';
        r.failures[k] = (r.failures[k] ?? 0) + 1;
        mark(k);
        resolve();
      });
    });
  const worker = async () => {
    while (r.sent < a.requests) {
      if (Date.now() >= deadline) {
        r.stoppedByDeadline = true;
        return;
      }
      r.sent++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(a.concurrency, a.requests)) }, worker));
  agent.destroy();
  latencies.sort((x, y) => x - y);
  r.latencyMs = { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) ?? 0 };
  return {
    id: a.id,
    kind: 'flood',
    dial: a.dial,
    nonce: randomUUID(),
    startedAt: started.toISOString(),
    durationMs: Date.now() - started.getTime(),
    bytesReceived: bytes,
    flood: r,
  };
}
