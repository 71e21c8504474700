// Issue 21 item 7: each check's "at fault" names the object the weakened posture changes, read from the posture
// snapshot by the Istio model; where nothing in the posture decides, it says what does and invents nothing.
import { describe, expect, it } from 'vitest';
import { AppliedPosture } from '../cluster/lab/lab-posture.js';
import { PodTable } from '../cluster/lab/lab-pod.js';
import { buildModel, loggingFor } from '../cluster/lab/model.js';
import { outboundTrafficPolicy, type SidecarObject } from '../harness/istio/sidecar-scope.js';
import { logSetup } from '../harness/mesh-logging.js';
import { loadPosture } from '../harness/posture/load.js';
import { PostureView } from '../harness/posture/view.js';
import { loggingOffAtFault } from '../suites/audit/at-fault.js';
import { edgeBackendAtFault, edgeCertAtFault, edgePlaintextAtFault, edgeTlsAtFault, egressAtFault } from '../suites/boundary/at-fault.js';
import type { EdgeTarget } from '../suites/boundary/shared.js';
import { expiredAtFault, foreignCaAtFault, injectionAtFault, lifetimeAtFault, outageAtFault, rootAtFault, rotationAtFault } from '../suites/certificates/at-fault.js';

const view = (...overlays: string[]) => new PostureView(loadPosture('fixtures/secure', overlays));
const weakened = (name: string) => view(`fixtures/weakened/${name}`);
const AUTHORIZED = { namespace: 'mesh', name: 'authorized' };
const postureEdge = (v: PostureView): EdgeTarget => ({ ...v.edge()!, kind: 'posture' });

