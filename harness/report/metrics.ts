// The run's verdicts as Prometheus metrics, for alerts on regressions: the text exposition format (version
// 0.0.4), written for node_exporter's textfile collector (atomically: a temp file renamed, so the collector never
// reads half a file) or pushed to a Pushgateway. Each check's verdict is a one-hot gauge per possible verdict, so
// `meshproof_check_verdict{verdict="fail"} == 1` alerts and `changes()` shows regressions over nights.
// A sweep's own families are `meshproof_sweep_*` (its time and exit code, endpoints, outcomes per check, the
// canary), and it pushes under job `meshproof-sweep`: beside a run's file in the same textfile directory, or the
// run's group on the same Pushgateway, it neither collides nor replaces (node_exporter refuses a series two files
// both carry).
import { renameSync, writeFileSync } from 'node:fs';
import type { RunResult } from '../result.js';
import { sweepTally } from '../sweep/sweep.js';

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
  const what = run.sweep ? 'sweep' : 'run';
  family(`meshproof_${what}_timestamp_seconds`, `When the last ${what} finished (Unix time).`);
  out.push(`meshproof_${what}_timestamp_seconds ${(Date.parse(run.finishedAt) / 1000).toFixed(3)}`);
  family(`meshproof_${what}_exit_code`, `The last ${what}'s exit code: 0 pass, 1 ${run.sweep ? 'a finding' : 'a check failed'}, 3 inconclusive.`);
  out.push(`meshproof_${what}_exit_code ${run.exitCode}`);
  if (run.sweep) sweepFamilies(run, out, family);
  return `${out.join('\n')}\n`;
}

/** A sweep's own families: endpoints in scope and judged, outcomes (the canary left out), the canary itself. */
function sweepFamilies(run: RunResult, out: string[], family: (name: string, help: string) => void): void {
  const sw = run.sweep!;
  const t = sweepTally(sw);
  family('meshproof_sweep_endpoints', 'Endpoints (pod, port) of the last sweep: in scope, and judged (fewer when interrupted).');
  out.push(`meshproof_sweep_endpoints{state="in_scope"} ${t.endpoints}`, `meshproof_sweep_endpoints{state="judged"} ${t.judged}`);
  family('meshproof_sweep_outcomes', 'Outcomes of the last sweep, the canary left out: (endpoint, check) pairs, and pods for SWEEP-INJECT.');
  for (const [outcome, n] of [['finding', t.findings], ['exempt', t.exempt], ['inconclusive', t.inconclusive]] as const) out.push(`meshproof_sweep_outcomes{outcome="${outcome}"} ${n}`);
  family('meshproof_sweep_canary_flagged', 'Whether the last sweep flagged its canary (0: it could not show a failure, so no pass counts).');
  out.push(`meshproof_sweep_canary_flagged ${sw.canary.flagged ? 1 : 0}`);
}

/** For node_exporter's textfile collector: written next to the target and renamed into place. */
export function writeMetrics(file: string, run: RunResult): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, metricsText(run));
  renameSync(tmp, file);
}

/** PUT to a Pushgateway under job `meshproof` (`meshproof-sweep` for a sweep), replacing the previous night's group, bounded in time. */
export async function pushMetrics(url: string, run: RunResult, timeoutMs = 10_000): Promise<void> {
  const target = `${url.replace(/\/$/, '')}/metrics/job/${run.sweep ? 'meshproof-sweep' : 'meshproof'}`;
  const res = await fetch(target, { method: 'PUT', headers: { 'content-type': 'text/plain; version=0.0.4' }, body: metricsText(run), signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${target} answered ${res.status} ${(await res.text()).slice(0, 200)}`);
}
