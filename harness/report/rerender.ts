// `meshproof report BUNDLE`: the human pages again from a verified bundle (a newer report layout for an old
// night, a lost report.html). The bundle itself is never written to (its manifest would no longer match): the
// pages go to another directory.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Category } from '../controls.js';
import type { CheckResult } from '../engine.js';
import { ConfigError } from '../errors.js';
import type { RunResult } from '../result.js';
import type { MatrixReport } from '../matrix/types.js';
import type { SweepReport } from '../sweep/report.js';
import { checkFile } from './checks.js';
import { verifyBundle } from './manifest.js';

interface RunJson {
  runId: string;
  tool: RunResult['tool'];
  command: string[];
  configHash: string;
  startedAt: string;
  finishedAt: string;
  target: RunResult['target'];
  scope: { excluded: { check: string; suite: string; reason: string }[] };
  posture: { origin: string[] };
  results: { id: string; suite: string; title: string; method: CheckResult['method']; verdict: CheckResult['verdict']; reason: string }[];
  requirements?: RunResult['requirements'];
  exitCode: RunResult['exitCode'];
}

interface CheckJson {
  check: { id: string; title: string; suite: string; method: CheckResult['method']; expected: string; weakenedBy: string[] };
  controls: { id: string }[];
  verdict: CheckResult['verdict'];
  reason: string;
  startedAt: string;
  durationMs: number;
  cases: CheckResult['cases'];
}

/** The run as it was, from a bundle that verifies; `categoriesOf` maps a check id to its evidence categories. */
export function readBundle(dir: string, categoriesOf: (id: string) => Category[], publicKeyPem?: string): { run: RunResult; excluded: RunJson['scope']['excluded'] } {
  const v = verifyBundle(dir, publicKeyPem);
  if (!v.ok) throw new ConfigError(`${dir} does not verify (${v.problems.join("; ")}): nothing is rendered from it`);
  const runJson = JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as RunJson;
  const results: CheckResult[] = runJson.results.map((r) => {
    const c = JSON.parse(readFileSync(path.join(dir, checkFile(r.id)), 'utf8')) as CheckJson;
    return {
      id: c.check.id,
      title: c.check.title,
      suite: c.check.suite,
      claim: c.check.expected,
      controls: c.controls.map((x) => x.id),
      categories: categoriesOf(c.check.id),
      method: c.check.method,
      weakenedBy: c.check.weakenedBy,
      verdict: c.verdict,
      reason: c.reason,
      startedAt: c.startedAt,
      durationMs: c.durationMs,
      cases: c.cases,
    };
  });
  const run: RunResult = {
    runId: runJson.runId,
    tool: runJson.tool,
    configHash: runJson.configHash,
    startedAt: runJson.startedAt,
    finishedAt: runJson.finishedAt,
    command: runJson.command,
    posture: runJson.posture.origin,
    target: runJson.target,
    results,
    requirements: runJson.requirements ?? { required: [], unmet: [] },
    exitCode: runJson.exitCode,
  };
  // A sweep's per-endpoint results (the heat map, JUnit per Service) travel in sweep.json, covered by the manifest.
  const sweepFile = path.join(dir, 'sweep.json');
  if (existsSync(sweepFile)) {
    const { schema: _s, runId: _r, ...sweep } = JSON.parse(readFileSync(sweepFile, 'utf8')) as SweepReport & { schema: string; runId: string };
    run.sweep = sweep;
    const matrixFile = path.join(dir, 'matrix.json');
    if (existsSync(matrixFile)) {
      const { schema: _m, runId: _mr, ...matrix } = JSON.parse(readFileSync(matrixFile, 'utf8')) as MatrixReport & { schema: string; runId: string };
      run.sweep.matrix = matrix;
    }
  }
  return { run, excluded: runJson.scope.excluded };
}
