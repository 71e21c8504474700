// Judging one (pod, port) of a sweep from its two attempts, with the same classifiers as the conformance checks
// (classify.ts, istio-behaviours.md §9). Pure: the sweep engine gathers observations and records, this decides.
import { X509Certificate } from 'node:crypto';
import type { Observation } from '../../agent/protocol.js';
import { deniedByMesh, plaintextRefused, RBAC_DENIED_BODY, tcpDenied } from '../classify.js';
import { BACKDATE_MS, uriSans } from '../pki.js';
import type { EstatePod, EstatePort } from './estate.js';

export type SweepCheckId = 'SWEEP-MTLS' | 'SWEEP-INJECT' | 'SWEEP-AUTHZ' | 'SWEEP-CERT';
export const SWEEP_CHECK_IDS: SweepCheckId[] = ['SWEEP-MTLS', 'SWEEP-INJECT', 'SWEEP-AUTHZ', 'SWEEP-CERT'];

/** One check's word on one endpoint. `finding` is a violation; `inconclusive` is never a pass. */
export interface EndpointVerdict {
  check: SweepCheckId;
  outcome: 'ok' | 'finding' | 'inconclusive' | 'exempt' | 'not-applicable';
  reason: string;
}

export interface CertFacts {
  subject: string;
  uriSans: string[];
  notBefore: string;
  notAfter: string;
  lifetimeHours: number;
  chainsToMeshRoot: boolean;
}


/** Parsed once per distinct chain and root set: a sweep sees each pod's chain in several verdicts. */
const factsCache = new Map<string, CertFacts>();
const chainCache = new Map<string, boolean>();
const x509Cache = new Map<string, X509Certificate>();
const MAX_CACHED = 20_000;

function x509(pem: string): X509Certificate {
  let c = x509Cache.get(pem);
  if (!c) {
    if (x509Cache.size > MAX_CACHED) x509Cache.clear();
    c = new X509Certificate(pem);
    x509Cache.set(pem, c);
  }
  return c;
}

export function certFacts(chainPem: string[], roots: string[]): CertFacts | undefined {
  if (chainPem.length === 0) return undefined;
  const key = `${chainPem.join('')}\u0000${roots.join('')}`;
  const hit = factsCache.get(key);
  if (hit) return hit;
  if (factsCache.size > MAX_CACHED) factsCache.clear();
  const facts = computeFacts(chainPem, roots);
  factsCache.set(key, facts);
  return facts;
}

function computeFacts(chainPem: string[], roots: string[]): CertFacts {
  const leaf = x509(chainPem[0]!);
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  // istiod back-dates NotBefore by 2 minutes (istio-behaviours.md §4b): not part of the lifetime asked for.
  const lifetimeMs = notAfter.getTime() - notBefore.getTime() - BACKDATE_MS;
  return {
    subject: leaf.subject,
    uriSans: uriSans(chainPem[0]!),
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    lifetimeHours: Math.round((lifetimeMs / 3_600_000) * 100) / 100,
    chainsToMeshRoot: chainsTo(chainPem, roots),
  };
}

/** Whether the chain as sent links the leaf, issuer by issuer, to one of the mesh's roots (signatures checked). */
export function chainsTo(chainPem: string[], roots: string[]): boolean {
  const key = `${chainPem.join('')}\u0000${roots.join('')}`;
  const hit = chainCache.get(key);
  if (hit !== undefined) return hit;
  if (chainCache.size > MAX_CACHED) chainCache.clear();
  const ok = verifyChain(chainPem, roots);
  chainCache.set(key, ok);
  return ok;
}

function verifyChain(chainPem: string[], roots: string[]): boolean {
  const certs = chainPem.map(x509);
  const anchors = roots.map(x509);
  let cur = certs[0];
  for (let depth = 0; cur && depth < 8; depth++) {
    const anchor = anchors.find((r) => cur!.checkIssued(r) && cur!.verify(r.publicKey));
    if (anchor) return true;
    const next = certs.find((c) => c !== cur && cur!.checkIssued(c) && cur!.verify(c.publicKey));
    if (!next) return false;
    cur = next;
  }
  return false;
}

