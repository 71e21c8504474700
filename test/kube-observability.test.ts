// What the cluster path reads back, through KubeTarget and client-node against the lab-backed API façade:
// stats that a cluster's pods do not export, pod-log windows as client-node can ask for them, and the whole
// root bundle (istio-behaviours.md §10).
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { preflight } from '../cluster/kube/preflight.js';
import type { Check } from '../harness/check.js';
import { CertificateAuthority } from '../harness/pki.js';
import { loadPosture } from '../harness/posture/load.js';
import { conformanceRun } from '../harness/run.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { ALL_CHECKS, SUITES } from '../suites/index.js';
import { cli } from './support/cli.js';
import { type LabCluster, startLabCluster } from './support/lab-cluster.js';
import { loadRoles } from './support/rbac.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-kube-obs-'));
const DAY = 86_400_000;

async function kubeRun(cluster: LabCluster, checks: Check[], overlays: string[] = []) {
  const target = cluster.kubeTarget(dir);
  try {
    return await conformanceRun({ target, posture: loadPosture('fixtures/secure', overlays), checks, timeouts: LAB_TIMEOUTS });
  } finally {
    await target.dispose();
  }
}

describe.concurrent('KubeTarget reads what a real cluster has', () => {
  it('without the proxyStatsMatcher that rendering adds, RES-001 and RES-002 are error naming the missing stat', async () => {
    const cluster = await startLabCluster({ stripStatsMatcher: true });
    try {
      // The posture's own matcher annotation is removed too: the pods keep only Istio's defaults.
      const r = await kubeRun(cluster, SUITES.resilience!, ['test/fixtures/no-stats-matcher.yaml']);
      expect(r.results.map((x) => x.verdict)).toEqual(['error', 'error']);
      expect(r.results[0]!.reason).toMatch(/does not export upstream_rq_pending_overflow .*proxyStatsMatcher/);
      expect(r.results[1]!.reason).toMatch(/does not export outlier_detection\.ejections_enforced_consecutive_5xx/);
    } finally {
      await cluster.close();
    }
  });

  it('with it (rendered even when the posture has none), they pass', async () => {
    const cluster = await startLabCluster();
    try {
      const r = await kubeRun(cluster, SUITES.resilience!, ['test/fixtures/no-stats-matcher.yaml']);
      expect(r.results.map((x) => x.verdict)).toEqual(['pass', 'pass']);
    } finally {
      await cluster.close();
    }
  });

  it('an API server that speaks only v4.channel.k8s.io (Kubernetes < 1.30): the whole run passes', async () => {
    const cluster = await startLabCluster();
    cluster.api.state.v4Only = true;
    try {
      // Every check a cluster runs (the chaos suite is on the lab only so far).
      const checks = ALL_CHECKS.filter((c) => c.suite !== 'chaos');
      const r = await kubeRun(cluster, checks);
      expect(Object.fromEntries(r.results.map((x) => [x.id, x.verdict]))).toEqual(Object.fromEntries(checks.map((c) => [c.id, 'pass'])));
      expect(cluster.api.calls.filter((c) => c.startsWith('EXEC')).length).toBeGreaterThan(10);
    } finally {
      await cluster.close();
    }
  });

  it('pod logs are asked for with sinceSeconds (client-node 1.4 has no sinceTime), never the whole log', async () => {
    const cluster = await startLabCluster();
    try {
      const r = await kubeRun(cluster, SUITES.mtls!.slice(0, 1));
      expect(r.results[0]!.verdict).toBe('pass');
      const queries = cluster.api.state.logQueries;
      expect(queries.length).toBeGreaterThan(0);
      for (const q of queries) {
        const p = new URLSearchParams(q);
        expect(p.get('container')).toBe('istio-proxy');
        expect(Number(p.get('sinceSeconds'))).toBeGreaterThan(0);
        expect(p.has('sinceTime')).toBe(false);
      }
    } finally {
      await cluster.close();
    }
  });

  it('CERT-005 reads every root of the istio-ca-root-cert bundle: a second root that expires soon fails the check', async () => {
    const retiring = await CertificateAuthority.create({ rootTtlMs: 30 * DAY });
    const cluster = await startLabCluster({ extraRootPem: retiring.rootPem });
    try {
      const r = await kubeRun(cluster, [SUITES.certificates!.find((c) => c.id === 'CERT-005')!]);
      expect(r.results[0]!.verdict).toBe('fail');
      const serial = new X509Certificate(retiring.rootPem).serialNumber.toLowerCase();
      expect(r.results[0]!.reason).toContain(serial);
    } finally {
      await cluster.close();
    }
  });

  it('CERT-005 passes with two long-lived roots and inventories both', async () => {
    const next = await CertificateAuthority.create();
    const cluster = await startLabCluster({ extraRootPem: next.rootPem });
    try {
      const r = await kubeRun(cluster, [SUITES.certificates!.find((c) => c.id === 'CERT-005')!]);
      expect(r.results[0]!.verdict).toBe('pass');
      const observed = (r.results[0]!.cases[0] as { observed: { bundle: unknown[] } }).observed;
      expect(observed.bundle).toHaveLength(2);
    } finally {
      await cluster.close();
    }
  });
});

