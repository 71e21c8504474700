// A conformance run's (or a sweep's) result: the one model every reporter reads (JUnit, OSCAL, HTML, the bundle).
// Its own module so the run, the sweep and the reporters share it without importing each other.
import type { CheckResult } from './engine.js';
import type { SweepReport } from './sweep/report.js';
import type { TargetDescription } from './target.js';

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