/**
 * Which layer of the destination's sidecar decided an attempt, read from its own access-log record (as MTLS-002
 * does; istio-behaviours.md §1, §2, §6): the wire alone cannot say (a banner can precede an RBAC close, an
 * ext_authz server can answer any status).
 * - `mtls`: flag NR, details `filter_chain_not_found` (E: source/server/active_stream_listener_base.cc): no chain
 *   accepts plaintext.
 * - `rbac`: `rbac_access_denied_matched_policy[…]` as response-code details (HTTP) or as
 *   CONNECTION_TERMINATION_DETAILS (TCP; E: source/extensions/filters/network/rbac/rbac_filter.cc).
 * - `ext-authz`: response-code details `ext_authz_denied` (E: source/extensions/filters/http/ext_authz/ext_authz.cc,
 *   `RcDetailsValues::AuthzDenied = "ext_authz_denied"`, sent with a Denied check's local reply; the filter's test
 *   ext_authz_test.cc expects that string as the stream's details).
 * - `upstream`: the sidecar passed the attempt to the app (an upstream host, no denial).
 */
export type DecidingLayer = 'mtls' | 'rbac' | 'ext-authz' | 'upstream';

export type { AttemptSummary } from './attempt.js';

export interface DestinationRecord {
  layer: DecidingLayer;
  /** The record's own words, for the evidence. */
  detail: string;
}

export interface EndpointInputs {
  pod: EstatePod;
  port: EstatePort;
  plaintext?: Observation;
  mtls?: Observation;
  /** The destination's record of each attempt, when one was found. */
  records: { plaintext?: DestinationRecord; mtls?: DestinationRecord };
  /** Why the destination's records could not be read, when they could not. */
  logProblem?: string;
  /** A CUSTOM (ext_authz) AuthorizationPolicy selects this pod: a non-RBAC answer may be its provider's. */
  customPolicy?: boolean;
  expectedSpiffeId: string;
  maxCertLifetimeHours: number;
  roots: string[];
}

/** The layer named by one access-log record (see DecidingLayer), or undefined when it names none. */
export function decidingLayer(r: { responseFlags: string; responseCodeDetails: string; connectionTerminationDetails: string; upstreamHost: string }): DestinationRecord | undefined {
  if (r.responseFlags.split(',').includes('NR') && r.responseCodeDetails === 'filter_chain_not_found') return { layer: 'mtls', detail: 'NR filter_chain_not_found' };
  if (r.responseCodeDetails.startsWith('rbac_access_denied_matched_policy[')) return { layer: 'rbac', detail: r.responseCodeDetails };
  if (r.connectionTerminationDetails.startsWith('rbac_access_denied_matched_policy[')) return { layer: 'rbac', detail: `connection terminated: ${r.connectionTerminationDetails}` };
  if (r.responseCodeDetails === 'ext_authz_denied') return { layer: 'ext-authz', detail: 'ext_authz_denied' };
  if (r.upstreamHost) return { layer: 'upstream', detail: `passed to the app (${r.upstreamHost}${r.responseCodeDetails ? `, ${r.responseCodeDetails}` : ''})` };
  return undefined;
}

/** The handshake completed with a certificate issued under the mesh's root: a sidecar terminated it. */
export function meshHandshake(o: Observation | undefined, roots: string[]): { ok: boolean; reason: string } {
  if (!o) return { ok: false, reason: 'no mTLS attempt' };
  if (!o.tls?.handshake) return { ok: false, reason: `no TLS handshake (${o.failure ? `${o.failure.class}${o.failure.code ? ` ${o.failure.code}` : ''}` : 'no answer'})` };
  const chain = o.tls.peerChainPem ?? [];
  if (chain.length === 0) return { ok: false, reason: 'handshake without a server certificate' };
  if (!chainsTo(chain, roots)) return { ok: false, reason: 'the server certificate does not chain to the mesh root' };
  return { ok: true, reason: `mTLS handshake with a mesh certificate${o.tls.alpn ? ` (ALPN ${o.tls.alpn})` : ''}` };
}

