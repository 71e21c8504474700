// `meshproof sweep --target kubeconfig` through the Kubernetes API façade over the lab: the user's estate is
// there before meshproof comes (applied by its owners, never touched), discovery reads it with the real client
// library under deploy/rbac.yaml + deploy/rbac-sweep.yaml (every request authorized as kube-apiserver would,
// every grant of the sweep role used), attacks go out from probe pods by exec, denials are corroborated from the
// destinations' pod logs, and the verdicts equal the lab sweep's: exactly the planted holes.
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { estateHoles, estatePosture } from '../cluster/lab/estate.js';
import { RUN_LABEL } from '../cluster/kube/render.js';
import { cli } from './support/cli.js';
import { startLabCluster } from './support/lab-cluster.js';
import { grantsOf, loadRoles } from './support/rbac.js';
import { policyReportSchema } from './support/schemas.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-kube-sweep-'));
const env = { ...process.env, MESHPROOF_TIMEOUTS: 'lab' };
const SPEC = { services: 10, replicas: 2 };

/** The namespaces of a generated estate (each gets its own RoleBinding of the sweep role). */
function estateNamespaces(spec: { services: number; replicas: number }): string[] {
  return estatePosture(spec).filter((o) => o.manifest.kind === 'Namespace').map((o) => o.manifest.metadata.name).sort();
}

interface SweepJson {
  endpoints: { namespace: string; pod: string; port: number; role?: string; verdicts: { check: string; outcome: string; reason: string }[] }[];
  pods: { namespace: string; pod: string; role?: string; verdict: { outcome: string } }[];
  canary: { flagged: boolean };
  counts: { endpoints: number; execs: number; probes: number; logReads: number };
}

