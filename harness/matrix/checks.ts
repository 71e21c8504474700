// The access matrix's two checks (issue 22 item 2), defined once: the engine (harness/matrix/matrix.ts) judges them,
// `meshproof list` and `meshproof controls` print them, `meshproof report` re-renders them, and the reporters
// (JUnit, OSCAL, report.html) show them. Category (h) of reference/controls.md: the controls they may claim follow
// from it (harness/controls.ts), each with its caveat; neither claims what (h) does not grant.
import type { Category } from '../controls.js';

export type MatrixCheckId = 'SWEEP-ENFORCE' | 'SWEEP-LEASTPRIV';

export interface MatrixCheckMeta {
  id: MatrixCheckId;
  title: string;
  claim: string;
  categories: Category[];
  /** TEST: the check sends attacks; EXAMINE: it reads configuration (through the model) and sends nothing. */
  method: 'TEST' | 'EXAMINE';
}

export const MATRIX_CHECKS: MatrixCheckMeta[] = [
  {
    id: 'SWEEP-ENFORCE',
    title: 'One attack per cell outside an identity\'s grant is refused',
    claim: 'For every identity of the estate and every Service port in scope (one pod per Service unless --per-pod), one sampled request the AuthorizationPolicies do not grant that identity (a safe method on a nonce path the policies draw), sent with a genuine mesh certificate for it, is refused, proven by the destination\'s record (rbac_access_denied_matched_policy). Cells with no such safe request (everything granted, a non-grant that needs an unsafe method or an exact path, not judged by the model) are not attacked, counted and named in the reason, and never counted as proof; one testcase per identity.',
    categories: ['h'],
    method: 'TEST',
  },
  {
    id: 'SWEEP-LEASTPRIV',
    title: 'Every grant is within the declared intent',
    claim: 'Every request the AuthorizationPolicies grant an identity is covered by a call that identity declares (Otterize ClientIntents); a wider grant is named with the policy and rule that grants it. Examined through the Istio model (no request is sent). Not applicable without an intent; one testcase per identity.',
    categories: ['h'],
    method: 'EXAMINE',
  },
];

export const MATRIX_CHECK_IDS: MatrixCheckId[] = MATRIX_CHECKS.map((c) => c.id);
