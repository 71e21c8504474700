import type { Observation } from '../../agent/protocol.js';
import { defineCheck } from '../../harness/check.js';
import { parseGoDuration } from '../../harness/duration.js';
import type { PodRef, Target } from '../../harness/target.js';
import type { Timeouts } from '../../harness/timeouts.js';
import { type CertDetail, ECHO, readCerts, ROTATING, rotatingCall } from '../certificates/shared.js';
import { type Limits, ruleInScope } from '../resilience/shared.js';
import { duringOutage } from './shared.js';

const POLL_MS = 250;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Envoy's outlier-detection defaults: base ejection 30 s, at most 300 s (E: api/envoy/config/cluster/v3/outlier_detection.proto). */
const DEFAULT_BASE_EJECTION_MS = 30_000;
const MAX_EJECTION_MS = 300_000;

const expiry = (leaf: CertDetail | undefined) => (leaf?.expiration_time ? Date.parse(leaf.expiration_time) : Number.NaN);
const expired = (leaf: CertDetail | undefined, t: Timeouts) => !(Date.now() < expiry(leaf) + t.certSkewMs);
/** Envoy's answer when outlier detection has ejected every host of the cluster: 503 `no healthy upstream`, flag UH (§5). */
const noHealthyUpstream = (o: Observation) => o.http?.status === 503 && o.http.body.startsWith('no healthy upstream');

/**
 * Waits for a live certificate that has not expired, as long as the agent's retry back-off allows
 * (`timeouts.certRenewalMaxMs`): after an outage the agent retries its CSR on its own schedule, so a certificate
 * that expired while istiod was down is renewed only at its next attempt. Stops as soon as one is there.
 */
async function liveCertificate(target: Target, pod: PodRef, t: Timeouts): Promise<{ leaf?: CertDetail; waitedMs: number; fresh: boolean }> {
  const started = Date.now();
  for (;;) {
    const leaf = readCerts(await target.workloadCert(pod)).leaves[0];
    // Fresh: it outlives a call made now (a certificate about to expire is replaced at the agent's next rotation).
    if (leaf && expiry(leaf) - Date.now() > t.attackMs) return { leaf, waitedMs: Date.now() - started, fresh: true };
    if (Date.now() - started >= t.certRenewalMaxMs) return { leaf, waitedMs: Date.now() - started, fresh: false };
    await sleep(POLL_MS);
  }
}

/**
 * How long outlier detection may keep echo's hosts ejected after the refused calls of the outage: each failed call is
 * a 5xx to Envoy (a connect failure counts, split_external_local_origin_errors being off by default), every
 * `consecutive5xxErrors` of them may eject a host for baseEjectionTime × its ejection count, capped at 300 s
 * (E: source/common/upstream/outlier_detection_impl.cc; api/envoy/config/cluster/v3/outlier_detection.proto
 * split_external_local_origin_errors; istio-behaviours.md §5).
 */
function ejectionBoundMs(rule: Limits | undefined, failed: number): { ms: number; base: string } | undefined {
  const od = rule?.outlier;
  if (!od || od.consecutive5xxErrors === 0) return undefined;
  const base = od.baseEjectionTime ? (parseGoDuration(od.baseEjectionTime) ?? DEFAULT_BASE_EJECTION_MS) : DEFAULT_BASE_EJECTION_MS;
  const times = Math.max(1, Math.floor(failed / (od.consecutive5xxErrors ?? 5)));
  return { ms: Math.min(base * times, MAX_EJECTION_MS), base: od.baseEjectionTime ?? '30s (default)' };
}

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
    // A certificate is checked only at the TLS handshake, and Envoy pools HTTP/1.1 upstream connections unless the
    // DestinationRule sets maxRequestsPerConnection (I: pilot/pkg/networking/core/cluster_traffic_policy.go
    // applyConnectionPool): a call after expiry could ride a connection opened while the certificate was valid and
    // be served, a false fail. Only maxRequestsPerConnection: 1 makes every call a new handshake.
    const rule = ruleInScope(ctx, ECHO, ROTATING.namespace);
    if (rule?.maxRequestsPerConnection !== 1) {
      const which = !rule
        ? 'no DestinationRule is in force'
        : rule.maxRequestsPerConnection === undefined
          ? `the DestinationRule in force (${rule.rule}) leaves maxRequestsPerConnection unset`
          : `the DestinationRule in force (${rule.rule}) sets maxRequestsPerConnection ${rule.maxRequestsPerConnection}`;
      return { notApplicable: `for mesh/rotating → mesh/echo ${which}: Envoy may reuse a pooled connection opened before the certificate expired (certificates are checked only at the handshake), so an expired certificate is never presented; set connectionPool.http.maxRequestsPerConnection: 1` };
    }
    const probe = await target.probe(ROTATING);
    const label = `${probe.pod.namespace}/${probe.pod.name} → echo.mesh:${http.port}`;
    const call = rotatingCall(ctx, probe, http.port);
    // An earlier outage (another check's) may have let the certificate expire, and the agent renews it only at its
    // next retry: wait for that, bounded by the agent's back-off. Still expired after that bound: rotation is not
    // happening at all (CERT-002's violation, and this claim's too: nothing will recover when istiod returns).
    const start = await liveCertificate(target, probe.pod, timeouts);
    if (!start.fresh) {
      return [{ label, verdict: 'fail', reason: `the live certificate expired at ${start.leaf?.expiration_time ?? 'unknown'} before this check's outage and no fresh one came within ${timeouts.certRenewalMaxMs} ms (the agent's retry back-off bound): it is not being rotated, so nothing can recover`, observed: { live: start.leaf, waitedMs: start.waitedMs } }];
    }
    const before = await call('before');
    if (!before.ok) return [{ label, verdict: 'error', reason: `traffic failed before the outage, so nothing can be said: ${before.reason}`, observed: { before: before.o, live: start.leaf, at: new Date().toISOString() } }];
    const { value, outage } = await duringOutage(target, async () => {
      // A CSR already in flight when istiod went down may still land: wait for the certificate that is live once
      // the outage has begun to expire, checking it is still the one serving when the attempts are made.
      const watchUntil = Date.now() + timeouts.rotationWatchMaxMs;
      for (;;) {
        const leaf = readCerts(await target.workloadCert(probe.pod)).leaves[0];
        const expires = expiry(leaf);
        if (!Number.isFinite(expires) || expires - Date.now() > timeouts.rotationWatchMaxMs) return { tooLong: leaf?.expiration_time ?? 'unknown' };
        // Past expiry (plus skew), with no CA to rotate against.
        while (!expired(leaf, timeouts)) await sleep(POLL_MS);
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
    return recovery(ctx, { label, call, rule, outage, expiredAt: value.expiredAt, attempts: value.attempts, pod: probe.pod });
  },
});

