// Least privilege, proven: the API façade authorizes every request against deploy/rbac.yaml as kube-apiserver's
// RBAC authorizer would (403 when a rule is missing). Preflight, whole runs, Ctrl-C mid-run and cleanup all run
// under that role with no request refused, and together they use every grant the role makes: nothing in
// deploy/rbac.yaml is there for nothing.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUN_LABEL } from '../cluster/kube/render.js';
import { cli, interruptWhen } from './support/cli.js';
import { startLabCluster } from './support/lab-cluster.js';
import { AppsV1Api, AuthorizationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { startKubeApi } from './support/kube-api.js';
import { grantsOf, loadRoles } from './support/rbac.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-rbac-'));
const MESH_WIDE = 'fixtures/secure/10-mesh-wide.yaml';
const env = { ...process.env, MESHPROOF_TIMEOUTS: 'lab' };

describe('deploy/rbac.yaml', () => {
  it('is enough for preflight, runs, Ctrl-C and cleanup, and every grant in it is used', async () => {
    const used = new Set<string>();
    const forbidden: string[] = [];

    // 1. Preflight, a whole run kept for debugging (--keep), then cleanup of that run by its id.
    const a = await startLabCluster({ meshWide: MESH_WIDE });
    try {
      const kubeconfig = a.api.kubeconfig(dir);
      const pre = await cli(['preflight', '--kubeconfig', kubeconfig], { env });
      expect(pre.code, pre.stderr).toBe(0);
      const out = path.join(dir, 'kept');
      const run = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', kubeconfig, '--keep', '--out', out], { env });
      expect(run.code, run.stderr).toBe(0);
      const runId = (JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')) as { runId: string }).runId;
      expect([...a.api.state.namespaces.values()].some((n) => n.labels[RUN_LABEL] === runId)).toBe(true);
      const clean = await cli(['cleanup', '--run', runId, '--kubeconfig', kubeconfig], { env });
      expect(clean.code, clean.stderr).toBe(0);
      expect([...a.api.state.namespaces.values()].some((n) => RUN_LABEL in n.labels)).toBe(false);
      // A posture with a Telemetry of its own (logging switched off for the mesh namespace).
      const audit = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', kubeconfig, '--suite', 'audit', '--overlay', 'fixtures/weakened/logging-off-mesh.yaml', '--out', path.join(dir, 'audit')], { env });
      expect(audit.code, audit.stderr).toBe(1);
      // The verdicts as a PolicyReport, in meshproof's own namespace (the Role of deploy/rbac.yaml).
      a.api.state.crds.add('policyreports.wgpolicyk8s.io');
      a.api.state.namespaces.set('meshproof', { labels: {}, created: '2026-01-01T00:00:00Z' });
      for (const n of [1, 2]) {
        const pr = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', kubeconfig, '--suite', 'mtls', '--policy-report', '--out', path.join(dir, `pr-${n}`)], { env });
        expect(pr.code, pr.stderr).toBe(0); // the second run replaces the report (patch by name)
      }
      for (const g of a.api.state.rbacUsed) used.add(g);
      forbidden.push(...a.api.state.forbidden);
    } finally {
      await a.close();
    }

    // 2. Ctrl-C mid-run, and a stale sweep.
    const b = await startLabCluster({ meshWide: MESH_WIDE });
    try {
      const kubeconfig = b.api.kubeconfig(dir);
      const ctrlC = interruptWhen(() => [...b.api.state.namespaces.values()].some((n) => RUN_LABEL in n.labels) && b.lab() !== undefined);
      const r = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', kubeconfig, '--out', path.join(dir, 'int')], { env, onStart: ctrlC.onStart });
      expect(r.code).toBe(130);
      // Pods Pod Security refuses: explained from ReplicaSets and events, exit 3 at once.
      const psa = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', kubeconfig, '--suite', 'mtls', '--overlay', 'test/fixtures/pod-security-baseline.yaml', '--out', path.join(dir, 'psa')], { env });
      expect(psa.code).toBe(3);
      expect(psa.stderr).toMatch(/are never created: ReplicaSet mp-\w+-mesh\/[\w-]+ cannot create pods: .*PodSecurity "baseline:latest".*install istio-cni/);
      const sweep = await cli(['cleanup', '--stale', '--older-than', '0s', '--kubeconfig', kubeconfig], { env });
      expect(sweep.code, sweep.stderr).toBe(0);
      for (const g of b.api.state.rbacUsed) used.add(g);
      forbidden.push(...b.api.state.forbidden);
    } finally {
      await b.close();
    }

    expect(forbidden).toEqual([]);
    const grants = grantsOf(loadRoles('deploy/rbac.yaml'));
    expect(grants.filter((g) => !used.has(g))).toEqual([]);
  });

  it('a missing rule is a 403 from the façade, and the run says what was refused', async () => {
    const c = await startLabCluster({ meshWide: MESH_WIDE });
    try {
      c.api.state.rbac = loadRoles('deploy/rbac.yaml').filter((r) => !r.resources.includes('pods/log'));
      const r = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(dir), '--suite', 'mtls', '--out', path.join(dir, 'nolog')], { env });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/missing permissions: get core\/pods\/log/);
    } finally {
      await c.close();
    }
  });
});

