// CUSTOM AuthorizationPolicy in the lab (audit I-M6): the sidecar asks a real loopback ext_authz server before
// RBAC, relays the provider's status and body on a denial and records it as `ext_authz_denied` (UAEX); a 200 from
// the provider lets the request on to RBAC. The lab refuses what it does not implement (gRPC providers, unknown
// providers, unknown fields).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXT_AUTHZ_DENIED_BODY } from '../cluster/lab/envoy/ext-authz.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { parseAccessLog } from '../harness/access-log.js';
import { ConfigError } from '../harness/errors.js';
import type { Manifest, Posture } from '../harness/posture/load.js';
import type { ProbeHandle } from '../harness/target.js';

const NS = 'shop';
const agent = { image: 'node:22-alpine', command: ['node', '/opt/meshproof/agent.mjs'] };
const MESH = 'extensionProviders:\n- name: authz-http\n  envoyExtAuthzHttp:\n    service: ext-authz.istio-system.svc.cluster.local\n    port: "8000"\n    includeRequestHeadersInCheck: ["x-ext-authz"]\n';

function deployment(name: string, args: string[], ports: { containerPort: number; name: string }[] = []): Manifest[] {
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: NS } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: NS },
      spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { serviceAccountName: name, containers: [{ name: 'app', ...agent, args, ...(ports.length ? { ports } : {}) }] } } },
    },
  ];
}

function posture(mesh = MESH, custom: Record<string, unknown> = { action: 'CUSTOM', provider: { name: 'authz-http' }, rules: [{}] }): Posture {
  const objects: Manifest[] = [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: 'istio-system' }, data: { mesh } },
    { apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'mesh-default', namespace: 'istio-system' }, spec: { accessLogging: [{ providers: [{ name: 'envoy' }] }] } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'istio-injection': 'enabled' } } },
    { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: NS }, spec: { mtls: { mode: 'STRICT' } } },
    ...deployment('guarded', ['echo', '--http-port', '8080', '--tcp-port', '9000'], [{ containerPort: 8080, name: 'http' }, { containerPort: 9000, name: 'tcp' }]),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'guarded', namespace: NS }, spec: { selector: { app: 'guarded' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }, { name: 'tcp', port: 9000, targetPort: 9000 }] } },
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'guarded-custom', namespace: NS }, spec: { selector: { matchLabels: { app: 'guarded' } }, ...custom } },
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'guarded-callers', namespace: NS }, spec: { selector: { matchLabels: { app: 'guarded' } }, action: 'ALLOW', rules: [{ from: [{ source: { principals: [`cluster.local/ns/${NS}/sa/caller`] } }] }] } },
    ...deployment('caller', ['probe', '--idle']),
    ...deployment('stranger', ['probe', '--idle']),
  ];
  return { origin: ['ext-authz test'], objects: objects.map((manifest, i) => ({ manifest, source: `test#${i}` })) };
}

describe('lab: CUSTOM (ext_authz) authorization', () => {
  const lab = new LabTarget();
  let caller: ProbeHandle;
  let stranger: ProbeHandle;
  beforeAll(async () => {
    await lab.apply(posture());
    caller = await lab.probe({ namespace: NS, name: 'caller' });
    stranger = await lab.probe({ namespace: NS, name: 'stranger' });
  });
  afterAll(() => lab.dispose());

  const call = async (from: ProbeHandle, headers: Record<string, string> = {}) => {
    const d = await lab.address({ namespace: NS, name: 'guarded' }, 8080, from);
    const since = new Date(Date.now() - 1000);
    const { observations } = await from.run([{ kind: 'http', id: 'x', dial: d.dial, authority: d.authority, timeoutMs: 3_000, headers }]);
    const [pod] = await lab.servicePods({ namespace: NS, name: 'guarded' });
    return { o: observations[0]!, records: async () => (await lab.accessLog(pod!, since)).map((l) => parseAccessLog(l)!) };
  };

  it('I-M6: the provider\'s own 403 and body reach the caller, recorded by the destination as ext_authz_denied (UAEX), before RBAC', async () => {
    // The granted caller without the provider's header: CUSTOM runs first, so RBAC's ALLOW never gets a say.
    const { o, records } = await call(caller);
    expect(o.http?.status).toBe(403);
    expect(o.http?.body).toBe(EXT_AUTHZ_DENIED_BODY);
    expect(o.http?.echo).toBeUndefined();
    expect(await records()).toContainEqual(expect.objectContaining({ responseCode: 403, responseFlags: 'UAEX', responseCodeDetails: 'ext_authz_denied' }));
  });

  it('I-M6: a 200 from the provider lets the request on: the granted caller reaches the app, a stranger is then denied by RBAC', async () => {
    const ok = await call(caller, { 'x-ext-authz': 'allow' });
    expect(ok.o.http?.status).toBe(200);
    expect(ok.o.http?.echo?.nonce).toBe(ok.o.nonce);
    const denied = await call(stranger, { 'x-ext-authz': 'allow' });
    expect(denied.o.http?.status).toBe(403);
    expect(denied.o.http?.body).toBe('RBAC: access denied');
    expect(await denied.records()).toContainEqual(expect.objectContaining({ responseCode: 403, responseCodeDetails: expect.stringMatching(/^rbac_access_denied_matched_policy\[none\]$/) }));
  });

  it('refuses CUSTOM policies it cannot run: an unknown provider, a gRPC provider, a provider field on ALLOW, AUDIT', () => {
    const build = (mesh: string, custom?: Record<string, unknown>) => new LabTarget().apply(posture(mesh, custom));
    return Promise.all([
      expect(build('extensionProviders: []\n')).rejects.toThrow(/provider authz-http is not an envoyExtAuthzHttp extensionProvider/),
      expect(build('extensionProviders:\n- name: authz-http\n  envoyExtAuthzGrpc:\n    service: x\n    port: 9000\n')).rejects.toThrow(/envoyExtAuthzGrpc: not implemented by the lab/),
      expect(build(MESH, { action: 'ALLOW', provider: { name: 'authz-http' }, rules: [{}] })).rejects.toThrow(/provider is for the CUSTOM action only/),
      expect(build(MESH, { action: 'AUDIT', rules: [{}] })).rejects.toThrow(ConfigError),
      expect(build(MESH.replace('includeRequestHeadersInCheck', 'headersToUpstreamOnAllow'))).rejects.toThrow(/headersToUpstreamOnAllow: not implemented by the lab/),
    ]);
  });
});
