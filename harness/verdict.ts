// The order of judgement (ARCHITECTURE.md "Verdict"), as pure functions. An attack that got through is `fail`;
// a blocked attack is `pass` only when its positive control succeeded in the same run; anything inconclusive is
// `error`, never `pass`.
import type { Judgement } from './classify.js';
import type { Verdict } from './check.js';

export interface CaseInputs {
  /** Set when the attacker is not what the check needs (§9.1). */
  attackerProblem?: string;
  attacks: readonly Judgement[];
  control: { ok: boolean; reason?: string };
  /** Set when blocks left no audit record although access logging is on (§9.11). */
  unaudited?: string;
  /** Set when a block needs a record or counter to count as the mesh's and has neither (§9.4, §9.5). */
  unproven?: string;
}

export interface Judged {
  verdict: Exclude<Verdict, 'not-applicable'>;
  reason: string;
}

export function judgeCase(i: CaseInputs): Judged {
  if (i.attackerProblem) return { verdict: 'error', reason: `attacker not valid: ${i.attackerProblem}` };
  if (i.attacks.length === 0) return { verdict: 'error', reason: 'no attack was made' };
  const allowed = i.attacks.find((a) => a.outcome === 'allowed');
  if (allowed) return { verdict: 'fail', reason: `${allowed.reason} (docs/istio-behaviours.md ${allowed.rule})` };
  const unsure = i.attacks.find((a) => a.outcome === 'inconclusive');
  if (unsure) return { verdict: 'error', reason: `inconclusive attack: ${unsure.reason} (docs/istio-behaviours.md ${unsure.rule})` };
  if (!i.control.ok) return { verdict: 'error', reason: `positive control failed, so the block proves nothing: ${i.control.reason ?? 'unknown'} (docs/istio-behaviours.md §9.9)` };
  if (i.unaudited) return { verdict: 'fail', reason: `unaudited: ${i.unaudited} (docs/istio-behaviours.md §9.11)` };
  if (i.unproven) return { verdict: 'error', reason: `block not proven to be the mesh's: ${i.unproven}` };
  return { verdict: 'pass', reason: `${i.attacks.length} attempt(s) blocked: ${i.attacks[0]!.reason}; positive control succeeded` };
}

/** fail takes precedence over error, error over pass (ARCHITECTURE.md "Data flow" 5). */
export function worst(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.length === 0) return 'not-applicable';
  for (const v of ['fail', 'error', 'pass'] as const) if (verdicts.includes(v)) return v;
  return 'not-applicable';
}

export function exitCodeOf(verdicts: readonly Verdict[]): 0 | 1 | 3 {
  if (verdicts.includes('fail')) return 1;
  if (verdicts.includes('error')) return 3;
  return 0;
}
