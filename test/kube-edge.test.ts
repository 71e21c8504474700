// Issue 21 item 6 on a cluster: `--edge <ns>/<svc>` naming a Service outside the posture is read once, right after
// preflight, under exactly the shipped roles (deploy/rbac.yaml + deploy/rbac-edge.yaml, enforced by the API façade
// as kube-apiserver's RBAC authorizer would). A Service that does not exist, or lacks the --edge-host port, is one
// line and exit 2 before anything is created or attacked; without deploy/rbac-edge.yaml the preflight says so.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUN_LABEL } from '../cluster/kube/render.js';
import { cli } from './support/cli.js';
import { startLabCluster } from './support/lab-cluster.js';
import { grantsOf, loadRoles } from './support/rbac.js';
import type { Manifest } from '../harness/posture/load.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-edge-'));
const MESH_WIDE = 'fixtures/secure/10-mesh-wide.yaml';
const env = { ...process.env, MESHPROOF_TIMEOUTS: 'lab' };
const EDGE_NS = 'istio-ingress';

describe('issue 21 item 6: --edge on a cluster target', () => {
  it('a missing Service, or one without the HTTPS port, is one line and exit 2 before any work; an existing one runs; every grant of deploy/rbac-edge.yaml used', async () => {
    // The user's own edge namespace, with a Service serving 80 and 443 (gw) and one serving 8443 only (gw-alt).
    const service = (name: string, ports: number[]) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: EDGE_NS }, spec: { selector: { app: name }, ports: ports.map((port) => ({ name: port === 80 ? 'http' : `https-${port}`, port })) } });
    const existing = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: EDGE_NS } }, service('gw', [80, 443]), service('gw-alt', [8443])].map((manifest, i) => ({ manifest: manifest as unknown as Manifest, source: `edge#${i}` }));
    const c = await startLabCluster({ meshWide: MESH_WIDE, existing });
    try {
      c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-edge.yaml')];
      const kubeconfig = c.api.kubeconfig(dir);
      const run = (edge: string, out: string, suite = 'boundary') => cli(['run', '--target', 'kubeconfig', '--kubeconfig', kubeconfig, '--suite', suite, '--edge', edge, '--edge-host', 'shop.example.test', '--out', path.join(dir, out)], { env });
      const runNamespaces = () => [...c.api.state.namespaces.values()].filter((n) => RUN_LABEL in n.labels).length;

      const missing = await run(`${EDGE_NS}/nope`, 'missing');
      expect(missing.code).toBe(2);
      expect(missing.stderr).toBe(`meshproof: --edge ${EDGE_NS}/nope: no such Service in the cluster\n`);
      expect(runNamespaces()).toBe(0);

      const noPort = await run(`${EDGE_NS}/gw-alt`, 'no-port');
      expect(noPort.code).toBe(2);
      expect(noPort.stderr).toBe(`meshproof: --edge ${EDGE_NS}/gw-alt: the Service has no port 443 (the --edge-host port; it has 8443)\n`);
      expect(runNamespaces()).toBe(0);

      // With the port, the check lets the run go on (the mtls suite: the edge itself is not attacked here).
      const ok = await run(`${EDGE_NS}/gw`, 'ok', 'mtls');
      expect(ok.code, ok.stderr).toBe(0);

      expect(c.api.state.forbidden).toEqual([]);
      const edgeGrants = grantsOf(loadRoles('deploy/rbac-edge.yaml'));
      expect(edgeGrants).toEqual([`get core/services in ${EDGE_NS}`]);
      expect(edgeGrants.filter((g) => !c.api.state.rbacUsed.has(g))).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('without deploy/rbac-edge.yaml (or bound in another namespace) the preflight refuses in one line, exit 2, nothing created', async () => {
    const c = await startLabCluster({ meshWide: MESH_WIDE });
    try {
      c.api.state.rbac = loadRoles('deploy/rbac.yaml');
      const kubeconfig = c.api.kubeconfig(dir);
      const r = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', kubeconfig, '--suite', 'boundary', '--edge', 'shop/gw', '--edge-host', 'shop.example.test', '--out', path.join(dir, 'norole')], { env });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('meshproof: --edge: missing permissions: get core/services in shop. Apply deploy/rbac-edge.yaml with its RoleBinding in shop, or omit --edge\n');
      // Bound where Istio's chart puts the gateway, not where this edge is: still refused.
      c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-edge.yaml')];
      const elsewhere = await cli(['run', '--target', 'kubeconfig', '--kubeconfig', kubeconfig, '--suite', 'boundary', '--edge', 'shop/gw', '--edge-host', 'shop.example.test', '--out', path.join(dir, 'elsewhere')], { env });
      expect(elsewhere.code).toBe(2);
      expect(elsewhere.stderr).toMatch(/^meshproof: --edge: missing permissions: get core\/services in shop\./);
      expect([...c.api.state.namespaces.values()].some((n) => RUN_LABEL in n.labels)).toBe(false);
      expect(c.api.state.forbidden).toEqual([]);
    } finally {
      await c.close();
    }
  });
});
