// The chaos suite through the Kubernetes API façade: istiod's Deployment scaled to 0 through its scale
// subresource (the façade's webhook then fails closed and the lab's CA stops) and restored to its previous
// replica count, under deploy/rbac.yaml + deploy/rbac-chaos.yaml (no 403, every chaos grant used); refused on an
// existing cluster without --allow-control-plane-outage; and Ctrl-C during the outage restores istiod.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUN_LABEL } from '../cluster/kube/render.js';
import { loadPosture } from '../harness/posture/load.js';
import { cli, interruptWhen } from './support/cli.js';
import { startLabCluster } from './support/lab-cluster.js';
import { grantsOf, loadRoles } from './support/rbac.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-kube-chaos-'));
const env = { ...process.env, MESHPROOF_TIMEOUTS: 'lab' };
const MESH_WIDE = 'fixtures/secure/10-mesh-wide.yaml';

describe('the chaos suite through the Kubernetes API façade', () => {
  it('K-H3: passes with istiod scaled to 0 and back (the stale ReplicaFailure emulated), under the chaos role, and leaves istiod as it found it', async () => {
    const c = await startLabCluster({ meshWide: MESH_WIDE });
    const chaosRole = loadRoles('deploy/rbac-chaos.yaml');
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...chaosRole];
    c.api.state.istiod!.replicas = 2;
    c.api.state.istiod!.ready = 2;
    // K-H3: the ReplicaSet's retry after the outage is seconds away, so its ReplicaFailure outlives the restore.
    c.api.state.replicaSetRetry = { baseMs: 2_000, maxMs: 10_000 };
    const seen: number[] = [];
    try {
      const r = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(dir), '--suite', 'chaos', '--allow-control-plane-outage', '--out', path.join(dir, 'run')], {
        env,
        onStart: (child) => {
          const poll = setInterval(() => seen.push(c.api.state.istiod!.replicas), 20);
          child.once('exit', () => clearInterval(poll));
        },
      });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/CHAOS-001\s+PASS/);
      expect(r.stdout).toMatch(/CHAOS-002\s+PASS/);
      expect(r.stdout).toMatch(/CHAOS-003\s+PASS/);
      expect(seen).toContain(0); // the outage happened
      expect(c.api.state.istiod!.replicas).toBe(2); // and istiod is back at its own replica count
      expect(c.api.state.forbidden).toEqual([]);
      expect(grantsOf(chaosRole).filter((g) => !c.api.state.rbacUsed.has(g))).toEqual([]);
      expect([...c.api.state.namespaces.values()].some((n) => RUN_LABEL in n.labels)).toBe(false);
    } finally {
      await c.close();
    }
  });

  it('is refused on an existing cluster without --allow-control-plane-outage, and without the chaos role', async () => {
    const c = await startLabCluster({ meshWide: MESH_WIDE });
    try {
      const kubeconfig = c.api.kubeconfig(dir);
      const noFlag = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', kubeconfig, '--suite', 'chaos', '--out', path.join(dir, 'x')], { env });
      expect(noFlag.code).toBe(2);
      expect(noFlag.stderr).toMatch(/^meshproof: the chaos suite scales istiod to 0, disturbing the whole mesh: on an existing cluster pass --allow-control-plane-outage\n$/);
      const noRole = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', kubeconfig, '--suite', 'chaos', '--allow-control-plane-outage', '--out', path.join(dir, 'y')], { env });
      expect(noRole.code).toBe(2);
      // istiod's scale is asked in the Istio namespace only (a Role there, K-M8).
      expect(noRole.stderr).toMatch(/^meshproof: the chaos suite: missing permissions: get apps\/deployments\/scale istiod in istio-system, patch apps\/deployments\/scale istiod in istio-system, patch apps\/deployments\/scale echo\. Apply deploy\/rbac-chaos\.yaml/);
      // The default run on an existing cluster leaves the suite out.
      expect(c.api.state.istiod!.replicas).toBe(1);
    } finally {
      await c.close();
    }
  });

  it('Ctrl-C during the outage restores istiod before anything else, and exits 130', async () => {
    const c = await startLabCluster({ meshWide: MESH_WIDE });
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-chaos.yaml')];
    try {
      const ctrlC = interruptWhen(() => c.api.state.istiod!.replicas === 0, 10);
      const r = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(dir), '--suite', 'chaos', '--allow-control-plane-outage', '--out', path.join(dir, 'int')], { env, onStart: ctrlC.onStart });
      expect(ctrlC.sent()).toBe(true);
      expect(r.code).toBe(130);
      expect(c.api.state.istiod!.replicas).toBe(1);
      expect([...c.api.state.namespaces.values()].some((n) => RUN_LABEL in n.labels)).toBe(false);
    } finally {
      await c.close();
    }
  });

  it('K-H3: a ReplicaFailure left from the outage is not read as a refusal after istiod returns; the scale waits for the backed-off retry', async () => {
    const c = await startLabCluster({ meshWide: MESH_WIDE });
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-chaos.yaml')];
    // The controller's first retry 5 s after the refusal: well after the restore below, even on a loaded machine.
    c.api.state.replicaSetRetry = { baseMs: 5_000, maxMs: 10_000 };
    const target = c.kubeTarget(dir);
    const bare = { namespace: 'bare', name: 'echo' };
    try {
      await target.apply(loadPosture('fixtures/secure'));
      const n = (await target.servicePods(bare)).length;
      const outage = await target.controlPlaneOutage();
      const during = await target.scale(bare, n + 1);
      expect(during.refused).toMatch(/cannot create pods: Error creating: .*failed calling webhook.*no endpoints available for service "istiod"/);
      await outage.restore();
      const key = [...c.api.state.replicaSets.keys()].find((k) => k.endsWith('-bare/echo'))!;
      // What a real cluster shows now: istiod is back, the condition is still there until the retry.
      expect(c.api.state.replicaSets.get(key)!.condition).toBeDefined();
      const t0 = Date.now();
      const after = await target.scale(bare, n + 1); // the same count: nothing re-enqueues the ReplicaSet
      expect(after.refused).toBeUndefined();
      expect(after.created).toHaveLength(1);
      expect(Date.now() - t0).toBeGreaterThan(200); // it waited for the controller, not for a condition to vanish
      expect(c.api.state.replicaSets.get(key)!.condition).toBeUndefined();
    } finally {
      await target.dispose();
      await c.close();
    }
  });

  it('K-M4: the outage begins only when istiod\'s last pod is gone (terminating pods still serve for their grace period)', async () => {
    const c = await startLabCluster({ meshWide: MESH_WIDE });
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-chaos.yaml')];
    c.api.state.istiodGraceMs = 1_500;
    const target = c.kubeTarget(dir);
    try {
      const t0 = Date.now();
      const outage = await target.controlPlaneOutage();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1_400);
      expect(c.api.state.istiod!.terminating).toBe(0);
      expect(outage.startedAt.getTime()).toBeGreaterThanOrEqual(t0 + 1_400);
      await outage.restore();
      expect(c.api.state.istiod!.replicas).toBe(1);
    } finally {
      await target.dispose();
      await c.close();
    }
  });

  it('K-M4: istiod scaled back by a reconciler ends the outage start at a deadline, with one line, istiod restored', async () => {
    const c = await startLabCluster({ meshWide: MESH_WIDE });
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-chaos.yaml')];
    c.api.state.istiod!.replicas = 2;
    c.api.state.istiod!.ready = 2;
    // GitOps self-heal: whatever scales istiod down, it sets back to 2 shortly after.
    const reconciler = setInterval(() => {
      const i = c.api.state.istiod!;
      if (i.replicas === 0) Object.assign(i, { replicas: 2, ready: 2 });
    }, 100);
    const target = c.kubeTarget(dir, { readyTimeoutMs: 2_000 });
    try {
      const t0 = Date.now();
      await expect(target.controlPlaneOutage()).rejects.toThrow(/^istio-system\/istiod still had pods 2s after being scaled to 0: something scaled istiod back \(an operator, GitOps self-heal or a managed add-on\); restored it to 2 replicas, no outage was run$/);
      // It gave up after its own 2 s wait, not after waiting for something else (the margin is for a loaded machine).
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(c.api.state.istiod!.replicas).toBe(2);
    } finally {
      clearInterval(reconciler);
      await target.dispose();
      await c.close();
    }
  });
});
