// The access matrix's certificates (issue 22, audit 2026-12-06 M22-M1, M22-L4), through the lab: one identity's mint
// failure (its service account deleted after discovery, istiod refusing the TTL) leaves that identity's cells
// inconclusive with the reason while the run goes on and its bundle is written; a certificate about to expire is
// re-minted before the identity's next batch.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { estatePosture } from '../cluster/lab/estate.js';
import { type LabOptions, LabTarget } from '../cluster/lab/lab-target.js';
import { SWEEP_FIXTURES } from '../harness/paths.js';
import { loadPosture } from '../harness/posture/load.js';
import { writeBundle } from '../harness/report/bundle.js';
import type { Estate, SweepScope } from '../harness/sweep/estate.js';
import { type SweepOptions, sweep } from '../harness/sweep/sweep.js';
import { matrixSweepOptions } from './support/matrix-sweep.js';

/** A lab where a service account is deleted right after discovery (routine during a rollout): TokenRequest then answers 404. */
class DeletingLab extends LabTarget {
  constructor(
    private readonly doomed: { namespace: string; serviceAccount: string } | undefined,
    opts: LabOptions = {},
  ) {
    super(opts);
  }
  override async discover(scope: SweepScope): Promise<Estate> {
    const estate = await super.discover(scope);
    if (this.doomed) this.deleteServiceAccount(this.doomed.namespace, this.doomed.serviceAccount);
    return estate;
  }
}

const options = (target: LabTarget, over: Partial<SweepOptions> = {}): SweepOptions => matrixSweepOptions(target, over);

const posture = (services: number) => ({ origin: ['estate'], objects: [...estatePosture({ services, replicas: 1, holes: false }), ...loadPosture(SWEEP_FIXTURES, []).objects] });

let lab: LabTarget | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

describe('the matrix certificates', () => {
  it('M22-M1: a service account deleted after discovery makes only its cells inconclusive (SWEEP-ENFORCE error naming it); the plain sweep is judged and the bundle written', async () => {
    const doomed = { namespace: 'estate-1', serviceAccount: 'svc-0001' };
    lab = new DeletingLab(doomed, { podsPerProcess: 250 });
    await lab.apply(posture(6));
    const r = await sweep(options(lab));
    const m = r.report.matrix!;
    const mine = m.cells.filter((c) => c.identity === 'estate-1/svc-0001' && (c.attack || c.grantProbe));
    expect(mine.length).toBeGreaterThan(0);
    for (const c of mine) {
      expect(c.state).toBe('inconclusive');
      const reason = c.attack?.reason ?? c.notAttacked ?? '';
      expect(reason).toMatch(/no certificate for estate-1\/svc-0001.*serviceaccounts "svc-0001" not found in namespace estate-1/);
    }
    // Every other identity was attacked and judged: no cell of theirs is inconclusive.
    const others = m.cells.filter((c) => c.identity !== 'estate-1/svc-0001' && c.role !== 'canary');
    expect(others.length).toBeGreaterThan(0);
    for (const c of others) expect(c.state, `${c.identity} → ${c.service}:${c.port}: ${c.attack?.reason}`).not.toBe('inconclusive');
    expect(m.canary.flagged).toBe(true);
    const enforce = r.run.results.find((x) => x.id === 'SWEEP-ENFORCE')!;
    expect(enforce.verdict).toBe('error');
    expect(enforce.reason).toContain('estate-1/svc-0001');
    expect(enforce.cases.find((c) => c.label === 'estate-1/svc-0001')!.verdict).toBe('error');
    for (const c of enforce.cases.filter((x) => x.label !== 'estate-1/svc-0001')) expect(c.verdict, `${c.label}: ${c.reason}`).toBe('pass');
    // The plain sweep's checks are judged, not lost.
    for (const id of ['SWEEP-MTLS', 'SWEEP-INJECT', 'SWEEP-AUTHZ', 'SWEEP-CERT']) expect(r.run.results.find((x) => x.id === id)!.verdict, id).toBe('pass');
    // The bundle is written, as cli/sweep.ts writes it once sweep() returns.
    const out = mkdtempSync(path.join(tmpdir(), 'mp-m22m1-'));
    writeBundle({ outDir: out, run: r.run, posture: r.snapshot, allChecks: [] });
    expect(existsSync(path.join(out, 'matrix.json'))).toBe(true);
    const written = JSON.parse(readFileSync(path.join(out, 'matrix.json'), 'utf8')) as { cells: { identity: string; state: string }[] };
    expect(written.cells.filter((c) => c.identity === 'estate-1/svc-0001').some((c) => c.state === 'inconclusive')).toBe(true);
  });

  it('M22-M1: istiod refusing the TTL over its MAX_WORKLOAD_CERT_TTL is named in the reason, never a pass', async () => {
    // A hardened istiod whose maximum is below what the matrix asks (10 minutes at least): every mint is refused.
    lab = new DeletingLab(undefined, { podsPerProcess: 250, maxWorkloadCertTtlMs: 300_000 });
    await lab.apply(posture(6));
    const r = await sweep(options(lab));
    const m = r.report.matrix!;
    expect(m.counts.certificates).toBe(0);
    const sent = m.cells.filter((c) => c.attack);
    expect(sent.length).toBeGreaterThan(0);
    for (const c of sent) expect(c.attack!.reason).toMatch(/istiod refuses a certificate TTL over its maximum \(MAX_WORKLOAD_CERT_TTL 5m0s; meshproof asked 600 s\)/);
    for (const id of ['SWEEP-ENFORCE', 'SWEEP-LEASTPRIV']) expect(r.run.results.find((x) => x.id === id)!.verdict, id).toBe('error');
    for (const id of ['SWEEP-MTLS', 'SWEEP-INJECT', 'SWEEP-AUTHZ', 'SWEEP-CERT']) expect(r.run.results.find((x) => x.id === id)!.verdict, id).toBe('pass');
  });

  it('M22-L4: a certificate with less than the margin of its life left is re-minted before the next batch; no attempt presents an expired one', async () => {
    lab = new LabTarget({ podsPerProcess: 250 });
    await lab.apply(posture(6));
    // A 4 s certificate, a margin of 2 × 1 s + a 5-cell batch + the log delay, so each identity outlives a few batches only.
    const r = await sweep(options(lab, { attemptTimeoutMs: 1_000, batchEndpoints: 5, ratePerSec: 200, matrix: { perPod: false, probeGrants: true, certTtlMs: 4_000 } }));
    const m = r.report.matrix!;
    const attacking = new Set(m.cells.filter((c) => c.attack || c.grantProbe).map((c) => c.identity));
    expect(m.counts.certificates).toBeGreaterThan(attacking.size);
    for (const c of m.cells.filter((x) => x.role !== 'canary')) expect(c.state, `${c.identity} → ${c.service}:${c.port}: ${c.attack?.reason}`).not.toMatch(/hole|inconclusive/);
    const enforce = r.run.results.find((x) => x.id === 'SWEEP-ENFORCE')!;
    expect(enforce.verdict, enforce.reason).toBe('pass');
  });
});
