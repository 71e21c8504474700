// Circuit breaking and outlier detection on the lab (istio-behaviours.md §5): the overflow reply's exact shape,
// verdict stability under a varying 503 ratio, and "no DestinationRule → not applicable, never pass".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OVERFLOW_BODY } from '../agent/flood.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { parseAccessLog } from '../harness/access-log.js';
import type { Check, Examined } from '../harness/check.js';
import { DEFAULT_SETTINGS } from '../harness/check.js';
import { runCheck } from '../harness/engine.js';
import { loadPosture } from '../harness/posture/load.js';
import { PostureView } from '../harness/posture/view.js';
import { conformanceRun, RunSession } from '../harness/run.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { SUITES } from '../suites/index.js';
import { res001 } from '../suites/resilience/breaker.js';
import { res002 } from '../suites/resilience/ejection.js';
import { leastRequest } from '../cluster/lab/envoy/outbound.js';

const ECHO = { namespace: 'mesh', name: 'echo' };

describe('the lab\'s circuit breaker (secure posture)', () => {
  const lab = new LabTarget();
  const posture = loadPosture('fixtures/secure');
  beforeAll(() => lab.apply(posture));
  afterAll(() => lab.dispose());

  it('overflow is a 503 with x-envoy-overloaded and the exact body, logged UO and counted in the client', async () => {
    const client = await lab.probe({ namespace: 'mesh', name: 'authorized' });
    const d = await lab.address(ECHO, 8080, client);
    const since = new Date(Date.now() - 1_000);
    const { observations } = await client.run([{ kind: 'flood', id: 'f', dial: d.dial, authority: d.authority, path: '/delay/100', requests: 20, concurrency: 8, requestTimeoutMs: 3_000, timeoutMs: 10_000 }]);
    const f = observations[0]!.flood!;
    expect(f.sent).toBe(20);
    expect(f.overflow.header).toBeGreaterThan(0);
    expect(f.overflow.body).toBe(f.overflow.header);
    expect(f.statuses['200']).toBeGreaterThan(0);
    const stats = await lab.stats(client.pod);
    expect(stats['cluster.outbound|8080||echo.mesh.svc.cluster.local.upstream_rq_pending_overflow']).toBe(f.overflow.either);
    const records = (await lab.accessLog(client.pod, since)).map((l) => parseAccessLog(l)!);
    expect(records.filter((r) => r.responseCode === 503 && r.responseFlags === 'UO')).toHaveLength(f.overflow.either);
    expect(OVERFLOW_BODY).toBe('upstream connect error or disconnect/reset before headers. reset reason: overflow');
  });

  it('a sidecar-less client is never limited (the breaker lives in the client\'s sidecar)', async () => {
    const outside = await lab.probe({ namespace: 'outside', name: 'outside' });
    const [ep] = await lab.endpoints(ECHO, 8080);
    const { observations } = await outside.run([{ kind: 'flood', id: 'f', dial: ep!.dial, path: '/delay/50', requests: 12, concurrency: 6, requestTimeoutMs: 3_000, timeoutMs: 10_000 }]);
    // STRICT refuses the plaintext outright: resets, never an overflow 503.
    expect(observations[0]!.flood!.overflow.either).toBe(0);
  });

  it('the echo admin endpoints answer only the harness\'s token', async () => {
    const client = await lab.probe({ namespace: 'mesh', name: 'authorized' });
    const d = await lab.address(ECHO, 8080, client);
    const { observations } = await client.run([{ kind: 'http', id: 'a', dial: d.dial, authority: d.authority, path: '/admin/fail', headers: { 'x-meshproof-admin': 'guess' }, timeoutMs: 2_000 }]);
    // Not granted by echo-allow (paths), and without the token the app would not act on it either.
    expect(observations[0]!.http?.status).toBe(403);
    const [pod] = await lab.servicePods(ECHO);
    const r = (await lab.appAdmin(pod!, '/admin/intervals')) as { admin: { failing: boolean }; intervals: unknown[] };
    expect(r.admin.failing).toBe(false);
    expect(Array.isArray(r.intervals)).toBe(true);
  });

  /** Runs a check 30 times on the same lab; `observe` picks what may vary from run to run, `between` tidies up. */
  async function thirtyRuns<T>(check: Check, observe: (first: Examined) => T, between?: () => Promise<void>): Promise<{ verdicts: string[]; seen: T[] }> {
    const ctx = { view: new PostureView(posture), target: lab, timeouts: LAB_TIMEOUTS, settings: DEFAULT_SETTINGS };
    const verdicts: string[] = [];
    const seen: T[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await runCheck(check, ctx);
      verdicts.push(r.verdict);
      seen.push(observe(r.cases[0] as Examined));
      await between?.();
    }
    return { verdicts, seen };
  }

  it('RES-001 run 30 times gives 30 identical verdicts, while the 503 ratio varies', async () => {
    const { verdicts, seen: okCounts } = await thirtyRuns(res001, (c) => (c.observed as { attack: { statuses: Record<string, number> } }).attack.statuses['200'] ?? 0);
    expect(verdicts).toEqual(Array(30).fill('pass'));
    // Every run saw both outcomes, whatever their ratio (which the verdict must not depend on).
    expect(okCounts.every((n) => n > 0 && n < 55)).toBe(true);
  });

  it('RES-002 run 30 times gives 30 identical verdicts under random host choice', async () => {
    const { verdicts, seen: rounds } = await thirtyRuns(
      res002,
      (c) => (c.observed as { trips: unknown[] }).trips.length,
      // Each run ejects echo-0 for 30 s; a fresh lab per run would take longer than waiting it out is worth.
      () => lab.resetOutlierDetection({ namespace: 'mesh', name: 'authorized' }),
    );
    expect(verdicts).toEqual(Array(30).fill('pass'));
    // The number of rounds needed varies with the random picks; the verdict does not.
    expect(Math.max(...rounds)).toBeGreaterThanOrEqual(1);
  });
});

