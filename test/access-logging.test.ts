// Every access-log setup, through the lab, which writes its sidecars' logs as istiod would configure Envoy
// (istio-behaviours.md §10): the records each setup leaves, and the verdicts. Only the default TEXT and JSON
// formats on stdout can be read back; anything else is "not-verifiable" and must never fail a secure mesh, and
// AUDIT-001 says it cannot judge (error), never pass.
import { describe, expect, it } from 'vitest';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { parseAccessLog } from '../harness/access-log.js';
import type { CaseResult } from '../harness/engine.js';
import { loadPosture } from '../harness/posture/load.js';
import { RunSession } from '../harness/run.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { audit001 } from '../suites/audit/trail.js';
import { authz001 } from '../suites/authz/unauthorized-denied.js';
import { authz003 } from '../suites/authz/tcp-denied.js';
import { mtls001 } from '../suites/mtls/plaintext-refused.js';

const ECHO = { namespace: 'mesh', name: 'echo' };
const CHECKS = [mtls001, authz001, authz003, audit001];

async function run(overlay: string | undefined, before?: (lab: LabTarget) => Promise<void>) {
  const lab = new LabTarget();
  try {
    const posture = loadPosture('fixtures/secure', overlay ? [`test/fixtures/logging/${overlay}`] : []);
    await lab.apply(posture);
    await before?.(lab);
    const s = new RunSession({ target: lab, posture, timeouts: LAB_TIMEOUTS });
    for (const c of CHECKS) await s.check(c);
    const result = await s.finish();
    const echoLines = (await Promise.all((await lab.servicePods(ECHO)).map((p) => lab.accessLog(p, new Date(0))))).flat();
    const clientLines = await lab.accessLog((await lab.probe({ namespace: 'mesh', name: 'authorized' })).pod, new Date(0));
    return { result, echoLines, clientLines, verdicts: Object.fromEntries(result.results.map((r) => [r.id, r.verdict])) };
  } finally {
    await lab.dispose();
  }
}

const modes = (c: CaseResult) => [...new Set(c.corroboration.accessLog.map((a) => a.mode))];

describe('access-log setups through the lab', () => {
  it('default JSON (accessLogEncoding: JSON): JSON lines, read back and matched; everything passes', async () => {
    const r = await run('json.yaml');
    expect(r.verdicts).toEqual({ 'MTLS-001': 'pass', 'AUTHZ-001': 'pass', 'AUTHZ-003': 'pass', 'AUDIT-001': 'pass' });
    expect(r.echoLines.length).toBeGreaterThan(0);
    expect(r.echoLines.every((l) => l.startsWith('{') && parseAccessLog(l) !== undefined)).toBe(true);
    const c = r.result.results[0]!.cases[0] as CaseResult;
    expect(modes(c)).toEqual(['json']);
    expect(c.corroboration.records.length).toBe(LAB_TIMEOUTS.attackAttempts);
    // Only TCP denials are tied through the client sidecar's hop; HTTP ones by their nonce, reading no client log.
    expect((r.result.results[2]!.cases[0] as CaseResult).corroboration.keyedBy).toMatch(/client sidecar's hop/);
    expect((r.result.results[1]!.cases[0] as CaseResult).corroboration.keyedBy).toMatch(/the attempt itself/);
  });

  it('logging on through meshConfig.accessLogFile alone (no Telemetry): TEXT, and the unaudited rule applies', async () => {
    const r = await run('mesh-config-file.yaml');
    expect(r.verdicts).toEqual({ 'MTLS-001': 'pass', 'AUTHZ-001': 'pass', 'AUTHZ-003': 'pass', 'AUDIT-001': 'pass' });
    expect(modes(r.result.results[0]!.cases[0] as CaseResult)).toEqual(['text']);
    const muted = await run('mesh-config-file.yaml', async (lab) => {
      for (const p of await lab.servicePods(ECHO)) lab.sidecarOf(p)!.muted = true;
    });
    expect(muted.verdicts['MTLS-001']).toBe('fail');
    expect(muted.result.results[0]!.reason).toMatch(/unaudited/);
    expect(muted.verdicts['AUDIT-001']).toBe('fail');
  });

  it.each([
    { overlay: 'custom-format.yaml', lines: (l: string[]) => l.length > 0 && l.every((x) => parseAccessLog(x) === undefined), why: /custom format/ },
    { overlay: 'errors-only.yaml', lines: (l: string[]) => l.some((x) => / 403 /.test(x)) && !l.some((x) => / NR /.test(x)), why: /filters records \(response\.code >= 400\)/ },
    { overlay: 'client-only.yaml', lines: (l: string[]) => l.length === 0, why: /client-side records only/ },
    { overlay: 'otel.yaml', lines: (l: string[]) => l.length === 0, why: /OpenTelemetry, not the proxy's stdout/ },
    { overlay: 'no-listener-log.yaml', lines: (l: string[]) => l.some((x) => / 403 /.test(x)) && !l.some((x) => / NR /.test(x)), why: /disableEnvoyListenerLog/ },
  ])('$overlay: not verifiable — the secure mesh still passes, AUDIT-001 cannot judge (error, never pass)', async ({ overlay, lines, why }) => {
    const r = await run(overlay);
    expect(lines(r.echoLines)).toBe(true);
    expect(r.verdicts).toEqual({ 'MTLS-001': 'pass', 'AUTHZ-001': 'pass', 'AUTHZ-003': 'pass', 'AUDIT-001': 'error' });
    expect(modes(r.result.results[0]!.cases[0] as CaseResult)).toEqual(['not-verifiable']);
    expect(r.result.results[3]!.reason).toMatch(why);
  });

  it('client-only logging still writes the client\'s own records', async () => {
    const r = await run('client-only.yaml');
    expect(r.clientLines.length).toBeGreaterThan(0);
  });

  it('logging off for the mesh namespace: the other checks pass (nothing to corroborate against), AUDIT-001 fails', async () => {
    const lab = new LabTarget();
    try {
      const posture = loadPosture('fixtures/secure', ['fixtures/weakened/logging-off-mesh.yaml']);
      await lab.apply(posture);
      const s = new RunSession({ target: lab, posture, timeouts: LAB_TIMEOUTS });
      for (const c of CHECKS) await s.check(c);
      const res = await s.finish();
      expect(Object.fromEntries(res.results.map((x) => [x.id, x.verdict]))).toEqual({ 'MTLS-001': 'pass', 'AUTHZ-001': 'pass', 'AUTHZ-003': 'pass', 'AUDIT-001': 'fail' });
      expect(res.results[3]!.reason).toMatch(/mesh\/echo:8080: access logging is off for mesh\/echo-0, mesh\/echo-1/);
    } finally {
      await lab.dispose();
    }
  });
});
