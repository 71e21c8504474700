import { defineCheck } from '../../harness/check.js';
import { messageOf } from '../../harness/errors.js';
import { rotationAtFault } from './at-fault.js';
import { ECHO, readCerts, ROTATING, rotatingCall } from './shared.js';

const POLL_MS = 250;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const cert002 = defineCheck({
  id: 'CERT-002',
  title: 'Workload certificates rotate before they expire, without breaking traffic',
  suite: 'certificates',
  claim: 'The short-lived probe mesh/rotating gets a new certificate (a new serial) before its current one expires, and its mTLS traffic to mesh/echo flows before and after the rotation.',
  categories: ['c'],
  weakenedBy: ['lab-no-rotation.yaml'],
  method: 'TEST',
  examine: async (ctx) => {
    const { target, view, timeouts } = ctx;
    if (!view.has('Deployment', ROTATING)) return { notApplicable: 'the posture has no short-lived probe mesh/rotating' };
    const http = view.port(ECHO, 'http');
    if (!http) return { notApplicable: 'mesh/echo declares no HTTP port' };
    const probe = await target.probe(ROTATING);
    const pod = probe.pod;
    const label = `${pod.namespace}/${pod.name}`;
    const call = rotatingCall(ctx, probe, http.port);
    const traffic = async (phase: string) => {
      const r = await call(`${phase}-0`);
      return { ok: r.ok, reason: r.reason, observations: [r.o] };
    };
    const first = readCerts(await target.workloadCert(pod)).leaves[0];
    if (!first?.expiration_time) return [{ label, verdict: 'error', reason: 'no workload certificate in /certs', observed: {} }];
    const expires = Date.parse(first.expiration_time);
    if (expires - Date.now() > timeouts.rotationWatchMaxMs * 2) {
      return { notApplicable: `mesh/rotating's certificate lives until ${first.expiration_time}: too long to watch (set a short SECRET_TTL)` };
    }
    if (Date.now() >= expires + timeouts.certSkewMs) {
      // Observed directly in /certs: the sidecar serves an expired certificate. That is the violation itself.
      return [{ label, verdict: 'fail', reason: `the live certificate (serial ${first.serial_number}) expired at ${first.expiration_time} and was never rotated`, observed: { first }, atFault: rotationAtFault(view, label) }];
    }
    // The path must work before anything can fail: traffic first (judgement order, ARCHITECTURE.md "Verdict").
    const before = await traffic('before');
    if (!before.ok) return [{ label, verdict: 'error', reason: `traffic failed before rotation, so nothing can be said: ${before.reason}`, observed: { first, before } }];
    // Watch until the serial changes or the certificate is past its expiry (plus skew).
    const deadline = Math.min(expires + timeouts.certSkewMs, Date.now() + timeouts.rotationWatchMaxMs);
    let next = first;
    while (Date.now() < deadline) {
      await sleep(POLL_MS);
      try {
        next = readCerts(await target.workloadCert(pod)).leaves[0] ?? next;
      } catch (e) {
        return [{ label, verdict: 'error', reason: `cannot read /certs: ${messageOf(e)}`, observed: { first } }];
      }
      if (next.serial_number !== first.serial_number) break;
    }
    const rotatedAt = new Date().toISOString();
    if (next.serial_number === first.serial_number) {
      const expired = Date.now() >= expires;
      return [{ label, verdict: expired ? 'fail' : 'error', reason: expired ? `serial ${first.serial_number} expired at ${first.expiration_time} without rotation` : 'stopped watching before expiry', observed: { first }, ...(expired ? { atFault: rotationAtFault(view, label) } : {}) }];
    }
    const after = await traffic('after');
    const observed = { first, next, rotatedAt, rotatedBeforeExpiry: Date.parse(rotatedAt) < expires, before: before.observations, after: after.observations };
    if (!after.ok) {
      const atFault = { object: `no posture object: ${label} rotated (serial ${first.serial_number} → ${next.serial_number}) but its traffic to mesh/echo then failed`, remedy: "check that echo's sidecars trust the new certificate's issuer (istio-ca-root-cert) and the proxy log of both sides" };
      return [{ label, verdict: 'fail', reason: `traffic stopped after the rotation: ${after.reason}`, observed, atFault }];
    }
    return [{ label, verdict: 'pass', reason: `serial ${first.serial_number} → ${next.serial_number} before expiry ${first.expiration_time}; traffic flowed before and after`, observed }];
  },
});

