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
      return { outcome: 'blocked', rule: '§9.6', reason: 'closed after the handshake with no application bytes (a server that cannot send alerts, docs/istio-behaviours.md §4c)' };
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

/** Envoy's router header on an answer that came from upstream (E: source/common/router/router.cc). */
export const UPSTREAM_TIME_HEADER = 'x-envoy-upstream-service-time';

/**
 * Whether a positive control proves that an empty 404 over plaintext is Envoy's route_not_found for the host: one of
 * its HTTPS answers (same edge, same host, same path) came from upstream with `x-envoy-upstream-service-time`. That
 * shows the path is routed for the host on this gateway's HTTPS server and the router does not suppress its headers
 * (Istio `proxyHeaders.envoyDebugHeaders.disabled: true` sets the router's `suppress_envoy_headers`, which drops
 * this header from real upstream answers too; I: pilot/pkg/networking/util/proxy_headers.go
 * GetProxyHeadersFromProxyConfig, pilot/pkg/xds/filters/filters.go routers). A non-Envoy edge never sends it.
 */
export function upstreamProven(control: Observation[]): boolean {
  return control.some((o) => o.http !== undefined && o.http.headers[UPSTREAM_TIME_HEADER] !== undefined);
}

/**
 * Plaintext HTTP at the edge (EDGE-001): blocked when redirected to https (`httpsRedirect` → Envoy `require_tls:
 * ALL`, a 301 to the same host over https; I: pilot/pkg/networking/core/gateway.go), not routed (Envoy's own 404,
 * only when `control` — the HTTPS positive control to the same host and path — proves it, see `upstreamProven`),
 * or refused with no byte back.
 * Any other HTTP answer means the edge speaks plaintext for this host: served. Timeouts say nothing (§9.8).
 */
export const plaintextNotServed =
  (control: Observation[]): Classifier =>
  (o) => {
    if (o.http) {
      const location = String(o.http.headers.location ?? '');
      if ([301, 302, 307, 308].includes(o.http.status) && location.startsWith('https://') && !o.http.echo) {
        return { outcome: 'blocked', rule: 'edge', reason: `redirected to HTTPS (${o.http.status} → ${location.split('?')[0]})` };
      }
      if (o.http.status === 404 && o.http.body === '' && !o.http.echo && o.http.headers[UPSTREAM_TIME_HEADER] === undefined) {
        // I-M9: Envoy's own route_not_found: no virtual host for this authority on the plaintext port (I:
        // pilot/pkg/networking/core/gateway.go buildGatewayHTTPRouteConfig gives vhosts to the server's hosts only).
        // H1: the same empty 404 comes from a plaintext vhost whose routes miss this path (NR), from an upstream
        // app when the router suppresses its headers, and from a non-Envoy edge. Only a control that reached
        // upstream WITH the header for the same host and path rules those out.
        if (!upstreamProven(control)) {
          return { outcome: 'inconclusive', rule: 'edge', reason: `404 with nothing upstream: route_not_found or an app's answer; no proof the host is unserved in plaintext (the HTTPS control to the same host and path carried no ${UPSTREAM_TIME_HEADER}: a non-Envoy edge, or proxyHeaders.envoyDebugHeaders disabled)` };
        }
        return { outcome: 'blocked', rule: 'edge', reason: `host not routed on the plaintext port (404 route_not_found, empty body, nothing upstream called, while HTTPS to the same host and path reached upstream with ${UPSTREAM_TIME_HEADER})` };
      }
      if (o.http.status === 403 && o.http.body === RBAC_DENIED_BODY) {
        // The edge's own authorization (its RBAC filter runs before the redirect), or a backend behind it that
        // received the plaintext request: the wire cannot tell which without the gateway's log (§9.4).
        return { outcome: 'inconclusive', rule: 'edge', reason: `403 "${RBAC_DENIED_BODY}" over plaintext: an authorization denial at the edge or behind it, not a redirect; allow the host at the gateway and set httpsRedirect` };
      }
      return { outcome: 'allowed', rule: 'edge', reason: `plaintext HTTP got ${o.http.status}${o.http.echo ? ' from the app behind the edge' : ''}: the edge serves plaintext` };
    }
    if (o.bytesReceived > 0) return { outcome: 'allowed', rule: 'edge', reason: `the edge answered plaintext with ${o.bytesReceived} bytes` };
    const f = o.failure;
    if (f && (f.class === 'reset' || f.class === 'eof' || f.class === 'refused')) {
      return { outcome: 'blocked', rule: 'edge', reason: `plaintext refused (${f.class}, no byte back)` };
    }
    return { outcome: 'inconclusive', rule: '§9.8', reason: f ? `${f.class}${f.code ? ` (${f.code})` : ''}: says nothing about the edge` : 'no answer' };
  };

