import type { Attack } from '../../agent/protocol.js';
import { defineCheck, type Examined } from '../../harness/check.js';
import { plaintextRefused } from '../../harness/classify.js';
import { messageOf } from '../../harness/errors.js';
import { readCerts } from '../certificates/shared.js';
import { injectionAtFault } from '../certificates/at-fault.js';
import { OUTSIDE } from '../mtls/shared.js';
import { duringOutage } from './shared.js';

const BARE_ECHO = { namespace: 'bare', name: 'echo' };

/**
 * A pod created while istiod is down cannot be injected: Istio's injection webhook fails closed (failurePolicy
 * Fail; istio/istio#3724; IO: ops/common-problems/injection), so the pod is never created, or, once created, has
 * no certificate and is never Ready. It must not join without a sidecar and serve plaintext.
 */
export const chaos002 = defineCheck({
  id: 'CHAOS-002',
  title: 'A workload started during a control-plane outage does not join unprotected',
  suite: 'chaos',
  claim: 'A replica of bare/echo started while istiod is down is refused (or never Ready) and serves no plaintext; once istiod is back it joins with its mesh certificate.',
  categories: ['a'],
  weakenedBy: ['lab-injection-fail-open.yaml'],
  method: 'TEST',
  examine: async ({ target, view, timeouts }) => {
    const http = view.port(BARE_ECHO, 'http');
    if (!http) return { notApplicable: 'bare/echo declares no HTTP port' };
    const before = await target.servicePods(BARE_ECHO);
    const label = `bare/echo scaled ${before.length} → ${before.length + 1} during the outage`;
    const outside = await target.probe(OUTSIDE);
    try {
      const { value, outage } = await duringOutage(target, async () => {
        const scaled = await target.scale(BARE_ECHO, before.length + 1);
        const known = new Set(before.map((p) => p.name));
        const joined = (await target.endpoints(BARE_ECHO, http.port)).filter((e) => !known.has(e.pod.name));
        const attacks: Attack[] = joined.map((e, i) => ({ kind: 'http', id: `joined-${i}`, dial: e.dial, timeoutMs: timeouts.attackMs }));
        const report = attacks.length > 0 ? await outside.run(attacks) : { observations: [] };
        return { scaled, joined: joined.map((e) => e.pod.name), observations: report.observations };
      });
      const served = value.observations.map(plaintextRefused).find((j) => j.outcome === 'allowed');
      if (served) return [{ label, verdict: 'fail', reason: `a pod that started during the outage (${value.joined.join(', ')}) served plaintext: ${served.reason}`, observed: { outage, ...value }, atFault: injectionAtFault(view) }];
      const during = value.scaled.refused ? `refused while istiod was down (${value.scaled.refused})` : `${value.joined.length} pod(s) started, none serving plaintext`;
      // Positive control: with istiod back, the same scale-up goes through and the new pod holds a mesh certificate.
      // The ReplicaSet's retry of what the webhook refused is rate-limited (exponential, up to 1000 s: client-go
      // DefaultControllerRateLimiter) and a patch to the same count enqueues nothing, so scale down and up again:
      // each change of spec.replicas syncs the ReplicaSet at once, and the first clears the stale ReplicaFailure
      // (kubernetes pkg/controller/replicaset replica_set_utils.go calculateStatus). Then wait, bounded, for the pod.
      await target.scale(BARE_ECHO, before.length);
      const again = await target.scale(BARE_ECHO, before.length + 1, { waitForPods: true });
      if (again.refused) return [{ label, verdict: 'error', reason: `${during}; but after istiod returned the replica is still refused (${again.refused}), so the path is unproven`, observed: { outage, ...value } }];
      const pods = await target.servicePods(BARE_ECHO);
      const newcomer = pods.find((p) => !before.some((b) => b.name === p.name));
      if (!newcomer) return [{ label, verdict: 'error', reason: `${during}; but the replica never joined after istiod returned, so the path is unproven`, observed: { outage, ...value } }];
      let spiffe: string | undefined;
      try {
        spiffe = readCerts(await target.workloadCert(newcomer)).leaves[0]?.subject_alt_names?.[0]?.uri;
      } catch (e) {
        return [{ label, verdict: 'error', reason: `${during}; the replica joined after istiod returned but its certificate cannot be read: ${messageOf(e)}`, observed: { outage, ...value } }];
      }
      const want = target.identity(BARE_ECHO.namespace, view.serviceAccountOf(BARE_ECHO) ?? 'default');
      if (spiffe !== want) return [{ label, verdict: 'error', reason: `${during}; after istiod returned the replica holds ${spiffe ?? 'no certificate'}, expected ${want}`, observed: { outage, ...value } }];
      return [{ label, verdict: 'pass', reason: `${during}; after istiod returned, ${newcomer.name} joined with ${spiffe}`, observed: { outage, ...value, joinedAfter: newcomer.name } } satisfies Examined];
    } finally {
      await target.scale(BARE_ECHO, before.length);
    }
  },
});