describe('a revisioned control plane (istiod-canary, istio.io/rev=canary)', () => {
  const canaryRole = () => loadRoles('deploy/rbac.yaml').map((r) => (r.resourceNames?.includes('istio') ? { ...r, resourceNames: [...r.resourceNames, 'istio-canary'] } : r));

  it('preflight without --revision names the revision it found; with it, istiod-canary and ConfigMap istio-canary', async () => {
    const cluster = await startLabCluster();
    cluster.api.state.istiod = { image: 'docker.io/istio/pilot:1.30.1', replicas: 1, ready: 1, revision: 'canary' };
    cluster.api.state.rbac = canaryRole();
    try {
      const kubeconfig = cluster.api.kubeconfig(dir);
      const bare = await cli(['preflight', '--kubeconfig', kubeconfig]);
      expect(bare.code).toBe(2);
      expect(bare.stderr).toMatch(/^meshproof: no istiod in istio-system; found istiod-canary \(revision canary\): pass --revision\n$/);
      const { kc } = loadKubeConfig({ kubeconfig, env: {} });
      const pre = await preflight(kc, { revision: 'canary' });
      expect(pre).toMatchObject({ istiod: { name: 'istiod-canary', revision: 'canary' }, caAddress: 'istiod-canary.istio-system.svc:15012', caServername: 'istiod.istio-system.svc', meshConfigName: 'istio-canary' });
    } finally {
      await cluster.close();
    }
  });

  it('K-L8: --revision prod names a revision tag: preflight resolves it through istio-revision-tag-prod to istiod-canary', async () => {
    const cluster = await startLabCluster();
    cluster.api.state.istiod = { image: 'docker.io/istio/pilot:1.30.1', replicas: 1, ready: 1, revision: 'canary' };
    cluster.api.state.webhooks = ['istio-sidecar-injector-canary'];
    cluster.api.state.revisionTags = { prod: 'canary' };
    cluster.api.state.rbac = canaryRole();
    try {
      const { kc } = loadKubeConfig({ kubeconfig: cluster.api.kubeconfig(dir), env: {} });
      const pre = await preflight(kc, { revision: 'prod' });
      expect(pre).toMatchObject({ istiod: { name: 'istiod-canary', revision: 'canary' }, tag: 'prod', caAddress: 'istiod-canary.istio-system.svc:15012', meshConfigName: 'istio-canary' });
      expect(cluster.api.state.forbidden).toEqual([]);
    } finally {
      await cluster.close();
    }
  });

  it('K-M2/I-M5: a run with --revision canary on a revision-only control plane passes: run namespaces get istio.io/rev, the gateway pod too (injected by rev.object.), the rogue mints from istiod-canary', async () => {
    const cluster = await startLabCluster({ meshWide: 'fixtures/secure/10-mesh-wide.yaml' });
    cluster.api.state.istiod = { image: 'docker.io/istio/pilot:1.30.1', replicas: 1, ready: 1, revision: 'canary' };
    cluster.api.state.webhooks = ['istio-sidecar-injector-canary'];
    cluster.api.state.rbac = canaryRole();
    try {
      const out = path.join(dir, 'canary');
      const r = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', cluster.api.kubeconfig(dir), '--revision', 'canary', '--suite', 'mtls,certificates', '--keep', '--out', out], { env: { ...process.env, MESHPROOF_TIMEOUTS: 'lab' } });
      expect(r.code, r.stderr).toBe(0);
      const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')) as { target: { versions: Record<string, string> } };
      expect(run.target.versions['istiod revision']).toBe('istiod-canary (canary)');
      const mesh = [...cluster.api.state.namespaces].find(([n]) => n.endsWith('-mesh'))!;
      expect(mesh[1].labels['istio.io/rev']).toBe('canary');
      expect(mesh[1].labels['istio-injection']).toBeUndefined();
      // No default revision, no tag: only `rev.object.` can inject the gateway, and only with the pod label.
      const gateway = [...cluster.api.state.objects.values()].find((o) => (o as { kind: string; metadata: { namespace?: string } }).kind === 'Deployment' && (o as { metadata: { namespace?: string } }).metadata.namespace?.endsWith('-edge')) as { spec: { template: { metadata: { labels: Record<string, string> } } } };
      expect(gateway.spec.template.metadata.labels['istio.io/rev']).toBe('canary');
      expect(cluster.api.state.forbidden).toEqual([]);
    } finally {
      await cluster.close();
    }
  });
});

