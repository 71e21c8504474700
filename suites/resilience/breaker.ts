import { defineCheck, type Examined } from '../../harness/check.js';
import { messageOf } from '../../harness/errors.js';
import { inFlightSeries, maxConcurrent } from '../../harness/intervals.js';
import { CLIENT, clientCounter, ECHO, echoIntervals, flood, MAX_FLOOD_CONCURRENCY, rise, ruleInScope } from './shared.js';

/** Each request holds its slot this long, so the flood's concurrency is really concurrent. */
const HOLD_PATH = '/delay/100';
/** How far beyond the pool (connections + pending queue) the overload goes. */
const OVERLOAD_MARGIN = 8;
/** Requests per concurrent slot in the overload. */
const ROUNDS = 5;
/** Concurrency of the overload when the pool declares no limit at all (Istio's defaults are effectively unlimited). */
const UNLIMITED_PROBE_CONCURRENCY = 12;

export const res001 = defineCheck({
  id: 'RES-001',
  title: 'Overload trips the circuit breaker and the backend stays protected',
  suite: 'resilience',
  claim:
    "A flood from mesh/authorized to mesh/echo beyond the DestinationRule's connection pool (connections plus pending queue) gets both 200s and overflow 503s (x-envoy-overloaded or the overflow body, with upstream_rq_pending_overflow rising in the client sidecar), and echo, all replicas together, never holds more requests in flight than the limit; the same path below the limit gets only 200s.",
  categories: ['d'],
  weakenedBy: ['dr-no-connection-pool.yaml', 'dr-pending-unbounded.yaml', 'dr-pool-100000.yaml'],
  method: 'TEST',
  examine: async (ctx) => {
    const limits = ruleInScope(ctx, ECHO, CLIENT.namespace, ctx.view.port(ECHO, 'http')?.port);
    if (!limits) return { notApplicable: "no DestinationRule in scope for mesh/echo: nothing to trip (Envoy's defaults are effectively unlimited)" };
    if (!ctx.view.has('Deployment', CLIENT)) return { notApplicable: 'the posture lacks mesh/authorized' };
    const http = ctx.view.port(ECHO, 'http');
    if (!http) return { notApplicable: 'mesh/echo declares no HTTP port' };
    const limit = Math.min(limits.maxConnections ?? Number.POSITIVE_INFINITY, limits.maxRequests ?? Number.POSITIVE_INFINITY);
    const pending = limits.maxPending ?? Number.POSITIVE_INFINITY;
    // Exceed whatever the posture declares; an unset value is Istio's default (MaxUint32): unbounded, a weakness.
    const declared = (Number.isFinite(limit) ? limit : 0) + (Number.isFinite(pending) ? pending : 0);
    // A pool so large it protects nothing fails on its configuration, as CERT-001 judges lifetimes: the limit is
    // the user's (`--max-pool`, by default what the flood below can exceed).
    const pool = `maxConnections ${limits.maxConnections ?? 'unset'}, http1MaxPendingRequests ${limits.maxPending ?? 'unset'}, http2MaxRequests ${limits.maxRequests ?? 'unset'}`;
    const atFault = {
      object: `DestinationRule ${limits.rule} trafficPolicy.connectionPool for echo.mesh:${ctx.view.port(ECHO, 'http')?.port ?? '?'} (${pool})`,
      remedy: `set connectionPool.tcp.maxConnections and connectionPool.http.http1MaxPendingRequests to what echo can hold, together at most --max-pool (${ctx.settings.maxPool})`,
    };
    if (declared > ctx.settings.maxPool) {
      return [
        {
          label: `${limits.rule}: connection pool`,
          atFault,
          verdict: 'fail',
          reason: `${limits.rule} admits ${declared} requests (maxConnections ${limits.maxConnections ?? 'unset'}, http1MaxPendingRequests ${limits.maxPending ?? 'unset'}, http2MaxRequests ${limits.maxRequests ?? 'unset'}) before tripping, more than the limit of ${ctx.settings.maxPool} (--max-pool): a breaker that trips that late protects nothing`,
          observed: { limits, admits: declared, maxPool: ctx.settings.maxPool },
        },
      ];
    }
    if (declared + OVERLOAD_MARGIN > MAX_FLOOD_CONCURRENCY) {
      return { notApplicable: `${limits.rule} admits ${declared} requests (connections + pending) before tripping, within --max-pool ${ctx.settings.maxPool}; a bounded flood of at most ${MAX_FLOOD_CONCURRENCY} cannot exceed it` };
    }
    const concurrency = Number.isFinite(limit) ? declared + OVERLOAD_MARGIN : UNLIMITED_PROBE_CONCURRENCY;
    const overload = { requests: concurrency * ROUNDS, concurrency, path: HOLD_PATH };
    const probe = await ctx.target.probe(CLIENT);
    const label = `authorized floods echo.mesh:${http.port} at concurrency ${concurrency} (${limits.rule}: maxConnections ${limits.maxConnections ?? 'unset'}, http1MaxPendingRequests ${limits.maxPending ?? 'unset'}, http2MaxRequests ${limits.maxRequests ?? 'unset'})`;
    const one = (verdict: Examined['verdict'], reason: string, observed: unknown): Examined[] => [{ label, verdict, reason, observed, ...(verdict === 'fail' ? { atFault } : {}) }];
    try {
      // Positive control: the same path at a concurrency the pool admits gets only 200s.
      const belowConcurrency = Number.isFinite(limit) ? Math.min(limit, 4) : 2;
      const control = await flood(ctx, probe, http.port, { id: 'below-limit', requests: belowConcurrency * 3, concurrency: belowConcurrency, path: HOLD_PATH });
      const controlOk = control.sent === belowConcurrency * 3 && control.statuses['200'] === control.sent;
      await echoIntervals(ctx); // the control's requests are not the overload's
      const before = await clientCounter(ctx, probe, 'upstream_rq_pending_overflow');
      const attack = await flood(ctx, probe, http.port, { id: 'overload', ...overload });
      const after = await clientCounter(ctx, probe, 'upstream_rq_pending_overflow');
      const intervals = await echoIntervals(ctx);
      const inFlight = maxConcurrent(Object.values(intervals).flat());
      const counter = rise(before, after);
      const observed = {
        limits,
        limit: Number.isFinite(limit) ? limit : null,
        overload,
        control,
        attack,
        counter,
        echoMaxInFlight: inFlight,
        echoRequests: Object.fromEntries(Object.entries(intervals).map(([k, v]) => [k, v.length])),
        echoInFlight: inFlightSeries(Object.values(intervals).flat()),
      };
      const ok200 = attack.statuses['200'] ?? 0;
      // Judgement order: a violation seen at the backend fails whatever else happened; then the path must be
      // proven (control, something served) before "never tripped" can fail.
      if (Number.isFinite(limit) && inFlight > limit) return one('fail', `the backend was not protected: echo (all replicas) held ${inFlight} requests in flight, the limit is ${limit}`, observed);
      if (!controlOk) return one('error', `positive control failed: the flood below the limit got ${JSON.stringify(control.statuses)} ${JSON.stringify(control.failures)}`, observed);
      if (ok200 === 0) return one('error', `no request of the overload was served (${JSON.stringify(attack.statuses)} ${JSON.stringify(attack.failures)}): the flood proves nothing`, observed);
      if (attack.overflow.either === 0) {
        const why = !Number.isFinite(limit)
          ? `${limits.rule} sets no connection-pool limit`
          : !Number.isFinite(pending)
            ? `${limits.rule} sets no http1MaxPendingRequests, so the overload queued (Istio's default is unbounded)`
            : 'the pool was exceeded';
        return one('fail', `the breaker never tripped: ${why}; ${JSON.stringify(attack.statuses)} for ${attack.sent} requests at concurrency ${concurrency}`, observed);
      }
      // §9.7: tripped only on 503 + x-envoy-overloaded or the overflow body, corroborated by the overflow counters.
      if ('problem' in counter) return one('error', `overflow 503s came back, but ${counter.problem}`, observed);
      if (counter.delta <= 0) return one('error', `overflow 503s without a rise of upstream_rq_pending_overflow in the client sidecar (rose by ${counter.delta}): not proven to be the mesh`, observed);
      return one('pass', `${ok200}×200 and ${attack.overflow.either} overflow 503s (counter +${counter.delta}); echo held at most ${inFlight} ≤ ${limit} in flight; below the limit ${control.sent}×200`, observed);
    } catch (e) {
      return one('error', `the flood could not be carried out: ${messageOf(e)}`, {});
    }
  },
});
