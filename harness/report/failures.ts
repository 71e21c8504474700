// Every failed case of a check (not only the first), with the object at fault and its remedy where the check's plan
// named them: the one list the terminal, JUnit, the CI summary and the HTML all show (issue 21 item 7).
import type { AtFault } from '../check.js';
import type { CheckResult } from '../engine.js';

export interface Failure {
  check: string;
  label: string;
  verdict: 'fail' | 'error';
  reason: string;
  atFault?: AtFault;
}

/** The failed cases of one check, fails before inconclusive ones; a check that failed as a whole is one entry. */
export function failuresOf(r: CheckResult): Failure[] {
  if (r.verdict !== 'fail' && r.verdict !== 'error') return [];
  const cases = r.cases.filter((c) => c.verdict === 'fail' || c.verdict === 'error');
  if (cases.length === 0) return [{ check: r.id, label: r.id, verdict: r.verdict, reason: r.reason }];
  const order = (v: string) => (v === 'fail' ? 0 : 1);
  return [...cases]
    .sort((a, b) => order(a.verdict) - order(b.verdict))
    .map((c) => ({ check: r.id, label: c.label, verdict: c.verdict as Failure['verdict'], reason: c.reason, ...(c.atFault ? { atFault: c.atFault } : {}) }));
}

/** Plain-text lines: `<label>: <reason>`, then `at fault:` and `fix:` indented. */
export function failureLines(f: Failure, indent = ''): string[] {
  const head = `${indent}${f.verdict === 'fail' ? 'FAIL' : 'INCONCLUSIVE'} ${f.label}: ${f.reason}`;
  return f.atFault ? [head, `${indent}  at fault: ${f.atFault.object}`, `${indent}  fix: ${f.atFault.remedy}`] : [head];
}

/** The terminal's "what failed" block after the table: every failed case of every check. */
export function whatFailed(results: CheckResult[]): string[] {
  const failed = results.filter((r) => r.verdict === 'fail' || r.verdict === 'error');
  if (failed.length === 0) return [];
  return ['', 'What failed:', ...failed.flatMap((r) => [`${r.id} — ${r.claim}`, ...failuresOf(r).flatMap((f) => failureLines(f, '  '))])];
}