describe('Envoy\'s LEAST_REQUEST in the client sidecar (istio-behaviours.md §10)', () => {
  it('draws two hosts with replacement and keeps the less loaded; a tie keeps the first draw', () => {
    const hosts = ['a', 'b'];
    const seq = (...xs: number[]) => () => xs.shift()!;
    expect(leastRequest(hosts, () => 0, seq(0.1, 0.9))).toBe('a');
    expect(leastRequest(hosts, (h) => (h === 'a' ? 3 : 1), seq(0.1, 0.9))).toBe('b');
    expect(leastRequest(hosts, (h) => (h === 'a' ? 3 : 1), seq(0.1, 0.2))).toBe('a'); // both draws a: no choice
    expect(leastRequest([], () => 0)).toBeUndefined();
  });

  it('sequential requests are not spread evenly: the same pod often answers twice in a row (round robin never does)', async () => {
    const lab = new LabTarget();
    try {
      await lab.apply(loadPosture('fixtures/secure'));
      const client = await lab.probe({ namespace: 'mesh', name: 'authorized' });
      const d = await lab.address(ECHO, 8080, client);
      const attacks = Array.from({ length: 40 }, (_, i) => ({ kind: 'http' as const, id: `r${i}`, dial: d.dial, authority: d.authority, timeoutMs: 3_000 }));
      const pods = (await client.run(attacks)).observations.map((o) => o.http?.echo?.pod);
      expect(pods.every((p) => p === 'echo-0' || p === 'echo-1')).toBe(true);
      const repeats = pods.slice(1).filter((p, i) => p === pods[i]).length;
      expect(repeats).toBeGreaterThan(0);
      expect(pods.filter((p) => p === 'echo-0').length).toBeGreaterThan(5);
      expect(pods.filter((p) => p === 'echo-1').length).toBeGreaterThan(5);
    } finally {
      await lab.dispose();
    }
  });
});

describe('RES-001 measures what the backend held, not what the harness did', () => {
  const run = async (overlays: string[], before?: (lab: LabTarget) => void, settings = DEFAULT_SETTINGS) => {
    const lab = new LabTarget();
    try {
      const posture = loadPosture('fixtures/secure', overlays);
      await lab.apply(posture);
      before?.(lab);
      const session = new RunSession({ target: lab, posture, timeouts: LAB_TIMEOUTS, settings });
      for (const c of SUITES.resilience!) await session.check(c);
      return await session.finish();
    } finally {
      await lab.dispose();
    }
  };

  it('a pool smaller than the replica count (1 for 2 replicas) passes: in-flight is merged across replicas, not summed per pod', async () => {
    const r = await run(['test/fixtures/dr-limit-one.yaml']);
    expect(r.results[0]!.verdict, r.results[0]!.reason).toBe('pass');
    const observed = (r.results[0]!.cases[0] as Examined).observed as { echoMaxInFlight: number; echoRequests: Record<string, number> };
    expect(observed.echoMaxInFlight).toBe(1);
    // The harness's own calls (the control flood, the admin reads) are not in the overload's count.
    expect(Object.values(observed.echoRequests).reduce((a, b) => a + b, 0)).toBeLessThan(55);
  });

  it('a pool within a raised --max-pool that no bounded flood can exceed is not-applicable with the reason, never pass', async () => {
    const r = await run(['test/fixtures/dr-limits-beyond-flood.yaml'], undefined, { ...DEFAULT_SETTINGS, maxPool: 50_000 });
    expect(r.results[0]!.verdict).toBe('not-applicable');
    expect(r.results[0]!.reason).toMatch(/admits 20000 requests .* within --max-pool 50000; .* cannot exceed it/);
  });

  it('item 11: a pool of 100,000 connections fails RES-001 with the --max-pool limit named (a run without --require exits 1)', async () => {
    const r = await run(['fixtures/weakened/dr-pool-100000.yaml']);
    expect(r.results[0]!.verdict).toBe('fail');
    expect(r.results[0]!.reason).toMatch(/mesh\/echo admits 200000 requests .* more than the limit of 504 \(--max-pool\)/);
    expect(r.exitCode).toBe(1);
  });

  it('item 11: outlier detection needing 1000 consecutive 5xx fails RES-002 with the --max-consecutive-5xx limit named', async () => {
    const r = await run(['fixtures/weakened/dr-outlier-1000.yaml']);
    expect(r.results[1]!.verdict).toBe('fail');
    expect(r.results[1]!.reason).toMatch(/after 1000 consecutive 5xx .* more than the limit of 20 \(--max-consecutive-5xx\)/);
    expect(r.exitCode).toBe(1);
  });

  it('a client whose every call is reset: RES-001 and RES-002 are error (the path is broken), never fail', async () => {
    const r = await run([], (lab) => lab.breakOutbound({ namespace: 'mesh', name: 'authorized' }));
    expect(r.results.map((x) => x.verdict)).toEqual(['error', 'error']);
    expect(r.results[0]!.reason).toMatch(/positive control failed/);
    expect(r.results[1]!.reason).toMatch(/positive control failed/);
  });
});