/**
 * A TLS client the edge must refuse (EDGE-002: TLS 1.0/1.1, or TLS 1.2 offering only weak suites): blocked only
 * when no handshake completed and the server alerted `protocol_version` or `handshake_failure` or closed. Envoy's
 * downstream defaults are a TLS 1.2 floor and ECDHE-GCM/CHACHA20 suites (E: api/envoy/extensions/transport_sockets/
 * tls/v3/common.proto). A completed handshake is a violation whatever follows.
 */
export const legacyTlsRefused: Classifier = (o) => {
  if (o.tls?.handshake) return { outcome: 'allowed', rule: 'edge', reason: `handshake completed with ${o.tls.protocol ?? '?'} ${o.tls.cipher ?? ''}`.trim() };
  const f = o.failure;
  if (f?.class === 'tls-alert:protocol_version' || f?.class === 'tls-alert:handshake_failure' || f?.class === 'tls-alert:insufficient_security') {
    return { outcome: 'blocked', rule: 'edge', reason: `refused at the handshake (${f.class.slice(10)})` };
  }
  if (f && (f.class === 'eof' || f.class === 'reset') && o.bytesReceived === 0) return { outcome: 'blocked', rule: 'edge', reason: `closed during the handshake (${f.class})` };
  return { outcome: 'inconclusive', rule: '§9.8', reason: f ? `${f.class}${f.code ? ` (${f.code})` : ''}: not a refusal at the handshake` : 'no answer' };
};

/**
 * Egress to an unregistered destination from a sidecar under REGISTRY_ONLY (§7): HTTP → 502 with an empty body
 * (the `block_all` direct response; I: pilot/pkg/networking/core/httproute.go); TCP → closed with no byte back
 * (BlackHoleCluster). The nonce coming back means the destination was reached. Anything else is inconclusive.
 */
export const egressBlocked: Classifier = (o) => {
  if (o.http) {
    if (o.http.echo) return { outcome: 'allowed', rule: '§7', reason: `reached the unregistered destination (HTTP ${o.http.status} from its app)` };
    if (o.http.status === 502 && o.http.body === '') return { outcome: 'blocked', rule: '§7', reason: '502 with an empty body (block_all)' };
    return { outcome: 'inconclusive', rule: '§7', reason: `HTTP ${o.http.status} is neither block_all's 502 nor the destination's answer` };
  }
  if (o.tcp?.nonceEchoed) return { outcome: 'allowed', rule: '§7', reason: 'reached the unregistered destination over TCP: the nonce came back' };
  if (o.tcp && /^HTTP\/1\.[01] \d{3}/.test(o.tcp.received)) {
    // I-L9: the sidecar has an explicit-HTTP listener on this port (a Service somewhere declares it HTTP and the
    // Sidecar imports it), so the TCP bytes met an HTTP connection manager, not BlackHoleCluster (I:
    // pilot/pkg/networking/core/listener.go buildSidecarOutboundListeners). Says nothing about the TCP lock.
    const status = o.tcp.received.slice(9, 12);
    return { outcome: 'inconclusive', rule: '§7', reason: `the TCP attempt got an HTTP ${status} answer: the client sidecar has an HTTP listener on this port (a Service declares it HTTP), so TCP egress cannot be tested here; use a port no Service declares HTTP` };
  }
  const f = o.failure;
  if (f && (f.class === 'eof' || f.class === 'reset') && o.bytesReceived === 0) return { outcome: 'blocked', rule: '§7', reason: `connection ${f.class === 'eof' ? 'closed' : 'reset'} with no byte back (BlackHoleCluster)` };
  return { outcome: 'inconclusive', rule: '§9.8', reason: f ? `${f.class}${f.code ? ` (${f.code})` : ''}: says nothing about egress` : 'no answer' };
};
