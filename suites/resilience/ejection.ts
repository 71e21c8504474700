import { defineCheck } from '../../harness/check.js';
import { messageOf } from '../../harness/errors.js';
import { CLIENT, clientCounter, ECHO, flood, ruleInScope } from './shared.js';

export const res002 = defineCheck({
  id: 'RES-002',
  title: 'A failing replica is ejected and traffic continues on the healthy ones',
  suite: 'resilience',
  claim: 'When one echo replica answers only 5xx, the client sidecar ejects it (outlier_detection ejection counters rise) and the following requests all succeed on the healthy replicas.',
  categories: ['d'],
  weakenedBy: ['dr-no-outlier-detection.yaml'],
  method: 'TEST',
  examine: async (ctx) => {
    const limits = ruleInScope(ctx, ECHO, CLIENT.namespace);
    if (!limits) return { notApplicable: 'no DestinationRule in scope for mesh/echo: no outlier detection to test' };
    const pods = await ctx.target.servicePods(ECHO);
    if (pods.length < 2) return { notApplicable: 'mesh/echo needs at least two replicas to eject one and keep serving' };
    const probe = await ctx.target.probe(CLIENT);
    const bad = pods[0]!;
    const label = `authorized → echo.mesh:8080 while ${bad.namespace}/${bad.name} answers 500`;
    const threshold = limits.outlier?.consecutive5xxErrors ?? 5;
    try {
      const control = await flood(ctx, probe, { id: 'healthy', requests: 2 * pods.length, concurrency: 1, path: '/' });
      const controlOk = control.statuses['200'] === control.sent;
      const before = await clientCounter(ctx, probe, 'outlier_detection.ejections_enforced_consecutive_5xx');
      await ctx.target.appAdmin(bad, '/admin/fail?on=1');
      let trip: Awaited<ReturnType<typeof flood>>;
      let afterwards: Awaited<ReturnType<typeof flood>>;
      try {
        trip = await flood(ctx, probe, { id: 'trip', requests: threshold * pods.length * 2, concurrency: 1, path: '/' });
        afterwards = await flood(ctx, probe, { id: 'afterwards', requests: 10, concurrency: 1, path: '/' });
      } finally {
        await ctx.target.appAdmin(bad, '/admin/fail?on=0');
      }
      const after = await clientCounter(ctx, probe, 'outlier_detection.ejections_enforced_consecutive_5xx');
      const ejections = before === null || after === null ? null : after - before;
      const observed = { limits, failingPod: `${bad.namespace}/${bad.name}`, control, trip, afterwards, ejections };
      const stillFailing = afterwards.statuses['500'] ?? 0;
      if (!controlOk) return [{ label, verdict: 'error', reason: `positive control failed: healthy echo answered ${JSON.stringify(control.statuses)}`, observed }];
      if (stillFailing > 0) return [{ label, verdict: 'fail', reason: `no ejection: ${stillFailing} of ${afterwards.sent} later requests still reached the failing replica (ejections +${ejections ?? 'n/a'})`, observed }];
      if (afterwards.statuses['200'] !== afterwards.sent) return [{ label, verdict: 'fail', reason: `traffic did not continue on the healthy replicas: ${JSON.stringify(afterwards.statuses)}`, observed }];
      // §9.7: an ejection is proven by the ejection counters (or UH), never by a bare 503.
      if (!ejections || ejections <= 0) return [{ label, verdict: 'error', reason: 'the failing replica stopped getting traffic, but no ejection counter rose: not proven to be outlier detection', observed }];
      return [{ label, verdict: 'pass', reason: `ejected after ${trip.statuses['500'] ?? 0} 500s (ejections +${ejections}); the next ${afterwards.sent} requests all 200 on ${Object.keys(afterwards.pods).join(', ')}`, observed }];
    } catch (e) {
      return [{ label, verdict: 'error', reason: `could not be carried out: ${messageOf(e)}`, observed: {} }];
    }
  },
});
