// Self-verification: proves each check CAN fail. The secure posture must pass; every weakened posture a check
// names must make that check FAIL. A check that passes under its own weakness is a check that cannot fail, and
// the run says so (exit 1). On the lab, and on a user's cluster with the overlays it can take (the run's own
// namespaces only; an overlay that writes the root namespace or is a lab fault is listed as not verifiable there).
import path from 'node:path';
import type { Check } from './check.js';
import type { Verdict } from './check.js';
import { loadPosture } from './posture/load.js';
import { conformanceRun } from './run.js';
import type { Target } from './target.js';
import type { Timeouts } from './timeouts.js';

export interface SelfVerifyRow {
  posture: string;
  /** Checks that name this overlay and so must fail; empty for the secure posture. */
  targets: string[];
  verdicts: Record<string, Verdict>;
  /** What went against expectation: a targeted check that did not fail, or a secure-posture check that failed. */
  problems: string[];
  /** Why this overlay cannot be applied on this target (it writes the root namespace, or it is a lab fault). */
  notVerifiable?: string;
}

export function weakenedOverlays(checks: Check[]): string[] {
  return [...new Set(checks.flatMap((c) => c.weakenedBy))].sort();
}

export function judgeRow(posture: string, targets: string[], verdicts: Record<string, Verdict>): SelfVerifyRow {
  const problems: string[] = [];
  if (targets.length === 0) {
    for (const [id, v] of Object.entries(verdicts)) if (v === 'fail' || v === 'error') problems.push(`${id} is ${v} on the secure posture`);
  } else {
    for (const id of targets) if (verdicts[id] !== 'fail') problems.push(`${id} is ${verdicts[id] ?? 'missing'} under ${posture}, expected fail: it cannot detect this weakness`);
  }
  return { posture, targets, verdicts, problems };
}

export async function selfVerify(o: {
  checks: Check[];
  securePosture: string;
  weakenedDir: string;
  timeouts: Timeouts;
  makeTarget: () => Target;
  concurrency: number;
  onRow?: (row: SelfVerifyRow) => void;
  onStart?: (posture: string) => void;
  /** Why an overlay cannot run on this target, if it cannot; its row is listed as not verifiable there. */
  notVerifiable?: (overlayFile: string) => string | undefined;
}): Promise<SelfVerifyRow[]> {
  const jobs: { name: string; overlays: string[]; targets: string[] }[] = [
    { name: 'secure', overlays: [], targets: [] },
    ...weakenedOverlays(o.checks).map((f) => ({
      name: f,
      overlays: [path.join(o.weakenedDir, f)],
      targets: o.checks.filter((c) => c.weakenedBy.includes(f)).map((c) => c.id),
    })),
  ];
  const rows: SelfVerifyRow[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < jobs.length; i = next++) {
      const job = jobs[i]!;
      const why = job.overlays[0] ? o.notVerifiable?.(job.overlays[0]) : undefined;
      if (why) {
        rows[i] = { posture: job.name, targets: job.targets, verdicts: {}, problems: [], notVerifiable: why };
        o.onRow?.(rows[i]!);
        continue;
      }
      o.onStart?.(job.name);
      const target = o.makeTarget();
      try {
        const r = await conformanceRun({ target, posture: loadPosture(o.securePosture, job.overlays), checks: o.checks, timeouts: o.timeouts });
        rows[i] = judgeRow(job.name, job.targets, Object.fromEntries(r.results.map((x) => [x.id, x.verdict])));
      } finally {
        await target.dispose();
      }
      o.onRow?.(rows[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, worker));
  return rows;
}
