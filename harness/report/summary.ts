// The per-check table printed at the end of a run.
import type { RunResult } from '../result.js';
import { checkFile } from './checks.js';
import { whatFailed } from './failures.js';

const VERDICT_LABEL = { pass: 'PASS', fail: 'FAIL', error: 'ERROR', 'not-applicable': 'N/A' } as const;

export function summaryTable(run: RunResult, outDir: string, width = process.stdout.columns ?? 120): string {
  const rows = run.results.map((r) => [
    r.id,
    VERDICT_LABEL[r.verdict],
    `${(r.durationMs / 1000).toFixed(1)}s`,
    checkFile(r.id),
    r.verdict === 'pass' ? r.title : r.reason,
  ]);
  const head = ['CHECK', 'VERDICT', 'TIME', 'EVIDENCE', 'DETAIL'];
  const all = [head, ...rows];
  const widths = head.map((_, i) => (i === head.length - 1 ? 0 : Math.max(...all.map((r) => r[i]!.length))));
  const fixed = widths.reduce((n, w) => n + w + 2, 0);
  const room = Math.max(30, width - fixed);
  const line = (r: string[]) =>
    r.map((c, i) => (i === r.length - 1 ? (c.length > room ? `${c.slice(0, room - 1)}…` : c) : c.padEnd(widths[i]!))).join('  ');
  const n = (v: string) => run.results.filter((r) => r.verdict === v).length;
  const total = `${n('pass')} passed, ${n('fail')} failed, ${n('error')} inconclusive, ${n('not-applicable')} not applicable`;
  const note = run.target.kind === 'lab' ? ['Lab run: a test bed for meshproof itself; its verdicts say nothing about any real mesh.'] : [];
  return [line(head), ...rows.map(line), ...(run.sweep ? [] : whatFailed(run.results)), '', `${total} — reports in ${outDir}`, ...note].join('\n');
}
