// Which DestinationRule policy applies to echo's HTTP port, as Istio resolves it: a portLevelSettings entry replaces
// the top-level policy wholesale (A-M5), and a 0 connection-pool limit is unset (A-L7).
import { describe, expect, it } from 'vitest';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { type CheckContext, DEFAULT_SETTINGS } from '../harness/check.js';
import { loadPosture } from '../harness/posture/load.js';
import { PostureView } from '../harness/posture/view.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { ECHO, ruleInScope } from '../suites/resilience/shared.js';

const ctxOf = (overlay: string, target = new LabTarget()): CheckContext => ({
  view: new PostureView(loadPosture('fixtures/secure', [overlay])),
  target,
  timeouts: LAB_TIMEOUTS,
  settings: DEFAULT_SETTINGS,
});

describe('A-M5: a portLevelSettings entry for echo\'s HTTP port replaces the top-level policy wholesale', () => {
  it('A-M5: ruleInScope for port 8080 reads only the port\'s entry (no inherited outlier detection or maxRequestsPerConnection)', () => {
    const ctx = ctxOf('test/fixtures/dr-port-level.yaml');
    const http = ctx.view.port(ECHO, 'http')!.port;
    expect(http).toBe(8080);
    expect(ruleInScope(ctx, ECHO, 'mesh', http)).toEqual({
      rule: 'mesh/echo',
      maxConnections: 2,
      maxPending: undefined,
      maxRequests: undefined,
      maxRequestsPerConnection: undefined,
      outlier: undefined,
    });
    // Another port without an entry of its own gets the top-level policy.
    expect(ruleInScope(ctx, ECHO, 'mesh', 9000)).toMatchObject({ maxConnections: 10, maxPending: 10, maxRequestsPerConnection: 1, outlier: { consecutive5xxErrors: 3 } });
  });
});

describe('A-L7: a 0 connection-pool limit is unset, as in Istio', () => {
  it('A-L7: ruleInScope maps 0 to undefined', () => {
    const ctx = ctxOf('test/fixtures/dr-zero-limits.yaml');
    expect(ruleInScope(ctx, ECHO, 'mesh', 8080)).toMatchObject({ maxConnections: undefined, maxPending: undefined, maxRequests: undefined, maxRequestsPerConnection: undefined });
  });

  it('A-L7: the lab accepts 0 limits and applies none of them: concurrent calls over real sockets all pass', async () => {
    const lab = new LabTarget();
    try {
      await lab.apply(loadPosture('fixtures/secure', ['test/fixtures/dr-zero-limits.yaml']));
      expect(lab.trafficPolicy('mesh', 'mesh', 'echo')).toMatchObject({ maxConnections: undefined, maxPendingRequests: undefined, maxRequests: undefined, maxRequestsPerConnection: undefined });
      const probe = await lab.probe({ namespace: 'mesh', name: 'authorized' });
      const d = await lab.address(ECHO, 8080, probe);
      const { observations } = await probe.run(Array.from({ length: 8 }, (_, i) => ({ kind: 'http' as const, id: `c-${i}`, dial: d.dial, authority: d.authority, timeoutMs: LAB_TIMEOUTS.attackMs })));
      expect(observations.map((o) => o.http?.status)).toEqual(Array(8).fill(200));
    } finally {
      await lab.dispose();
    }
  });
});