describe('meshproof sweep --target kubeconfig (façade over the lab)', () => {
  it('K-M7: finds exactly the planted holes in an estate it did not create, under the sweep role bound per namespace (RoleBindings), and leaves nothing behind', async () => {
    const c = await startLabCluster({ existing: estatePosture(SPEC), podsPerProcess: 100 });
    // K-M7: the sweep role bound per namespace (a RoleBinding in each estate namespace and the root namespace),
    // never cluster-wide; its own run namespace meshproof binds itself.
    const sweepRole = loadRoles('deploy/rbac-sweep.yaml', { rolebindingsIn: estateNamespaces(SPEC) });
    expect(sweepRole.filter((r) => r.namespace === undefined && !r.resources.includes('nodes') && !r.resources.includes('rolebindings') && !r.resources.includes('clusterroles'))).toEqual([]);
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...sweepRole];
    c.api.state.nodes = new Map([
      ['node-a', { ready: true }],
      ['node-b', { ready: true }],
      ['node-c', { ready: true, unschedulable: true }],
    ]);
    const before = new Map([...c.api.state.objects].filter(([k]) => k.includes('/estate-')));
    try {
      const kubeconfig = c.api.kubeconfig(dir);
      const out = path.join(dir, 'bundle');
      // The attacker Deployment as applied (the run namespace is deleted at the end).
      let sweeper: { spec: { replicas: number; template: { spec: { topologySpreadConstraints?: { topologyKey: string }[] } } } } | undefined;
      const r = await cli(['sweep', '--target', 'kubeconfig', '--kubeconfig', kubeconfig, '--batch', '12', '--out', out], {
        env,
        onStart: (child) => {
          const poll = setInterval(() => {
            sweeper ??= [...c.api.state.objects.entries()].find(([k]) => k.endsWith('/deployments/sweeper'))?.[1] as typeof sweeper;
          }, 20);
          child.once('exit', () => clearInterval(poll));
        },
      });
      expect(r.code, r.stderr).toBe(1);
      const sw = JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8')) as SweepJson;
      expect(sw.canary.flagged).toBe(true);
      const found: string[] = [];
      for (const e of sw.endpoints) if (e.role !== 'canary') for (const v of e.verdicts) if (v.outcome === 'finding') found.push(`${v.check} ${e.namespace}/${e.pod}:${e.port}`);
      for (const p of sw.pods) if (p.role !== 'canary' && p.verdict.outcome === 'finding') found.push(`SWEEP-INJECT ${p.namespace}/${p.pod}`);
      const expected: string[] = [];
      for (const h of estateHoles(SPEC)) {
        for (let i = 0; i < SPEC.replicas; i++) {
          for (const [check, ports] of Object.entries(h.findings)) {
            if (ports.length === 0) expected.push(`${check} ${h.namespace}/${h.service}-${i}`);
            for (const port of ports) expected.push(`${check} ${h.namespace}/${h.service}-${i}:${port}`);
          }
        }
      }
      expect(found.sort()).toEqual(expected.sort());
      const inconclusive = sw.endpoints.flatMap((e) => e.verdicts.filter((v) => v.outcome === 'inconclusive').map((v) => `${e.pod}:${e.port} ${v.reason}`));
      expect(inconclusive).toEqual([]);
      // One attacker per schedulable node, spread across them; one exec per batch of 12 endpoints, no call per endpoint.
      expect(sw.counts.probes).toBe(2);
      expect(sweeper?.spec.replicas).toBe(2);
      expect(sweeper?.spec.template.spec.topologySpreadConstraints?.[0]?.topologyKey).toBe('kubernetes.io/hostname');
      expect(sw.counts.execs).toBe(Math.ceil(sw.counts.endpoints / 12));
      const calls = Number(/API calls and execs: (\d+)/.exec(r.stdout)?.[1]);
      expect(calls).toBeGreaterThan(0);
      // Read-only towards the estate: every object its owners applied is exactly as it was.
      for (const [k, v] of before) expect(c.api.state.objects.get(k), k).toEqual(v);
      expect([...c.api.state.managers.keys()].filter((k) => k.includes('/estate-'))).toEqual([]);
      // Least privilege: nothing refused, every grant of the sweep role used (in some namespace it is bound in).
      expect(c.api.state.forbidden).toEqual([]);
      const anywhere = (g: string) => g.replace(/ in \S+$/, '');
      const used = new Set([...c.api.state.rbacUsed].map(anywhere));
      expect([...new Set(grantsOf(sweepRole).map(anywhere))].filter((g) => !used.has(g))).toEqual([]);
      // Its own run namespace was read through the RoleBinding meshproof made there, to its own identity.
      expect([...c.api.state.rbacUsed].some((g) => /^list core\/services in mp-[0-9a-f]{8}-sweep$/.test(g))).toBe(true);
      // The run namespace is gone afterwards.
      await expect.poll(() => [...c.api.state.namespaces.values()].some((n) => RUN_LABEL in n.labels), { timeout: 120_000 }).toBe(false);
    } finally {
      await c.close();
    }
  });

  it('done when (K-H1, I-H1, I-M6, I-M7, K-M1, K-M12): a scaled-to-zero Service, a server-first app behind a correct ALLOW, a CUSTOM-protected app and a gateway pod are not reported; lists are paged, logs read per batch with limitBytes', async () => {
    const c = await startLabCluster({ existing: estatePosture({ services: 6, replicas: 1, holes: false }), podsPerProcess: 100 });
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml', { rolebindingsIn: estateNamespaces({ services: 6, replicas: 1 }) })];
    // Pages of 3 (a client that ignores `continue` misses objects) and a kubelet that keeps only the newest 64 KiB.
    c.api.state.pageSize = 3;
    c.api.state.logRetainBytes = 64 * 1024;
    try {
      const out = path.join(dir, 'done-when');
      const r = await cli(['sweep', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(dir), '--batch', '4', '--out', out], { env });
      expect(r.code, r.stderr).toBe(0);
      const sw = JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8')) as SweepJson & { information: { pod: string; port?: number; note: string }[]; listings: { query: string; items: number }[] };
      const ns = 'estate-1';
      const reported = sw.endpoints.filter((e) => e.namespace === ns && /^(scaled-to-zero|server-first|ext-authz-protected|edge-gateway)-/.test(e.pod) && e.verdicts.some((v) => v.outcome === 'finding' || v.outcome === 'inconclusive'));
      expect(reported).toEqual([]);
      // The server-first app was attacked and its denial taken from the destination's record, greeting or not.
      const db = sw.endpoints.find((e) => e.pod === 'server-first-0' && e.port === 3306)!;
      expect(db.verdicts.find((v) => v.check === 'SWEEP-AUTHZ')).toMatchObject({ outcome: 'ok', reason: expect.stringMatching(/connection terminated: rbac_access_denied_matched_policy\[/) });
      // I-M6: the CUSTOM provider's own 403 is a denial because the destination recorded ext_authz_denied.
      const guarded = sw.endpoints.find((e) => e.pod === 'ext-authz-protected-0' && e.port === 8080)!;
      expect(guarded.verdicts.find((v) => v.check === 'SWEEP-AUTHZ')).toMatchObject({ outcome: 'ok', reason: expect.stringMatching(/^denied \(HTTP 403 "denied by ext_authz.* from the CUSTOM provider\), recorded by the destination as ext_authz_denied$/) });
      // The gateway is recognised and said so; nothing of the scaled-to-zero Service is attacked.
      expect(sw.information.some((x) => x.pod === `${ns}/edge-gateway-0` && /gateway \(istio-proxy runs proxy router; inject\.istio\.io\/templates: gateway\)/.test(x.note))).toBe(true);
      expect(sw.endpoints.some((e) => e.pod.startsWith('scaled-to-zero'))).toBe(false);
      // K-M12: every list of the estate was paged and followed to its end.
      // (A by-name read, `fieldSelector=metadata.name=…`, is one item: it needs no paging.)
      const estateLists = c.api.state.listQueries.filter((q) => /\/namespaces\/estate-1\/(services|endpointslices|pods|peerauthentications|authorizationpolicies)\?/.test(q) && !q.includes('fieldSelector=metadata.name'));
      expect(estateLists.length).toBeGreaterThan(0);
      expect(estateLists.every((q) => /[?&]limit=\d+/.test(q))).toBe(true);
      expect(estateLists.some((q) => /[?&]continue=/.test(q))).toBe(true);
      // The Telemetry lists behind each destination's logging setup are paged too.
      const telemetryLists = c.api.state.listQueries.filter((q) => /\/telemetries\?/.test(q) || /\/telemetries$/.test(q));
      expect(telemetryLists.length).toBeGreaterThan(0);
      expect(telemetryLists.every((q) => /[?&]limit=\d+/.test(q))).toBe(true);
      expect(sw.listings.find((l) => l.query === `GET /api/v1/namespaces/${ns}/services`)?.items).toBe(10);
      // K-M1: per-batch reads, each capped.
      expect(c.api.state.logQueries.length).toBeGreaterThan(0);
      expect(c.api.state.logQueries.every((q) => /limitBytes=\d+/.test(q))).toBe(true);
    } finally {
      await c.close();
    }
  });

  it('21-5: --policy-report writes the sweep\'s verdicts and each finding per namespace/Service/port as PolicyReport meshproof/meshproof-sweep, valid against the CRD schema, under exactly the shipped roles', async () => {
    const spec = { services: 6, replicas: 1 };
    const c = await startLabCluster({ existing: estatePosture(spec), podsPerProcess: 100 });
    // Exactly what deploy/ ships: rbac.yaml (its meshproof-reports Role included) and rbac-sweep.yaml bound per
    // namespace; requests come from meshproof's service account (state.user unset), so deploy/confine.yaml's
    // admission applies too.
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml', { rolebindingsIn: estateNamespaces(spec) })];
    expect(c.api.state.user).toBeUndefined();
    c.api.state.crds.add('policyreports.wgpolicyk8s.io');
    c.api.state.namespaces.set('meshproof', { labels: {}, created: '2026-01-01T00:00:00Z' });
    // A run's report is there already: the sweep's must not replace it.
    const runReport = { apiVersion: 'wgpolicyk8s.io/v1alpha2', kind: 'PolicyReport', metadata: { name: 'meshproof', namespace: 'meshproof' }, results: [{ policy: 'MTLS-001', result: 'pass' }] };
    c.api.state.objects.set('/apis/wgpolicyk8s.io/v1alpha2/namespaces/meshproof/policyreports/meshproof', runReport);
    try {
      const out = path.join(dir, 'policy-report');
      const r = await cli(['sweep', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(dir), '--policy-report', '--out', out], { env });
      expect(r.code, r.stderr).toBe(1);
      const report = c.api.state.objects.get('/apis/wgpolicyk8s.io/v1alpha2/namespaces/meshproof/policyreports/meshproof-sweep') as {
        metadata: { labels: Record<string, string> };
        summary: Record<string, number>;
        results: { policy: string; rule: string; result: string; message: string; category: string; properties: Record<string, string> }[];
      };
      expect(report, r.stderr).toBeDefined();
      expect(policyReportSchema.safeParse(report).success).toBe(true);
      expect(c.api.state.objects.get('/apis/wgpolicyk8s.io/v1alpha2/namespaces/meshproof/policyreports/meshproof')).toEqual(runReport);
      const sw = JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8')) as SweepJson & { endpoints: { services: string[] }[]; pods: { service?: string; verdict: { reason: string } }[] };
      const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')) as { runId: string };
      expect(report.metadata.labels[RUN_LABEL]).toBe(run.runId);
      // One result per check, as a run's report has, then one per finding with its place and reason.
      const checks = report.results.filter((x) => x.category === 'sweep' && !x.rule.includes('/'));
      expect(checks.map((x) => `${x.policy}:${x.result}`)).toEqual(['SWEEP-MTLS:fail', 'SWEEP-INJECT:fail', 'SWEEP-AUTHZ:fail', 'SWEEP-CERT:fail']);
      const expected: string[] = [];
      for (const e of sw.endpoints) {
        if (e.role === 'canary') continue;
        for (const v of e.verdicts) if (v.outcome === 'finding') expected.push(`${v.check} ${e.services[0]!.replace(/:\d+$/, '')}:${e.port} fail ${e.pod}: ${v.reason}`);
      }
      for (const p of sw.pods) if (p.role !== 'canary' && p.verdict.outcome === 'finding') expected.push(`SWEEP-INJECT ${p.service} fail ${p.pod}: ${p.verdict.reason}`);
      expect(expected.length).toBeGreaterThan(0);
      const rows = report.results.filter((x) => x.rule.includes('/'));
      expect(rows.map((x) => `${x.policy} ${x.rule} ${x.result} ${x.message}`).sort()).toEqual(expected.sort());
      expect(rows.every((x) => x.properties.namespace === x.rule.split('/')[0] && x.properties.runId === run.runId)).toBe(true);
      expect(report.summary).toEqual({ pass: 0, fail: 4 + expected.length, warn: 0, error: 0, skip: 0 });
      // Nothing refused: the shipped roles are enough, and admission let the write into namespace meshproof only.
      expect(c.api.state.forbidden).toEqual([]);
      expect(c.api.state.admissionDenied).toEqual([]);
      expect([...c.api.state.rbacUsed]).toContain('create wgpolicyk8s.io/policyreports [meshproof,meshproof-sweep] in meshproof');
    } finally {
      await c.close();
    }
  });

  it('K-M1: under the kubelet\'s log rotation a record read right after its attempt is there, and gone for a read at the end of a busy sweep', async () => {
    const c = await startLabCluster({ existing: estatePosture({ services: 6, replicas: 1, holes: false }), podsPerProcess: 100 });
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml', { rolebindingsIn: estateNamespaces({ services: 6, replicas: 1 }) })];
    const retain = 4 * 1024;
    c.api.state.logRetainBytes = retain;
    try {
      const kc = new KubeConfig();
      kc.loadFromFile(c.api.kubeconfig(dir));
      const core = kc.makeApiClient(CoreV1Api);
      await core.listNamespacedPod({ namespace: 'estate-1' }); // the façade starts its lab on the first pod list
      const lab = c.lab()!;
      const [ep] = await lab.endpoints({ namespace: 'estate-1', name: 'svc-0000' }, 8080);
      const [host, port] = ep!.dial.split(':');
      // One plaintext attempt (STRICT: an NR filter_chain_not_found record naming our address); resolves with it.
      const attempt = () =>
        new Promise<string>((resolve) => {
          const s = net.connect({ host, port: Number(port) });
          let me = '';
          s.on('connect', () => {
            me = `${s.localAddress}:${s.localPort}`;
            s.write('GET / HTTP/1.1\r\nhost: svc-0000\r\n\r\n');
          });
          s.on('error', () => s.destroy());
          s.on('close', () => resolve(me));
        });
      // The read KubeTarget.accessLog makes per batch: sinceSeconds, capped by limitBytes.
      const read = async () => String(await core.readNamespacedPodLog({ name: ep!.pod.name, namespace: 'estate-1', container: 'istio-proxy', sinceSeconds: 120, limitBytes: 1 << 20 }));
      const first = await attempt();
      await new Promise((r) => setTimeout(r, 100)); // the record is written as the connection closes
      expect(await read()).toContain(first); // per batch: read right after the attempt, the record is there
      // The rest of a busy sweep: more records than the kubelet keeps (bounded: at most 200 attempts).
      let last = first;
      for (let i = 0; i < 200 && (await lab.accessLog(ep!.pod, new Date(0))).join('\n').length <= 2 * retain; i++) last = await attempt();
      expect((await lab.accessLog(ep!.pod, new Date(0))).join('\n').length).toBeGreaterThan(2 * retain);
      await new Promise((r) => setTimeout(r, 100));
      const late = await read();
      expect(late).toContain(last);
      expect(late).not.toContain(first); // an end-of-sweep read has lost the first attempt's record to rotation
      expect((await lab.accessLog(ep!.pod, new Date(0))).join('\n')).toContain(first); // though the proxy wrote it
    } finally {
      await c.close();
    }
  });

  it('K-M7: stops at preflight, with one line naming what is missing, when the identity lacks the sweep role', async () => {
    const c = await startLabCluster({ existing: estatePosture({ services: 6, replicas: 1 }) });
    try {
      const r = await cli(['sweep', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(dir), '--out', path.join(dir, 'no-role')], { env });
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^meshproof: sweep: missing permissions: list core\/services in estate-\w+, .*, list security\.istio\.io\/peerauthentications in istio-system, .*bind rbac\.authorization\.k8s\.io\/clusterroles meshproof-sweep, list core\/nodes\. Apply deploy\/rbac-sweep\.yaml and bind ClusterRole meshproof-sweep to this identity in each namespace swept and in the root namespace \(RoleBindings\)/);
      // Nothing was created.
      expect([...c.api.state.namespaces.values()].some((n) => RUN_LABEL in n.labels)).toBe(false);
    } finally {
      await c.close();
    }
  });

  it('K-M7: names the one namespace whose RoleBinding is missing, and asks for nodes only without --probes', async () => {
    const spec = { services: 6, replicas: 1 };
    // A second team's namespace in scope, whose RoleBinding is there; the estate's is not.
    const teamB = { manifest: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-b', labels: { 'istio-injection': 'enabled' } } }, source: 'team-b.yaml' };
    const c = await startLabCluster({ existing: [...estatePosture(spec), teamB] });
    const [missing] = estateNamespaces(spec);
    const bound = ['team-b'];
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml', { rolebindingsIn: bound })];
    try {
      const r = await cli(['sweep', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(dir), '--out', path.join(dir, 'one-missing')], { env });
      expect(r.code).toBe(2);
      // Pods list and pods/log are not missing: deploy/rbac.yaml grants them cluster-wide (the run's own namespaces
      // cannot be bound beforehand; the documented residual).
      const perms = 'list core/services, list discovery.k8s.io/endpointslices, list security.istio.io/peerauthentications, list security.istio.io/authorizationpolicies, list networking.istio.io/destinationrules, list networking.istio.io/sidecars';
      const expected = perms.split(', ').map((p) => `${p} in ${missing}`).join(', ');
      expect(r.stderr.trim().split('\n')).toEqual([
        `meshproof: sweep: missing permissions: ${expected}. Apply deploy/rbac-sweep.yaml and bind ClusterRole meshproof-sweep to this identity in each namespace swept and in the root namespace (RoleBindings), meshproof-sweep-binder cluster-wide, and meshproof-sweep-nodes cluster-wide (or pass --probes)`,
      ]);
      // Without nodes (no ClusterRoleBinding for them) but with --probes, the same sweep asks nothing of nodes.
      c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml', { rolebindingsIn: bound }).filter((x) => !x.resources.includes('nodes'))];
      const p = await cli(['sweep', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(dir), '--probes', '1', '--out', path.join(dir, 'probes')], { env });
      expect(p.stderr).not.toMatch(/nodes/);
      expect(p.stderr).toMatch(new RegExp(`missing permissions: list core/services in ${missing},`));
      expect([...c.api.state.namespaces.values()].some((n) => RUN_LABEL in n.labels)).toBe(false);
    } finally {
      await c.close();
    }
  });
});