type Call = ReturnType<typeof rotatingCall>;
type Attempt = Awaited<ReturnType<Call>>;

/**
 * Recovery, measured from the moment the Target's restore() returned (istiod back), not from when the outage was
 * asked to end: first the agent's fresh certificate (bounded by its retry back-off), then traffic. If outlier
 * detection ejected echo during the outage (every host: `no healthy upstream`), traffic waits for baseEjectionTime:
 * a real effect of the posture, reported as that.
 */
async function recovery(
  { target, timeouts }: { target: Target; timeouts: Timeouts },
  r: { label: string; call: Call; rule: Limits | undefined; outage: { restoredAt: string }; expiredAt: string | undefined; attempts: Attempt[]; pod: PodRef },
) {
  const restoredAt = Date.parse(r.outage.restoredAt);
  const since = () => Date.now() - restoredAt;
  const renewed = await liveCertificate(target, r.pod, timeouts);
  const during = r.attempts.map((a) => a.o);
  const base = { outage: r.outage, expiredAt: r.expiredAt, during };
  if (!renewed.fresh) {
    return [{ label: r.label, verdict: 'fail' as const, reason: `refused while expired, but no fresh certificate within ${timeouts.certRenewalMaxMs} ms of istiod's return (the agent's retry back-off bound): rotation did not resume`, observed: { ...base, live: renewed.leaf } }];
  }
  const certRenewedAfterRestoreMs = since();
  const ejection = ejectionBoundMs(r.rule, r.attempts.length);
  // Ejected already during the outage (a refused call answered `no healthy upstream`), or seen after it.
  const ejectedDuring = r.attempts.find((a) => noHealthyUpstream(a.o));
  let ejectedSeenAt = ejectedDuring ? Date.parse(ejectedDuring.o.startedAt) : undefined;
  let after = await r.call('after-0');
  for (let i = 1; !after.ok; i++) {
    if (noHealthyUpstream(after.o)) ejectedSeenAt ??= Date.now();
    const until = ejectedSeenAt !== undefined && ejection ? ejectedSeenAt + ejection.ms + timeouts.convergenceMs : restoredAt + certRenewedAfterRestoreMs + timeouts.convergenceMs;
    if (Date.now() >= until) break;
    await sleep(POLL_MS);
    after = await r.call(`after-${i}`);
  }
  const recoveryAfterRestoreMs = since();
  const ejected = ejectedSeenAt !== undefined ? { seenAt: new Date(ejectedSeenAt).toISOString(), baseEjectionTime: ejection?.base ?? 'none (no outlierDetection)', boundMs: ejection?.ms ?? 0 } : undefined;
  const observed = { ...base, after: after.o, certRenewedAfterRestoreMs, recoveryAfterRestoreMs, ...(ejected ? { ejectedByOutlierDetection: ejected } : {}) };
  const ejectionText = ejected
    ? `; outlier detection (${r.rule?.rule}) had ejected every echo host on the refused calls ('no healthy upstream' at ${ejected.seenAt}), so traffic could wait up to its baseEjectionTime ${ejected.baseEjectionTime} per ejection: an effect of the posture, not of rotation`
    : '';
  if (!after.ok) {
    return [{ label: r.label, verdict: 'fail' as const, reason: `refused while expired and a fresh certificate came ${certRenewedAfterRestoreMs} ms after istiod's return, but traffic did not recover: ${after.reason}${ejectionText}`, observed }];
  }
  const refusedAs = during.map((o) => (o.http ? `HTTP ${o.http.status}` : (o.failure?.class ?? 'no answer'))).join(', ');
  return [{ label: r.label, verdict: 'pass' as const, reason: `refused after expiry (${refusedAs}), never served; after istiod's restore returned, a fresh certificate in ${certRenewedAfterRestoreMs} ms and traffic in ${recoveryAfterRestoreMs} ms${ejectionText}`, observed }];
}