const noRecord = (i: EndpointInputs) => i.logProblem ?? 'the destination has no record of this attempt';

/**
 * SWEEP-MTLS from the plaintext attempt. An HTTP status line, the nonce, or any byte back proves a chain accepted
 * plaintext (STRICT has TLS chains only, §1). A refusal is `ok` only when the destination records NR
 * filter_chain_not_found; an RBAC record means plaintext was accepted and then authz-denied (a finding).
 */
function judgeMtls(i: EndpointInputs, hs: { ok: boolean; reason: string }): EndpointVerdict {
  const o = i.plaintext;
  if (!o) return { check: 'SWEEP-MTLS', outcome: 'inconclusive', reason: 'no plaintext attempt was made' };
  const rec = i.records.plaintext;
  const j = plaintextRefused(o);
  if (j.outcome === 'allowed') {
    const layer = rec?.layer === 'rbac' || rec?.layer === 'ext-authz' ? ` (then denied by authorization: ${rec.detail})` : '';
    return { check: 'SWEEP-MTLS', outcome: 'finding', reason: `plaintext accepted: ${j.reason}${layer}` };
  }
  if (j.outcome === 'inconclusive') return { check: 'SWEEP-MTLS', outcome: 'inconclusive', reason: j.reason };
  if (rec?.layer === 'rbac' || rec?.layer === 'ext-authz' || rec?.layer === 'upstream') {
    return { check: 'SWEEP-MTLS', outcome: 'finding', reason: `plaintext accepted: the port took the plaintext connection and the destination records ${rec.detail}` };
  }
  if (rec?.layer !== 'mtls') return { check: 'SWEEP-MTLS', outcome: 'inconclusive', reason: `plaintext refused (${j.reason}) but not by a layer the destination recorded: ${noRecord(i)}` };
  if (!hs.ok) return { check: 'SWEEP-MTLS', outcome: 'inconclusive', reason: `plaintext refused (${j.reason}, recorded NR filter_chain_not_found) but the positive control failed: ${hs.reason}` };
  return { check: 'SWEEP-MTLS', outcome: 'ok', reason: `plaintext refused (${j.reason}), recorded NR filter_chain_not_found; ${hs.reason}` };
}

/**
 * Whether a CUSTOM provider could have produced this status: Envoy's HTTP ext_authz client allows only on a 200
 * from the authorization server and relays any other status to the caller as the denial (E:
 * source/extensions/filters/common/ext_authz/ext_authz_http_impl.cc; read from memory of that file, not re-read
 * here, so the rule is the conservative one: anything but 200 may be the provider's).
 */
const providerStatus = (status: number) => status !== 200;

/** The app's own answer to plaintext (not the mesh's denial): nothing authorizes callers without an identity. */
export function plaintextReachedApp(o: Observation | undefined, rec: DestinationRecord | undefined, custom: boolean): boolean {
  if (!o) return false;
  if (rec && rec.layer !== 'upstream') return false;
  if (o.http) {
    if (o.http.status === 403 && o.http.body === RBAC_DENIED_BODY) return false;
    return rec?.layer === 'upstream' || !(custom && providerStatus(o.http.status));
  }
  return o.tcp?.nonceEchoed === true || (o.bytesReceived > 0 && rec?.layer === 'upstream');
}

/** A request whose answer carries no body by HTTP rules, whatever its status (RFC 9110 §9.3.2 HEAD). */
const bodiless = (method: string) => method.toUpperCase() === 'HEAD';

