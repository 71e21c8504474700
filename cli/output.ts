// `--output json|text` (`-o`) and `--quiet` (`-q`): output people script (issue 21, deliverable 9). With
// `-o json` a command prints exactly one JSON document on stdout and nothing else there (progress, warnings and
// errors go to stderr; a usage error prints no document, only its one line on stderr, and the exit codes are the
// text output's). The shapes are documented in README.md ("Output for scripts") and carry a `schema` field.
import { Option } from 'commander';
import type { Comparison } from '../harness/compare.js';
import { ConfigError } from '../harness/errors.js';
import type { RunResult } from '../harness/result.js';
import type { SweepReport } from '../harness/sweep/report.js';

export type OutputFormat = 'text' | 'json';

/** The `-o, --output <format>` option every scriptable command shares. */
export function outputOption(): Option {
  return new Option('-o, --output <format>', 'text (default) or json: one JSON document on stdout, progress and messages on stderr').default('text');
}

export const quietOption = (): Option => new Option('-q, --quiet', 'no progress display: only the final one-line verdict (and errors)');

/** The format, or a one-line usage error (exit 2) before any work. */
export function parseOutput(v: string | undefined): OutputFormat {
  const f = (v ?? 'text').toLowerCase();
  if (f !== 'text' && f !== 'json') throw new ConfigError(`--output ${v}: text or json`);
  return f;
}

/** The one document of `-o json`, pretty-printed, newline-terminated. */
export function printJson(doc: unknown): void {
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}

const STATUS = ['pass', 'fail', 'error', 'not-applicable'] as const;

/** Counts per verdict, keyed as in the document (`notApplicable`). */
function counts(results: RunResult['results']): Record<'pass' | 'fail' | 'error' | 'notApplicable', number> {
  const n = (v: (typeof STATUS)[number]) => results.filter((r) => r.verdict === v).length;
  return { pass: n('pass'), fail: n('fail'), error: n('error'), notApplicable: n('not-applicable') };
}

/** The run's overall status, from its exit code: 0 pass, 1 fail, 3 error (inconclusive or infrastructure). */
const overall = (exitCode: number): 'pass' | 'fail' | 'error' => (exitCode === 0 ? 'pass' : exitCode === 1 ? 'fail' : 'error');

/**
 * `meshproof run -o json`: schema meshproof.dev/cli-run/v1. Every selected check with its status and reason, and
 * every case (not only the first failing one) with its label, status and reason; the full evidence is in `out`.
 */
export function runDocument(r: RunResult, o: { out: string; exitCode: number; selectedBy: 'suite' | 'check'; errors: string[] }) {
  return {
    schema: 'meshproof.dev/cli-run/v1',
    runId: r.runId,
    target: { kind: r.target.kind, summary: r.target.summary },
    out: o.out,
    scope: { selectedBy: o.selectedBy, suites: [...new Set(r.results.map((c) => c.suite))], checks: r.results.map((c) => c.id) },
    status: overall(o.exitCode),
    exitCode: o.exitCode,
    counts: counts(r.results),
    checks: r.results.map((c) => ({
      id: c.id,
      suite: c.suite,
      title: c.title,
      status: c.verdict,
      reason: c.reason,
      evidence: `checks/${c.id}.json`,
      cases: c.cases.map((k) => ({ label: k.label, status: k.verdict, reason: k.reason })),
    })),
    requirements: r.requirements,
    errors: o.errors,
  };
}

/** The one-line verdict of `--quiet`: what the table's last line says, and where the bundle is. */
export function verdictLine(r: RunResult, out: string): string {
  const c = counts(r.results);
  const what = r.sweep ? 'sweep' : 'run';
  return `meshproof: ${what} ${overall(r.exitCode).toUpperCase()}: ${c.pass} passed, ${c.fail} failed, ${c.error} inconclusive, ${c.notApplicable} not applicable — reports in ${out}`;
}

/** `meshproof compare -o json`: schema meshproof.dev/cli-compare/v1, the comparison plus its exit code and why. */
export function compareDocument(c: Comparison) {
  const regressed = c.rows.filter((r) => r.change === 'regressed').map((r) => r.id);
  return {
    schema: 'meshproof.dev/cli-compare/v1',
    ...c,
    regressed,
    exitCode: c.regressions > 0 ? 1 : 0,
    exitReason: c.regressions > 0 ? `${c.regressions} regression(s): ${regressed.join(', ')}` : 'nothing regressed',
  };
}

/**
 * `meshproof sweep -o json`: schema meshproof.dev/cli-sweep/v1. Counts, the canary, each sweep check's status, and
 * every finding (and every exempted one, with its reason) per endpoint or pod; the canary's own are left out (it
 * must be flagged: that is `canary.flagged`). The per-endpoint attempts are in the bundle's sweep.json.
 */
export function sweepDocument(r: RunResult, s: SweepReport, o: { out: string; exitCode: number }) {
  const rows = (outcome: 'finding' | 'exempt') => [
    ...s.endpoints
      .filter((e) => e.role !== 'canary')
      .flatMap((e) => e.verdicts.filter((v) => v.outcome === outcome).map((v) => ({ check: v.check, namespace: e.namespace, pod: e.pod, port: e.port, services: e.services, reason: v.reason }))),
    ...s.pods
      .filter((p) => p.role !== 'canary' && p.verdict.outcome === outcome)
      .map((p) => ({ check: p.verdict.check, namespace: p.namespace, pod: p.pod, services: p.service ? [p.service] : [], reason: p.verdict.reason })),
  ];
  return {
    schema: 'meshproof.dev/cli-sweep/v1',
    runId: r.runId,
    target: { kind: r.target.kind, summary: r.target.summary },
    out: o.out,
    status: overall(o.exitCode),
    exitCode: o.exitCode,
    incomplete: s.incomplete,
    counts: s.counts,
    canary: { flagged: s.canary.flagged, missing: s.canary.missing },
    // --matrix: the access matrix's counts and canary (its cells are in the bundle's matrix.json).
    ...(s.matrix ? { matrix: { counts: s.matrix.counts, canary: { flagged: s.matrix.canary.flagged, missing: s.matrix.canary.missing } } } : {}),
    checks: r.results.map((c) => ({ id: c.id, status: c.verdict, reason: c.reason })),
    findings: rows('finding'),
    exempt: rows('exempt'),
  };
}
