import type { Observation } from '../../agent/protocol.js';
import { type AtFault, defineCheck } from '../../harness/check.js';
import { parseGoDuration } from '../../harness/duration.js';
import type { PodRef, Target } from '../../harness/target.js';
import type { Timeouts } from '../../harness/timeouts.js';
import { type CertDetail, ECHO, readCerts, ROTATING, rotatingCall } from '../certificates/shared.js';
import { clientCounter, type Limits, rise, ruleInScope } from '../resilience/shared.js';
import { expiredAtFault, rotationAtFault } from '../certificates/at-fault.js';
import { duringOutage } from './shared.js';

const POLL_MS = 250;
/** Envoy's per-cluster count of TLS handshakes that resumed a session (E: source/common/tls/ssl_socket.cc / context_impl.cc). */
const SESSION_REUSED = 'ssl.session_reused';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Envoy's outlier-detection defaults: base ejection 30 s, at most 300 s (E: api/envoy/config/cluster/v3/outlier_detection.proto). */
const DEFAULT_BASE_EJECTION_MS = 30_000;
const MAX_EJECTION_MS = 300_000;

const expiry = (leaf: CertDetail | undefined) => (leaf?.expiration_time ? Date.parse(leaf.expiration_time) : Number.NaN);
const expired = (leaf: CertDetail | undefined, t: Timeouts) => !(Date.now() < expiry(leaf) + t.certSkewMs);
/** Envoy's answer when outlier detection has ejected every host of the cluster: 503 `no healthy upstream`, flag UH (§5). */
const noHealthyUpstream = (o: Observation) => o.http?.status === 503 && o.http.body.startsWith('no healthy upstream');

/**
 * Waits for a live certificate that has not expired (by `expired()`'s skew rule) and, when `not` is given, is not
 * that serial (a renewal, not the certificate that expired), as long as the agent's retry back-off allows
 * (`timeouts.certRenewalMaxMs`): after an outage the agent retries its CSR on its own schedule, so a certificate
 * that expired while istiod was down is renewed only at its next attempt. Stops as soon as one is there.
 *
 * A-H1: "fresh" is judged against the certificate itself, never against a fixed margin such as attackMs. pilot-agent
 * rotates at SECRET_GRACE_PERIOD_RATIO 0.5 of the lifetime (I: security/pkg/nodeagent/cache/secretcache.go
 * rotateTime), so the served certificate of a 6 s SECRET_TTL always has 3–6 s left: a margin of attackMs (5 s on a
 * cluster) would almost never be met. A call that straddles the expiry is retried by the caller instead.
 */
async function liveCertificate(target: Target, pod: PodRef, t: Timeouts, not?: string): Promise<{ leaf?: CertDetail; waitedMs: number; fresh: boolean }> {
  const started = Date.now();
  for (;;) {
    const leaf = readCerts(await target.workloadCert(pod)).leaves[0];
    if (leaf && !expired(leaf, t) && (not === undefined || leaf.serial_number !== not)) return { leaf, waitedMs: Date.now() - started, fresh: true };
    if (Date.now() - started >= t.certRenewalMaxMs) return { leaf, waitedMs: Date.now() - started, fresh: false };
    await sleep(POLL_MS);
  }
}

/**
 * The call before the outage, made under a live certificate. A call that straddles that certificate's expiry (or a
 * rotation) fails for a reason that has nothing to do with the mesh: it is retried under the next certificate,
 * within the agent's retry back-off bound. Returns the serials live around the successful call (the certificate
 * that completed a handshake), or why there is none.
 */
async function callBefore(target: Target, pod: PodRef, t: Timeouts, call: Call) {
  const started = Date.now();
  for (;;) {
    const start = await liveCertificate(target, pod, t);
    if (!start.fresh) return { start };
    const before = await call('before');
    const now = readCerts(await target.workloadCert(pod)).leaves[0];
    const serials = [...new Set([start.leaf!.serial_number, now?.serial_number].filter((s): s is string => !!s))];
    if (before.ok) return { start, before, serials };
    const straddled = Date.now() >= expiry(start.leaf) || now?.serial_number !== start.leaf!.serial_number;
    if (!straddled || Date.now() - started >= t.certRenewalMaxMs) return { start, before, serials };
  }
}

