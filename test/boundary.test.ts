// The mesh boundary (issue 12): the lab's ingress gateway and egress lock behave as Envoy and Istio do (real TLS
// alerts, a 301 to https, XFCC with the gateway's identity, block_all and BlackHoleCluster with their records), the
// classifiers' tables, the chain judgement, the user's own edge (`--edge`, from a probe pod and from the runner),
// and the refusals (Gateway API, a Secret with data, bad --edge flags).
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Attack, Observation } from '../agent/protocol.js';
import { parseEdge } from '../cli/edge.js';
import { tlsParameters } from '../cluster/lab/envoy/gateway.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { renderForCluster } from '../cluster/kube/render.js';
import { parseAccessLog } from '../harness/access-log.js';
import { type Check, DEFAULT_SETTINGS } from '../harness/check.js';
import { egressBlocked, legacyTlsRefused, plaintextNotServed } from '../harness/classify.js';
import { ConfigError } from '../harness/errors.js';
import { EdgeAuthority } from '../harness/pki.js';
import { loadPosture, parseManifests } from '../harness/posture/load.js';
import { RunSession } from '../harness/run.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { judgeChain } from '../suites/boundary/edge-cert.js';
import { WEAK_SUITES } from '../suites/boundary/edge-tls.js';
import { SUITES } from '../suites/index.js';
import { failed, httpAnswer, obs } from './support/observations.js';

const GW = { namespace: 'edge', name: 'ingressgateway' };
const HOST = 'edge.meshproof.test';
const OUT = { namespace: 'outside', name: 'outside' };
const AUTH = { namespace: 'mesh', name: 'authorized' };

/** Checks run on the already-applied lab (conformanceRun would apply the posture again). */
async function runOn(lab: LabTarget, checks: Check[], settings = DEFAULT_SETTINGS) {
  const s = new RunSession({ target: lab, posture: loadPosture('fixtures/secure'), timeouts: LAB_TIMEOUTS, settings });
  for (const c of checks) await s.check(c);
  return s.finish();
}

const tlsTo = (dial: string, id: string, extra: Partial<Extract<Attack, { kind: 'tls' }>> = {}): Attack => ({ kind: 'tls', id, dial, servername: HOST, authority: HOST, alpn: ['http/1.1'], timeoutMs: 3_000, ...extra });

