// Which declared calls speak of a matrix cell (audit 2026-12-06 M22-M2, M22-M3), through the lab: Otterize's
// generated AuthorizationPolicy selects the declared Service's pods and names no ports, so a second Service over the
// same pods is covered by the declaration; intent workloads resolve through the pods' owners, not their names' shape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estatePosture } from '../cluster/lab/estate.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { SWEEP_FIXTURES } from '../harness/paths.js';
import { loadPosture, type Manifest, type PostureObject } from '../harness/posture/load.js';
import type { MatrixIntent } from '../harness/matrix/matrix.js';
import { type SweepOptions, sweep } from '../harness/sweep/sweep.js';

function options(target: LabTarget, over: Partial<SweepOptions> = {}): SweepOptions {
  return {
    target,
    scope: { exclude: [], excludePorts: [], runNamespace: 'sweep' },
    attacker: { namespace: 'sweep', name: 'sweeper' },
    maxCertLifetimeMs: 24 * 3_600_000,
    attemptTimeoutMs: 3_000,
    concurrency: 16,
    ratePerSec: 2_000,
    batchEndpoints: 40,
    accessLogDelayMs: 50,
    exemptions: [],
    matrix: { perPod: false, probeGrants: false },
    ...over,
  };
}

describe('declared calls and the cells they speak of', () => {
  let lab: LabTarget;
  beforeAll(async () => {
    const objects: PostureObject[] = [...estatePosture({ services: 6, replicas: 1, holes: false }), ...loadPosture(SWEEP_FIXTURES, []).objects];
    // A second Service over svc-0001's pods (same selector, same port): a blue/green alias.
    const svc = objects.find((o) => o.manifest.kind === 'Service' && o.manifest.metadata.name === 'svc-0001')!.manifest as Manifest & { spec: Record<string, unknown> };
    const alias = { ...svc, metadata: { ...svc.metadata, name: 'svc-0001-alias' } } as Manifest;
    objects.push({ manifest: alias, source: 'test: alias Service' });
    lab = new LabTarget({ podsPerProcess: 250 });
    await lab.apply({ origin: ['estate with an alias Service'], objects });
  }, 120_000);
  afterAll(async () => {
    await lab?.dispose();
  });

  it('M22-M2: a declaration of Service svc-0001 covers the cells of a second Service over the same pods (not beyond intent); other Services stay beyond', async () => {
    const ns = 'estate-1';
    const estate = await lab.discover({ exclude: [], excludePorts: [], runNamespace: 'sweep' });
    const identities = [...new Set(estate.pods.filter((p) => p.namespace !== 'sweep' && p.role === undefined).map((p) => `${p.namespace}/${p.serviceAccount}`))];
    const intent: MatrixIntent = {
      source: 'test: every identity declares the whole of svc-0001 only',
      namespaces: [...new Set(identities.map((i) => i.split('/')[0]!))],
      calls: identities.map((identity) => ({ identity, namespace: identity.split('/')[0]!, service: 'svc-0001', calls: [] })),
    };
    const r = await sweep(options(lab, { matrix: { perPod: false, probeGrants: false, intent } }));
    const cells = r.report.matrix!.cells.filter((c) => c.role !== 'canary');
    const aliasCells = cells.filter((c) => c.namespace === ns && c.service === 'svc-0001-alias');
    const own = cells.filter((c) => c.namespace === ns && c.service === 'svc-0001');
    expect(aliasCells.length).toBeGreaterThan(0);
    expect(aliasCells.length).toBe(own.length);
    // Not vacuous: some identity is granted on the alias, exactly as on svc-0001 (the same pods, the same policies).
    expect(aliasCells.some((c) => c.grant.kind !== 'none')).toBe(true);
    for (const c of aliasCells) {
      expect(c.intent.status, `${c.identity} → ${c.service}:${c.port}`).toBe('declared');
      expect(c.intent.beyond, `${c.identity} → ${c.service}:${c.port}`).toEqual([]);
      expect(c.state).not.toBe('beyond-intent');
    }
    // A grant on a Service over other pods is still beyond the intent (the rule is about pods, not a blanket).
    const elsewhere = cells.filter((c) => c.service !== 'svc-0001' && c.service !== 'svc-0001-alias' && c.grant.kind !== 'none' && c.grant.kind !== 'not-judged');
    expect(elsewhere.length).toBeGreaterThan(0);
    for (const c of elsewhere) expect(c.state, `${c.identity} → ${c.namespace}/${c.service}:${c.port}`).toBe('beyond-intent');
  }, 180_000);
});
