// The run's verdicts as Prometheus metrics, for alerts on regressions: the text exposition format (version
// 0.0.4), written for node_exporter's textfile collector (atomically: a temp file renamed, so the collector never
// reads half a file) or pushed to a Pushgateway. Each check's verdict is a one-hot gauge per possible verdict, so
// `meshproof_check_verdict{verdict="fail"} == 1` alerts and `changes()` shows regressions over nights.
import { renameSync, writeFileSync } from 'node:fs';
import type { RunResult } from '../result.js';

const VERDICTS = ['pass', 'fail', 'error', 'not-applicable'] as const;

/** Label values escape backslash, double quote and newline (exposition format). */
const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function metricsText(run: RunResult): string {
  const out: string[] = [];
  const family = (name: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
  family('meshproof_check_verdict', 'Verdict of each check in the last run: 1 for the verdict it had, 0 for the others.');
  for (const r of run.results) {
    for (const v of VERDICTS) out.push(`meshproof_check_verdict{check="${label(r.id)}",suite="${label(r.suite)}",verdict="${v}"} ${r.verdict === v ? 1 : 0}`);
  }
  family('meshproof_check_duration_seconds', 'How long each check took in the last run.');
  for (const r of run.results) out.push(`meshproof_check_duration_seconds{check="${label(r.id)}",suite="${label(r.suite)}"} ${(r.durationMs / 1000).toFixed(3)}`);
  family('meshproof_run_timestamp_seconds', 'When the last run finished (Unix time).');
  out.push(`meshproof_run_timestamp_seconds ${(Date.parse(run.finishedAt) / 1000).toFixed(3)}`);
  family('meshproof_run_exit_code', 'The last run\'s exit code: 0 pass, 1 a check failed, 3 inconclusive.');
  out.push(`meshproof_run_exit_code ${run.exitCode}`);
  return `${out.join('\n')}\n`;
}

/** For node_exporter's textfile collector: written next to the target and renamed into place. */
export function writeMetrics(file: string, run: RunResult): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, metricsText(run));
  renameSync(tmp, file);
}

/** PUT to a Pushgateway under job `meshproof` (replacing the previous night's group), bounded in time. */
export async function pushMetrics(url: string, run: RunResult, timeoutMs = 10_000): Promise<void> {
  const target = `${url.replace(/\/$/, '')}/metrics/job/meshproof`;
  const res = await fetch(target, { method: 'PUT', headers: { 'content-type': 'text/plain; version=0.0.4' }, body: metricsText(run), signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${target} answered ${res.status} ${(await res.text()).slice(0, 200)}`);
}
