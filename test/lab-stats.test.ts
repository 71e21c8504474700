// The stats a default Istio exports (istio-behaviours.md §10): the lab keeps Istio's inclusion list, widened only
// by a pod's proxyStatsMatcher, and the resilience checks say "not exported" (error, with the fix) rather than
// "did not rise" when a counter they need does not exist.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { statsInclusion } from '../cluster/lab/envoy/stats.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { loadPosture } from '../harness/posture/load.js';
import { conformanceRun } from '../harness/run.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { SUITES } from '../suites/index.js';

const OVERFLOW = 'cluster.outbound|8080||echo.mesh.svc.cluster.local.upstream_rq_pending_overflow';

describe("Istio's default stats inclusion list", () => {
  const keep = statsInclusion();
  it.each([
    { stat: 'http.inbound_0.0.0.0_8080.rbac.denied', kept: true },
    { stat: 'tcp.rbac.denied', kept: true },
    { stat: 'cluster_manager.cds.update_success', kept: true },
    { stat: 'server.live', kept: true },
    { stat: 'cluster.xds-grpc.upstream_cx_total', kept: true },
    { stat: 'vhost.echo.route.r1.upstream_rq_total', kept: true },
    { stat: OVERFLOW, kept: false },
    { stat: 'cluster.outbound|8080||echo.mesh.svc.cluster.local.outlier_detection.ejections_active', kept: false },
    { stat: 'listener.0.0.0.0_15006.no_filter_chain_match', kept: false },
    { stat: 'listener.0.0.0.0_15006.ssl.fail_verify_error', kept: false },
    // I-L5: only with EXIT_ON_ZERO_ACTIVE_CONNECTIONS (pkg/bootstrap/config.go).
    { stat: 'http.inbound_0.0.0.0_8080.downstream_cx_active', kept: false },
  ])('$stat kept: $kept', ({ stat, kept }) => {
    expect(keep(stat)).toBe(kept);
  });

  it('proxyStatsMatcher regexps match the whole name, as Envoy\'s safe_regex does', () => {
    expect(statsInclusion({ inclusionRegexps: ['.*upstream_rq_pending_overflow'] })(OVERFLOW)).toBe(true);
    expect(statsInclusion({ inclusionRegexps: ['upstream_rq_pending_overflow'] })(OVERFLOW)).toBe(false);
    expect(statsInclusion({ inclusionPrefixes: ['cluster.outbound'] })(OVERFLOW)).toBe(true);
    expect(statsInclusion({ inclusionSuffixes: ['pending_overflow'] })(OVERFLOW)).toBe(true);
  });
});

describe('the lab exports exactly that, per pod', () => {
  it('without a matcher the client has no cluster stats at all; with it they exist at zero before any traffic', async () => {
    for (const [overlays, present] of [[[], true], [['test/fixtures/no-stats-matcher.yaml'], false]] as const) {
      const lab = new LabTarget();
      try {
        await lab.apply(loadPosture('fixtures/secure', [...overlays]));
        const stats = await lab.stats((await lab.probe({ namespace: 'mesh', name: 'authorized' })).pod);
        expect(OVERFLOW in stats).toBe(present);
        if (present) expect(stats[OVERFLOW]).toBe(0);
        // rbac stats are in Istio's defaults whatever the pod says.
        const [echo] = await lab.servicePods({ namespace: 'mesh', name: 'echo' });
        expect('http.inbound_0.0.0.0_8080.rbac.denied' in (await lab.stats(echo!))).toBe(true);
      } finally {
        await lab.dispose();
      }
    }
  });

  it('a sidecar.istio.io/statsInclusionRegexps annotation REPLACES proxyStatsMatcher regexps (the model, pkg/bootstrap/config.go getStatsOptions): the lab drops the breaker counter', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mp-stats-'));
    const posture = loadPosture('fixtures/secure');
    const authorized = posture.objects.find((o) => o.manifest.kind === 'Deployment' && o.manifest.metadata.name === 'authorized')!.manifest;
    const copy = structuredClone(authorized) as typeof authorized & { spec: { template: { metadata: { annotations: Record<string, string> } } } };
    copy.spec.template.metadata.annotations['sidecar.istio.io/statsInclusionRegexps'] = '.*my_own_stat';
    writeFileSync(path.join(dir, 'overlay.yaml'), stringifyYaml(copy));
    const lab = new LabTarget();
    try {
      await lab.apply(loadPosture('fixtures/secure', [path.join(dir, 'overlay.yaml')]));
      const stats = await lab.stats((await lab.probe({ namespace: 'mesh', name: 'authorized' })).pod);
      expect(OVERFLOW in stats).toBe(false);
      // The same pod without the annotation keeps it (the test above): the annotation alone removed it.
      expect(statsInclusion(JSON.parse(copy.spec.template.metadata.annotations['proxy.istio.io/config']!).proxyStatsMatcher)(OVERFLOW)).toBe(true);
    } finally {
      await lab.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('RES-001 and RES-002 are error, naming the missing stat and the proxyStatsMatcher fix, never pass or "did not rise"', async () => {
    const lab = new LabTarget();
    try {
      const r = await conformanceRun({ target: lab, posture: loadPosture('fixtures/secure', ['test/fixtures/no-stats-matcher.yaml']), checks: SUITES.resilience!, timeouts: LAB_TIMEOUTS });
      const [res001, res002] = r.results;
      expect(res001!.verdict).toBe('error');
      expect(res001!.reason).toMatch(/does not export upstream_rq_pending_overflow .*proxyStatsMatcher/);
      expect(res002!.verdict).toBe('error');
      expect(res002!.reason).toMatch(/does not export outlier_detection\.ejections_enforced_consecutive_5xx .*proxyStatsMatcher/);
      for (const x of r.results) expect(x.reason).not.toMatch(/rose by|did not rise/);
    } finally {
      await lab.dispose();
    }
  });
});