describe('the lab edge and egress lock, on the wire', () => {
  const lab = new LabTarget();
  beforeAll(async () => {
    await lab.apply(loadPosture('fixtures/secure'));
  });
  afterAll(() => lab.dispose());

  it('the gateway refuses TLS 1.0/1.1 with protocol_version and weak suites with handshake_failure; TLS 1.2 and 1.3 reach echo with the host certificate', async () => {
    const out = await lab.probe(OUT);
    const d = (await lab.address(GW, 443, out)).dial;
    const { observations: o } = await out.run([
      tlsTo(d, 'tls10', { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: WEAK_SUITES }),
      tlsTo(d, 'tls11', { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: WEAK_SUITES }),
      tlsTo(d, 'weak', { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: WEAK_SUITES }),
      tlsTo(d, 'tls12', { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', capturePeer: true }),
      tlsTo(d, 'tls13', { minVersion: 'TLSv1.3', capturePeer: true }),
      tlsTo(d, 'other-sni', { servername: 'other.example' }),
    ]);
    expect(o.map((x) => x.failure?.class)).toEqual(['tls-alert:protocol_version', 'tls-alert:protocol_version', 'tls-alert:handshake_failure', undefined, undefined, expect.stringMatching(/^(eof|reset|tls-alert:.*)$/)]);
    expect(o[3]!.tls).toMatchObject({ handshake: true, protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    expect(o[4]!.tls).toMatchObject({ handshake: true, protocol: 'TLSv1.3' });
    for (const x of [o[3]!, o[4]!]) {
      expect(x.http?.echo?.nonce).toBe(x.nonce);
      expect(x.tls?.peerChainPem).toHaveLength(2); // leaf and intermediate, as the Secret holds them
    }
    expect(o[5]!.tls?.handshake).toBe(false);
  });

  it('plaintext on port 80 gets a 301 to the same host and path over https; the request never reaches echo', async () => {
    const out = await lab.probe(OUT);
    const d = (await lab.address(GW, 80, out)).dial;
    const { observations: [o] } = await out.run([{ kind: 'http', id: 'p', dial: d, authority: HOST, path: '/x', timeoutMs: 3_000 }]);
    expect(o!.http?.status).toBe(301);
    expect(o!.http?.headers.location).toMatch(new RegExp(`^https://${HOST}/x\\?nonce=`));
    expect(o!.http?.echo).toBeUndefined();
  });

  it('I-L4: the redirect keeps a non-default port and drops :80, as Envoy does', async () => {
    const out = await lab.probe(OUT);
    const d = (await lab.address(GW, 80, out)).dial;
    const { observations: o } = await out.run([
      { kind: 'http', id: 'p8080', dial: d, authority: `${HOST}:8080`, path: '/x', timeoutMs: 3_000 },
      { kind: 'http', id: 'p80', dial: d, authority: `${HOST}:80`, path: '/x', timeoutMs: 3_000 },
    ]);
    expect(o[0]!.http?.headers.location).toMatch(new RegExp(`^https://${HOST}:8080/x`));
    expect(o[1]!.http?.headers.location).toMatch(new RegExp(`^https://${HOST}/x`));
  });

  it("echo sees the gateway's SPIFFE ID as the last XFCC URI: the gateway originates mTLS with its own identity", async () => {
    const out = await lab.probe(OUT);
    const d = (await lab.address(GW, 443, out)).dial;
    const { observations: [o] } = await out.run([tlsTo(d, 'through', { path: '/' })]);
    expect(String(o!.http?.echo?.headers['x-forwarded-client-cert'])).toMatch(/;URI=spiffe:\/\/cluster\.local\/ns\/edge\/sa\/ingressgateway$/);
    expect(o!.http?.echo?.headers['x-forwarded-proto']).toBe('https');
  });

  it('REGISTRY_ONLY: HTTP to an unregistered address gets 502 with no body on route block_all, TCP is closed via BlackHoleCluster, both recorded by the client', async () => {
    const auth = await lab.probe(AUTH);
    const since = new Date(Date.now() - 1_000);
    const h = await lab.external({ namespace: 'outside', name: 'ext-blocked' }, 8080, auth);
    const t = await lab.external({ namespace: 'outside', name: 'ext-blocked' }, 9000, auth);
    const ok = await lab.external({ namespace: 'outside', name: 'ext-allowed' }, 8080, auth);
    const { observations: o } = await auth.run([
      { kind: 'http', id: 'h', dial: h.dial, authority: h.authority, timeoutMs: 3_000 },
      { kind: 'tcp', id: 't', dial: t.dial, timeoutMs: 3_000 },
      { kind: 'http', id: 'ok', dial: ok.dial, authority: ok.authority, timeoutMs: 3_000 },
    ]);
    expect(o[0]!.http).toMatchObject({ status: 502, body: '' });
    expect(o[1]!.failure?.class).toMatch(/^(eof|reset)$/);
    expect(o[2]!.http?.echo?.pod).toBe('ext-allowed-0');
    await new Promise((r) => setTimeout(r, 100));
    const records = (await lab.accessLog(auth.pod, since)).map(parseAccessLog);
    expect(records.find((r) => r?.downstreamRemoteAddress === o[0]!.localAddress)).toMatchObject({ responseCode: 502, responseCodeDetails: 'direct_response', routeName: 'block_all' });
    expect(records.find((r) => r?.downstreamRemoteAddress === o[1]!.localAddress)).toMatchObject({ responseFlags: 'UH', upstreamCluster: 'BlackHoleCluster' });
    // I-L11: a registered host's route without a VirtualService is named `default` (route.go DefaultRouteName).
    expect(records.find((r) => r?.downstreamRemoteAddress === o[2]!.localAddress)).toMatchObject({ responseCode: 200, upstreamCluster: 'outbound|8080||allowed.external.test', routeName: 'default' });
  });

  it('a sidecar-less client is not constrained by REGISTRY_ONLY (§7): it reaches the unregistered server', async () => {
    const out = await lab.probe(OUT);
    const h = await lab.external({ namespace: 'outside', name: 'ext-blocked' }, 8080, out);
    const { observations: [o] } = await out.run([{ kind: 'http', id: 'h', dial: h.dial, authority: h.authority, timeoutMs: 3_000 }]);
    expect(o!.http?.echo?.pod).toBe('ext-blocked-0');
  });

  it("the user's own edge (--edge), attacked read-only from the probe pod and from the runner (--edge-url)", async () => {
    const out = await lab.probe(OUT);
    // The runner reaches the gateway's listener straight (its loopback port stands for a load balancer address).
    const [host, port] = (await lab.address(GW, 443, out)).dial.split(':') as [string, string];
    const [, httpPort] = (await lab.address(GW, 80, out)).dial.split(':') as [string, string];
    const edge = { service: GW, host: HOST, httpsPort: 443, httpPort: 80, trustPem: await lab.edgeRoots(), url: { host, port: Number(port), httpPort: Number(httpPort) } };
    const r = await runOn(lab, SUITES.boundary!.slice(0, 3), { ...DEFAULT_SETTINGS, edge });
    expect(r.results.map((x) => [x.id, x.verdict])).toEqual([
      ['EDGE-001', 'pass'],
      ['EDGE-002', 'pass'],
      ['EDGE-003', 'pass'],
    ]);
    for (const x of r.results) expect(x.cases.map((c) => c.label)).toEqual([expect.stringMatching(/outside\/outside/), expect.stringMatching(/the runner/)]);
    // Against the public roots the run's own edge CA is no anchor: EDGE-003 fails, it never passes by default.
    const pub = await runOn(lab, [SUITES.boundary![2]!], { ...DEFAULT_SETTINGS, edge: { ...edge, trustPem: undefined } });
    expect(pub.results[0]!.verdict).toBe('fail');
    expect(pub.results[0]!.reason).toMatch(/do not lead to a trust anchor/);
  });

  it('EGRESS-001 is "unaudited" (fail) when the client keeps no record although its logging is on', async () => {
    for (const p of await lab.probes(AUTH)) lab.sidecarOf(p.pod)!.muted = true;
    try {
      const r = await runOn(lab, [SUITES.boundary![4]!]);
      expect(r.results[0]!.verdict).toBe('fail');
      expect(r.results[0]!.reason).toMatch(/unaudited: client access logging is on but 3 blocked attempt\(s\) left no block_all 502 record/);
    } finally {
      for (const p of await lab.probes(AUTH)) lab.sidecarOf(p.pod)!.muted = false;
    }
  });

  it('a dead unregistered server makes EGRESS-001 error, never pass: a close looks the same as a block', async () => {
    await lab.kill({ namespace: 'outside', name: 'ext-blocked' }, { keepSidecar: true }); // the pod stays listed, its server is gone
    const r = await runOn(lab, [SUITES.boundary![4]!]);
    expect(r.results[0]!.verdict).toBe('error');
    expect(r.results[0]!.reason).toMatch(/ext-blocked does not answer even from outside the mesh/);
  });
});

describe('I-M2: EDGE-002 on a stronger edge (one modern version refused on purpose)', () => {
  it.each([
    { fixture: 'test/fixtures/edge-tls13-only.yaml', refused: ['TLS 1.2'] },
    { fixture: 'test/fixtures/edge-tls12-only.yaml', refused: ['TLS 1.3'] },
  ])('$fixture: EDGE-002 passes, the refused version recorded as evidence', async ({ fixture, refused }) => {
    const lab = new LabTarget();
    try {
      await lab.apply(loadPosture('fixtures/secure', [fixture]));
      const r = await runOn(lab, [SUITES.boundary![1]!]);
      expect(r.results[0]!.id).toBe('EDGE-002');
      expect(r.results[0]!.verdict).toBe('pass');
      expect((r.results[0]!.cases[0] as { observed?: { modernVersionsRefused?: string[] } }).observed?.modernVersionsRefused).toEqual(refused);
    } finally {
      await lab.dispose();
    }
  });
});

describe('I-M9: EDGE-001 when the port-80 server lacks the host', () => {
  it("Envoy's own 404 (route_not_found, empty body, nothing upstream) is \"host not routed\", never \"plaintext served\"", async () => {
    const lab = new LabTarget();
    try {
      await lab.apply(loadPosture('fixtures/secure', ['test/fixtures/edge-plaintext-other-host.yaml']));
      const out = await lab.probe(OUT);
      const d = (await lab.address(GW, 80, out)).dial;
      const { observations: [o] } = await out.run([{ kind: 'http', id: 'p', dial: d, authority: HOST, timeoutMs: 3_000 }]);
      expect(o!.http).toMatchObject({ status: 404, body: '' });
      expect(o!.http?.headers['x-envoy-upstream-service-time']).toBeUndefined();
      // H1: the proof that the 404 is "not routed": HTTPS for the same host and path reached upstream with the header.
      const { observations: [s] } = await out.run([tlsTo((await lab.address(GW, 443, out)).dial, 's', { path: '/' })]);
      expect(s!.http?.headers['x-envoy-upstream-service-time']).toBeDefined();
      const r = await runOn(lab, [SUITES.boundary![0]!]);
      expect(r.results[0]!.verdict).toBe('pass');
      expect(JSON.stringify(r.results[0]!.cases[0])).toMatch(/host not routed/);
    } finally {
      await lab.dispose();
    }
  });
});

describe('H1: EDGE-001 when the gateway suppresses Envoy debug headers', () => {
  it('the same empty 404 over plaintext, but the HTTPS control carries no x-envoy-upstream-service-time: EDGE-001 is error, never pass', async () => {
    const lab = new LabTarget();
    try {
      await lab.apply(loadPosture('fixtures/secure', ['test/fixtures/edge-debug-headers-off.yaml']));
      const out = await lab.probe(OUT);
      const { observations: [p] } = await out.run([{ kind: 'http', id: 'p', dial: (await lab.address(GW, 80, out)).dial, authority: HOST, timeoutMs: 3_000 }]);
      expect(p!.http).toMatchObject({ status: 404, body: '' });
      // suppress_envoy_headers: the upstream answer over HTTPS reaches echo but lacks the router's header.
      const { observations: [s] } = await out.run([tlsTo((await lab.address(GW, 443, out)).dial, 's', { path: '/' })]);
      expect(s!.http?.echo?.nonce).toBe(s!.nonce);
      expect(s!.http?.headers['x-envoy-upstream-service-time']).toBeUndefined();
      const r = await runOn(lab, [SUITES.boundary![0]!]);
      expect(r.results[0]!.verdict).toBe('error');
      expect(JSON.stringify(r.results[0]!.cases[0])).toMatch(/404 with nothing upstream: route_not_found or an app's answer/);
    } finally {
      await lab.dispose();
    }
  });
});

describe('a ServiceEntry registering a CIDR on an HTTP port', () => {
  it('I-L2: HTTP by IP inside the CIDR is not registered (the CIDR is a vhost domain no Host equals): 502 block_all', async () => {
    const lab = new LabTarget();
    try {
      await lab.apply(loadPosture('fixtures/secure', ['test/fixtures/cidr-http-serviceentry.yaml']));
      const auth = await lab.probe(AUTH);
      const since = new Date(Date.now() - 1_000);
      const h = await lab.external({ namespace: 'outside', name: 'ext-blocked' }, 8080, auth);
      expect(h.authority).toMatch(/^10\.244\./);
      const { observations: [o] } = await auth.run([{ kind: 'http', id: 'h', dial: h.dial, authority: h.authority, timeoutMs: 3_000 }]);
      expect(o!.http).toMatchObject({ status: 502, body: '' });
      await new Promise((r) => setTimeout(r, 100));
      const records = (await lab.accessLog(auth.pod, since)).map(parseAccessLog);
      expect(records.find((r) => r?.downstreamRemoteAddress === o!.localAddress)).toMatchObject({ routeName: 'block_all', responseCodeDetails: 'direct_response' });
    } finally {
      await lab.dispose();
    }
  });
});

describe('a gateway whose authorization denies everything', () => {
  it('answers plaintext with 403 before any redirect, and EDGE-001 is error, never pass', async () => {
    const lab = new LabTarget();
    try {
      await lab.apply(loadPosture('fixtures/secure', ['test/fixtures/edge-denies-all.yaml']));
      const out = await lab.probe(OUT);
      const d = (await lab.address(GW, 80, out)).dial;
      const { observations: [o] } = await out.run([{ kind: 'http', id: 'p', dial: d, authority: HOST, timeoutMs: 3_000 }]);
      expect(o!.http).toMatchObject({ status: 403, body: 'RBAC: access denied' });
      // I-L4: RBAC runs before the router, so an authority with no virtual host is denied too (403, not 404).
      const { observations: [u] } = await out.run([{ kind: 'http', id: 'u', dial: d, authority: 'unknown.meshproof.test', timeoutMs: 3_000 }]);
      expect(u!.http).toMatchObject({ status: 403, body: 'RBAC: access denied' });
      const r = await runOn(lab, [SUITES.boundary![0]!]);
      expect(r.results[0]!.verdict).toBe('error');
    } finally {
      await lab.dispose();
    }
  });
});

describe("Envoy's downstream TLS defaults, as the lab gateway applies them", () => {
  const server = (o: Parameters<typeof tlsParameters>[0][number]) => tlsParameters([o]);
  const base = { port: 443, protocol: 'HTTPS' as const, hosts: [HOST], httpsRedirect: false, credentialName: 'c', minProtocolVersion: 'TLS_AUTO' as const, maxProtocolVersion: 'TLS_AUTO' as const };

  it('TLS_AUTO is TLS 1.2 to 1.3 with the ECDHE-GCM/CHACHA20 list (E: tls/v3/common.proto)', () => {
    expect(server(base)).toEqual({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384' });
  });

  it('a TLS 1.0 minimum alone still negotiates nothing older than 1.2: the default suites hold none a TLS 1.0 client can use', async () => {
    const ca = await EdgeAuthority.create();
    const c = await ca.issue([HOST], { validDays: 30, chain: 'complete' });
    const p = server({ ...base, minProtocolVersion: 'TLSV1_0' });
    const s = tls.createServer({ cert: c.chainPem, key: c.keyPem, ...p }, (x) => x.end());
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const port = (s.address() as { port: number }).port;
    try {
      const err = await new Promise<string>((resolve) => {
        const x = tls.connect({ host: '127.0.0.1', port, servername: HOST, rejectUnauthorized: false, minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: WEAK_SUITES });
        x.on('secureConnect', () => resolve('handshake'));
        x.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(err).toMatch(/ALERT_HANDSHAKE_FAILURE|NO_SHARED_CIPHER|ALERT_PROTOCOL_VERSION/);
    } finally {
      s.close();
    }
  });
});

describe('classifiers of the boundary', () => {
  // The HTTPS control to the same host and path: reached upstream with Envoy's router header (the lab gateway's).
  const proven = [obs({ kind: 'tls', tls: { handshake: true }, http: { status: 200, headers: { 'x-envoy-upstream-service-time': '2' }, body: '{}' } })];
  const unproven = [obs({ kind: 'tls', tls: { handshake: true }, http: { status: 200, headers: {}, body: '{}' } })];

  it('plaintextNotServed: only an https redirect or a refusal with no byte is blocked', () => {
    const judge = plaintextNotServed(proven);
    expect(judge(httpAnswer(301, '', { location: 'https://edge/x' })).outcome).toBe('blocked');
    expect(judge(httpAnswer(308, '', { location: 'https://edge/x' })).outcome).toBe('blocked');
    expect(judge(httpAnswer(301, '', { location: 'http://edge/x' })).outcome).toBe('allowed');
    expect(judge(httpAnswer(200, '{}', {}, 'n')).outcome).toBe('allowed');
    // I-M9: Envoy's own route_not_found (empty body, nothing upstream) is "host not routed"; an app's 404 is served.
    expect(judge(httpAnswer(404)).outcome).toBe('blocked');
    expect(judge(httpAnswer(404)).reason).toMatch(/host not routed/);
    expect(judge(httpAnswer(404, '', { 'x-envoy-upstream-service-time': '3' })).outcome).toBe('allowed');
    expect(judge(httpAnswer(404, 'Not Found')).outcome).toBe('allowed');
    expect(judge(httpAnswer(403, 'Forbidden')).outcome).toBe('allowed');
    expect(judge(httpAnswer(403, 'RBAC: access denied')).outcome).toBe('inconclusive');
    expect(judge(failed('refused')).outcome).toBe('blocked');
    expect(judge(failed('eof')).outcome).toBe('blocked');
    expect(judge(failed('eof', 12)).outcome).toBe('allowed');
    expect(judge(failed('timeout')).outcome).toBe('inconclusive');
  });

  it('H1: an empty 404 is "host not routed" only when the HTTPS control to the same host and path carried x-envoy-upstream-service-time', () => {
    // Without that proof the 404 may be route_not_found on a plaintext vhost that routes other paths, an app's 404
    // behind a gateway that suppresses Envoy's debug headers, or any non-Envoy edge: inconclusive, never blocked.
    for (const control of [unproven, [], [failed('timeout', 0, 'tls')], [httpAnswer(404)]]) {
      expect(plaintextNotServed(control)(httpAnswer(404))).toMatchObject({ outcome: 'inconclusive', reason: expect.stringMatching(/^404 with nothing upstream: route_not_found or an app's answer; no proof the host is unserved in plaintext/) });
    }
    expect(plaintextNotServed(proven)(httpAnswer(404)).outcome).toBe('blocked');
    // The rest of the table does not depend on the control.
    expect(plaintextNotServed(unproven)(httpAnswer(301, '', { location: 'https://edge/x' })).outcome).toBe('blocked');
    expect(plaintextNotServed(unproven)(httpAnswer(404, 'Not Found')).outcome).toBe('allowed');
    expect(plaintextNotServed(unproven)(failed('eof')).outcome).toBe('blocked');
  });

  it('legacyTlsRefused: a completed handshake is a violation; protocol_version, handshake_failure or a close before it a refusal', () => {
    const shook: Observation = obs({ kind: 'tls', tls: { handshake: true, protocol: 'TLSv1', cipher: 'ECDHE-ECDSA-AES128-SHA' } });
    expect(legacyTlsRefused(shook)).toMatchObject({ outcome: 'allowed', reason: 'handshake completed with TLSv1 ECDHE-ECDSA-AES128-SHA' });
    expect(legacyTlsRefused(failed('tls-alert:protocol_version', 0, 'tls')).outcome).toBe('blocked');
    expect(legacyTlsRefused(failed('tls-alert:handshake_failure', 0, 'tls')).outcome).toBe('blocked');
    expect(legacyTlsRefused(failed('eof', 0, 'tls')).outcome).toBe('blocked');
    expect(legacyTlsRefused(failed('tls-alert:unknown_ca', 0, 'tls')).outcome).toBe('inconclusive');
    expect(legacyTlsRefused(failed('refused', 0, 'tls')).outcome).toBe('inconclusive');
    expect(legacyTlsRefused(failed('timeout', 0, 'tls')).outcome).toBe('inconclusive');
  });

  it("egressBlocked: block_all's empty 502 and a closed TCP connection are blocks; the nonce back is a violation", () => {
    expect(egressBlocked(httpAnswer(502)).outcome).toBe('blocked');
    expect(egressBlocked(httpAnswer(502, 'upstream connect error')).outcome).toBe('inconclusive');
    expect(egressBlocked(httpAnswer(200, '{}', {}, 'n')).outcome).toBe('allowed');
    expect(egressBlocked(httpAnswer(503, 'no healthy upstream')).outcome).toBe('inconclusive');
    expect(egressBlocked(failed('eof', 0, 'tcp')).outcome).toBe('blocked');
    expect(egressBlocked(obs({ kind: 'tcp', tcp: { received: 'x', nonceEchoed: true } })).outcome).toBe('allowed');
    expect(egressBlocked(failed('refused', 0, 'tcp')).outcome).toBe('inconclusive');
    // I-L9: an HTTP answer to the TCP nonce is an explicit-HTTP listener on that port, said so, never a pass.
    const http400 = obs({ kind: 'tcp', bytesReceived: 60, tcp: { received: 'HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\n\r\nBad Request', nonceEchoed: false }, failure: { class: 'eof', message: 'eof' } });
    expect(egressBlocked(http400)).toMatchObject({ outcome: 'inconclusive', reason: expect.stringMatching(/HTTP 400 answer: the client sidecar has an HTTP listener on this port/) });
  });
});

describe('judgeChain (EDGE-003)', () => {
  let ca: EdgeAuthority;
  beforeAll(async () => {
    ca = await EdgeAuthority.create();
  });
  const split = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;

  it('passes a complete chain for the host, far from expiry', async () => {
    const c = await ca.issue([HOST], { validDays: 365, chain: 'complete' });
    const r = judgeChain(split(c.chainPem), HOST, [ca.rootPem], 30);
    expect(r.problems).toEqual([]);
    expect(r.path).toHaveLength(3);
  });

  it('fails a leaf sent without its intermediate, a leaf for another host, and a chain inside the horizon', async () => {
    expect(judgeChain(split((await ca.issue([HOST], { validDays: 365, chain: 'leaf-only' })).chainPem), HOST, [ca.rootPem], 30).problems[0]).toMatch(/do not lead to a trust anchor/);
    expect(judgeChain(split((await ca.issue(['other.test'], { validDays: 365, chain: 'complete' })).chainPem), HOST, [ca.rootPem], 30).problems[0]).toMatch(/names other\.test, not edge\.meshproof\.test/);
    expect(judgeChain(split((await ca.issue([HOST], { validDays: 10, chain: 'complete' })).chainPem), HOST, [ca.rootPem], 30).problems[0]).toMatch(/expires in 9 day\(s\).*30-day horizon/);
  });

  it('a wildcard covers exactly one label; another CA is no anchor', async () => {
    const w = split((await ca.issue(['*.meshproof.test'], { validDays: 365, chain: 'complete' })).chainPem);
    expect(judgeChain(w, HOST, [ca.rootPem], 30).problems).toEqual([]);
    expect(judgeChain(w, 'a.edge.meshproof.test', [ca.rootPem], 30).problems[0]).toMatch(/not a\.edge/);
    const other = await EdgeAuthority.create();
    expect(judgeChain(w, HOST, [other.rootPem], 30).problems[0]).toMatch(/trust anchor/);
  });
});

describe('refusals', () => {
  it('a posture Secret carrying data is refused: a posture never holds a private key', () => {
    const text = 'apiVersion: v1\nkind: Secret\nmetadata: { name: s, namespace: edge }\ntype: kubernetes.io/tls\ndata: { tls.crt: eA==, tls.key: eA== }\n';
    expect(() => parseManifests(text, 'x.yaml')).toThrow(/never holds a private key/);
  });

  it('Kubernetes Gateway API objects are refused by the lab and by the cluster render, pointing at --edge', () => {
    const gw = parseManifests('apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: g, namespace: edge }\nspec: { gatewayClassName: istio, listeners: [] }\n', 'gw.yaml');
    const posture = loadPosture('fixtures/secure');
    const withGw = { origin: posture.origin, objects: [...posture.objects, ...gw] };
    expect(() => new LabTarget().validate(withGw)).toThrow(/Gateway API .* --edge <namespace>\/<service>/);
    expect(() => renderForCluster(withGw, { runId: '00000000-0000-4000-8000-000000000000', trustDomain: 'cluster.local', agentBundle: '', adminToken: 't', provisioned: true })).toThrow(ConfigError);
  });

  it('--edge flags: one-line errors for every mistake', () => {
    expect(() => parseEdge({ edgeHost: 'a.test' })).toThrow('--edge-host needs --edge <namespace>/<service>');
    expect(() => parseEdge({ edge: 'nope' })).toThrow(/--edge nope: expected <namespace>\/<service>/);
    expect(() => parseEdge({ edge: 'istio-ingress/gw' })).toThrow(/needs --edge-host/);
    expect(() => parseEdge({ edge: 'istio-ingress/gw', edgeHost: 'a.test:99999' })).toThrow(/not a port number/);
    expect(() => parseEdge({ edge: 'istio-ingress/gw', edgeHost: 'a.test', edgeUrl: 'http://x' })).toThrow(/must be https/);
    expect(() => parseEdge({ edge: 'istio-ingress/gw', edgeHost: 'a.test', edgeCa: '/nonexistent.pem' })).toThrow(/cannot read \(ENOENT\)/);
    expect(parseEdge({ edge: 'istio-ingress/gw', edgeHost: 'Shop.Example.com:8443', edgeUrl: 'https://203.0.113.7' })).toEqual({
      service: { namespace: 'istio-ingress', name: 'gw' },
      host: 'shop.example.com',
      httpsPort: 8443,
      httpPort: 80,
      url: { host: '203.0.113.7', port: 443, httpPort: 80 },
    });
  });
});

describe("K-H2: the lab's istiod gives a gateway its credentialName only when its service account may list secrets", () => {
  it('without the RoleBinding to meshproof-gateway-secrets the gateway serves no certificate: TLS to it fails', async () => {
    const posture = loadPosture('fixtures/secure');
    const lab = new LabTarget();
    try {
      await lab.apply({ ...posture, objects: posture.objects.filter((o) => !(o.manifest.kind === 'RoleBinding' && o.manifest.metadata.name === 'ingressgateway-secrets')) });
      const out = await lab.probe(OUT);
      const { observations: o } = await out.run([tlsTo((await lab.address(GW, 443, out)).dial, 'no-cert', { minVersion: 'TLSv1.2' })]);
      expect(o[0]!.tls?.handshake).toBe(false);
      expect(o[0]!.failure?.class).toMatch(/^(eof|reset|tls-alert:.*)$/);
    } finally {
      await lab.dispose();
    }
  });

  it('the lab accepts exactly that RoleBinding: to another role, or of a service account of another namespace, is refused', () => {
    const posture = loadPosture('fixtures/secure');
    const bind = (roleRef: string, subjectNs: string) =>
      parseManifests(`apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: { name: b, namespace: edge }\nroleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${roleRef} }\nsubjects: [{ kind: ServiceAccount, name: ingressgateway, namespace: ${subjectNs} }]\n`, 'b.yaml');
    expect(() => new LabTarget().validate({ ...posture, objects: [...posture.objects, ...bind('cluster-admin', 'edge')] })).toThrow(/RoleBindings to ClusterRole meshproof-gateway-secrets only/);
    expect(() => new LabTarget().validate({ ...posture, objects: [...posture.objects, ...bind('meshproof-gateway-secrets', 'mesh')] })).toThrow(/must be the RoleBinding's own namespace \(edge\)/);
  });
});
