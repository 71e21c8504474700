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

export interface EndpointInputs {
  pod: EstatePod;
  port: EstatePort;
  plaintext?: Observation;
  mtls?: Observation;
  /** A destination access-log record of this attempt's denial was found (the §9.4/§9.5 corroboration). */
  denialRecorded: boolean;
  /** Why a denial could not be corroborated, when it could not. */
  logProblem?: string;
  expectedSpiffeId: string;
  maxCertLifetimeHours: number;
  roots: string[];
}

function plaintextServed(o: Observation): boolean {
  return plaintextRefused(o).outcome === 'allowed';
}

/** A plaintext answer that is the mesh's own RBAC 403 (a PERMISSIVE port under a deny policy) is not the app's. */
function plaintextAnsweredByApp(o: Observation): boolean {
  if (o.http) return !(o.http.status === 403 && o.http.body === RBAC_DENIED_BODY);
  return o.bytesReceived > 0;
}

/** The handshake completed with a certificate issued under the mesh's root: a sidecar terminated it. */
function meshHandshake(o: Observation | undefined, roots: string[]): { ok: boolean; reason: string } {
  if (!o) return { ok: false, reason: 'no mTLS attempt' };
  if (!o.tls?.handshake) return { ok: false, reason: `no TLS handshake (${o.failure ? `${o.failure.class}${o.failure.code ? ` ${o.failure.code}` : ''}` : 'no answer'})` };
  const chain = o.tls.peerChainPem ?? [];
  if (chain.length === 0) return { ok: false, reason: 'handshake without a server certificate' };
  if (!chainsTo(chain, roots)) return { ok: false, reason: 'the server certificate does not chain to the mesh root' };
  return { ok: true, reason: `mTLS handshake with a mesh certificate${o.tls.alpn ? ` (ALPN ${o.tls.alpn})` : ''}` };
}

export function judgeEndpoint(i: EndpointInputs): EndpointVerdict[] {
  const out: EndpointVerdict[] = [];
  const hs = meshHandshake(i.mtls, i.roots);

  // SWEEP-MTLS: plaintext refused (reset/EOF, zero bytes), with the mesh handshake as the positive control.
  if (!i.plaintext) out.push({ check: 'SWEEP-MTLS', outcome: 'inconclusive', reason: 'no plaintext attempt was made' });
  else {
    const j = plaintextRefused(i.plaintext);
    if (j.outcome === 'allowed') out.push({ check: 'SWEEP-MTLS', outcome: 'finding', reason: `plaintext accepted: ${j.reason}` });
    else if (j.outcome === 'inconclusive') out.push({ check: 'SWEEP-MTLS', outcome: 'inconclusive', reason: j.reason });
    else if (!hs.ok) out.push({ check: 'SWEEP-MTLS', outcome: 'inconclusive', reason: `plaintext refused (${j.reason}) but the positive control failed: ${hs.reason}` });
    else out.push({ check: 'SWEEP-MTLS', outcome: 'ok', reason: `plaintext refused (${j.reason}); ${hs.reason}` });
  }

  // SWEEP-AUTHZ: the ungranted identity is denied, corroborated by the destination's own record.
  if (i.plaintext && plaintextServed(i.plaintext) && plaintextAnsweredByApp(i.plaintext)) {
    out.push({ check: 'SWEEP-AUTHZ', outcome: 'finding', reason: 'answered a caller with no identity at all (plaintext reached the app): nothing authorizes callers here' });
  } else if (!i.mtls || !hs.ok) {
    out.push({ check: 'SWEEP-AUTHZ', outcome: 'inconclusive', reason: `the ungranted identity could not reach the port: ${hs.reason}` });
  } else {
    const o = i.mtls;
    // Over direct mTLS the RBAC network filter's close on our first bytes shows as a close right after the
    // handshake (§2); it counts as a denial only with the destination's own record (below).
    const closed = o.failure?.class === 'closed-after-handshake' ? { ...o, failure: { ...o.failure, class: 'eof' as const } } : o;
    const j = o.http || i.port.protocol === 'http' ? deniedByMesh(o) : tcpDenied({ ...closed, tcp: { received: '', nonceEchoed: o.bytesReceived > 0 } });
    if (o.http && o.http.status !== 403) out.push({ check: 'SWEEP-AUTHZ', outcome: 'finding', reason: `open to any mesh identity: HTTP ${o.http.status} for the ungranted identity` });
    else if (!o.http && o.bytesReceived > 0) out.push({ check: 'SWEEP-AUTHZ', outcome: 'finding', reason: `open to any mesh identity: ${o.bytesReceived} bytes came back to the ungranted identity` });
    else if (j.outcome === 'allowed') out.push({ check: 'SWEEP-AUTHZ', outcome: 'finding', reason: `open to any mesh identity: ${j.reason}` });
    else if (j.outcome === 'inconclusive') out.push({ check: 'SWEEP-AUTHZ', outcome: 'inconclusive', reason: j.reason });
    else if (!i.denialRecorded) out.push({ check: 'SWEEP-AUTHZ', outcome: 'inconclusive', reason: `denied (${j.reason}) but uncorroborated: ${i.logProblem ?? 'no rbac_access_denied record of this attempt in the destination access log'}` });
    else out.push({ check: 'SWEEP-AUTHZ', outcome: 'ok', reason: `denied (${j.reason}), recorded by the destination as rbac_access_denied` });
  }

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
