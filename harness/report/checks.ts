// checks/<ID>.json: everything one check saw — the claim, the method, the controls with their caveats, per case
// the attacker, each attack's observation and its classification with the §9 rule applied, the positive
// control, the destination's matching access-log lines and counter deltas, certificate details, the target.
// Observations carry only what came over the wire (public certificates at most): never a key or a token.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { controlEntry } from '../controls.js';
import type { CheckResult } from '../engine.js';
import type { RunResult } from '../result.js';

export const checkFile = (id: string) => `checks/${id}.json`;

export function checkDocument(run: RunResult, r: CheckResult) {
  return {
    schema: 'meshproof.dev/check/v1',
    runId: run.runId,
    check: { id: r.id, title: r.title, suite: r.suite, method: r.method, expected: r.claim, weakenedBy: r.weakenedBy },
    controls: r.controls.map((id) => {
      const c = controlEntry(id);
      return { id, framework: c?.framework, title: c?.title, caveat: c?.caveat };
    }),
    verdict: r.verdict,
    reason: r.reason,
    startedAt: r.startedAt,
    durationMs: r.durationMs,
    target: run.target,
    cases: r.cases,
  };
}

export function writeChecks(outDir: string, run: RunResult): void {
  for (const r of run.results) {
    writeFileSync(path.join(outDir, checkFile(r.id)), `${JSON.stringify(checkDocument(run, r), null, 2)}\n`);
  }
}
