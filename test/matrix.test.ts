// The access matrix (`meshproof sweep --matrix`, issue 22) through the lab and through the built CLI: the matrix
// canary is flagged on every run (beyond intent, refused, hole), a clean estate passes SWEEP-ENFORCE with every
// refusal proven by the destination's record, a workload that does not enforce its policies makes SWEEP-ENFORCE
// fail, and no key or token text reaches the bundle.
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estatePosture } from '../cluster/lab/estate.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { SWEEP_FIXTURES } from '../harness/paths.js';
import { loadPosture, type PostureObject } from '../harness/posture/load.js';
import type { MatrixCell } from '../harness/matrix/types.js';
import { type SweepOptions, sweep } from '../harness/sweep/sweep.js';
import { cli } from './support/cli.js';
import { matrixSweepOptions } from './support/matrix-sweep.js';

const options = (target: LabTarget, over: Partial<SweepOptions> = {}): SweepOptions => matrixSweepOptions(target, over);

const cellsOf = (cells: MatrixCell[], identity: string, service: string) => cells.filter((c) => c.identity === identity && c.service === service);

describe('the access matrix of a clean estate', () => {
  let lab: LabTarget;
  let r: Awaited<ReturnType<typeof sweep>>;
  beforeAll(async () => {
    lab = new LabTarget({ podsPerProcess: 250 });
    await lab.apply({ origin: ['clean estate'], objects: [...estatePosture({ services: 6, replicas: 1, holes: false }), ...loadPosture(SWEEP_FIXTURES, []).objects] });
    r = await sweep(options(lab));
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('flags the matrix canary: canary-caller beyond intent, canary refused on canary-target (proven), canary-bare a hole', () => {
    const m = r.report.matrix!;
    expect(m.canary).toEqual({ flagged: true, expected: expect.any(Array), missing: [] });
    expect(m.canary.expected).toHaveLength(3);
    const beyond = cellsOf(m.cells, 'sweep/canary-caller', 'canary-target');
    expect(beyond.map((c) => c.state)).toEqual(['beyond-intent']);
    expect(beyond[0]!.grant).toMatchObject({ kind: 'all', rules: [{ namespace: 'sweep', name: 'canary-target', rule: 0 }] });
    expect(beyond[0]!.intent).toMatchObject({ status: 'declared', beyond: [{ rule: { namespace: 'sweep', name: 'canary-target', rule: 0 } }] });
    // The grant probe inside the grant reached the app (lab: --probe-grants always on).
    expect(beyond[0]!.grantProbe).toMatchObject({ outcome: 'reached' });
    const refused = cellsOf(m.cells, 'sweep/canary', 'canary-target');
    expect(refused.map((c) => c.state)).toEqual(['refused']);
    expect(refused[0]!.attack).toMatchObject({ outcome: 'refused', request: { kind: 'http', method: 'GET', path: expect.stringMatching(/^\/\.meshproof\/matrix\/[0-9a-f]+$/) }, record: { layer: 'rbac' } });
    const hole = cellsOf(m.cells, 'sweep/canary', 'canary-bare').find((c) => c.port === 8080)!;
    expect(hole.state).toBe('hole');
    // Canary identities attack only canary targets, estate identities only estate targets.
    for (const c of m.cells) expect(c.role === 'canary', `${c.identity} → ${c.namespace}/${c.service}`).toBe(c.namespace === 'sweep');
  });

  it('passes SWEEP-ENFORCE with every refusal proven by the destination, one case per identity; LEASTPRIV not-applicable without an intent', () => {
    const m = r.report.matrix!;
    const enforce = r.run.results.find((x) => x.id === 'SWEEP-ENFORCE')!;
    expect(enforce.verdict, enforce.reason).toBe('pass');
    const estateIds = m.identities.filter((i) => i.role !== 'canary').map((i) => `${i.namespace}/${i.serviceAccount}`);
    expect(enforce.cases.map((c) => c.label).sort()).toEqual([...estateIds].sort());
    expect(estateIds).not.toContain('sweep/sweeper');
    for (const c of m.cells.filter((x) => x.role !== 'canary')) {
      expect(c.state, `${c.identity} → ${c.namespace}/${c.service}:${c.port}: ${c.attack?.reason ?? c.notAttacked}`).not.toMatch(/hole|inconclusive/);
      if (c.state === 'refused') expect(c.attack?.record?.layer, `${c.identity} → ${c.service}:${c.port}`).toBe('rbac');
    }
    expect(m.counts.refused).toBeGreaterThan(0);
    expect(m.counts.granted).toBeGreaterThan(0);
    // Every grant the model sees that has a safe nonce request inside it reached the app (--probe-grants).
    const probed = m.cells.filter((c) => c.grantProbe);
    expect(probed.length).toBeGreaterThan(0);
    for (const c of probed) expect(c.grantProbe!.outcome, `${c.identity} → ${c.service}:${c.port}: ${c.grantProbe!.reason}`).toBe('reached');
    const leastpriv = r.run.results.find((x) => x.id === 'SWEEP-LEASTPRIV')!;
    expect(leastpriv.verdict).toBe('not-applicable');
    expect(leastpriv.categories).toEqual(['h']);
    expect(enforce.controls).toEqual(expect.arrayContaining(['PCI-DSS-4.0.1:7.2.5.1', 'SOC2:CC6.1', 'SOC2:CC6.3', 'RTS-2024/1774:Art.21', 'NIST-800-53r5:AC-3', 'NIST-800-53r5:AC-6(7)']));
    expect(r.run.exitCode).toBe(0);
    // The plain sweep's checks are unchanged by the matrix canary in the run namespace.
    for (const id of ['SWEEP-MTLS', 'SWEEP-INJECT', 'SWEEP-AUTHZ', 'SWEEP-CERT']) expect(r.run.results.find((x) => x.id === id)!.verdict).toBe('pass');
    expect(r.report.canary.flagged).toBe(true);
  });

  it('mints one certificate per identity, shares the sweep probes, and batches attempts (execs per batch, not per cell)', () => {
    const m = r.report.matrix!;
    const attacking = new Set(m.cells.filter((c) => c.attack || c.grantProbe).map((c) => c.identity));
    expect(m.counts.certificates).toBe(attacking.size);
    const sent = m.cells.filter((c) => c.attack || c.grantProbe).length;
    expect(m.counts.execs).toBe(Math.ceil(sent / 40));
    expect(m.counts.logReads).toBeGreaterThan(0);
  });

  it('holds grants against an intent: undeclared grants are beyond intent (LEASTPRIV fails, naming the rule); grants declared whole-Service are within it (LEASTPRIV passes)', async () => {
    const granted = r.report.matrix!.cells.filter((c) => c.role !== 'canary' && c.state === 'granted');
    expect(granted.length).toBeGreaterThan(0);
    // An intent in estate-1 that declares nothing: every grant there is beyond it.
    const none = await sweep(options(lab, { matrix: { perPod: false, probeGrants: true, resolveIntent: async () => ({ source: 'test: nothing declared', namespaces: ['estate-1'], calls: [] }) } }));
    const lp = none.run.results.find((x) => x.id === 'SWEEP-LEASTPRIV')!;
    expect(lp.verdict).toBe('fail');
    const beyond = none.report.matrix!.cells.filter((c) => c.role !== 'canary' && c.state === 'beyond-intent');
    expect(beyond.map((c) => `${c.identity} ${c.service}:${c.port}`).sort()).toEqual(granted.map((c) => `${c.identity} ${c.service}:${c.port}`).sort());
    for (const c of beyond) expect(c.intent.beyond[0]!.rule.name, `${c.identity} → ${c.service}`).not.toBe('');
    expect(new Set(lp.cases.filter((c) => c.verdict === 'fail').map((c) => c.label))).toEqual(new Set(granted.map((c) => c.identity)));
    // The same grants, declared: within the intent.
    const calls = [...new Set(granted.map((c) => `${c.identity}|${c.namespace}|${c.service}`))].map((k) => {
      const [identity, namespace, service] = k.split('|') as [string, string, string];
      return { identity, namespace, service, calls: [] };
    });
    const all = await sweep(options(lab, { matrix: { perPod: false, probeGrants: true, resolveIntent: async () => ({ source: 'test: every grant declared', namespaces: ['estate-1'], calls }) } }));
    const lp2 = all.run.results.find((x) => x.id === 'SWEEP-LEASTPRIV')!;
    expect(lp2.verdict, lp2.reason).toBe('pass');
    expect(all.report.matrix!.counts['beyond-intent']).toBe(0);
    expect(all.report.matrix!.intent).toMatchObject({ source: 'test: every grant declared', calls: calls.length, declaredNotGranted: [] });
    // M22-L6: the intent resolved against the estate (as the CLI gives it) is part of the run's configuration hash.
    expect(all.run.configHash).not.toBe(none.run.configHash);
  });

  it('refuses to mint for a service account that does not exist, as the TokenRequest API does (404)', async () => {
    const [probe] = await lab.probes({ namespace: 'sweep', name: 'sweeper' });
    await expect(lab.mintIdentityCertificate(probe!, { namespace: 'estate-1', serviceAccount: 'nobody' }, 60_000)).rejects.toThrow(/serviceaccounts "nobody" not found in namespace estate-1/);
    const cert = await lab.mintIdentityCertificate(probe!, { namespace: 'estate-1', serviceAccount: 'svc-0001' }, 60_000);
    expect(cert.spiffeId).toBe(lab.identity('estate-1', 'svc-0001'));
  });
});

describe('the access matrix of a weakened estate', () => {
  it('fails SWEEP-ENFORCE where a workload does not enforce its policies (no sidecar: a non-grant reaches the app), and only there', async () => {
    const lab = new LabTarget({ podsPerProcess: 250 });
    try {
      // The overlay: svc-0001 opts out of injection, so nothing enforces the mesh-wide allow-nothing in front of it.
      const objects: PostureObject[] = estatePosture({ services: 6, replicas: 1, holes: false }).map((o) => {
        if (o.manifest.kind !== 'Deployment' || o.manifest.metadata.name !== 'svc-0001') return o;
        const m = structuredClone(o.manifest) as typeof o.manifest & { spec: { template: { metadata: { labels: Record<string, string> } } } };
        m.spec.template.metadata.labels['sidecar.istio.io/inject'] = 'false';
        return { ...o, manifest: m };
      });
      await lab.apply({ origin: ['weakened estate'], objects: [...objects, ...loadPosture(SWEEP_FIXTURES, []).objects] });
      const r = await sweep(options(lab));
      const m = r.report.matrix!;
      expect(m.canary.flagged).toBe(true);
      const enforce = r.run.results.find((x) => x.id === 'SWEEP-ENFORCE')!;
      expect(enforce.verdict).toBe('fail');
      const holes = m.cells.filter((c) => c.role !== 'canary' && c.state === 'hole');
      expect(holes.length).toBeGreaterThan(0);
      for (const h of holes) expect(`${h.namespace}/${h.service}`).toBe('estate-1/svc-0001');
      // Every identity that the policies do not grant svc-0001 reached it.
      const ungranted = m.cells.filter((c) => c.role !== 'canary' && c.service === 'svc-0001' && c.grant.kind === 'none');
      expect(ungranted.length).toBeGreaterThan(0);
      for (const c of ungranted) expect(c.state).toBe('hole');
      expect(enforce.cases.filter((c) => c.verdict === 'fail').length).toBe(new Set(holes.map((h) => h.identity)).size);
      expect(r.run.exitCode).toBe(1);
    } finally {
      await lab.dispose();
    }
  });
});

describe('the matrix canary', () => {
  it('M22-M4: is flagged on a mesh without a mesh-wide allow-nothing (its hole on canary-bare does not depend on the user\'s policies)', async () => {
    const lab = new LabTarget({ podsPerProcess: 250 });
    try {
      const estate = estatePosture({ services: 6, replicas: 1, holes: false }).filter((o) => !(o.manifest.kind === 'AuthorizationPolicy' && o.manifest.metadata.name === 'allow-nothing'));
      await lab.apply({ origin: ['estate without a mesh-wide allow-nothing'], objects: [...estate, ...loadPosture(SWEEP_FIXTURES, []).objects] });
      const r = await sweep(options(lab));
      const m = r.report.matrix!;
      expect(m.canary, JSON.stringify(m.canary.missing)).toMatchObject({ flagged: true, missing: [] });
      const hole = cellsOf(m.cells, 'sweep/canary', 'canary-bare').find((c) => c.port === 8080)!;
      expect(hole).toMatchObject({ state: 'hole', grant: { kind: 'none', rules: [] } });
    } finally {
      await lab.dispose();
    }
  });

  it('missed (canary-caller granted nothing, so nothing is beyond its intent): SWEEP-ENFORCE and SWEEP-LEASTPRIV are error, never a pass', async () => {
    const lab = new LabTarget({ podsPerProcess: 250 });
    try {
      const fixtures = loadPosture(SWEEP_FIXTURES, []).objects.filter((o) => !(o.manifest.kind === 'AuthorizationPolicy' && o.manifest.metadata.name === 'canary-target'));
      await lab.apply({ origin: ['clean estate, canary broken'], objects: [...estatePosture({ services: 6, replicas: 1, holes: false }), ...fixtures] });
      const r = await sweep(options(lab));
      const m = r.report.matrix!;
      expect(m.canary.flagged).toBe(false);
      expect(m.canary.missing).toEqual([expect.stringMatching(/^sweep\/canary-caller → sweep\/canary-target: beyond-intent \(was 8080: refused\)$/)]);
      for (const id of ['SWEEP-ENFORCE', 'SWEEP-LEASTPRIV']) {
        const c = r.run.results.find((x) => x.id === id)!;
        expect(c.verdict, id).toBe('error');
        expect(c.reason).toMatch(/the matrix canary was not flagged/);
      }
      expect(r.run.exitCode).toBe(3);
    } finally {
      await lab.dispose();
    }
  });
});

/** Every file under dir, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe('meshproof sweep --matrix (the built CLI)', () => {
  it('writes matrix.json with the canary flagged and SWEEP-ENFORCE failing on the planted no-sidecar hole; no key or token text in any bundle file', async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'mp-matrix-')), 'bundle');
    const r = await cli(['sweep', '--target', 'lab', '--estate', '6x1', '--matrix', '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(1);
    const m = JSON.parse(readFileSync(path.join(out, 'matrix.json'), 'utf8'));
    expect(m.schema).toBe('meshproof.dev/matrix/v1');
    expect(m.canary.flagged).toBe(true);
    expect(m.settings).toEqual({ perPod: false, probeGrants: true });
    const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
    expect(run.results.find((c: { id: string }) => c.id === 'SWEEP-ENFORCE')).toMatchObject({ verdict: 'fail' });
    expect(JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8')).matrix).toBeUndefined();
    for (const f of files(out)) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toMatch(/PRIVATE KEY|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./);
    }
  });

  it('list and controls show SWEEP-ENFORCE and SWEEP-LEASTPRIV with the category h controls (CC6.3, 7.2.5.1 and AC-6(7) only supported)', async () => {
    const l = JSON.parse((await cli(['list', '-o', 'json'])).stdout) as { id: string; suite: string; command: string }[];
    for (const id of ['SWEEP-ENFORCE', 'SWEEP-LEASTPRIV']) expect(l.find((c) => c.id === id)).toMatchObject({ suite: 'sweep', command: 'sweep' });
    const k = JSON.parse((await cli(['controls', '-o', 'json'])).stdout) as { id: string; claimedBy: { check: string; relation: string }[] }[];
    const claim = (control: string, check: string) => k.find((c) => c.id === control)?.claimedBy.find((x) => x.check === check)?.relation;
    expect(claim('SOC2:CC6.3', 'SWEEP-ENFORCE')).toBe('supports');
    expect(claim('PCI-DSS-4.0.1:7.2.5.1', 'SWEEP-LEASTPRIV')).toBe('supports');
    expect(claim('NIST-800-53r5:AC-6(7)', 'SWEEP-LEASTPRIV')).toBe('supports');
    expect(claim('PCI-DSS-4.0.1:1.3.1', 'SWEEP-ENFORCE')).toBeUndefined();
  });

  it('refuses a matrix option without --matrix with one line and exit 2', async () => {
    const r = await cli(['sweep', '--target', 'lab', '--per-pod']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--per-pod needs --matrix/);
  });
});
