// The agent's `tls` attack against a server that alerts like Envoy's BoringSSL: `openssl s_server -Verify 1
// -verify_return_error` (istio-behaviours.md §4c), and the classifier's table for the real alert codes.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertOf, tlsAttack } from '../agent/probe.js';
import { certRejected } from '../harness/classify.js';
import { CertificateAuthority } from '../harness/pki.js';
import { failed, httpAnswer, obs } from './support/observations.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-tls-'));
let server: ChildProcess;
let dial: string;
let mesh: CertificateAuthority;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

beforeAll(async () => {
  mesh = await CertificateAuthority.create();
  const srv = await mesh.issue('mesh', 'echo');
  writeFileSync(path.join(dir, 'root.pem'), mesh.rootPem);
  writeFileSync(path.join(dir, 'cert.pem'), srv.chainPem);
  writeFileSync(path.join(dir, 'key.pem'), srv.keyPem);
  const port = await freePort();
  dial = `127.0.0.1:${port}`;
  server = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', path.join(dir, 'cert.pem'), '-key', path.join(dir, 'key.pem'), '-CAfile', path.join(dir, 'root.pem'), '-Verify', '1', '-verify_return_error', '-www', '-alpn', 'istio-http/1.1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('openssl s_server did not start')), 5_000);
    server.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ACCEPT')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
});
afterAll(() => {
  server?.kill();
});

describe('tls attack against an alerting server', () => {
  it('a genuine certificate is accepted: an HTTP answer comes back', async () => {
    const c = await mesh.issue('mesh', 'authorized');
    const o = await tlsAttack({ kind: 'tls', id: 'ok', dial, certChainPem: c.chainPem, keyPem: c.keyPem, timeoutMs: 3_000 });
    expect(o.tls?.handshake).toBe(true);
    expect(o.http?.status).toBe(200);
    expect(certRejected(['unknown_ca'])(o).outcome).toBe('allowed');
  });

  it('a foreign CA gets alert unknown_ca, no application bytes', async () => {
    const foreign = await (await CertificateAuthority.create()).issue('mesh', 'authorized');
    const o = await tlsAttack({ kind: 'tls', id: 'foreign', dial, certChainPem: foreign.chainPem, keyPem: foreign.keyPem, timeoutMs: 3_000 });
    expect(o.failure?.class).toBe('tls-alert:unknown_ca');
    expect(o.bytesReceived).toBe(0);
    expect(certRejected(['unknown_ca'])(o).outcome).toBe('blocked');
  });

  it('an expired genuine certificate gets alert certificate_expired', async () => {
    const old = await mesh.issue('mesh', 'authorized', { now: new Date(Date.now() - 3 * 3_600_000), ttlMs: 3_600_000 });
    const o = await tlsAttack({ kind: 'tls', id: 'expired', dial, certChainPem: old.chainPem, keyPem: old.keyPem, timeoutMs: 3_000 });
    expect(o.failure?.class).toBe('tls-alert:certificate_expired');
    expect(certRejected(['certificate_expired'])(o).outcome).toBe('blocked');
    expect(certRejected(['unknown_ca'])(o).outcome).toBe('inconclusive'); // an unexpected alert proves nothing
  });
});

describe('alert names and the §9.6 table', () => {
  it.each([
    ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', 'certificate_expired'],
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'unknown_ca'],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'certificate_required'],
    ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'handshake_failure'],
    ['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'protocol_version'],
    ['ECONNRESET', undefined],
  ])('%s → %s', (code, name) => {
    expect(alertOf(code)).toBe(name);
  });

  const reject = certRejected(['unknown_ca']);
  it.each([
    ['expected alert', failed('tls-alert:unknown_ca'), 'blocked'],
    ['closed after the handshake (node:tls servers cannot alert)', failed('closed-after-handshake'), 'blocked'],
    ['another alert', failed('tls-alert:handshake_failure'), 'inconclusive'],
    ['an HTTP answer, even 403', httpAnswer(403, 'RBAC: access denied'), 'allowed'],
    ['application bytes', obs({ bytesReceived: 10, failure: { class: 'eof', message: 'x' } }), 'allowed'],
    ['timeout', failed('timeout'), 'inconclusive'],
    ['refused', failed('refused'), 'inconclusive'],
    ['reset before any handshake', failed('reset'), 'inconclusive'],
  ] as const)('%s → %s', (_n, o, outcome) => {
    expect(reject(o).outcome).toBe(outcome);
  });
});
