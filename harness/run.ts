// One conformance run: apply the posture to a target, run the checks, collect a result model for the reporters.
import { createHash, randomUUID } from 'node:crypto';
import { type Check, type CheckContext, DEFAULT_SETTINGS, type Settings } from './check.js';
import { type CheckResult, runCheck } from './engine.js';
import type { Posture } from './posture/load.js';
import { toolCommit, VERSION } from './paths.js';
import { PostureView } from './posture/view.js';
import { canonicalJson } from './report/canonical.js';
import type { RunResult } from './result.js';
import type { Target } from './target.js';
import type { Timeouts } from './timeouts.js';
import { exitCodeOf } from './verdict.js';

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