describe('RES-003: no DestinationRule in scope for the target', () => {
  it('makes the resilience checks not-applicable, with the reason, never pass', async () => {
    const lab = new LabTarget();
    try {
      const r = await conformanceRun({ target: lab, posture: loadPosture('fixtures/secure', ['test/fixtures/no-destination-rule.yaml']), checks: SUITES.resilience!, timeouts: LAB_TIMEOUTS });
      for (const c of r.results) {
        expect(c.verdict).toBe('not-applicable');
        expect(c.reason).toMatch(/no DestinationRule in scope for mesh\/echo/);
      }
      expect(r.exitCode).toBe(0);
    } finally {
      await lab.dispose();
    }
  });
});

describe('I-1: the client sidecar pools upstream HTTP/1.1 connections as Envoy does', () => {
  /** Ten sequential calls authorized → echo; per echo pod, the peer addresses its sidecar saw them come from. */
  async function peersAtEcho(overlays: string[]) {
    const lab = new LabTarget();
    try {
      await lab.apply(loadPosture('fixtures/secure', overlays));
      const client = await lab.probe({ namespace: 'mesh', name: 'authorized' });
      const d = await lab.address(ECHO, 8080, client);
      const since = new Date(Date.now() - 1_000);
      const attacks = Array.from({ length: 10 }, (_, i) => ({ kind: 'http' as const, id: `r${i}`, dial: d.dial, authority: d.authority, path: "/status/200", timeoutMs: 3_000 }));
      const statuses = (await client.run(attacks)).observations.map((o) => o.http?.status);
      const peers: Record<string, string[]> = {};
      for (const pod of await lab.servicePods(ECHO)) {
        const records = (await lab.accessLog(pod, since)).map((l) => parseAccessLog(l)!).filter((r) => r.path?.startsWith('/status/200?'));
        peers[pod.name] = records.map((r) => r.downstreamRemoteAddress!);
      }
      const pooled = lab.sidecarOf(client.pod)!.pooledConnections();
      const open = pooled.filter((s) => !s.destroyed).length;
      await lab.dispose();
      return { statuses, peers, open, closedOnDispose: pooled.every((s) => s.destroyed) };
    } finally {
      await lab.dispose();
    }
  }

  it('with no maxRequestsPerConnection, sequential requests to a host reuse one connection (the same peer port at echo), closed when the lab stops', async () => {
    const r = await peersAtEcho(['fixtures/weakened/dr-no-connection-pool.yaml']);
    expect(r.statuses).toEqual(Array(10).fill(200));
    const served = Object.values(r.peers).filter((p) => p.length > 0);
    expect(served.flat()).toHaveLength(10);
    // One connection per echo replica carried every request that replica served.
    for (const p of served) expect(new Set(p).size).toBe(1);
    expect(r.open).toBe(served.length);
    expect(r.closedOnDispose).toBe(true);
  });

  it('with maxRequestsPerConnection: 1 (the secure DestinationRule), every request gets a new connection', async () => {
    const r = await peersAtEcho([]);
    expect(r.statuses).toEqual(Array(10).fill(200));
    const all = Object.values(r.peers).flat();
    expect(all).toHaveLength(10);
    expect(new Set(all).size).toBe(10);
    expect(r.open).toBe(0);
  });
});
