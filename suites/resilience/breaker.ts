import { defineCheck } from '../../harness/check.js';
import { messageOf } from '../../harness/errors.js';
import { CLIENT, clientCounter, ECHO, echoPeaks, flood, ruleInScope } from './shared.js';

/** The overload: far more concurrency than any sane limit for one echo, each request held 100 ms. */
const FLOOD = { requests: 60, concurrency: 12, path: '/delay/100' };

export const res001 = defineCheck({
  id: 'RES-001',
  title: 'Overload trips the circuit breaker and the backend stays protected',
  suite: 'resilience',
  claim: 'A flood from mesh/authorized to mesh/echo beyond the DestinationRule\'s connection pool gets both 200s and overflow 503s (x-envoy-overloaded or the overflow body, with overflow counters in the client sidecar), and echo never holds more requests in flight than the limit; the same flood below the limit gets only 200s.',
  categories: ['d'],
  weakenedBy: ['dr-no-connection-pool.yaml', 'dr-limits-too-high.yaml'],
  method: 'TEST',
  examine: async (ctx) => {
    const limits = ruleInScope(ctx, ECHO, CLIENT.namespace);
    if (!limits) return { notApplicable: 'no DestinationRule in scope for mesh/echo: nothing to trip (Envoy\'s defaults are effectively unlimited)' };
    if (!ctx.view.has('Deployment', CLIENT)) return { notApplicable: 'the posture lacks mesh/authorized' };
    const probe = await ctx.target.probe(CLIENT);
    const limit = Math.min(limits.maxConnections ?? Number.POSITIVE_INFINITY, limits.maxRequests ?? Number.POSITIVE_INFINITY);
    const label = `authorized floods echo.mesh:8080 (${limits.rule}: maxConnections ${limits.maxConnections ?? '∞'}, http1MaxPendingRequests ${limits.maxPending ?? '∞'}, http2MaxRequests ${limits.maxRequests ?? '∞'})`;
    try {
      // Positive control: the same flood at a concurrency the pool admits gets only 200s.
      const belowConcurrency = Number.isFinite(limit) ? Math.min(limit, FLOOD.concurrency) : 2;
      await echoPeaks(ctx);
      const control = await flood(ctx, probe, { id: 'below-limit', requests: FLOOD.concurrency, concurrency: belowConcurrency, path: FLOOD.path });
      const controlOk = control.statuses['200'] === control.sent && control.sent === FLOOD.concurrency;
      await echoPeaks(ctx);
      const before = await clientCounter(ctx, probe, 'upstream_rq_pending_overflow');
      const attack = await flood(ctx, probe, { id: 'overload', ...FLOOD });
      const after = await clientCounter(ctx, probe, 'upstream_rq_pending_overflow');
      const peaks = await echoPeaks(ctx);
      const peakTotal = Object.values(peaks).reduce((a, b) => a + b, 0);
      const counterDelta = before === null || after === null ? null : after - before;
      const observed = { limits, control, attack, counterDelta, echoPeakInFlight: peaks, echoPeakTotal: peakTotal };
      const ok200 = attack.statuses['200'] ?? 0;
      // §9.7: tripped only on 503 + x-envoy-overloaded or the overflow body, corroborated by the overflow counters.
      if (attack.overflow.either === 0) return [{ label, verdict: 'fail', reason: `the breaker never tripped: ${JSON.stringify(attack.statuses)} for ${attack.sent} requests at concurrency ${FLOOD.concurrency}`, observed }];
      if (!Number.isFinite(limit)) return [{ label, verdict: 'fail', reason: `${limits.rule} sets no connection-pool limit, yet overflows came back`, observed }];
      if (peakTotal > limit) return [{ label, verdict: 'fail', reason: `the backend was not protected: echo held ${peakTotal} requests in flight, the limit is ${limit}`, observed }];
      if (!controlOk) return [{ label, verdict: 'error', reason: `positive control failed: the flood below the limit got ${JSON.stringify(control.statuses)} ${JSON.stringify(control.failures)}`, observed }];
      if (ok200 === 0) return [{ label, verdict: 'error', reason: 'no request got through the overload: the flood proves no protection', observed }];
      if (!counterDelta || counterDelta <= 0) return [{ label, verdict: 'error', reason: `overflow 503s without a rise of upstream_rq_pending_overflow in the client sidecar (rose by ${counterDelta ?? 'n/a'}): not proven to be the mesh`, observed }];
      return [{ label, verdict: 'pass', reason: `${ok200}×200 and ${attack.overflow.either} overflow 503s (counter +${counterDelta}); echo peak in flight ${peakTotal} ≤ ${limit}; below the limit ${control.sent}×200`, observed }];
    } catch (e) {
      return [{ label, verdict: 'error', reason: `the flood could not be carried out: ${messageOf(e)}`, observed: {} }];
    }
  },
});