/** What one mTLS attempt with an identity no policy grants it showed: refused (proven), reached the app, or neither. */
export interface AttemptJudgement {
  outcome: 'refused' | 'reached' | 'inconclusive';
  reason: string;
}

/**
 * One mTLS attempt that the policies do not grant its identity, after a mesh handshake (SWEEP-AUTHZ's attempt, and
 * every access-matrix attack). Access is proven by the app's answer (an HTTP status other than a denial, the nonce
 * back) or by a record that the sidecar passed it upstream. Bytes are not access: a server-first app's banner reaches
 * a denied client before the RBAC network filter closes on the client's first bytes (I-H1: tcp_proxy connects
 * upstream in onNewConnection, E: source/common/tcp_proxy/tcp_proxy.cc; RBAC decides in onData, E:
 * source/extensions/filters/network/rbac/rbac_filter.cc). A refusal counts only with the destination's record of who
 * refused; without it the attempt is inconclusive. `noRecord` says why no record is at hand. `method`: the request's
 (a 403 to a HEAD has no body, so without the record it is never the app's answer: M22-H2).
 */
export function judgeIdentityAttempt(o: Observation, rec: DestinationRecord | undefined, customPolicy: boolean, noRecord: string, method = 'GET'): AttemptJudgement {
  const refused = (how: string): AttemptJudgement => ({ outcome: 'refused', reason: `denied (${how}), recorded by the destination as ${rec!.detail}` });
  if (o.http) {
    const status = `HTTP ${o.http.status}${o.http.status === 403 ? ` ${JSON.stringify(o.http.body.slice(0, 40))}` : ''}`;
    if (o.http.echo) return { outcome: 'reached', reason: `${status} from the app (its echo came back)` };
    if (rec?.layer === 'rbac' && o.http.status === 403) return refused(status);
    if (rec?.layer === 'ext-authz') return refused(`${status} from the CUSTOM provider`);
    if (rec?.layer === 'upstream') return { outcome: 'reached', reason: `${status}, and the destination passed the request to the app (${rec.detail})` };
    if (o.http.status === 403 && bodiless(method)) {
      // Envoy's local reply to a HEAD is headers only (E: source/common/http/utility.cc Utility::encodeLocalReply,
      // `is_head_request_`; RFC 9110 §9.3.2), so RBAC's 403 and an app's own 403 look alike: only the record can tell.
      return { outcome: 'inconclusive', reason: `${status} to a ${method} (no body by HTTP rules, so the mesh's denial cannot be told from the app's) and uncorroborated: ${noRecord}` };
    }
    const mesh403 = o.http.status === 403 && o.http.body === RBAC_DENIED_BODY;
    if (!mesh403 && !(customPolicy && providerStatus(o.http.status))) return { outcome: 'reached', reason: deniedByMesh(o).reason };
    const who = mesh403 ? 'the mesh RBAC body' : "a CUSTOM (ext_authz) policy selects this workload, so the answer may be its provider's";
    return { outcome: 'inconclusive', reason: `${status} (${who}) but uncorroborated: ${noRecord}` };
  }
  if (o.tcp?.nonceEchoed) return { outcome: 'reached', reason: 'the nonce came back over TCP' };
  if (rec?.layer === 'rbac') {
    const banner = o.bytesReceived > 0 ? `${o.bytesReceived} bytes of the app's greeting, then closed on our first bytes` : tcpDenied({ ...o, failure: o.failure?.class === 'closed-after-handshake' ? { ...o.failure, class: 'eof' } : o.failure }).reason;
    return refused(banner);
  }
  if (rec?.layer === 'upstream') return { outcome: 'reached', reason: `the destination relayed the connection to the app with no denial (${rec.detail})` };
  const seen = o.bytesReceived > 0 ? `${o.bytesReceived} bytes back without our nonce` : o.failure ? `${o.failure.class}${o.failure.code ? ` ${o.failure.code}` : ''}` : 'no answer';
  return { outcome: 'inconclusive', reason: `${seen}: bytes are not access and a close is not a denial without the destination's record (${noRecord})` };
}