/**
 * Waits until the live certificate is none of `serials` (a rotation), bounded by `rotationWatchMaxMs`. If one of
 * them expires first (by the skew rule), the agent is not rotating with istiod up.
 */
async function rotatedPast(target: Target, pod: PodRef, t: Timeouts, serials: string[]): Promise<{ serial: string } | { expired: string } | { tooLong: true }> {
  const until = Date.now() + t.rotationWatchMaxMs;
  for (;;) {
    const leaf = readCerts(await target.workloadCert(pod)).leaves[0];
    if (leaf && !serials.includes(leaf.serial_number)) return { serial: leaf.serial_number };
    if (leaf && expired(leaf, t)) return { expired: leaf.serial_number };
    if (Date.now() >= until) return { tooLong: true };
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
    const rule = ruleInScope(ctx, ECHO, ROTATING.namespace, ctx.view.port(ECHO, 'http')?.port);
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
    const { start, before, serials } = await callBefore(target, probe.pod, timeouts, call);
    if (!start.fresh) {
      return [{ label, verdict: 'fail', reason: `the live certificate expired at ${start.leaf?.expiration_time ?? 'unknown'} before this check's outage and no fresh one came within ${timeouts.certRenewalMaxMs} ms (the agent's retry back-off bound): it is not being rotated, so nothing can recover`, observed: { live: start.leaf, waitedMs: start.waitedMs }, atFault: rotationAtFault(view, label) }];
    }
    if (!before?.ok) return [{ label, verdict: 'error', reason: `traffic failed before the outage, so nothing can be said: ${before?.reason}`, observed: { before: before?.o, live: start.leaf, at: new Date().toISOString() } }];
    // A-H2: a certificate that completed a handshake may have left a TLS session in the client's cache (Istio leaves
    // Envoy's max_session_keys at 1 on the upstream context, E: api/envoy/extensions/transport_sockets/tls/v3/tls.proto
    // UpstreamTlsContext.max_session_keys), and the inbound accepts tickets; a resumed session never re-checks the
    // peer's notAfter (BoringSSL ssl/ssl_session.cc ssl_session_is_resumable; a TLS 1.3 PSK handshake has no
    // CertificateRequest). A new SDS secret rebuilds the client's context and empties its cache, so wait for a
    // rotation: the certificate that expires during the outage then never completed a handshake.
    const fresh = await rotatedPast(target, probe.pod, timeouts, serials);
    if ('expired' in fresh) {
      return [{ label, verdict: 'fail', reason: `the certificate that served the call before the outage (serial ${fresh.expired}) expired with istiod up and was not rotated: it is not being rotated, so nothing can recover`, observed: { before: before.o, serials }, atFault: rotationAtFault(view, label) }];
    }
    if ('tooLong' in fresh) return { notApplicable: `mesh/rotating's certificate (serial ${serials.join(', ')}) was not rotated within ${timeouts.rotationWatchMaxMs} ms: too long to outlast in an outage (set a short SECRET_TTL)` };
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
        // The serial used before the outage is never the one judged (see rotatedPast above).
        if (serials.includes(leaf!.serial_number)) return { tooLong: `the certificate that served the call before the outage (serial ${leaf!.serial_number}): a TLS session from it may be resumed` };
        const attempts = [];
        for (let i = 0; i < timeouts.attackAttempts; i++) {
          // Each attempt with the client's resumption count around it: was it served on a resumed session?
          const reusedBefore = await clientCounter(ctx, probe, SESSION_REUSED);
          const a = await call(`expired-${i}`);
          const reused = rise(reusedBefore, await clientCounter(ctx, probe, SESSION_REUSED));
          attempts.push({ ...a, resumed: 'delta' in reused ? reused.delta > 0 : undefined });
        }
        return { expiredAt: leaf!.expiration_time, serial: leaf!.serial_number, attempts };
      }
    });
    if ('tooLong' in value) return { notApplicable: `mesh/rotating's certificate lives until ${value.tooLong}: too long to outlast in an outage (set a short SECRET_TTL)` };
    // A-H2 (2): a call served on a resumed TLS session never presented the expired certificate: expiry was not
    // exercised, so nothing can be said (error), not "accepted". A call served on a full handshake is the violation.
    const through = value.attempts.find((a) => a.o.http?.echo && a.resumed !== true);
    const resumed = value.attempts.find((a) => a.o.http?.echo && a.resumed === true);
    if (!through && resumed) {
      return [{ label, verdict: 'error', reason: `after its certificate expired at ${value.expiredAt} with istiod down, a call reached echo (HTTP ${resumed.o.http?.status}) on a resumed TLS session (${SESSION_REUSED} rose): the expired certificate was never presented, so expiry was not exercised`, observed: { outage, ...value } }];
    }
    if (through) {
      return [{ label, verdict: 'fail', reason: `after its certificate expired at ${value.expiredAt} with istiod down, the call still reached echo (HTTP ${through.o.http?.status}): the expired certificate was accepted`, observed: { outage, ...value }, atFault: expiredAtFault(view, 'mesh/echo') }];
    }
    return recovery(ctx, { label, call, rule, outage, expiredAt: value.expiredAt, serial: value.serial, attempts: value.attempts, pod: probe.pod, atFault: rotationAtFault(view, label) });
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
  r: { label: string; call: Call; rule: Limits | undefined; outage: { restoredAt: string }; expiredAt: string | undefined; serial: string | undefined; attempts: Attempt[]; pod: PodRef; atFault: AtFault },
) {
  const restoredAt = Date.parse(r.outage.restoredAt);
  const since = () => Date.now() - restoredAt;
  // A renewal: not expired, and not the serial that expired during the outage.
  const renewed = await liveCertificate(target, r.pod, timeouts, r.serial);
  const during = r.attempts.map((a) => a.o);
  const base = { outage: r.outage, expiredAt: r.expiredAt, during };
  if (!renewed.fresh) {
    return [{ label: r.label, verdict: 'fail' as const, reason: `refused while expired, but no fresh certificate within ${timeouts.certRenewalMaxMs} ms of istiod's return (the agent's retry back-off bound): rotation did not resume`, observed: { ...base, live: renewed.leaf }, atFault: r.atFault }];
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
    // Ejected every host and still not back: Envoy's ejection time grows with the host's ejection count (its
    // backoff, E: outlier_detection_impl.cc checkHostForUneject), which the check cannot read, so the posture's
    // outlier detection may still hide a recovered rotation: inconclusive, never a fail on that alone.
    const verdict = ejected ? ('error' as const) : ('fail' as const);
    const what = ejected ? 'recovery could not be observed' : 'traffic did not recover';
    return [{ label: r.label, verdict, reason: `refused while expired and a fresh certificate came ${certRenewedAfterRestoreMs} ms after istiod's return, but ${what}: ${after.reason}${ejectionText}`, observed, atFault: recoveryAtFault(r.rule, ejected !== undefined) }];
  }
  const refusedAs = during.map((o) => (o.http ? `HTTP ${o.http.status}` : (o.failure?.class ?? 'no answer'))).join(', ');
  return [{ label: r.label, verdict: 'pass' as const, reason: `refused after expiry (${refusedAs}), never served; after istiod's restore returned, a fresh certificate in ${certRenewedAfterRestoreMs} ms and traffic in ${recoveryAfterRestoreMs} ms${ejectionText}`, observed }];
}

/** Traffic did not recover after rotation: the posture decides only when outlier detection ejected every host. */
function recoveryAtFault(rule: Limits | undefined, ejected: boolean): AtFault {
  return ejected && rule
    ? { object: `DestinationRule ${rule.rule} trafficPolicy.outlierDetection (baseEjectionTime ${rule.outlier?.baseEjectionTime ?? 'unset: 30s'}) ejected every echo host on the refused calls`, remedy: 'set outlierDetection.maxEjectionPercent below 100 or a shorter baseEjectionTime so one client\'s refused calls cannot eject every host' }
    : { object: 'no posture object: a fresh certificate came after istiod returned, yet traffic to mesh/echo did not recover', remedy: 'check both sidecars after the rotation (istioctl proxy-config secret; the istio-proxy logs) and that echo trusts the new certificate\'s issuer' };
}
