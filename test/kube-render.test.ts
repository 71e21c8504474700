// The Kubernetes path's pure parts: rendering fixtures for a cluster (no logical name survives the mapping),
// least-privilege RBAC equal to what the preflight checks, and connection errors as one-line usage errors.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { CHAOS_PERMISSIONS, type Permission, POLICY_REPORT_PERMISSIONS, REQUIRED, SWEEP_BINDER_PERMISSIONS, SWEEP_NODE_PERMISSIONS, SWEEP_PERMISSIONS } from '../cluster/kube/permissions.js';
import { clusterRolesOf, grantsOf, loadRoles } from './support/rbac.js';
import { CONFINE_NAMESPACE_LABELS, MESHPROOF_STATS_MATCHER, NamespaceMap, RUN_LABEL, refusedNamespaceLabel, renderForCluster, withStatsMatcher } from '../cluster/kube/render.js';
import { parseAllDocuments } from 'yaml';
import { ConfigError } from '../harness/errors.js';
import { loadPosture } from '../harness/posture/load.js';
import { STATS_ANNOTATIONS, statsIncluded, statsMatcherPatterns } from '../harness/istio/stats.js';

const RUN = '4f1c2a9e-7b3d-4c2e-9a1f-0123456789ab';
const base = { runId: RUN, trustDomain: 'cluster.local', agentBundle: '/* agent */', adminToken: 't0k3n' };

