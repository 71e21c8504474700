// What a CI user reads on the job page rather than in the artifact: a Markdown summary (GitHub's
// GITHUB_STEP_SUMMARY, or `--summary-md FILE` anywhere) and GitHub Actions `::error` workflow commands for the
// failed checks. Link-free: the job page cannot reach the bundle, and a summary must not invent URLs. A sweep's
// summary adds its counts and what it found per namespace/Service/port with the reason, and its annotations name
// each finding's Service and port rather than only the check.
import type { RunResult } from '../result.js';
import type { SweepReport } from '../sweep/report.js';
import { rowPlace, sweepRows, sweepTally } from '../sweep/sweep.js';
import { failuresOf } from './failures.js';

const VERDICT = { pass: '✅ pass', fail: '❌ fail', error: '⚠️ error', 'not-applicable': '➖ not applicable' } as const;

/** A table cell: no pipes or newlines may break the row. */
const cell = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function markdownSummary(run: RunResult): string {
  const n = (v: string) => run.results.filter((r) => r.verdict === v).length;
  const lines = [
    `## meshproof ${run.exitCode === 0 ? 'passed' : run.exitCode === 1 ? 'FAILED' : 'was inconclusive'}`,
    '',
    `${n('pass')} passed, ${n('fail')} failed, ${n('error')} inconclusive, ${n('not-applicable')} not applicable on ${cell(run.target.summary)} (run ${run.runId}).`,
    '',
    '| Check | Verdict | Title |',
    '|---|---|---|',
    ...run.results.map((r) => `| ${r.id} | ${VERDICT[r.verdict]} | ${cell(r.title)} |`),
  ];
  const failed = run.results.filter((r) => r.verdict === 'fail');
  if (failed.length > 0) {
    lines.push('', '### What broke', '');
    for (const r of failed) {
      lines.push(`- **${r.id}** — ${cell(r.claim)}`);
      // A sweep's findings are its own table below (one row per namespace/Service/port).
      for (const f of run.sweep ? [] : failuresOf(r).filter((x) => x.verdict === 'fail')) {
        lines.push(`  - ${cell(f.label)}: ${cell(f.reason)}`);
        if (f.atFault) lines.push(`    - at fault: ${cell(f.atFault.object)}`, `    - fix: ${cell(f.atFault.remedy)}`);
      }
    }
  }
  for (const u of run.requirements.unmet) lines.push('', `Required check **${u.id}** was not applicable: ${cell(u.reason)}`);
  if (run.sweep) lines.push(...sweepSection(run.sweep));
  if (run.target.kind === 'lab') lines.push('', '_Lab run: a test bed for meshproof itself; its verdicts say nothing about any real mesh._');
  return `${lines.join('\n')}\n`;
}

/** Rows a job page shows at most: GitHub caps a step summary at 1 MiB; the rest is in the bundle's sweep.json. */
export const SUMMARY_ROWS = 500;

const OUTCOME = { finding: '❌ finding', inconclusive: '⚠️ inconclusive', exempt: '➖ exempt' } as const;


function sweepSection(sweep: SweepReport): string[] {
  const t = sweepTally(sweep);
  const rows = sweepRows(sweep);
  const lines = [
    '',
    '### Sweep',
    '',
    `Judged ${t.judged} of ${t.endpoints} endpoints (${sweep.counts.pods} pods, ${sweep.counts.namespaces} namespaces): ${t.findings} findings, ${t.exempt} exempt, ${t.inconclusive} inconclusive; the canary was ${sweep.canary.flagged ? 'flagged' : 'NOT flagged, so no pass counts'}${sweep.incomplete ? '; INCOMPLETE (interrupted)' : ''}.`,
  ];
  if (rows.length === 0) return lines;
  lines.push('', '| Namespace | Service | Port | Check | Outcome | Pods | Why |', '|---|---|---|---|---|---|---|');
  for (const r of rows.slice(0, SUMMARY_ROWS)) {
    lines.push(`| ${cell(r.namespace)} | ${cell(r.service)} | ${r.port ?? ''} | ${r.check} | ${OUTCOME[r.outcome]} | ${r.pods} | ${cell(r.reason)} |`);
  }
  if (rows.length > SUMMARY_ROWS) lines.push('', `… ${rows.length - SUMMARY_ROWS} more rows in the bundle's sweep.json.`);
  return lines;
}

/** GitHub Actions workflow-command escaping: data escapes %, CR, LF; properties also `:` and `,`. */
const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const escapeProperty = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

/** Error annotations GitHub shows per step (actions/toolkit docs/problem-matchers.md, "Limitations"). */
export const ANNOTATIONS_PER_STEP = 10;

/**
 * One `::error` line per failed check, which GitHub shows as an annotation on the run; for a sweep, one per
 * finding (check and namespace/Service/port), which names what to fix, at most as many as GitHub shows, the last
 * saying how many more the summary lists.
 */
export function githubErrors(run: RunResult): string[] {
  if (run.sweep) {
    const findings = sweepRows(run.sweep).filter((r) => r.outcome === 'finding');
    const shown = findings.length > ANNOTATIONS_PER_STEP ? findings.slice(0, ANNOTATIONS_PER_STEP - 1) : findings;
    const lines = shown.map((r) => `::error title=${escapeProperty(`${r.check} ${rowPlace(r)}`)}::${escapeData(`${r.reason}${r.pods > 1 ? ` (and ${r.pods - 1} more pods)` : ''}`)}`);
    if (shown.length < findings.length) lines.push(`::error title=${escapeProperty(`${findings.length - shown.length} more sweep findings`)}::${escapeData('GitHub shows 10 annotations per step: every finding is in the step summary (--summary-md) and sweep.json.')}`);
    return lines;
  }
  return run.results.filter((r) => r.verdict === 'fail').map((r) => `::error title=${escapeProperty(`${r.id} failed`)}::${escapeData(`${r.claim} Observed: ${r.reason}`)}`);
}
