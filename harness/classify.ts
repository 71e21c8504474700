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
