// One conformance run: apply the posture to a target, run the checks, collect a result model for the reporters.
import { createHash, randomUUID } from 'node:crypto';
import { type Check, type CheckContext, DEFAULT_SETTINGS, type Settings } from './check.js';
import { type CheckResult, runCheck } from './engine.js';
import type { Posture } from './posture/load.js';
import { toolCommit, VERSION } from './paths.js';
import { PostureView } from './posture/view.js';
import { canonicalJson } from './report/canonical.js';
import type { SweepReport } from './sweep/sweep.js';
import type { Target, TargetDescription } from './target.js';
import type { Timeouts } from './timeouts.js';
import { exitCodeOf } from './verdict.js';

export interface RunResult {
  runId: string;
  tool: { name: 'meshproof'; version: string; commit: string };
  /** SHA-256 of the canonical JSON of everything that decides the outcome: posture, checks, timeouts, settings. */
  configHash: string;
  startedAt: string;
  finishedAt: string;
  command: string[];
  posture: string[];
  target: TargetDescription;
  results: CheckResult[];
  /**
   * Checks the run was required to judge (`--require`): one that was not-applicable fails the run, so a gate
   * cannot go quietly green because its check stopped applying (a DestinationRule whose host no longer matches).
   */
  requirements: { required: string[]; unmet: { id: string; reason: string }[] };
  exitCode: 0 | 1 | 3;
  /** A sweep's per-endpoint results (written to sweep.json; JUnit and HTML show them per Service and namespace). */
  sweep?: SweepReport;
}

export interface RunOptions {
  target: Target;
  posture: Posture;
  timeouts: Timeouts;
  command?: string[];
  runId?: string;
  settings?: Settings;
  /** Check ids that must not be not-applicable (`--require`). */
  required?: string[];
}

/** The phases of a run as separate steps, so the CLI can show progress per check. */
export class RunSession {
  readonly runId: string;
  private readonly startedAt = new Date().toISOString();
  private readonly results: CheckResult[] = [];
  private readonly ctx: CheckContext;

  constructor(private readonly o: RunOptions) {
    this.runId = o.runId ?? randomUUID();
    this.ctx = { view: new PostureView(o.posture), target: o.target, timeouts: o.timeouts, settings: o.settings ?? DEFAULT_SETTINGS };
  }

  apply(): Promise<void> {
    return this.o.target.apply(this.o.posture);
  }

  async check(c: Check): Promise<CheckResult> {
    const r = await runCheck(c, this.ctx);
    this.results.push(r);
    return r;
  }

  async finish(): Promise<RunResult> {
    const config = {
      target: this.o.target.kind,
      posture: this.o.posture.objects.map((o) => o.manifest),
      checks: this.results.map((r) => r.id),
      timeouts: this.o.timeouts,
      settings: this.ctx.settings,
      required: this.o.required ?? [],
    };
    const unmet = this.results.filter((r) => this.o.required?.includes(r.id) && r.verdict === 'not-applicable').map((r) => ({ id: r.id, reason: r.reason }));
    const judged = exitCodeOf(this.results.map((r) => r.verdict));
    return {
      runId: this.runId,
      tool: { name: 'meshproof', version: VERSION, commit: toolCommit() },
      configHash: createHash('sha256').update(canonicalJson(config)).digest('hex'),
      startedAt: this.startedAt,
      finishedAt: new Date().toISOString(),
      command: this.o.command ?? [],
      posture: this.o.posture.origin,
      target: await this.o.target.describe(),
      results: this.results,
      requirements: { required: this.o.required ?? [], unmet },
      // A required check that did not apply fails the run, as a failed check does (fail wins over error).
      exitCode: unmet.length > 0 ? 1 : judged,
    };
  }
}

/** A whole run without progress display (tests, programmatic use). */
export async function conformanceRun(o: RunOptions & { checks: Check[] }): Promise<RunResult> {
  const s = new RunSession(o);
  await s.apply();
  for (const c of o.checks) await s.check(c);
  return s.finish();
}
