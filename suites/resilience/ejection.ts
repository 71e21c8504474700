import type { FloodResult } from '../../agent/protocol.js';
import { defineCheck, type Examined } from '../../harness/check.js';
import { messageOf } from '../../harness/errors.js';
import { CLIENT, clientCounter, ECHO, flood, rise, ruleInScope } from './shared.js';

/** Upper bound on trip rounds: with random host choice the failing replica is picked about 1/n of the time. */
const MAX_TRIP_ROUNDS = 20;
const EJECTION_COUNTER = 'outlier_detection.ejections_enforced_consecutive_5xx';

export const res002 = defineCheck({
  id: 'RES-002',
  title: 'A failing replica is ejected and traffic continues on the healthy ones',
  suite: 'resilience',
  claim:
    'When one echo replica answers only 5xx, the client sidecar ejects it once it has answered the configured number of consecutive 5xx (outlier_detection ejection counters rise) and the following requests all succeed on the healthy replicas.',
  categories: ['d'],
  weakenedBy: ['dr-no-outlier-detection.yaml', 'dr-outlier-1000.yaml'],
  method: 'TEST',
  examine: async (ctx) => {
    const limits = ruleInScope(ctx, ECHO, CLIENT.namespace, ctx.view.port(ECHO, 'http')?.port);
    if (!limits) return { notApplicable: 'no DestinationRule in scope for mesh/echo: no outlier detection to test' };
    const http = ctx.view.port(ECHO, 'http');
    if (!http) return { notApplicable: 'mesh/echo declares no HTTP port' };
    const pods = await ctx.target.servicePods(ECHO);
    if (pods.length < 2) return { notApplicable: 'mesh/echo needs at least two replicas to eject one and keep serving' };
    const probe = await ctx.target.probe(CLIENT);
    const bad = pods[0]!;
    const label = `authorized → echo.mesh:${http.port} while ${bad.namespace}/${bad.name} answers 500`;
    const threshold = limits.outlier?.consecutive5xxErrors ?? 5;
    const atFault = {
      object: limits.outlier
        ? `DestinationRule ${limits.rule} trafficPolicy.outlierDetection for echo.mesh:${http.port} (consecutive5xxErrors ${limits.outlier.consecutive5xxErrors ?? 'unset: 5'}, baseEjectionTime ${limits.outlier.baseEjectionTime ?? 'unset: 30s'}, maxEjectionPercent ${limits.outlier.maxEjectionPercent ?? 'unset: 10'})`
        : `DestinationRule ${limits.rule} has no outlierDetection for echo.mesh:${http.port}`,
      remedy: `set trafficPolicy.outlierDetection with consecutive5xxErrors at most --max-consecutive-5xx (${ctx.settings.maxConsecutive5xx}), a baseEjectionTime and a maxEjectionPercent that lets one replica of ${pods.length} be ejected`,
    };
    const one = (verdict: Examined['verdict'], reason: string, observed: unknown): Examined[] => [{ label, verdict, reason, observed, ...(verdict === 'fail' ? { atFault } : {}) }];
    // A threshold so high the replica is never ejected in practice fails on its configuration, as CERT-001 judges
    // lifetimes (`--max-consecutive-5xx`, a small multiple of Istio's default of 5).
    if (limits.outlier && threshold > ctx.settings.maxConsecutive5xx) {
      return [
        {
          label: `${limits.rule}: outlier detection`,
          atFault,
          verdict: 'fail',
          reason: `${limits.rule} ejects a replica only after ${threshold} consecutive 5xx (consecutive5xxErrors), more than the limit of ${ctx.settings.maxConsecutive5xx} (--max-consecutive-5xx): a failing replica keeps its share of traffic that long`,
          observed: { limits, threshold, maxConsecutive5xx: ctx.settings.maxConsecutive5xx },
        },
      ];
    }
    try {
      const control = await flood(ctx, probe, http.port, { id: 'healthy', requests: 2 * pods.length, concurrency: 1, path: '/' });
      const controlOk = control.sent === 2 * pods.length && control.statuses['200'] === control.sent;
      if (!controlOk) return one('error', `positive control failed: healthy echo answered ${JSON.stringify(control.statuses)} ${JSON.stringify(control.failures)}`, { limits, control });
      const before = await clientCounter(ctx, probe, EJECTION_COUNTER);
      await ctx.target.appAdmin(bad, '/admin/fail?on=1');
      const trips: FloodResult[] = [];
      let answered500 = 0;
      let afterwards: FloodResult;
      try {
        // Envoy picks hosts at random (LEAST_REQUEST, §10): keep sending, bounded, until the failing replica has
        // answered the threshold's consecutive 5xx. Only it answers 500, so every 500 is one of its answers.
        for (let round = 0; round < MAX_TRIP_ROUNDS && answered500 < threshold; round++) {
          const t = await flood(ctx, probe, http.port, { id: `trip-${round}`, requests: threshold, concurrency: 1, path: '/' });
          trips.push(t);
          answered500 += t.statuses['500'] ?? 0;
        }
        afterwards = await flood(ctx, probe, http.port, { id: 'afterwards', requests: 10, concurrency: 1, path: '/' });
      } finally {
        await ctx.target.appAdmin(bad, '/admin/fail?on=0');
      }
      const after = await clientCounter(ctx, probe, EJECTION_COUNTER);
      const counter = rise(before, after);
      const observed = { limits, failingPod: `${bad.namespace}/${bad.name}`, threshold, control, trips, answered500, afterwards, counter };
      const stillFailing = afterwards.statuses['500'] ?? 0;
      if (answered500 < threshold) {
        if (stillFailing > 0) return one('fail', `no ejection: the failing replica kept answering (${stillFailing} of ${afterwards.sent} later requests got its 500)`, observed);
        return one('error', `the failing replica answered only ${answered500} of the ${threshold} consecutive 5xx needed within ${trips.length} rounds: nothing can be said`, observed);
      }
      if (stillFailing > 0) return one('fail', `no ejection: after ${answered500} consecutive 500s, ${stillFailing} of ${afterwards.sent} later requests still reached the failing replica`, observed);
      const served = afterwards.statuses['200'] ?? 0;
      if (served === 0 && Object.keys(afterwards.statuses).length === 0) return one('error', `the requests after the trip all failed on the wire (${JSON.stringify(afterwards.failures)}): nothing can be said`, observed);
      if (served !== afterwards.sent) return one('fail', `traffic did not continue on the healthy replicas: ${JSON.stringify(afterwards.statuses)} ${JSON.stringify(afterwards.failures)}`, observed);
      // §9.7: an ejection is proven by the ejection counters (or UH), never by a bare 503.
      if ('problem' in counter) return one('error', `the failing replica stopped getting traffic, but ${counter.problem}`, observed);
      if (counter.delta <= 0) return one('error', 'the failing replica stopped getting traffic, but no ejection counter rose: not proven to be outlier detection', observed);
      return one('pass', `ejected after ${answered500} 500s (ejections +${counter.delta}); the next ${afterwards.sent} requests all 200 on ${Object.keys(afterwards.pods).join(', ')}`, observed);
    } catch (e) {
      return one('error', `could not be carried out: ${messageOf(e)}`, {});
    }
  },
});