describe('issue 21 item 7: harness/istio/sidecar-scope.ts, the outbound traffic policy in force (push_context.go, sidecar.go)', () => {
  const sc = (namespace: string, name: string, extra: Partial<SidecarObject> = {}): SidecarObject => ({ namespace, name, ...extra });
  const w = { namespace: 'mesh', labels: { app: 'authorized' } };
  it("the namespace's own Sidecar wins over the root namespace's; a matching workloadSelector over both", () => {
    const all = [sc('istio-system', 'root', { outboundMode: 'REGISTRY_ONLY' }), sc('mesh', 'ns', { outboundMode: 'ALLOW_ANY' }), sc('mesh', 'pod', { workloadSelector: { app: 'authorized' }, outboundMode: 'REGISTRY_ONLY' })];
    expect(outboundTrafficPolicy(all, {}, 'istio-system', w)).toMatchObject({ mode: 'REGISTRY_ONLY', setBy: 'Sidecar mesh/pod outboundTrafficPolicy.mode' });
    expect(outboundTrafficPolicy(all, {}, 'istio-system', { namespace: 'mesh', labels: { app: 'other' } })).toMatchObject({ mode: 'ALLOW_ANY', setBy: 'Sidecar mesh/ns outboundTrafficPolicy.mode' });
    expect(outboundTrafficPolicy(all, {}, 'istio-system', { namespace: 'bare', labels: {} })).toMatchObject({ mode: 'REGISTRY_ONLY', setBy: 'Sidecar istio-system/root outboundTrafficPolicy.mode' });
  });
  it('a Sidecar without a policy inherits meshConfig.outboundTrafficPolicy; with neither, ALLOW_ANY', () => {
    expect(outboundTrafficPolicy([sc('mesh', 'ns')], { outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } }, 'istio-system', w)).toMatchObject({ mode: 'REGISTRY_ONLY', setBy: expect.stringMatching(/^Sidecar mesh\/ns sets no outboundTrafficPolicy, so meshConfig/) });
    expect(outboundTrafficPolicy([], {}, 'istio-system', w)).toMatchObject({ mode: 'ALLOW_ANY', setBy: expect.stringMatching(/^no Sidecar in mesh or istio-system, so Istio's default/) });
  });
  it('the root namespace Sidecar with a workloadSelector is not the mesh default (initSidecarScopes)', () => {
    expect(outboundTrafficPolicy([sc('istio-system', 'sel', { workloadSelector: { app: 'x' }, outboundMode: 'REGISTRY_ONLY' })], {}, 'istio-system', w).mode).toBe('ALLOW_ANY');
  });
  it('the lab follows the same rule: a Sidecar without a policy takes the mesh config\'s REGISTRY_ONLY, else ALLOW_ANY', () => {
    const lab = (o: string) => new AppliedPosture(loadPosture('fixtures/secure', [o]), new PodTable());
    expect(lab('test/fixtures/egress-mesh-registry-only.yaml').outboundPolicy('mesh')).toBe('REGISTRY_ONLY');
    expect(lab('test/fixtures/egress-sidecar-no-policy.yaml').outboundPolicy('mesh')).toBe('ALLOW_ANY');
  });
});

describe('issue 21 item 7: at fault, per check, against the weakened postures', () => {
  it('EGRESS-001 / egress-allow-any.yaml: the Sidecar mesh/default and its ALLOW_ANY', () => {
    const f = egressAtFault(weakened('egress-allow-any.yaml'), AUTHORIZED, 9000, 'tcp', { ip: '127.0.0.9' });
    expect(f.object).toMatch(/^Sidecar mesh\/default outboundTrafficPolicy\.mode = ALLOW_ANY/);
    expect(f.remedy).toMatch(/REGISTRY_ONLY in Sidecar mesh\/default/);
  });
  it('EGRESS-001 / egress-wildcard-serviceentry.yaml: the ServiceEntry whose 0.0.0.0/0 registers the destination', () => {
    const f = egressAtFault(weakened('egress-wildcard-serviceentry.yaml'), AUTHORIZED, 9000, 'tcp', { ip: '127.0.0.9' });
    expect(f.object).toMatch(/^ServiceEntry mesh\/any-external \(hosts any\.external\.test; addresses 0\.0\.0\.0\/0; port 9000\/TCP\)/);
    expect(f.object).not.toMatch(/allowed-external/);
    expect(f.remedy).toMatch(/mesh\/any-external/);
  });
  it('EGRESS-001 on the secure posture: REGISTRY_ONLY and nothing registers it, so the policy is named as right', () => {
    expect(egressAtFault(view(), AUTHORIZED, 9000, 'tcp', { ip: '127.0.0.9' }).object).toMatch(/REGISTRY_ONLY .*the policy is right, the sidecar did not enforce it/);
  });
  it('EGRESS-001 with the mesh config deciding: meshConfig.outboundTrafficPolicy is named', () => {
    const f = egressAtFault(view('test/fixtures/egress-sidecar-no-policy.yaml'), AUTHORIZED, 8080, 'http', { authority: '127.0.0.9:8080' });
    expect(f.object).toMatch(/Sidecar mesh\/default sets no outboundTrafficPolicy, so Istio's default .*= ALLOW_ANY/);
  });

  it('AUDIT-001 / logging-off-mesh.yaml: the Telemetry mesh/no-access-logs, from istiod\'s resolution', () => {
    const posture = loadPosture('fixtures/secure', ['fixtures/weakened/logging-off-mesh.yaml']);
    const model = buildModel(posture);
    const echo = model.deployments.find((d) => d.namespace === 'mesh' && d.name === 'echo')!;
    const setup = logSetup(loggingFor(model, echo), 'server');
    expect(setup.mode).toBe('off');
    const f = loggingOffAtFault([{ pod: { namespace: 'mesh', name: 'echo-0', workload: 'echo' }, setup }])!;
    expect(f.object).toMatch(/^Telemetry mesh\/no-access-logs spec\.accessLogging/);
    expect(f.remedy).toMatch(/remove disabled: true .*Telemetry mesh\/no-access-logs/);
  });

  it('EDGE-001 / edge-no-redirect.yaml: the Gateway edge/edge-gateway HTTP server without tls.httpsRedirect', () => {
    const v = weakened('edge-no-redirect.yaml');
    const f = edgePlaintextAtFault(v, postureEdge(v));
    expect(f.object).toBe('Gateway edge/edge-gateway servers[1] (HTTP port 80, hosts edge.meshproof.test) tls.httpsRedirect = unset (false)');
    expect(f.remedy).toMatch(/servers\[1\]\.tls\.httpsRedirect: true/);
  });
  it('EDGE-002 / edge-tls-legacy.yaml: the HTTPS server\'s minProtocolVersion TLSV1_0 and its suites', () => {
    const v = weakened('edge-tls-legacy.yaml');
    const f = edgeTlsAtFault(v, postureEdge(v));
    expect(f.object).toMatch(/^Gateway edge\/edge-gateway servers\[0\] \(HTTPS port 443\) tls\.minProtocolVersion = TLSV1_0, tls\.cipherSuites = .*AES128-SHA/);
  });
  it.each([
    ['edge-cert-incomplete-chain.yaml', ['the certificates the edge sends do not lead to a trust anchor'], /every intermediate in tls\.crt/],
    ['edge-cert-expiring.yaml', ['the leaf expires in 9 day(s) (…), inside the 30-day horizon'], /renew it/],
  ])('EDGE-003 / %s: the Secret edge/edge-cert the Gateway names', (overlay, problems, fix) => {
    const v = weakened(overlay);
    const f = edgeCertAtFault(v, postureEdge(v), problems);
    expect(f.object).toBe('Secret edge/edge-cert (tls.crt), served by Gateway edge/edge-gateway tls.credentialName for edge.meshproof.test');
    expect(f.remedy).toMatch(fix);
  });
  it('EDGE-004 / edge-backend-outside-mesh.yaml: the VirtualService routing to outside/legacy, a namespace without injection', () => {
    const v = weakened('edge-backend-outside-mesh.yaml');
    const f = edgeBackendAtFault(v, postureEdge(v));
    expect(f.object).toBe('VirtualService edge/edge-echo routes edge.meshproof.test to legacy.outside.svc.cluster.local, whose namespace outside is not labelled for sidecar injection');
  });
  it('EDGE-001..003 on a user\'s edge (--edge): the Gateway is not in the posture and is not invented', () => {
    const user: EdgeTarget = { service: { namespace: 'prod', name: 'gw' }, host: 'shop.example', httpsPort: 443, kind: 'user' };
    for (const f of [edgePlaintextAtFault(view(), user), edgeTlsAtFault(view(), user), edgeCertAtFault(view(), user, ['x'])]) expect(f.object).toMatch(/prod\/gw given with --edge \(its Gateway .*not in the posture\)/);
  });

  it('CERT-001 / workload-cert-90d.yaml: the Deployment mesh/echo\'s SECRET_TTL 2160h', () => {
    const f = lifetimeAtFault(weakened('workload-cert-90d.yaml'), { namespace: 'mesh', name: 'echo' }, 24);
    expect(f.object).toBe('Deployment mesh/echo spec.template.metadata.annotations["proxy.istio.io/config"] proxyMetadata.SECRET_TTL = 2160h');
    expect(f.remedy).toMatch(/at most 24h/);
    expect(lifetimeAtFault(view(), { namespace: 'mesh', name: 'authorized' }, 24).object).toMatch(/^no SECRET_TTL on Deployment mesh\/authorized: .*istiod .*not in the posture/);
  });
  it.each([
    ['lab-no-rotation.yaml', (v: PostureView) => rotationAtFault(v, 'mesh/rotating-0'), 'disableRotation', /istiod/],
    ['lab-accept-untrusted-chain.yaml', (v: PostureView) => foreignCaAtFault(v, 'mesh/echo-0'), 'acceptUntrustedChain', /trust anchors/],
    ['lab-allow-expired.yaml', (v: PostureView) => expiredAtFault(v, 'mesh/echo-0'), 'allowExpiredCertificate', /allow_expired_certificate/],
    ['lab-short-root.yaml', (v: PostureView) => rootAtFault(v, 90), 'rootCertTtl', /mesh root CA/],
    ['lab-injection-fail-open.yaml', (v: PostureView) => injectionAtFault(v), 'injectionFailOpen', /failurePolicy/],
    ['lab-plaintext-on-cp-outage.yaml', (v: PostureView) => outageAtFault(v), 'plaintextOnControlPlaneOutage', /istiod was down/],
  ])('%s: the LabFault is named as a lab-only fault, with what decides on a cluster', (overlay, fn, field, real) => {
    const f = fn(weakened(overlay));
    expect(f.object).toMatch(new RegExp(`^LabFault istio-system/\\S+ spec\\.${field} = `));
    expect(f.object).toMatch(/a lab-only fault; on a cluster: /);
    expect(f.object).toMatch(real);
    // Without the fault, the real decider alone, outside the posture.
    const plain = fn(view());
    expect(plain.object).not.toMatch(/LabFault/);
    expect(plain.object).toMatch(/not in the posture|no posture object/);
  });
});

describe('issue 21 item 7: MTLS-003', () => {
  it('mesh-wide-permissive.yaml: the root namespace PeerAuthentication istio-system/default and its PERMISSIVE', async () => {
    const { plaintextAtFault } = await import('../suites/mtls/shared.js');
    const v = weakened('mesh-wide-permissive.yaml');
    const bare = v.services('bare')[0]!;
    const f = plaintextAtFault(v, bare, bare.ports.find((p) => p.protocol === 'http')!.port)!;
    expect(f.object).toMatch(/^PeerAuthentication istio-system\/default .*sets PERMISSIVE on container port \d+ of bare\//);
    expect(f.remedy).toMatch(/STRICT/);
  });
});
