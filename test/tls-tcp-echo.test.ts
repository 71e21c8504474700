// The agent's `tls` attack over a TCP chain (issue 22 item 7, scale): a TCP echo behind a sidecar sends the nonce
// back and keeps the connection open, so an attempt that waited for the close spent its whole timeout on every
// reached TCP port (every TCP grant probe of the access matrix, every TCP hole). The nonce is the proof; the attempt
// ends when it comes back. An HTTP answer is still read to its end (its status and body are judged).
import type net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tlsAttack } from '../agent/probe.js';
import { CertificateAuthority } from '../harness/pki.js';

const servers: net.Server[] = [];
let mesh: CertificateAuthority;

/** A TLS server on loopback whose connections `onSocket` drives (never closed by the server unless it says so). */
async function tlsServer(onSocket: (s: tls.TLSSocket) => void): Promise<string> {
  const srv = await mesh.issue('mesh', 'echo');
  const server = tls.createServer({ cert: srv.chainPem, key: srv.keyPem, ALPNProtocols: ['istio', 'istio-http/1.1'] }, onSocket);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

beforeAll(async () => {
  mesh = await CertificateAuthority.create();
});
afterAll(async () => {
  for (const s of servers) {
    // Drop the connections the server kept open, then the server.
    (s as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise((r) => s.close(r));
  }
});

describe('tls attack over a TCP chain', () => {
  it('issue 22 scale: a TCP echo that keeps the connection open ends the attempt when the nonce comes back, not at its timeout', async () => {
    const open: tls.TLSSocket[] = [];
    const dial = await tlsServer((s) => {
      open.push(s);
      s.on('data', (d) => s.write(d)); // echoes, never closes
      s.on('error', () => {});
    });
    const c = await mesh.issue('mesh', 'caller');
    // A timeout no run reaches: before the change the attempt ended only there, with failure `timeout`.
    const o = await tlsAttack({ kind: 'tls', id: 'tcp', dial, certChainPem: c.chainPem, keyPem: c.keyPem, alpn: ['istio'], timeoutMs: 120_000 });
    expect(o.tls?.handshake).toBe(true);
    expect(o.tcp?.nonceEchoed).toBe(true);
    expect(o.tcp?.received).toContain(`nonce=${o.nonce}`);
    expect(o.failure).toBeUndefined();
    expect(o.http).toBeUndefined();
    for (const s of open) s.destroy();
  });

  it('issue 22 scale: an HTTP answer that carries the nonce early is still read to its end (status and whole body)', async () => {
    const dial = await tlsServer((s) => {
      s.once('data', (d) => {
        const nonce = /nonce=([0-9a-f-]+)/.exec(d.toString())?.[1] ?? '';
        // The nonce in the first chunk, the rest of the body after a pause, then the close (connection: close).
        s.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nnonce ${nonce}\n`);
        setTimeout(() => s.end('and the rest of the body\n'), 200);
      });
      s.on('error', () => {});
    });
    const c = await mesh.issue('mesh', 'caller');
    const o = await tlsAttack({ kind: 'tls', id: 'http', dial, certChainPem: c.chainPem, keyPem: c.keyPem, timeoutMs: 120_000 });
    expect(o.http?.status).toBe(200);
    expect(o.http?.body).toContain('and the rest of the body');
    expect(o.failure).toBeUndefined();
  });
});
