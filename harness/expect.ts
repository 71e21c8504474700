// Expectations for positive controls: small composable predicates that return the reason they are NOT met, or
// undefined when met (STYLE.md 2, after istio's check.And / check.OK). Pure: observations in, reason out.
import type { Observation } from '../agent/protocol.js';

export type Expectation = (o: Observation) => string | undefined;

/** All must hold; the first unmet reason is reported. */
export const allOf =
  (...es: Expectation[]): Expectation =>
  (o) => {
    for (const e of es) {
      const r = e(o);
      if (r !== undefined) return r;
    }
    return undefined;
  };

/** One must hold; when none does, every reason is reported. */
export const anyOf =
  (...es: Expectation[]): Expectation =>
  (o) => {
    const reasons: string[] = [];
    for (const e of es) {
      const r = e(o);
      if (r === undefined) return undefined;
      reasons.push(r);
    }
    return reasons.join('; and ');
  };

function failureText(o: Observation): string {
  return o.failure ? `${o.failure.class}${o.failure.code ? ` (${o.failure.code})` : ''}: ${o.failure.message}` : 'no answer';
}

/** The echo app answered this attack's own nonce (istio-behaviours.md §9.2: "allowed" only on proof from the app). */
export const nonceBack: Expectation = (o) => {
  if (o.kind === 'tcp') return o.tcp?.nonceEchoed ? undefined : `the nonce did not come back over TCP (${failureText(o)})`;
  if (!o.http) return `no HTTP answer (${failureText(o)})`;
  if (o.http.status !== 200) return `HTTP ${o.http.status} instead of 200 (body: ${JSON.stringify(o.http.body.slice(0, 80))})`;
  if (!o.http.echo) return 'the answer is not the echo app\'s JSON';
  if (o.http.echo.nonce !== o.nonce) return `the echo carried nonce ${o.http.echo.nonce}, not this attack's ${o.nonce}`;
  return undefined;
};

/** Splits on `sep` outside double quotes (XFCC Subject values are quoted and may contain commas). */
function splitUnquoted(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && quoted && i + 1 < s.length) {
      cur += c + s[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** Parses an XFCC header into its elements (E: conn_manager_utility.cc; istio-behaviours.md §3). */
export function parseXfcc(header: string): Record<string, string>[] {
  return splitUnquoted(header, ',').map((el) => {
    const kv: Record<string, string> = {};
    for (const pair of splitUnquoted(el.trim(), ';')) {
      const i = pair.indexOf('=');
      if (i > 0) kv[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
    }
    return kv;
  });
}

/** URI of the LAST XFCC element: inbound APPENDs, so only the last one was written by the destination's proxy. */
export function lastXfccUri(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const h = Array.isArray(header) ? header.join(',') : header;
  return parseXfcc(h).at(-1)?.URI;
}

/** The destination's sidecar vouches that the caller presented `spiffeId` (last XFCC `URI=`). */
export const identityIs =
  (spiffeId: string): Expectation =>
  (o) => {
    const xfcc = o.http?.echo?.headers['x-forwarded-client-cert'];
    if (xfcc === undefined) return 'no x-forwarded-client-cert reached the app: the call was not mTLS';
    const uri = lastXfccUri(xfcc);
    return uri === spiffeId ? undefined : `last XFCC URI is ${uri ?? '(none)'}, expected ${spiffeId}`;
  };

/** Reached the echo app with the nonce and, over HTTP, with the expected identity proven by XFCC. */
export const reachedEcho = (spiffeId: string): Expectation =>
  (o) => (o.kind === 'tcp' ? nonceBack(o) : allOf(nonceBack, identityIs(spiffeId))(o));

/** The TLS handshake with this certificate was accepted: an HTTP answer of any status came back over it. */
export const handshakeAccepted: Expectation = (o) =>
  o.http ? undefined : `no HTTP answer over TLS (${o.failure ? `${o.failure.class}: ${o.failure.message}` : 'nothing'})`;

/**
 * The shape of a mesh denial (403 `RBAC: access denied` over HTTP; a close with no bytes over TCP). Used for
 * positive controls where every call is denied by design (a namespace under mesh-wide allow-nothing): the
 * engine also requires the destination's `rbac.denied` counter or log to rise, proving mTLS was accepted.
 */
export const meshDenialShape: Expectation = (o) => {
  if (o.kind === 'http') return o.http?.status === 403 && o.http.body === 'RBAC: access denied' ? undefined : 'not a mesh 403';
  return !o.tcp?.nonceEchoed && o.bytesReceived === 0 && (o.failure?.class === 'eof' || o.failure?.class === 'reset') ? undefined : 'not a TCP close';
};
