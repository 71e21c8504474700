// The access matrix at scale (issue 22 item 7): cells are batched by the pod they attack, so a batch's destination
// records cost one pod-log read per pod it attacked (an API call on a cluster) instead of one per pod of the whole
// target list, and the verdicts do not depend on how the cells are batched. Through the lab, over real sockets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estatePosture } from '../cluster/lab/estate.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { cellKey } from '../harness/matrix/diff.js';
import type { MatrixReport } from '../harness/matrix/types.js';
import { SWEEP_FIXTURES } from '../harness/paths.js';
import { loadPosture } from '../harness/posture/load.js';
import { sweep } from '../harness/sweep/sweep.js';

let lab: LabTarget;

async function matrixWith(batchEndpoints: number): Promise<MatrixReport> {
  const r = await sweep({
    target: lab,
    scope: { exclude: [], excludePorts: [], runNamespace: 'sweep' },
    attacker: { namespace: 'sweep', name: 'sweeper' },
    maxCertLifetimeMs: 24 * 3_600_000,
    attemptTimeoutMs: 3_000,
    concurrency: 16,
    ratePerSec: 2_000,
    batchEndpoints,
    accessLogDelayMs: 50,
    exemptions: [],
    matrix: { perPod: false, probeGrants: true },
  });
  return r.report.matrix!;
}

/** Each cell's state and attack outcome by its stable key (identity → ns/service:port), each run's nonces masked. */
const verdicts = (m: MatrixReport) =>
  Object.fromEntries(m.cells.map((c) => [cellKey(c), `${c.state} ${c.attack?.outcome ?? `not attacked: ${c.notAttacked}`} ${c.grantProbe?.outcome ?? '-'}`.replace(/[0-9a-f]{32}g?/g, '<nonce>')]));

describe('the access matrix batched by destination pod', () => {
  let small: MatrixReport;
  let large: MatrixReport;
  beforeAll(async () => {
    lab = new LabTarget({ podsPerProcess: 250 });
    await lab.apply({ origin: ['estate'], objects: [...estatePosture({ services: 6, replicas: 1 }), ...loadPosture(SWEEP_FIXTURES, []).objects] });
    small = await matrixWith(7);
    large = await matrixWith(50);
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('issue 22 scale: a batch reads each destination log once per pod it attacked, pods grouped (reads ≤ batches + pods)', () => {
    const attacked = new Set(large.cells.filter((c) => c.attack || c.grantProbe).map((c) => `${c.namespace}/${c.pod}`));
    // Several identities, so the planning order (identity by identity) would put every pod in every batch.
    expect(large.identities.length).toBeGreaterThan(5);
    expect(attacked.size).toBeGreaterThanOrEqual(8);
    expect(large.counts.execs).toBeGreaterThan(1);
    // Grouped by pod, only a pod whose cells straddle a batch boundary is read twice: at most one per boundary.
    expect(large.counts.logReads).toBeLessThanOrEqual(large.counts.execs + attacked.size - 1);
    expect(large.counts.logReads).toBeGreaterThan(0);
  });

  it('issue 22 scale: the verdicts do not depend on the batching (7 cells per exec and 50 give the same cell states)', () => {
    expect(small.counts.execs).toBeGreaterThan(large.counts.execs);
    expect(Object.keys(verdicts(large)).length).toBe(large.cells.length);
    expect(verdicts(small)).toEqual(verdicts(large));
    expect(large.canary.flagged).toBe(true);
    // The planted holes are there, and found both ways.
    expect(large.counts.hole).toBeGreaterThan(0);
    expect(large.counts.inconclusive).toBe(small.counts.inconclusive);
  });
});
