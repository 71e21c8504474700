// Classifiers: what an attack's observation means, as pure functions with the rule of istio-behaviours.md §9
// they implement. Three outcomes only: blocked (the mesh stopped it), allowed (it got through: a violation), or
// inconclusive (we cannot tell: never a pass, §9.8).
import type { Observation } from '../agent/protocol.js';

export type Outcome = 'blocked' | 'allowed' | 'inconclusive';

export interface Judgement {
  outcome: Outcome;
  /** The §9 rule applied, e.g. `§9.3`. */
  rule: string;
  reason: string;
}

export type Classifier = (o: Observation) => Judgement;

const INCONCLUSIVE = new Set(['timeout', 'refused', 'dns', 'other']);

/**
 * Plaintext to a STRICT workload (§1, §9.3): blocked only on reset or EOF with zero response bytes. Any HTTP
 * status line, even 403 or 503, means something past the mTLS gate answered. Timeouts, refused connections and
 * DNS failures say nothing about mTLS (§9.8).
 */
export const plaintextRefused: Classifier = (o) => {
  if (o.http) {
    return { outcome: 'allowed', rule: '§9.3', reason: `plaintext got an HTTP ${o.http.status} answer: the request passed the mTLS gate` };
  }
  if (o.tcp?.nonceEchoed) return { outcome: 'allowed', rule: '§9.3', reason: 'plaintext TCP reached the app: the nonce came back' };
  if (o.bytesReceived > 0) {
    return { outcome: 'allowed', rule: '§9.3', reason: `the destination answered plaintext with ${o.bytesReceived} bytes` };
  }
  const f = o.failure;
  if (!f) return { outcome: 'inconclusive', rule: '§9.8', reason: 'no answer and no failure recorded' };
  if (f.class === 'reset' || f.class === 'eof') {
    return { outcome: 'blocked', rule: '§9.3', reason: `connection ${f.class === 'reset' ? 'reset' : 'closed'} with zero response bytes` };
  }
  if (INCONCLUSIVE.has(f.class)) {
    return { outcome: 'inconclusive', rule: '§9.8', reason: `${f.class}${f.code ? ` (${f.code})` : ''}: says nothing about mTLS` };
  }
  return { outcome: 'inconclusive', rule: '§9.8', reason: `unexpected failure ${f.class} for a plaintext attempt` };
};

/** Envoy's RBAC deny body, exactly (E: source/extensions/filters/http/rbac/rbac_filter.cc). */
export const RBAC_DENIED_BODY = 'RBAC: access denied';

/**
 * HTTP authorization (§2, §9.4): blocked only on 403 with the exact body `RBAC: access denied`. The engine adds
 * the rest of the rule (a destination log record or a rising `rbac.denied`). Any other 403 is the app's own: the
 * request got through.
 */
export const deniedByMesh: Classifier = (o) => {
  if (o.http) {
    if (o.http.status === 403 && o.http.body === RBAC_DENIED_BODY) return { outcome: 'blocked', rule: '§9.4', reason: `403 "${RBAC_DENIED_BODY}"` };
    if (o.http.status === 403) return { outcome: 'allowed', rule: '§9.4', reason: `a 403 with the app's body ${JSON.stringify(o.http.body.slice(0, 60))}: the request reached the app` };
    return { outcome: 'allowed', rule: '§9.4', reason: `HTTP ${o.http.status}: the request was not denied` };
  }
  const f = o.failure;
  return { outcome: 'inconclusive', rule: '§9.8', reason: f ? `${f.class}${f.code ? ` (${f.code})` : ''} instead of an HTTP answer` : 'no answer' };
};

/** TCP authorization (§2, §9.5): blocked only on a close after our bytes were sent, with no nonce back. */
export const tcpDenied: Classifier = (o) => {
  if (o.tcp?.nonceEchoed) return { outcome: 'allowed', rule: '§9.5', reason: 'the nonce came back over TCP: the connection reached the app' };
  const f = o.failure;
  if (f && (f.class === 'eof' || f.class === 'reset') && o.localAddress) {
    return { outcome: 'blocked', rule: '§9.5', reason: `connection ${f.class === 'eof' ? 'closed' : 'reset'} after the first bytes, no nonce back` };
  }
  return { outcome: 'inconclusive', rule: '§9.8', reason: f ? `${f.class}${f.code ? ` (${f.code})` : ''}: says nothing about authorization` : 'no answer' };
};

/**
 * A bad client certificate (§4, §4c, §9.6): blocked on one of the expected TLS alerts, or, from a server that
 * cannot send alerts (the lab's node:tls), on a close right after the handshake — in both cases with no
 * application byte. Any HTTP answer means the handshake was accepted. An unexpected alert is inconclusive.
 */
export const certRejected =
  (expectedAlerts: string[]): Classifier =>
  (o) => {
    if (o.http) return { outcome: 'allowed', rule: '§9.6', reason: `HTTP ${o.http.status} came back: the certificate was accepted` };
    if (o.bytesReceived > 0) return { outcome: 'allowed', rule: '§9.6', reason: `${o.bytesReceived} application bytes came back` };
    const f = o.failure;
    if (f?.class.startsWith('tls-alert:')) {
      const alert = f.class.slice('tls-alert:'.length);
      return expectedAlerts.includes(alert)
        ? { outcome: 'blocked', rule: '§9.6', reason: `TLS alert ${alert}` }
        : { outcome: 'inconclusive', rule: '§9.6', reason: `TLS alert ${alert}, expected ${expectedAlerts.join(' or ')}` };
    }
    if (f?.class === 'closed-after-handshake') {
      return { outcome: 'blocked', rule: '§9.6', reason: 'closed after the handshake with no application bytes (a server that cannot send alerts, §4c)' };
    }
    return { outcome: 'inconclusive', rule: '§9.8', reason: f ? `${f.class}${f.code ? ` (${f.code})` : ''}: no verdict on the certificate` : 'no answer' };
  };

/** Blocked when any classifier says blocked; allowed only when all say allowed; else inconclusive. */
export const either =
  (...cs: Classifier[]): Classifier =>
  (o) => {
    const js = cs.map((c) => c(o));
    const blocked = js.find((j) => j.outcome === 'blocked');
    if (blocked) return blocked;
    if (js.every((j) => j.outcome === 'allowed')) return js[0]!;
    return js.find((j) => j.outcome === 'inconclusive')!;
  };
