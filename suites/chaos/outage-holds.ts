import { defineCheck, type Examined } from '../../harness/check.js';
import { runCheck } from '../../harness/engine.js';
import { authz001 } from '../authz/unauthorized-denied.js';
import { mtls001 } from '../mtls/plaintext-refused.js';
import { outageAtFault } from '../certificates/at-fault.js';
import { duringOutage } from './shared.js';

/**
 * With istiod down, the sidecars keep the configuration and certificates they have (Envoy runs on its last xDS
 * state; istio-behaviours.md §4 "istiod down"): STRICT and authorization must hold exactly as before. The same
 * cases as MTLS-001 and AUTHZ-001, positive controls included, run while the control plane is down.
 */
export const chaos001 = defineCheck({
  id: 'CHAOS-001',
  title: 'With the control plane down, STRICT and authorization still hold',
  suite: 'chaos',
  claim: 'While istiod is down, plaintext to mesh/echo is refused, mesh/unauthorized is denied, and mesh/authorized is still served with its cached certificate.',
  categories: ['a', 'b'],
  // Its cases are MTLS-001's and AUTHZ-001's, so their weaknesses fail it too.
  weakenedBy: ['lab-plaintext-on-cp-outage.yaml', 'permissive-mtls.yaml', 'deny-principal-permissive.yaml', 'allow-notnamespaces-permissive.yaml', 'allow-all.yaml', 'no-allow-policy.yaml'],
  method: 'TEST',
  examine: async (ctx) => {
    // A positive control that fails during the outage ends it at once: nothing after it could be judged, and a
    // longer outage only lets certificates expire under the next check (issue 19 item 10).
    const { value, outage } = await duringOutage(ctx.target, async () => {
      const results = [];
      for (const check of [mtls001, authz001]) {
        const r = await runCheck(check, ctx, { stopAtFailedControl: true });
        results.push(r);
        if (r.cases.some((c) => 'control' in c && !c.control.ok)) break;
      }
      return results;
    });
    const items: Examined[] = [];
    for (const r of value) {
      if (r.verdict === 'not-applicable') return { notApplicable: `${r.id} does not apply: ${r.reason}` };
      // The object at fault is the failing case's own (MTLS-001's PeerAuthentication, AUTHZ-001's policy), unless a
      // lab fault changes the sidecars only during the outage.
      const failed = r.cases.find((c) => c.verdict === 'fail');
      const lab = outageAtFault(ctx.view);
      const atFault = r.verdict === 'fail' ? (lab.object.startsWith('LabFault') ? lab : (failed?.atFault ?? lab)) : undefined;
      items.push({ label: `${r.id} during the outage: ${r.title}`, verdict: r.verdict, reason: `${r.id}'s cases while istiod was down: ${r.reason}`, observed: { outage, cases: r.cases }, ...(atFault ? { atFault } : {}) });
    }
    return items;
  },
});
