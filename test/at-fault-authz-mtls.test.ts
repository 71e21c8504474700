// Issue 21 item 7: a failed case names the posture object at fault and the fix. What each check's plan names is
// decided from the snapshot by the Istio model (PeerAuthentication composition, AuthorizationPolicy judgement); here
// each weakened posture must make the plan name exactly the object the posture weakens.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LabTarget } from '../cluster/lab/lab-target.js';
import type { AtFault, CheckContext } from '../harness/check.js';
import { loadPosture, type Manifest } from '../harness/posture/load.js';
import { PostureView } from '../harness/posture/view.js';
import { DEFAULT_SETTINGS } from '../harness/check.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { ALL_CHECKS } from '../suites/index.js';
import { authzAtFault } from '../suites/authz/shared.js';
import { spiffeId } from '../harness/pki.js';
import type { Target } from '../harness/target.js';

/** The at-fault statements a check's plan makes on a posture (a plan reads the posture only; the lab is not started). */
async function planned(checkId: string, overlay?: string): Promise<AtFault[]> {
  const check = ALL_CHECKS.find((c) => c.id === checkId)!;
  const view = new PostureView(loadPosture('fixtures/secure', overlay ? [overlay.includes('/') ? overlay : `fixtures/weakened/${overlay}`] : []));
  const ctx = { view, target: new LabTarget(), timeouts: LAB_TIMEOUTS, settings: DEFAULT_SETTINGS } as CheckContext;
  const plan = await check.plan!(ctx);
  if ('notApplicable' in plan) throw new Error(`${checkId} not applicable: ${plan.notApplicable}`);
  return plan.cases.map((c) => c.atFault).filter((x): x is AtFault => x !== undefined);
}

