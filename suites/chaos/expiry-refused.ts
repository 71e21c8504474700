
import { defineCheck } from '../../harness/check.js';
import { ECHO, readCerts, ROTATING, rotatingCall } from '../certificates/shared.js';
import { duringOutage } from './shared.js';

const POLL_MS = 250;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * istiod down and a certificate expiring: the agent cannot rotate it, peers reject the expired certificate on new
 * handshakes and the client sidecar answers 503 (istio-behaviours.md §4; istio/istio#38081): fail closed. When
 * istiod returns, the agent's retried CSR succeeds and traffic recovers; the time it took is the evidence.
 */
export const chaos003 = defineCheck({
  id: 'CHAOS-003',
  title: 'A certificate that expires during a control-plane outage is refused, then recovers',
  suite: 'chaos',
  claim: 'While istiod is down, mesh/rotating (SECRET_TTL seconds) is refused by mesh/echo once its certificate has expired, never served in plaintext; when istiod returns, rotation resumes and its traffic recovers.',
  categories: ['c'],
  weakenedBy: ['lab-allow-expired.yaml', 'lab-no-rotation.yaml'],
  method: 'TEST',
  examine: async (ctx) => {
    const { target, view, timeouts } = ctx;
    if (!view.has('Deployment', ROTATING)) return { notApplicable: 'the posture has no short-lived probe mesh/rotating' };
    const http = view.port(ECHO, 'http');
    if (!http) return { notApplicable: 'mesh/echo declares no HTTP port' };
    const probe = await target.probe(ROTATING);
    const label = `${probe.pod.namespace}/${probe.pod.name} → echo.mesh:${http.port}`;
    const call = rotatingCall(ctx, probe, http.port);
    // A certificate already expired before any outage: rotation is not happening at all (CERT-002's violation, and
    // this claim's too: nothing will recover when istiod returns).
    const live = readCerts(await target.workloadCert(probe.pod)).leaves[0];
    if (live?.expiration_time && Date.now() >= Date.parse(live.expiration_time) + timeouts.certSkewMs) {
      return [{ label, verdict: 'fail', reason: `the live certificate expired at ${live.expiration_time} before any outage: it is not being rotated, so nothing can recover`, observed: { live } }];
    }
    const before = await call('before');
    if (!before.ok) return [{ label, verdict: 'error', reason: `traffic failed before the outage, so nothing can be said: ${before.reason}`, observed: { before: before.o } }];
    const { value, outage } = await duringOutage(target, async () => {
      // A CSR already in flight when istiod went down may still land: wait for the certificate that is live once
      // the outage has begun to expire, checking it is still the one serving when the attempts are made.
      const watchUntil = Date.now() + timeouts.rotationWatchMaxMs;
      for (;;) {
        const leaf = readCerts(await target.workloadCert(probe.pod)).leaves[0];
        const expires = leaf?.expiration_time ? Date.parse(leaf.expiration_time) : Number.NaN;
        if (!Number.isFinite(expires) || expires - Date.now() > timeouts.rotationWatchMaxMs) return { tooLong: leaf?.expiration_time ?? 'unknown' };
        // Past expiry (plus skew), with no CA to rotate against.
        while (Date.now() < expires + timeouts.certSkewMs) await sleep(POLL_MS);
        const still = readCerts(await target.workloadCert(probe.pod)).leaves[0];
        if (still?.serial_number !== leaf!.serial_number) {
          if (Date.now() > watchUntil) return { tooLong: `a rotation during the outage (serial ${still?.serial_number})` };
          continue;
        }
        const attempts = [];
        for (let i = 0; i < timeouts.attackAttempts; i++) attempts.push(await call(`expired-${i}`));
        return { expiredAt: leaf!.expiration_time, serial: leaf!.serial_number, attempts };
      }
    });
    if ('tooLong' in value) return { notApplicable: `mesh/rotating's certificate lives until ${value.tooLong}: too long to outlast in an outage (set a short SECRET_TTL)` };
    const through = value.attempts.find((a) => a.o.http?.echo);
    if (through) {
      return [{ label, verdict: 'fail', reason: `after its certificate expired at ${value.expiredAt} with istiod down, the call still reached echo (HTTP ${through.o.http?.status}): the expired certificate was accepted`, observed: { outage, ...value } }];
    }
    // Recovery: the agent's retried CSR succeeds once istiod is back; traffic must flow again.
    const restoredAt = Date.parse(outage.endedAt);
    const deadline = Date.now() + timeouts.rotationWatchMaxMs;
    let after = await call('after-0');
    for (let i = 1; !after.ok && Date.now() < deadline; i++) {
      await sleep(POLL_MS);
      after = await call(`after-${i}`);
    }
    const recoveryMs = Date.now() - restoredAt;
    const observed = { outage, expiredAt: value.expiredAt, during: value.attempts.map((a) => a.o), after: after.o, recoveryMs };
    if (!after.ok) return [{ label, verdict: 'fail', reason: `refused while expired, but traffic did not recover within ${timeouts.rotationWatchMaxMs} ms of istiod's return: ${after.reason}`, observed }];
    const refusedAs = value.attempts.map((a) => (a.o.http ? `HTTP ${a.o.http.status}` : (a.o.failure?.class ?? 'no answer'))).join(', ');
    return [{ label, verdict: 'pass', reason: `refused after expiry (${refusedAs}), never served; recovered ${recoveryMs} ms after istiod returned`, observed }];
  },
});
