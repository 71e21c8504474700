// Self-verification of every suite on the lab: the secure posture passes, every weakened overlay fails
// exactly the checks that name it, and a dead target, a failing control, a wrong attacker or a missing audit
// record never produce a pass.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LabTarget } from '../cluster/lab/lab-target.js';
import type { Check } from '../harness/check.js';
import type { CaseResult } from '../harness/engine.js';
import { loadPosture } from '../harness/posture/load.js';
import type { RunResult } from '../harness/result.js';
import { conformanceRun, RunSession } from '../harness/run.js';
import { LAB_TIMEOUTS, type Timeouts } from '../harness/timeouts.js';
import { ALL_CHECKS, SUITES } from '../suites/index.js';

const MTLS = SUITES.mtls!;
const QUICK: Timeouts = { ...LAB_TIMEOUTS, convergenceMs: 1_000 };

async function runLab(overlays: string[], checks: Check[] = MTLS, before?: (lab: LabTarget) => Promise<void>, timeouts = LAB_TIMEOUTS): Promise<RunResult> {
  const lab = new LabTarget();
  try {
    const posture = loadPosture('fixtures/secure', overlays);
    if (!before) return await conformanceRun({ target: lab, posture, checks, timeouts });
    await lab.apply(posture);
    await before(lab);
    const s = new RunSession({ target: lab, posture, timeouts });
    for (const c of checks) await s.check(c);
    return await s.finish();
  } finally {
    await lab.dispose();
  }
}

const attackCase = (r: RunResult, check: number, i = 0) => r.results[check]!.cases[i] as CaseResult;
const verdicts = (r: RunResult) => Object.fromEntries(r.results.map((x) => [x.id, x.verdict]));
const weakened = readdirSync('fixtures/weakened').filter((f) => f.endsWith('.yaml'));

describe('the secure posture', () => {
  it('passes every check when the Services expose other ports than their containers (80 → 8080, 7000 → 9000)', async () => {
    const r = await runLab(['test/fixtures/other-ports.yaml'], ALL_CHECKS);
    expect(verdicts(r)).toEqual(Object.fromEntries(ALL_CHECKS.map((c) => [c.id, 'pass'])));
  });

  it('passes every check of every suite', async () => {
    const r = await runLab([], ALL_CHECKS);
    expect(verdicts(r)).toEqual(Object.fromEntries(ALL_CHECKS.map((c) => [c.id, 'pass'])));
    expect(r.exitCode).toBe(0);
  });

  it('mtls: corroborating NR records and a positive control that proved identity', async () => {
    const r = await runLab([]);
    expect(verdicts(r)).toEqual({ 'MTLS-001': 'pass', 'MTLS-002': 'pass', 'MTLS-003': 'pass' });
    const c = attackCase(r, 0, 0);
    expect(c.corroboration.accessLog.map((a) => a.mode)).toEqual(c.corroboration.accessLog.map(() => 'text'));
    expect(c.corroboration.accessLog.length).toBeGreaterThan(0);
    expect(c.corroboration.records).toHaveLength(LAB_TIMEOUTS.attackAttempts);
    expect(c.corroboration.counterDelta).toBe(LAB_TIMEOUTS.attackAttempts);
    expect(c.control.ok).toBe(true);
    expect(c.control.observations).toHaveLength(LAB_TIMEOUTS.controlConsecutive);
    expect(r.exitCode).toBe(0);
    // MTLS-002 covers every port of every in-mesh Service: mesh/echo and bare/echo, http and tcp.
    expect(r.results[1]!.cases.map((x) => x.label)).toEqual([
      'outside → every pod of echo.mesh:8080 (http)',
      'outside → every pod of echo.mesh:9000 (tcp)',
      'outside → every pod of echo.bare:8080 (http)',
      'outside → every pod of echo.bare:9000 (tcp)',
    ]);
    expect(attackCase(r, 1, 0).attack.observations).toHaveLength(2); // both replicas of mesh/echo
  });
});

