// Evidence per check as JSON in <out>/evidence/<ID>.json: the claim, the controls with their caveats, what every
// attack and control observed, the corroborating log lines and counters, and the target it ran against.
// Observations carry public material only: no private key or token ever reaches them.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { controlEntry } from '../controls.js';
import type { CheckResult } from '../engine.js';
import type { RunResult } from '../run.js';

export const evidencePath = (id: string) => `evidence/${id}.json`;

export function evidenceDocument(run: RunResult, r: CheckResult) {
  return {
    schema: 'meshproof.dev/evidence/v1',
    runId: run.runId,
    check: { id: r.id, title: r.title, suite: r.suite, claim: r.claim, method: r.method, weakenedBy: r.weakenedBy },
    controls: r.controls.map((id) => {
      const c = controlEntry(id);
      return { id, framework: c?.framework, title: c?.title, caveat: c?.caveat };
    }),
    verdict: r.verdict,
    reason: r.reason,
    startedAt: r.startedAt,
    durationMs: r.durationMs,
    target: run.target,
    posture: run.posture,
    cases: r.cases,
  };
}

export function writeEvidence(outDir: string, run: RunResult): void {
  mkdirSync(path.join(outDir, 'evidence'), { recursive: true });
  for (const r of run.results) {
    writeFileSync(path.join(outDir, evidencePath(r.id)), `${JSON.stringify(evidenceDocument(run, r), null, 2)}\n`);
  }
}