describe("the façade's authorizer resolves bindings as kube-apiserver's RBAC authorizer (VisitRulesFor)", () => {
  /** A SelfSubjectAccessReview, as the preflight and `kubectl auth can-i` ask it. */
  const can = async (kc: KubeConfig, a: { verb: string; resource: string; group?: string; subresource?: string; name?: string; namespace?: string }) =>
    (await kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({ body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: a } } })).status?.allowed;
  const code = (p: Promise<unknown>) => p.then(() => 200, (e: { code?: number }) => e.code);

  it('K-M7: a RoleBinding grants only in its namespace; "all namespaces" and cluster-scoped nodes need a ClusterRoleBinding', async () => {
    const api = await startKubeApi();
    try {
      for (const ns of ['estate-a', 'estate-b']) api.state.namespaces.set(ns, { labels: {}, created: '2026-01-01T00:00:00Z' });
      // deploy/rbac-sweep.yaml bound per namespace in estate-a only (beside its own RoleBinding in istio-system).
      api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml', { rolebindingsIn: ['estate-a'] })];
      const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} });
      const core = kc.makeApiClient(CoreV1Api);
      expect(await can(kc, { verb: 'list', resource: 'services', namespace: 'estate-a' })).toBe(true);
      expect(await can(kc, { verb: 'list', resource: 'services', namespace: 'estate-b' })).toBe(false);
      expect(await can(kc, { verb: 'list', resource: 'services' })).toBe(false); // all namespaces: RoleBindings do not answer
      expect(await code(core.listNamespacedService({ namespace: 'estate-a' }))).toBe(200);
      expect(await code(core.listNamespacedService({ namespace: 'estate-b' }))).toBe(403);
      // Nodes are cluster-scoped: a RoleBinding naming them grants nothing; the ClusterRoleBinding does.
      expect(await code(core.listNode())).toBe(200);
      api.state.rbac = [...loadRoles('deploy/rbac.yaml'), { apiGroups: [''], resources: ['nodes'], verbs: ['list'], namespace: 'estate-a' }];
      expect(await can(kc, { verb: 'list', resource: 'nodes' })).toBe(false);
      expect(await code(core.listNode())).toBe(403);
    } finally {
      await api.close();
    }
  });

  it('K-M8: istiod can be scaled only in the Istio namespace; echo wherever the run puts it', async () => {
    const api = await startKubeApi();
    try {
      api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-chaos.yaml')];
      const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} });
      const scale = (name: string, namespace: string) => can(kc, { verb: 'patch', group: 'apps', resource: 'deployments', subresource: 'scale', name, namespace });
      expect(await scale('istiod', 'istio-system')).toBe(true);
      expect(await scale('istiod', 'someone-else')).toBe(false);
      expect(await scale('echo', 'mp-4f1c2a9e-mesh')).toBe(true);
      // M6: istiod's Deployments are listed in the Istio namespace only.
      expect(await code(kc.makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace: 'istio-system' }))).toBe(200);
      expect(await can(kc, { verb: 'list', group: 'apps', resource: 'deployments', namespace: 'default' })).toBe(false);
    } finally {
      await api.close();
    }
  });

  it('K-L2: SelfSubjectAccessReviews need no grant: every authenticated user has them (system:basic-user)', async () => {
    const api = await startKubeApi();
    try {
      api.state.rbac = [];
      const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} });
      expect(await can(kc, { verb: 'list', resource: 'pods', namespace: 'default' })).toBe(false);
      expect(api.state.forbidden).toEqual([]);
      expect(api.state.rbacUsed.has('create authorization.k8s.io/selfsubjectaccessreviews (system:basic-user)')).toBe(true);
    } finally {
      await api.close();
    }
  });
});