describe.concurrent('every weakened posture fails exactly the checks that name it', () => {
  it('every check names at least one weakened overlay that exists', () => {
    for (const c of ALL_CHECKS) {
      expect(c.weakenedBy.length).toBeGreaterThan(0);
      for (const w of c.weakenedBy) expect(weakened).toContain(w);
    }
  });

  /** Checks a weakened posture leaves nothing to test (with the reason), rather than passing or failing. */
  const NOT_APPLICABLE: Record<string, string[]> = {
    'no-allow-policy.yaml': ['AUTHZ-004'],
    'deny-principal-permissive.yaml': ['AUTHZ-004'],
    // Without maxRequestsPerConnection: 1, Envoy may carry an expired certificate's call on a pooled connection (I-M8).
    'dr-no-connection-pool.yaml': ['CHAOS-003'],
  };

  it.each(weakened)('%s', async (file) => {
    const r = await runLab([`fixtures/weakened/${file}`], ALL_CHECKS);
    const expected = Object.fromEntries(
      ALL_CHECKS.map((c) => [c.id, c.weakenedBy.includes(file) ? 'fail' : NOT_APPLICABLE[file]?.includes(c.id) ? 'not-applicable' : 'pass']),
    );
    expect(verdicts(r)).toEqual(expected);
    expect(r.exitCode).toBe(1);
  });
});

describe('inconclusive is never a pass', () => {
  const mtls001 = [MTLS[0]!];
  it('a dead echo target (pods and sidecars gone) makes MTLS-001 error', async () => {
    const r = await runLab([], mtls001, (lab) => lab.kill({ namespace: 'mesh', name: 'echo' }), QUICK);
    expect(r.results[0]!.verdict).toBe('error');
    expect(r.results[0]!.reason).toMatch(/inconclusive|positive control failed/);
    expect(r.exitCode).toBe(3);
  });

  it('a dead app behind a live sidecar: the attack is blocked but the control fails, so MTLS-001 is error', async () => {
    const r = await runLab([], mtls001, (lab) => lab.kill({ namespace: 'mesh', name: 'echo' }, { keepSidecar: true }), QUICK);
    const c = attackCase(r, 0, 0);
    expect(c.attack.judgements.every((j) => j.outcome === 'blocked')).toBe(true);
    expect(c.control.ok).toBe(false);
    expect(r.results[0]!.verdict).toBe('error');
    expect(r.results[0]!.reason).toMatch(/positive control failed.*503/);
  });

  it('an attacker that cannot be run makes the check error, not pass', async () => {
    const r = await runLab([], mtls001, (lab) => lab.kill({ namespace: 'outside', name: 'outside' }), QUICK);
    expect(r.results[0]!.verdict).toBe('error');
    expect(r.results[0]!.reason).toMatch(/could not be carried out: .*no running probe outside\/outside/);
  });

  it('an attacker with a sidecar is refused as an attacker (§9.1)', async () => {
    const injectOutside = 'test/fixtures/outside-injected.yaml';
    const r = await runLab([injectOutside], mtls001);
    expect(r.results[0]!.verdict).toBe('error');
    expect(r.results[0]!.reason).toMatch(/attacker not valid: .*istio-proxy/);
  });

  it('blocks without an audit record while access logging is on are a fail: "unaudited" (§9.11)', async () => {
    const r = await runLab([], mtls001, async (lab) => {
      for (const p of await lab.servicePods({ namespace: 'mesh', name: 'echo' })) lab.sidecarOf(p)!.muted = true;
    });
    expect(r.results[0]!.verdict).toBe('fail');
    expect(r.results[0]!.reason).toMatch(/unaudited: access logging is on but 3 blocked attempt\(s\) left no NR filter_chain_not_found record/);
  });

  it('MTLS-003 is not-applicable, with the reason, when no injected namespace relies on the mesh-wide policy', async () => {
    const r = await runLab(['test/fixtures/bare-own-policy.yaml'], [MTLS[2]!]);
    expect(r.results[0]!.verdict).toBe('not-applicable');
    expect(r.results[0]!.reason).toMatch(/every injected namespace has a PeerAuthentication of its own/);
    expect(r.exitCode).toBe(0);
  });
});
