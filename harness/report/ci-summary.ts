// What a CI user reads on the job page rather than in the artifact: a Markdown summary (GitHub's
// GITHUB_STEP_SUMMARY, or `--summary-md FILE` anywhere) and GitHub Actions `::error` workflow commands for the
// failed checks. Link-free: the job page cannot reach the bundle, and a summary must not invent URLs.
import type { RunResult } from '../result.js';

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
    for (const r of failed) lines.push(`- **${r.id}** — ${cell(r.claim)}`, `  - observed: ${cell(r.reason)}`);
  }
  for (const u of run.requirements.unmet) lines.push('', `Required check **${u.id}** was not applicable: ${cell(u.reason)}`);
  if (run.target.kind === 'lab') lines.push('', '_Lab run: a test bed for meshproof itself; its verdicts say nothing about any real mesh._');
  return `${lines.join('\n')}\n`;
}

/** GitHub Actions workflow-command escaping: data escapes %, CR, LF; properties also `:` and `,`. */
const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const escapeProperty = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

/** One `::error` line per failed check, which GitHub shows as an annotation on the run. */
export function githubErrors(run: RunResult): string[] {
  return run.results.filter((r) => r.verdict === 'fail').map((r) => `::error title=${escapeProperty(`${r.id} failed`)}::${escapeData(`${r.claim} Observed: ${r.reason}`)}`);
}
