// The lab's tls_inspector: real ClientHellos captured from node:tls clients.
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { sniff } from '../cluster/lab/client-hello.js';

const servers: net.Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

/** Captures the first flight a real TLS client sends. */
async function firstFlight(alpn?: string[]): Promise<Buffer> {
  const got = new Promise<Buffer>((resolve) => {
    const srv = net.createServer((s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); }));
    servers.push(srv);
    srv.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', ALPNProtocols: alpn, rejectUnauthorized: false });
      c.on('error', () => {});
    });
  });
  return got;
}

describe('sniff', () => {
  it('finds the Istio ALPN in a real ClientHello', async () => {
    const hello = await firstFlight(['istio-http/1.1', 'istio']);
    expect(sniff(hello)).toEqual({ kind: 'tls', alpn: ['istio-http/1.1', 'istio'] });
  });
  it('reports TLS without ALPN', async () => {
    expect(sniff(await firstFlight())).toEqual({ kind: 'tls', alpn: [] });
  });
  it('asks for more bytes on a partial record', async () => {
    const hello = await firstFlight(['istio']);
    expect(sniff(hello.subarray(0, 20))).toEqual({ kind: 'incomplete' });
    expect(sniff(Buffer.alloc(0))).toEqual({ kind: 'incomplete' });
  });
  it('calls anything else plaintext', () => {
    expect(sniff(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ kind: 'plaintext' });
    expect(sniff(Buffer.from('nonce\n'))).toEqual({ kind: 'plaintext' });
  });
});