describe('what a failed case says is at fault (issue 21 item 7)', () => {
  it.each([
    ['MTLS-001', 'permissive-mtls.yaml', /^PeerAuthentication mesh\/default sets PERMISSIVE on container port 8080 of mesh\/echo/, /set spec\.mtls\.mode to STRICT .* in PeerAuthentication mesh\/default/],
    ['MTLS-002', 'port-level-disable.yaml', /^PeerAuthentication mesh\/echo-tcp-disable portLevelMtls 9000 sets DISABLE on container port 9000/, /set portLevelMtls\[9000\]\.mode to STRICT/],
    ['MTLS-002', 'mesh-wide-permissive.yaml', /^PeerAuthentication istio-system\/default sets PERMISSIVE/, /spec\.mtls\.mode to STRICT .* in PeerAuthentication istio-system\/default/],
    ['AUTHZ-001', 'allow-all.yaml', /^AuthorizationPolicy istio-system\/allow-nothing rules\[0\] grants GET \/ from cluster\.local\/ns\/mesh\/sa\/unauthorized to mesh\/echo port 8080/, /narrow rules\[0\]/],
    ['AUTHZ-001', 'no-allow-policy.yaml', /^no ALLOW AuthorizationPolicy selects mesh\/echo .*Istio allows GET \//, /apply an ALLOW policy in mesh/],
    ['AUTHZ-003', 'allow-all.yaml', /grants a TCP connection from cluster\.local\/ns\/mesh\/sa\/unauthorized to mesh\/echo port 9000/, /narrow/],
    ['AUTHZ-005', 'deny-principal-permissive.yaml', /^PeerAuthentication mesh\/default sets PERMISSIVE .*; and .*in plaintext \(no principal\)/, /STRICT/],
    ['AUTHZ-005', 'allow-notnamespaces-permissive.yaml', /PERMISSIVE.*; and AuthorizationPolicy mesh\/echo-allow rules\[\d\] grants GET \/ from outside\/outside in plaintext/, /narrow/],
  ])('%s under %s names the weakened object', async (id, overlay, object, remedy) => {
    const faults = await planned(id, overlay);
    expect(faults.some((f) => object.test(f.object) && remedy.test(f.remedy)), JSON.stringify(faults, null, 1)).toBe(true);
  });

  it('R4-L3: a Deployment that opts out of injection is named as at fault, not istiod', async () => {
    const posture = loadPosture('fixtures/secure');
    const echo = posture.objects.find((o) => o.manifest.kind === 'Deployment' && o.manifest.metadata.namespace === 'mesh' && o.manifest.metadata.name === 'echo')!;
    const tmpl = (echo.manifest.spec as { template: { metadata: { labels: Record<string, string> } } }).template;
    tmpl.metadata.labels = { ...tmpl.metadata.labels, 'sidecar.istio.io/inject': 'false' };
    const ctx = { view: new PostureView(posture), target: new LabTarget(), timeouts: LAB_TIMEOUTS, settings: DEFAULT_SETTINGS } as CheckContext;
    const plan = await ALL_CHECKS.find((c) => c.id === 'MTLS-001')!.plan!(ctx);
    const f = 'cases' in plan ? plan.cases[0]!.atFault! : undefined;
    expect(f?.object).toMatch(/^Deployment mesh\/echo opts out of injection/);
    expect(f?.remedy).toMatch(/remove the sidecar\.istio\.io\/inject: "false"/);
  });

  it('on the secure posture the same plans say the policy is right and the mesh did not enforce it', async () => {
    for (const id of ['MTLS-001', 'AUTHZ-001', 'AUTHZ-003']) {
      const faults = await planned(id);
      expect(faults.length, id).toBeGreaterThan(0);
      for (const f of faults) expect(f.object, id).toMatch(/the policy is right, the mesh did not enforce it/);
    }
  });

  it('R4-H2: on a mesh whose trust domain is example.org, the secure posture\'s cluster.local grant is judged as istiod migrates it', () => {
    // authzAtFault takes the trust domain from the target's identities; istiod rewrites the policy's
    // cluster.local/ns/mesh/sa/authorized to example.org/… (builder.go `New`, MigrateTrustDomain).
    const view = new PostureView(loadPosture('fixtures/secure'));
    const lab = new LabTarget();
    const target = { identity: (ns: string, sa: string) => spiffeId('example.org', ns, sa) } as unknown as Target;
    const fault = authzAtFault(view, target, { from: { namespace: 'mesh', name: 'authorized' }, to: { namespace: 'mesh', name: 'echo' }, port: 8080, http: true });
    expect(fault?.object).toMatch(/^AuthorizationPolicy mesh\/echo-allow rules\[\d\] grants GET \/ from example\.org\/ns\/mesh\/sa\/authorized/);
    // The same request on cluster.local (the lab) is granted too; an example.org principal is never cluster.local's.
    expect(authzAtFault(view, lab, { from: { namespace: 'mesh', name: 'authorized' }, to: { namespace: 'mesh', name: 'echo' }, port: 8080, http: true })?.object).toMatch(/^AuthorizationPolicy mesh\/echo-allow/);
  });

  describe('R4 M-3: every Deployment behind the Service, and the mesh config\'s root namespace', () => {
    /** The secure posture with mesh/echo split into echo-v1 (selected by echo-allow) and a canary echo-v2. */
    const canary = (opts: { allowNothing: boolean; rootNamespace?: string }) => {
      const base = loadPosture('fixtures/secure');
      const objects = base.objects
        .filter((o) => opts.allowNothing || !(o.manifest.kind === 'AuthorizationPolicy' && o.manifest.metadata.name === 'allow-nothing'))
        .flatMap((o) => {
          const m = structuredClone(o.manifest) as Manifest & { spec: { template: { metadata: { labels: Record<string, string> } }; selector: { matchLabels: Record<string, string> } } };
          if (m.kind === 'AuthorizationPolicy' && m.metadata.name === 'echo-allow') m.spec.selector.matchLabels = { app: 'echo', version: 'v1' };
          if (m.kind !== 'Deployment' || m.metadata.namespace !== 'mesh' || m.metadata.name !== 'echo') return [{ ...o, manifest: m }];
          const v2 = structuredClone(m);
          m.metadata.name = 'echo-v1';
          m.spec.template.metadata.labels = { app: 'echo', version: 'v1' };
          v2.metadata.name = 'echo-v2';
          v2.spec.template.metadata.labels = { app: 'echo', version: 'v2' };
          return [{ ...o, manifest: m }, { ...o, manifest: v2 }];
        });
      const mesh = opts.rootNamespace ? [{ source: 'test: mesh config', manifest: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: 'istio-system' }, data: { mesh: `rootNamespace: ${opts.rootNamespace}\n` } } as Manifest }] : [];
      return new PostureView({ ...base, objects: [...objects, ...mesh] });
    };
    const attack = { from: { namespace: 'mesh', name: 'unauthorized' }, to: { namespace: 'mesh', name: 'echo' }, port: 8080, http: true };

    it('R4-M3: a Service over two Deployments names the one the policy does not select', () => {
      const f = authzAtFault(canary({ allowNothing: false }), new LabTarget(), attack);
      expect(f?.object).toMatch(/^no ALLOW AuthorizationPolicy selects mesh\/echo-v2 \(/);
      expect(f?.object).not.toMatch(/did not enforce/);
    });

    it('R4-M3: "the mesh did not enforce it" only when every Deployment behind the Service is denied', () => {
      const f = authzAtFault(canary({ allowNothing: true }), new LabTarget(), attack);
      expect(f?.object).toMatch(/to mesh\/echo-v1, mesh\/echo-v2 port 8080 is denied .*the mesh did not enforce it/);
    });

    it('R4-M3: the root namespace is the mesh config\'s rootNamespace: istio-system policies are not mesh-wide under mesh-root', () => {
      const f = authzAtFault(canary({ allowNothing: true, rootNamespace: 'mesh-root' }), new LabTarget(), attack);
      expect(f?.object).toMatch(/^no ALLOW AuthorizationPolicy selects mesh\/echo-v2 \(neither in mesh nor mesh-wide in mesh-root\)/);
    });
  });

  const overlayFile = (name: string, lines: string[]) => {
    const f = join(mkdtempSync(join(tmpdir(), 'r4-')), name);
    writeFileSync(f, [...lines, ''].join('\n'));
    return f;
  };

  it('R4-L1: two ALLOW policies granting the attack are both named, in Envoy\'s order, in the object and the remedy', async () => {
    const zzz = overlayFile('zzz.yaml', ['apiVersion: security.istio.io/v1', 'kind: AuthorizationPolicy', 'metadata: { name: zzz, namespace: mesh }', 'spec:', '  rules:', '    - {}']);
    const check = ALL_CHECKS.find((c) => c.id === 'AUTHZ-001')!;
    const view = new PostureView(loadPosture('fixtures/secure', ['fixtures/weakened/allow-all.yaml', zzz]));
    const plan = await check.plan!({ view, target: new LabTarget(), timeouts: LAB_TIMEOUTS, settings: DEFAULT_SETTINGS } as CheckContext);
    if ('notApplicable' in plan) throw new Error(plan.notApplicable);
    const f = plan.cases.map((c) => c.atFault).find((x) => x !== undefined)!;
    expect(f.object).toMatch(/^AuthorizationPolicy istio-system\/allow-nothing rules\[0\] grants GET \/ .*\(and so do AuthorizationPolicy mesh\/zzz rules\[0\]\)/);
    expect(f.remedy).toMatch(/^narrow rules\[0\] of AuthorizationPolicy istio-system\/allow-nothing, rules\[0\] of AuthorizationPolicy mesh\/zzz /);
  });

  it('R4-L2: when a CUSTOM policy asks its provider about the attack, the object says the provider decides', async () => {
    const ext = overlayFile('ext.yaml', ['apiVersion: security.istio.io/v1', 'kind: AuthorizationPolicy', 'metadata: { name: ext, namespace: mesh }', 'spec:', '  selector: { matchLabels: { app: echo } }', '  action: CUSTOM', '  provider: { name: opa }', '  rules:', '    - to: [{ operation: { paths: ["/*"] } }]']);
    const check = ALL_CHECKS.find((c) => c.id === 'AUTHZ-001')!;
    const view = new PostureView(loadPosture('fixtures/secure', ['fixtures/weakened/allow-all.yaml', ext]));
    const plan = await check.plan!({ view, target: new LabTarget(), timeouts: LAB_TIMEOUTS, settings: DEFAULT_SETTINGS } as CheckContext);
    if ('notApplicable' in plan) throw new Error(plan.notApplicable);
    const f = plan.cases.map((c) => c.atFault).find((x) => x !== undefined)!;
    expect(f.object).toMatch(/^AuthorizationPolicy istio-system\/allow-nothing rules\[0\] grants GET \/ .*; the ext_authz provider opa is asked too \(CUSTOM ns\[mesh\]-policy\[ext\]-rule\[0\]\): the provider decides$/);
  });

  it('R4-H1: an ALLOW granting by hosts is named with the Host the attack sends, not "the mesh did not enforce it"', async () => {
    const overlay = join(mkdtempSync(join(tmpdir(), 'r4h1-')), 'allow-by-host.yaml');
    writeFileSync(
      overlay,
      ['apiVersion: security.istio.io/v1', 'kind: AuthorizationPolicy', 'metadata: { name: echo-by-host, namespace: mesh }', 'spec:', '  selector: { matchLabels: { app: echo } }', '  rules:', '    - to: [{ operation: { hosts: ["echo.mesh.svc.cluster.local*"] } }]', ''].join('\n'),
    );
    const faults = await planned('AUTHZ-001', overlay);
    expect(faults.some((f) => /^AuthorizationPolicy mesh\/echo-by-host rules\[0\] grants GET \/ from cluster\.local\/ns\/mesh\/sa\/unauthorized/.test(f.object)), JSON.stringify(faults, null, 1)).toBe(true);
    expect(faults.some((f) => /did not enforce/.test(f.object))).toBe(false);
  });
});