describe('K-M3: meshConfig.discoverySelectors', () => {
  const mesh = (selector: string) => `discoverySelectors:\n- ${selector}\n`;

  it('K-M3: preflight reads them; run namespaces get the meshproof.dev/ label a selector asks for, and istiod gives them its root', async () => {
    const cluster = await startLabCluster({ meshWide: 'fixtures/secure/10-mesh-wide.yaml', meshConfig: mesh('matchLabels: {meshproof.dev/discovery: enabled}') });
    try {
      const { kc } = loadKubeConfig({ kubeconfig: cluster.api.kubeconfig(dir), env: {} });
      const pre = await preflight(kc);
      expect(pre.discoverySelectors).toEqual([{ matchLabels: { 'meshproof.dev/discovery': 'enabled' } }]);
      const target = cluster.kubeTarget(dir, { discoverySelectors: pre.discoverySelectors });
      try {
        await target.apply(loadPosture('fixtures/secure'));
        const ours = [...cluster.api.state.namespaces].filter(([n]) => n.startsWith('mp-'));
        expect(ours.length).toBeGreaterThan(0);
        for (const [, n] of ours) expect(n.labels['meshproof.dev/discovery']).toBe('enabled');
        expect((await target.meshRoots()).length).toBe(1);
      } finally {
        await target.dispose();
      }
      // What a namespace istiod does not see gets: no root.
      cluster.api.state.namespaces.set('elsewhere', { labels: {}, created: '2026-01-01T00:00:00Z' });
      const other = await fetch(`${cluster.api.url}/api/v1/namespaces/elsewhere/configmaps/istio-ca-root-cert`, { headers: { authorization: 'Bearer test-token' } });
      expect(other.status).toBe(404);
    } finally {
      await cluster.close();
    }
  });

  it('K-M3: a selector only someone else\'s label satisfies is refused in one line naming the label, before anything is created', async () => {
    const cluster = await startLabCluster({ meshConfig: mesh('matchLabels: {team: payments}') });
    try {
      const { kc } = loadKubeConfig({ kubeconfig: cluster.api.kubeconfig(dir), env: {} });
      const pre = await preflight(kc);
      const target = cluster.kubeTarget(dir, { discoverySelectors: pre.discoverySelectors });
      expect(() => target.validate(loadPosture('fixtures/secure'))).toThrow(/^meshConfig\.discoverySelectors select none of the namespaces meshproof creates \(mp-[0-9a-f]{8}-\w+\), so istiod would ignore them \(no istio-ca-root-cert, no policies\): being seen needs team=payments, a label meshproof does not put on its namespaces; add a selector its own labels satisfy, e\.g\. matchExpressions \[\{key: meshproof\.dev\/run, operator: Exists\}\]$/);
      expect([...cluster.api.state.namespaces.keys()].some((n) => n.startsWith('mp-'))).toBe(false);
    } finally {
      await cluster.close();
    }
  });
});

describe('--policy-report', () => {
  it('writes the verdicts as a PolicyReport in meshproof\'s namespace, valid against the CRD\'s schema', async () => {
    const cluster = await startLabCluster({ meshWide: 'fixtures/secure/10-mesh-wide.yaml' });
    cluster.api.state.crds.add('policyreports.wgpolicyk8s.io');
    cluster.api.state.namespaces.set('meshproof', { labels: {}, created: '2026-01-01T00:00:00Z' });
    try {
      const r = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', cluster.api.kubeconfig(dir), '--suite', 'mtls', '--policy-report', '--out', path.join(dir, 'pr')], { env: { ...process.env, MESHPROOF_TIMEOUTS: 'lab' } });
      expect(r.code, r.stderr).toBe(0);
      const report = cluster.api.state.objects.get('/apis/wgpolicyk8s.io/v1alpha2/namespaces/meshproof/policyreports/meshproof') as { summary: Record<string, number>; results: { policy: string; result: string; properties: { controls: string } }[] };
      expect(report.summary).toEqual({ pass: 3, fail: 0, warn: 0, error: 0, skip: 0 });
      expect(report.results.map((x) => `${x.policy}:${x.result}`)).toEqual(['MTLS-001:pass', 'MTLS-002:pass', 'MTLS-003:pass']);
      expect(report.results[0]!.properties.controls).toMatch(/NIST-800-53r5:SC-8/);
      expect(cluster.api.state.forbidden).toEqual([]);
    } finally {
      await cluster.close();
    }
  });

  it('is refused with one line when the CRD is absent (exit 2), and on the lab', async () => {
    const cluster = await startLabCluster();
    try {
      const r = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', cluster.api.kubeconfig(dir), '--suite', 'mtls', '--policy-report'], { env: { ...process.env, MESHPROOF_TIMEOUTS: 'lab' } });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^meshproof: --policy-report: the PolicyReport CRD \(policyreports\.wgpolicyk8s\.io\) is not installed: install Policy Reporter or Kyverno/m);
    } finally {
      await cluster.close();
    }
    const lab = await cli(['run', '--policy-report']);
    expect(lab.code).toBe(2);
    expect(lab.stderr).toMatch(/^meshproof: --policy-report writes into a cluster/);
  });
});
