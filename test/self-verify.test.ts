// Self-verification as users run it: the matrix says which weakness each check must catch, and flags a check
// that cannot fail.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeRow, weakenedOverlays } from '../harness/self-verify.js';
import { SUITES } from '../suites/index.js';
import { cli } from './support/cli.js';
import { startLabCluster } from './support/lab-cluster.js';

describe('judging a self-verification row', () => {
  it('a targeted check that does not fail is a check that cannot fail', () => {
    const r = judgeRow('permissive-mtls.yaml', ['MTLS-001', 'MTLS-002'], { 'MTLS-001': 'pass', 'MTLS-002': 'fail', 'MTLS-003': 'pass' });
    expect(r.problems).toEqual(['MTLS-001 is pass under permissive-mtls.yaml, expected fail: it cannot detect this weakness']);
  });
  it('an inconclusive targeted check is not a proof either', () => {
    expect(judgeRow('x.yaml', ['RES-001'], { 'RES-001': 'error' }).problems).toHaveLength(1);
  });
  it('the secure posture must pass (not-applicable allowed)', () => {
    expect(judgeRow('secure', [], { 'MTLS-001': 'pass', 'MTLS-003': 'not-applicable' }).problems).toEqual([]);
    expect(judgeRow('secure', [], { 'MTLS-001': 'fail' }).problems).toEqual(['MTLS-001 is fail on the secure posture']);
  });
  it('runs each overlay a selected check names, once', () => {
    expect(weakenedOverlays(SUITES.mtls!)).toEqual(['allow-notnamespaces-permissive.yaml', 'deny-principal-permissive.yaml', 'mesh-wide-permissive.yaml', 'permissive-mtls.yaml', 'port-level-disable.yaml']);
  });
});

describe('meshproof self-verify', () => {
  it('proves the mtls checks can fail, writes the matrix, exits 0', async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'meshproof-sv-')), 'matrix.json');
    const r = await cli(['self-verify', '--suite', 'mtls', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok {3}port-level-disable\.yaml\s+fails MTLS-002$/m);
    expect(r.stdout).toMatch(/6 of 6 postures as expected/); // secure and the five weakened postures of the mtls checks
    const m = JSON.parse(readFileSync(out, 'utf8')) as { rows: { posture: string; verdicts: Record<string, string> }[] };
    expect(m.rows.find((x) => x.posture === 'permissive-mtls.yaml')?.verdicts).toEqual({ 'MTLS-001': 'fail', 'MTLS-002': 'fail', 'MTLS-003': 'pass' });
  });
});

describe('meshproof self-verify --target kubeconfig (façade over the lab)', () => {
  it("applies each namespace-scoped overlay in the run's own namespaces, proves its checks fail, and lists the rest as not verifiable", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-sv-kube-'));
    const out = path.join(dir, 'matrix.json');
    // The cluster's own mesh-wide posture, as its operators applied it (meshproof never writes it).
    const c = await startLabCluster({ meshWide: 'fixtures/secure/10-mesh-wide.yaml' });
    try {
      const r = await cli(['self-verify', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(dir), '--suite', 'mtls,certificates', '--out', out], { env: { ...process.env, MESHPROOF_TIMEOUTS: 'lab' } });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/^ok {3}permissive-mtls\.yaml\s+fails MTLS-001, MTLS-002$/m);
      expect(r.stdout).toMatch(/^ok {3}port-level-disable\.yaml\s+fails MTLS-002$/m);
      expect(r.stdout).toMatch(/^ok {3}workload-cert-90d\.yaml\s+fails CERT-001$/m);
      expect(r.stdout).toMatch(/^n\/a {2}mesh-wide-permissive\.yaml\s+not verifiable on this target: it changes the root namespace/m);
      expect(r.stdout).toMatch(/^n\/a {2}lab-allow-expired\.yaml\s+not verifiable on this target: a lab fault/m);
      expect(r.stdout).toMatch(/checks whose every weakness is unverifiable here .*: MTLS-003, CERT-002, CERT-003, CERT-004, CERT-005/);
      const m = JSON.parse(readFileSync(out, 'utf8')) as { target: string; rows: { posture: string; notVerifiable?: string; verdicts: Record<string, string> }[] };
      expect(m.target).toBe('kubeconfig');
      expect(m.rows.find((x) => x.posture === 'secure')?.verdicts['MTLS-001']).toBe('pass');
      // Every posture's namespaces are gone again.
      expect([...c.api.state.namespaces.keys()].filter((n) => n.startsWith('mp-'))).toEqual([]);
    } finally {
      await c.close();
    }
  }, 600_000);
});