/**
 * SWEEP-AUTHZ from the ungranted identity's attempts: plaintext reaching the app is a finding (nothing authorizes
 * callers without an identity), then the mTLS attempt as judgeIdentityAttempt judges it.
 */
function judgeAuthz(i: EndpointInputs, hs: { ok: boolean; reason: string }): EndpointVerdict {
  const A = 'SWEEP-AUTHZ' as const;
  if (plaintextReachedApp(i.plaintext, i.records.plaintext, i.customPolicy === true)) return { check: A, outcome: 'finding', reason: 'answered a caller with no identity at all (plaintext reached the app): nothing authorizes callers here' };
  const o = i.mtls;
  if (!o || !hs.ok) return { check: A, outcome: 'inconclusive', reason: `the ungranted identity could not reach the port: ${hs.reason}` };
  const j = judgeIdentityAttempt(o, i.records.mtls, i.customPolicy === true, noRecord(i));
  if (j.outcome === 'reached') return { check: A, outcome: 'finding', reason: `open to any mesh identity: ${j.reason}` };
  return { check: A, outcome: j.outcome === 'refused' ? 'ok' : 'inconclusive', reason: j.reason };
}

export function judgeEndpoint(i: EndpointInputs): EndpointVerdict[] {
  const hs = meshHandshake(i.mtls, i.roots);
  const out: EndpointVerdict[] = [judgeMtls(i, hs), judgeAuthz(i, hs)];

  // SWEEP-CERT: the certificate the server presented in that handshake.
  if (!i.pod.sidecar) {
    out.push({ check: 'SWEEP-CERT', outcome: 'not-applicable', reason: 'no sidecar: the port presents no mesh certificate (SWEEP-INJECT and SWEEP-MTLS report it)' });
  } else if (!hs.ok || !i.mtls?.tls?.peerChainPem) {
    out.push({ check: 'SWEEP-CERT', outcome: 'inconclusive', reason: `no mesh certificate captured: ${hs.reason}` });
  } else {
    const c = certFacts(i.mtls.tls.peerChainPem, i.roots)!;
    const problems: string[] = [];
    if (c.lifetimeHours > i.maxCertLifetimeHours) problems.push(`lives ${c.lifetimeHours} h, longer than ${i.maxCertLifetimeHours} h`);
    if (c.uriSans.length !== 1 || c.uriSans[0] !== i.expectedSpiffeId) problems.push(`carries ${c.uriSans.join(', ') || 'no URI SAN'}, expected exactly ${i.expectedSpiffeId}`);
    if (!c.chainsToMeshRoot) problems.push('does not chain to the mesh root');
    out.push(problems.length > 0 ? { check: 'SWEEP-CERT', outcome: 'finding', reason: problems.join('; ') } : { check: 'SWEEP-CERT', outcome: 'ok', reason: `${c.uriSans[0]}, ${c.lifetimeHours} h, chains to the mesh root` });
  }
  return out;
}

/** SWEEP-INJECT is per pod, not per port: a pod in an injected namespace must run its sidecar. */
export function judgeInjection(pod: EstatePod): EndpointVerdict {
  if (pod.sidecar) return { check: 'SWEEP-INJECT', outcome: 'ok', reason: 'istio-proxy present' };
  if (!pod.injectedNamespace) return { check: 'SWEEP-INJECT', outcome: 'ok', reason: 'namespace does not ask for injection (its ports are still attacked)' };
  return {
    check: 'SWEEP-INJECT',
    outcome: 'finding',
    reason: pod.optedOut ? 'no sidecar: the pod opts out with sidecar.istio.io/inject=false in an injected namespace' : 'no sidecar in an injected namespace',
  };
}