describe('rendering the posture for a cluster', () => {
  const r = renderForCluster(loadPosture('fixtures/secure'), { ...base, provisioned: true });
  const text = JSON.stringify(r.objects);

  it('maps every fixture namespace to a run-scoped one', () => {
    expect(r.namespaces).toEqual({ mesh: 'mp-4f1c2a9e-mesh', bare: 'mp-4f1c2a9e-bare', outside: 'mp-4f1c2a9e-outside', edge: 'mp-4f1c2a9e-edge' });
  });

  it('leaves no logical name anywhere: namespaces, principals, hosts', () => {
    for (const logical of ['mesh', 'bare', 'outside']) {
      expect(text).not.toMatch(new RegExp(`"namespace":"${logical}"`));
      expect(text).not.toMatch(new RegExp(`/ns/${logical}/`));
      expect(text).not.toMatch(new RegExp(`\\.${logical}\\.svc`));
      expect(text).not.toMatch(new RegExp(`"name":"${logical}"[^}]*"labels":\\{"istio-injection"`));
    }
    expect(text).toContain('cluster.local/ns/mp-4f1c2a9e-mesh/sa/authorized');
    expect(text).toContain('cluster.local/ns/mp-4f1c2a9e-outside/sa/rogue');
    expect(text).toContain('"host":"echo.mp-4f1c2a9e-mesh.svc.cluster.local"');
  });

  it('uses the mesh\'s trust domain in principals', () => {
    const other = renderForCluster(loadPosture('fixtures/secure'), { ...base, provisioned: true, trustDomain: 'bank.example' });
    expect(JSON.stringify(other.objects)).toContain('bank.example/ns/mp-4f1c2a9e-mesh/sa/authorized');
    expect(JSON.stringify(other.objects)).not.toContain('cluster.local/ns/');
  });

  it('labels every object and pod template with the run', () => {
    for (const m of r.objects) expect(m.metadata.labels?.[RUN_LABEL], `${m.kind} ${m.metadata.name}`).toBe(RUN);
    const d = r.objects.find((m) => m.kind === 'Deployment')!;
    expect((d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels[RUN_LABEL]).toBe(RUN);
  });

  it('delivers the agent from a ConfigMap to a stock Node image, non-root, read-only, no capabilities', () => {
    const cm = r.objects.filter((m) => m.kind === 'ConfigMap');
    expect(cm.map((m) => m.metadata.namespace).sort()).toEqual(['mp-4f1c2a9e-bare', 'mp-4f1c2a9e-mesh', 'mp-4f1c2a9e-outside']);
    const pod = (r.objects.find((m) => m.kind === 'Deployment')!.spec as { template: { spec: Record<string, unknown> } }).template.spec as {
      securityContext: { runAsNonRoot: boolean };
      containers: { image: string; command: string[]; securityContext: Record<string, unknown>; volumeMounts: { mountPath: string }[] }[];
      automountServiceAccountToken: boolean;
    };
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.automountServiceAccountToken).toBe(false);
    const c = pod.containers[0]!;
    expect(c.image).toBe('node:22-alpine');
    expect(c.command).toEqual(['node', '/opt/meshproof/agent.mjs']);
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.volumeMounts[0]!.mountPath).toBe('/opt/meshproof');
    const mirrored = renderForCluster(loadPosture('fixtures/secure'), { ...base, provisioned: true, imageRegistry: 'registry.bank.internal/mirror/', image: 'node:20-alpine' });
    expect(JSON.stringify(mirrored.objects)).toContain('"image":"registry.bank.internal/mirror/node:20-alpine"');
  });

  it('adds the stats meshproof reads to every pod it owns, keeping what proxy.istio.io/config already says', () => {
    const deployments = r.objects.filter((o) => o.kind === 'Deployment');
    for (const d of deployments) {
      const tmpl = (d.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template;
      const cfg = JSON.parse(tmpl.metadata.annotations?.['proxy.istio.io/config'] ?? '{}') as { proxyStatsMatcher?: { inclusionRegexps?: string[] }; proxyMetadata?: Record<string, string> };
      expect(cfg.proxyStatsMatcher?.inclusionRegexps).toEqual(expect.arrayContaining(MESHPROOF_STATS_MATCHER.inclusionRegexps));
      if (d.metadata.name === 'rotating') expect(cfg.proxyMetadata).toEqual({ SECRET_TTL: '6s' });
    }
    const merged = JSON.parse(withStatsMatcher('{"proxyStatsMatcher":{"inclusionPrefixes":["cluster.outbound"],"inclusionRegexps":[".*upstream_cx_overflow"]}}'));
    expect(merged.proxyStatsMatcher.inclusionPrefixes).toEqual(['cluster.outbound']);
    expect(merged.proxyStatsMatcher.inclusionRegexps.filter((x: string) => x === '.*upstream_cx_overflow')).toHaveLength(1);
  });

  it('I-L5: a posture carrying sidecar.istio.io/statsInclusionRegexps (which replaces proxyStatsMatcher regexps) gets meshproof\'s regexps there too', () => {
    const posture = loadPosture('fixtures/secure');
    const echo = posture.objects.find((o) => o.manifest.kind === 'Deployment' && o.manifest.metadata.name === 'echo')!;
    const tmpl = (echo.manifest.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template;
    tmpl.metadata.annotations = { ...tmpl.metadata.annotations, 'sidecar.istio.io/statsInclusionRegexps': '.*my_own_stat' };
    const out = renderForCluster(posture, { ...base, provisioned: true });
    const d = out.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'echo')!;
    const annotations = (d.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations;
    expect(annotations['sidecar.istio.io/statsInclusionRegexps']!.split(',')).toEqual(['.*my_own_stat', ...MESHPROOF_STATS_MATCHER.inclusionRegexps]);
    // What the sidecar will keep, by the model of Istio's bootstrap: every counter meshproof reads, and the posture's own.
    const proxyStatsMatcher = JSON.parse(annotations['proxy.istio.io/config']!).proxyStatsMatcher;
    const keep = statsIncluded(statsMatcherPatterns({ annotations, proxyStatsMatcher }));
    for (const stat of ['cluster.outbound|8080||echo.mesh.svc.cluster.local.upstream_rq_pending_overflow', 'listener.0.0.0.0_15006.ssl.fail_verify_error', 'x.my_own_stat']) expect(keep(stat), stat).toBe(true);
    // Without meshproof's addition to the annotation, the annotation would have dropped them.
    expect(statsIncluded(statsMatcherPatterns({ annotations: { [STATS_ANNOTATIONS.regexps]: '.*my_own_stat' }, proxyStatsMatcher }))('cluster.outbound|8080||echo.mesh.svc.cluster.local.upstream_rq_pending_overflow')).toBe(false);
  });

  it('applies namespaces first', () => {
    const kinds = r.objects.map((m) => m.kind);
    expect(kinds.lastIndexOf('Namespace')).toBeLessThan(kinds.indexOf('ConfigMap'));
  });

  it('on a cluster it did not provision, never writes to istio-system and says so', () => {
    const existing = renderForCluster(loadPosture('fixtures/secure'), { ...base, provisioned: false });
    expect(existing.objects.some((m) => m.metadata.namespace === 'istio-system')).toBe(false);
    expect(existing.skipped.map((s) => s.object)).toEqual(['PeerAuthentication istio-system/default', 'Telemetry istio-system/mesh-default', 'AuthorizationPolicy istio-system/allow-nothing']);
  });

  it('refuses lab-only faults', () => {
    expect(() => renderForCluster(loadPosture('fixtures/secure', ['fixtures/weakened/lab-allow-expired.yaml']), { ...base, provisioned: true })).toThrow(/LabFault is a lab-only fault/);
  });

  it.each([
    ['an object in a namespace the posture does not declare', 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x, namespace: default}\n', /ServiceAccount default\/x: namespace default is not declared in the posture; meshproof writes only into namespaces it creates/],
    ['a namespaced kind without a namespace', 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\n', /ServiceAccount x has no metadata.namespace/],
    ['a cluster-scoped kind', 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: everything}\nrules: []\n', /ClusterRole everything: no namespace: meshproof writes no cluster-scoped object/],
  ])('refuses %s, naming file and object (exit 2)', (_n, yaml, re) => {
    const f = path.join(mkdtempSync(path.join(tmpdir(), 'meshproof-overlay-')), 'overlay.yaml');
    writeFileSync(f, yaml);
    const render = () => renderForCluster(loadPosture('fixtures/secure', [f]), { ...base, provisioned: false });
    expect(render).toThrow(ConfigError);
    expect(render).toThrow(re);
    expect(render).toThrow(/overlay\.yaml#1: /);
  });

  it('K-H4: keeps every VirtualService, DestinationRule and ServiceEntry in its namespace (exportTo ["."]), as confine.yaml demands', () => {
    const all = renderForCluster(loadPosture('fixtures/secure', ['fixtures/weakened/dr-no-outlier-detection.yaml', 'fixtures/weakened/egress-wildcard-serviceentry.yaml']), { ...base, provisioned: true });
    const exported = all.objects.filter((m) => ['VirtualService', 'DestinationRule', 'ServiceEntry'].includes(m.kind));
    expect(new Set(exported.map((m) => m.kind))).toEqual(new Set(['VirtualService', 'DestinationRule', 'ServiceEntry']));
    for (const m of exported) expect((m.spec as { exportTo?: string[] }).exportTo, `${m.kind} ${m.metadata.name}`).toEqual(['.']);
  });

  it('K-H4: refuses a fixture that exports Istio config beyond its namespace (exit 2)', () => {
    const f = path.join(mkdtempSync(path.join(tmpdir(), 'meshproof-overlay-')), 'overlay.yaml');
    writeFileSync(f, 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: echo, namespace: mesh}\nspec: {host: echo, exportTo: ["*"]}\n');
    const render = () => renderForCluster(loadPosture('fixtures/secure', [f]), { ...base, provisioned: false });
    expect(render).toThrow(ConfigError);
    expect(render).toThrow(/overlay\.yaml#1: DestinationRule mesh\/echo: spec\.exportTo \["\*"\]: meshproof keeps Istio config in its own namespace/);
  });

  it.each([
    ['istio-discovery', 'enabled'],
    ['istio.io/dataplane-mode', 'ambient'],
    ['topology.istio.io/network', 'net1'],
    ['pod-security.kubernetes.io/enforce', 'privileged'],
  ])('A-M4: refuses a posture namespace labelled %s=%s before the cluster is contacted (confine.yaml would 403 it mid-apply)', (key, value) => {
    const f = path.join(mkdtempSync(path.join(tmpdir(), 'meshproof-overlay-')), 'overlay.yaml');
    writeFileSync(f, `apiVersion: v1\nkind: Namespace\nmetadata: {name: extra, labels: {${JSON.stringify(key)}: ${JSON.stringify(value)}}}\n`);
    const render = () => renderForCluster(loadPosture('fixtures/secure', [f]), { ...base, provisioned: false });
    expect(render).toThrow(ConfigError);
    expect(render).toThrow(new RegExp(`^.*overlay\\.yaml#1: Namespace extra: label ${key.replaceAll('.', '\\.')}[: ]`));
    try {
      render();
    } catch (e) {
      expect((e as Error).message.split('\n')).toHaveLength(1);
    }
  });

  it("A-M4: every namespace label the render writes (revision, discoverySelectors) is one confine.yaml admits", () => {
    for (const o of [{}, { revision: 'canary' }, { discoverySelectors: [{ matchLabels: { 'meshproof.dev/discovered': 'true' } }] }]) {
      const out = renderForCluster(loadPosture('fixtures/secure'), { ...base, provisioned: false, ...o });
      for (const ns of out.objects.filter((m) => m.kind === 'Namespace')) {
        for (const [k, v] of Object.entries(ns.metadata.labels ?? {})) expect(refusedNamespaceLabel(k, v), `${ns.metadata.name} ${k}`).toBeUndefined();
      }
    }
  });

  it("A-M4: CONFINE_NAMESPACE_LABELS is exactly deploy/confine.yaml's Namespace-labels allow-list (one source of truth)", () => {
    const policy = parseAllDocuments(readFileSync('deploy/confine.yaml', 'utf8')).map((d) => d.toJS()).find((d) => d.kind === 'ValidatingAdmissionPolicy');
    const labels = (policy.spec.validations as { expression: string }[]).filter((v) => v.expression.includes('object.metadata.labels.all('));
    expect(labels).toHaveLength(1);
    const expr = labels[0]!.expression;
    const quoted = (list: string) => [...list.matchAll(/'([^']*)'/g)].map((m) => m[1]);
    // `k in [...]`: the keys by name; `k.startsWith('…')`: the prefixes (the pod-security one is level-checked).
    const keys = [...expr.matchAll(/\bk in \[([^\]]*)\]/g)].flatMap((m) => quoted(m[1]!));
    const prefixes = [...expr.matchAll(/\bk\.startsWith\('([^']*)'\)/g)].map((m) => m[1]);
    const levels = [...expr.matchAll(/object\.metadata\.labels\[k\] in \[([^\]]*)\]/g)].flatMap((m) => quoted(m[1]!));
    expect(new Set(keys)).toEqual(new Set(CONFINE_NAMESPACE_LABELS.keys));
    expect(new Set(prefixes)).toEqual(new Set([...CONFINE_NAMESPACE_LABELS.prefixes, CONFINE_NAMESPACE_LABELS.podSecurityPrefix]));
    expect(new Set(levels)).toEqual(new Set(CONFINE_NAMESPACE_LABELS.podSecurityLevels));
    // The only other key it admits is the one the API server sets itself.
    expect(expr).toMatch(/k == 'kubernetes\.io\/metadata\.name' && object\.metadata\.labels\[k\] == object\.metadata\.name/);
    expect(expr.replaceAll(/'[^']*'/g, "''")).not.toMatch(/k == ''(?! && object\.metadata\.labels\[k\] == object\.metadata\.name)/);
  });

  it('maps hosts and principals in every form', () => {
    const map = new NamespaceMap(RUN, new Set(['mesh']));
    expect(map.host('echo')).toBe('echo');
    expect(map.host('echo.mesh')).toBe('echo.mp-4f1c2a9e-mesh');
    expect(map.host('echo.mesh.svc.cluster.local')).toBe('echo.mp-4f1c2a9e-mesh.svc.cluster.local');
    expect(map.host('echo.other.svc.cluster.local')).toBe('echo.other.svc.cluster.local');
    expect(map.principal('cluster.local/ns/mesh/sa/*', 'cluster.local')).toBe('cluster.local/ns/mp-4f1c2a9e-mesh/sa/*');
    expect(map.principal('*', 'cluster.local')).toBe('*');
  });
});

describe('least privilege', () => {
  /** The grants a list of permissions asks for, keyed as rbac.ts grantsOf keys what a file grants. */
  const asked = (perms: (Permission & { namespace?: string })[]) =>
    grantsOf(perms.map((p) => ({ apiGroups: [p.group], resources: [`${p.resource}${p.subresource ? `/${p.subresource}` : ''}`], verbs: p.verbs, ...(p.names ? { resourceNames: p.names } : {}), ...(p.namespace || p.scope ? { namespace: p.namespace ?? 'istio-system' } : {}) })));

  it('deploy/rbac.yaml grants exactly what the preflight checks, names and namespaces included (M6, L2, L3)', () => {
    const granted = grantsOf(loadRoles('deploy/rbac.yaml'));
    expect(granted.sort()).toEqual(asked([...REQUIRED, ...POLICY_REPORT_PERMISSIONS]).sort());
    expect(granted.some((g) => g.includes('serviceaccounts/token') || g.includes('/*'))).toBe(false);
    // Secrets: create only (the run's own edge certificate); never get, list, watch or patch one.
    expect(granted.filter((g) => g.includes('/secrets'))).toEqual(['create core/secrets']);
    // Istio's namespace is read only there (M6); SelfSubjectAccessReviews are built in (L2); creates by name (L3).
    expect(granted.filter((g) => g.includes(' in istio-system')).sort()).toEqual(['get core/configmaps [istio] in istio-system', 'list apps/deployments in istio-system']);
    expect(granted.some((g) => g.includes('selfsubjectaccessreviews'))).toBe(false);
    // Creates by name: the run's PolicyReport meshproof and the sweep's meshproof-sweep (21-5), nothing else.
    expect(granted.filter((g) => g.startsWith('create ') && (g.includes('/configmaps') || g.includes('/policyreports')))).toEqual(['create core/configmaps [meshproof-agent]', 'create wgpolicyk8s.io/policyreports [meshproof,meshproof-sweep] in meshproof']);
  });

  it("K-H2: deploy/rbac.yaml installs the gateway's secrets ClusterRole (what Istio's gateway chart grants) and lets meshproof bind only it, never hold it", () => {
    const roles = clusterRolesOf(['deploy/rbac.yaml']);
    expect(grantsOf(roles.get('meshproof-gateway-secrets')!).sort()).toEqual(['get core/secrets', 'list core/secrets', 'watch core/secrets']);
    const granted = grantsOf(loadRoles('deploy/rbac.yaml'));
    expect(granted.filter((g) => g.includes('rbac.authorization.k8s.io')).sort()).toEqual([
      'bind rbac.authorization.k8s.io/clusterroles [meshproof-gateway-secrets]',
      'create rbac.authorization.k8s.io/rolebindings [ingressgateway-secrets]',
      'patch rbac.authorization.k8s.io/rolebindings [ingressgateway-secrets]',
    ]);
  });

  it('K-M8: deploy/rbac-chaos.yaml grants exactly the scale subresources the chaos suite uses, by name; istiod only in the Istio namespace', () => {
    const granted = grantsOf(loadRoles('deploy/rbac-chaos.yaml'));
    expect(granted.sort()).toEqual(asked(CHAOS_PERMISSIONS).sort());
    expect(granted.filter((g) => g.includes('[istiod]'))).toEqual(['get apps/deployments/scale [istiod] in istio-system', 'patch apps/deployments/scale [istiod] in istio-system']);
    expect(granted.every((g) => g.includes('['))).toBe(true);
  });

  it("K-M7: deploy/rbac-sweep.yaml grants exactly the sweep's read-only lists the preflight checks per namespace, and nodes apart", () => {
    const roles = clusterRolesOf(['deploy/rbac-sweep.yaml']);
    const bare = (perms: Permission[]) => asked(perms.map(({ scope: _s, ...p }) => p));
    expect(grantsOf(roles.get('meshproof-sweep')!).sort()).toEqual(bare(SWEEP_PERMISSIONS).sort());
    expect(grantsOf(roles.get('meshproof-sweep-nodes')!)).toEqual(bare(SWEEP_NODE_PERMISSIONS));
    expect(grantsOf(roles.get('meshproof-sweep-binder')!).sort()).toEqual(bare(SWEEP_BINDER_PERMISSIONS).sort());
    // The reads write nothing; the binder binds only the sweep role, by name.
    expect([...roles.get('meshproof-sweep')!, ...roles.get('meshproof-sweep-nodes')!].every((r) => r.verbs.every((v) => v === 'list' || (v === 'get' && r.resources.includes('pods/log'))))).toBe(true);
    expect(roles.get('meshproof-sweep-binder')!.every((r) => String(r.resourceNames) === 'meshproof-sweep')).toBe(true);
    // As shipped: meshproof-sweep by a RoleBinding (the root namespace's; one more per swept namespace); nodes and
    // the binder cluster-wide.
    expect(grantsOf(loadRoles('deploy/rbac-sweep.yaml')).filter((g) => !g.includes(' in istio-system')).sort()).toEqual(
      [...grantsOf(roles.get('meshproof-sweep-nodes')!), ...grantsOf(roles.get('meshproof-sweep-binder')!)].sort(),
    );
  });
});

describe('connecting', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-kube-'));
  const good = path.join(dir, 'good.yaml');
  writeFileSync(
    good,
    'apiVersion: v1\nkind: Config\nclusters: [{name: c1, cluster: {server: "https://127.0.0.1:6443"}}]\nusers: [{name: u1, user: {token: abc}}]\ncontexts: [{name: ctx1, context: {cluster: c1, user: u1}}]\ncurrent-context: ctx1\n',
  );
  it('loads a kubeconfig and picks a context', () => {
    const { kc } = loadKubeConfig({ kubeconfig: good, context: 'ctx1', env: {} });
    expect(kc.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
  });
  it.each([
    ['a missing file', { kubeconfig: path.join(dir, 'nope.yaml') }, /--kubeconfig .*nope\.yaml: no such file/],
    ['an unknown context', { kubeconfig: good, context: 'prod' }, /context prod is not in .*good\.yaml \(available: ctx1\)/],
    ['nothing to connect with', {}, /no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run inside a cluster/],
  ])('%s is a one-line ConfigError', (_n, o, re) => {
    const call = () => loadKubeConfig({ ...o, env: { HOME: dir } });
    expect(call).toThrow(ConfigError);
    expect(call).toThrow(re);
  });
  it('connects in kubectl\'s order: --kubeconfig, KUBECONFIG, ~/.kube/config, and only then in-cluster', () => {
    const home = mkdtempSync(path.join(tmpdir(), 'meshproof-home-'));
    mkdirSync(path.join(home, '.kube'));
    writeFileSync(path.join(home, '.kube', 'config'), readFileSync(good, 'utf8'));
    const inPod = { HOME: home, KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    expect(loadKubeConfig({ env: inPod }).source).toBe('~/.kube/config');
    expect(loadKubeConfig({ env: { ...inPod, KUBECONFIG: good } }).source).toBe(`KUBECONFIG=${good}`);
    expect(loadKubeConfig({ kubeconfig: good, env: { ...inPod, KUBECONFIG: path.join(dir, 'nope.yaml') } }).source).toBe(good);
  });

  it("K-L7: KUBECONFIG with several files merges them as kubectl does (a context in the second file; the first current-context and the first of a name win; a missing file skipped)", () => {
    const second = path.join(dir, 'second.yaml');
    writeFileSync(
      second,
      'apiVersion: v1\nkind: Config\nclusters: [{name: c1, cluster: {server: "https://127.0.0.2:6443"}}, {name: c2, cluster: {server: "https://127.0.0.3:6443"}}]\nusers: [{name: u2, user: {token: def}}]\ncontexts: [{name: ctx2, context: {cluster: c2, user: u2}}]\ncurrent-context: ctx2\n',
    );
    const list = [path.join(dir, 'missing.yaml'), good, second].join(path.delimiter);
    const { kc } = loadKubeConfig({ context: 'ctx2', env: { HOME: dir, KUBECONFIG: list } });
    expect(kc.getCurrentCluster()?.server).toBe('https://127.0.0.3:6443');
    const first = loadKubeConfig({ env: { HOME: dir, KUBECONFIG: list } }).kc;
    expect(first.getCurrentContext()).toBe('ctx1'); // the first file's current-context
    expect(first.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443'); // c1 from the first file, not the second's
    expect(() => loadKubeConfig({ env: { HOME: dir, KUBECONFIG: path.join(dir, 'missing.yaml') } })).toThrow(/no such file/);
  });

  it('a malformed kubeconfig is a ConfigError', () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'clusters: [unclosed\n');
    expect(() => loadKubeConfig({ kubeconfig: bad, env: {} })).toThrow(ConfigError);
  });
});
