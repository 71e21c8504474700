// The judgement order in the examine checks (ARCHITECTURE.md "Verdict"): a check proves its path works before it
// can fail. A client whose every call is reset, or a state that cannot be read, is error, never fail (RES-001
// and RES-002 are covered in resilience.test.ts).
import { describe, expect, it } from 'vitest';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { DEFAULT_SETTINGS } from '../harness/check.js';
import { runCheck } from '../harness/engine.js';
import { loadPosture } from '../harness/posture/load.js';
import { PostureView } from '../harness/posture/view.js';
import type { Target } from '../harness/target.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { audit001 } from '../suites/audit/trail.js';
import { cert002 } from '../suites/certificates/rotation.js';
import { cert005 } from '../suites/certificates/root-horizon.js';

async function withLab<T>(f: (lab: LabTarget, view: PostureView) => Promise<T>): Promise<T> {
  const lab = new LabTarget();
  try {
    const posture = loadPosture('fixtures/secure');
    await lab.apply(posture);
    return await f(lab, new PostureView(posture));
  } finally {
    await lab.dispose();
  }
}

describe('a broken path is error, never fail', () => {
  it('CERT-002: the rotating probe\'s every call is reset', async () => {
    const r = await withLab(async (lab, view) => {
      lab.breakOutbound({ namespace: 'mesh', name: 'rotating' });
      return runCheck(cert002, { view, target: lab, timeouts: LAB_TIMEOUTS, settings: DEFAULT_SETTINGS });
    });
    expect(r.verdict).toBe('error');
    expect(r.reason).toMatch(/traffic failed before rotation/);
  });

  it('AUDIT-001: the in-mesh caller\'s every call is reset', async () => {
    const r = await withLab(async (lab, view) => {
      lab.breakOutbound({ namespace: 'mesh', name: 'authorized' });
      return runCheck(audit001, { view, target: lab, timeouts: LAB_TIMEOUTS, settings: DEFAULT_SETTINGS });
    });
    expect(r.verdict).toBe('error');
    expect(r.reason).toMatch(/positive control failed/);
  });

  it('CERT-005: a trust bundle that cannot be read', async () => {
    const r = await withLab(async (lab, view) => {
      const target = new Proxy(lab, {
        get: (t, k) => (k === 'meshRoots' ? () => Promise.reject(new Error('configmaps "istio-ca-root-cert" is forbidden')) : Reflect.get(t, k)),
      }) as Target;
      return runCheck(cert005, { view, target, timeouts: LAB_TIMEOUTS, settings: DEFAULT_SETTINGS });
    });
    expect(r.verdict).toBe('error');
    expect(r.reason).toMatch(/istio-ca-root-cert/);
  });
});
