// The chaos suite through the Kubernetes API façade: istiod's Deployment scaled to 0 through its scale
// subresource (the façade's webhook then fails closed and the lab's CA stops) and restored to its previous
// replica count, under deploy/rbac.yaml + deploy/rbac-chaos.yaml (no 403, every chaos grant used); refused on an
// existing cluster without --allow-control-plane-outage; and Ctrl-C during the outage restores istiod.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUN_LABEL } from '../cluster/kube/render.js';
import { cli, interruptWhen } from './support/cli.js';
import { startLabCluster } from './support/lab-cluster.js';
import { grantsOf, loadRoles } from './support/rbac.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-kube-chaos-'));
const env = { ...process.env, MESHPROOF_TIMEOUTS: 'lab' };
const MESH_WIDE = 'fixtures/secure/10-mesh-wide.yaml';

describe('the chaos suite through the Kubernetes API façade', () => {
  it('passes with istiod scaled to 0 and back, under the chaos role, and leaves istiod as it found it', { timeout: 240_000 }, async () => {
    const c = await startLabCluster({ meshWide: MESH_WIDE });
    const chaosRole = loadRoles('deploy/rbac-chaos.yaml');
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...chaosRole];
    c.api.state.istiod!.replicas = 2;
    c.api.state.istiod!.ready = 2;
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

  it('Ctrl-C during the outage restores istiod before anything else, and exits 130', { timeout: 240_000 }, async () => {
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
});
