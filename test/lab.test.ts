// The lab sidecar's observable behaviour, over real sockets and real certificates, against
// istio-behaviours.md §1 (plaintext), §3 (XFCC), §4 (/certs), §6 (access log).
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { parseAccessLog } from '../harness/access-log.js';
import { lastXfccUri, parseXfcc } from '../harness/expect.js';
import { loadPosture } from '../harness/posture/load.js';
import type { ProbeHandle } from '../harness/target.js';

const ECHO = { namespace: 'mesh', name: 'echo' };
const AUTHZ_ID = 'spiffe://cluster.local/ns/mesh/sa/authorized';

describe('lab on the secure posture', () => {
  const lab = new LabTarget();
  let outside: ProbeHandle;
  let authorized: ProbeHandle;
  beforeAll(async () => {
    await lab.apply(loadPosture('fixtures/secure'));
    outside = await lab.probe({ namespace: 'outside', name: 'outside' });
    authorized = await lab.probe({ namespace: 'mesh', name: 'authorized' });
  });
  afterAll(() => lab.dispose());

  it('STRICT: plaintext is reset with zero bytes, logged as NR filter_chain_not_found, counted', async () => {
    const [ep] = await lab.endpoints(ECHO, 8080);
    const since = new Date(Date.now() - 1000);
    const before = (await lab.stats(ep!.pod))['listener.0.0.0.0_15006.no_filter_chain_match'] ?? 0;
    const { observations } = await outside.run([{ kind: 'http', id: 'p', dial: ep!.dial, timeoutMs: 2_000 }]);
    const o = observations[0]!;
    expect(o.failure?.class).toBe('reset');
    expect(o.bytesReceived).toBe(0);
    expect(o.http).toBeUndefined();
    const records = (await lab.accessLog(ep!.pod, since)).map((l) => parseAccessLog(l)!);
    expect(records).toContainEqual(expect.objectContaining({ responseFlags: 'NR', responseCodeDetails: 'filter_chain_not_found', downstreamRemoteAddress: o.localAddress }));
    expect((await lab.stats(ep!.pod))['listener.0.0.0.0_15006.no_filter_chain_match']).toBe(before + 1);
  });

  it('STRICT TCP port: plaintext bytes are refused the same way', async () => {
    const [ep] = await lab.endpoints(ECHO, 9000);
    const { observations } = await outside.run([{ kind: 'tcp', id: 't', dial: ep!.dial, timeoutMs: 2_000 }]);
    expect(observations[0]!.failure?.class).toBe('reset');
    expect(observations[0]!.tcp?.nonceEchoed).toBe(false);
  });

  it('auto-mTLS: the authorized probe reaches echo and the last XFCC element names it, in Envoy\'s format', async () => {
    const d = await lab.address(ECHO, 8080, authorized);
    // An app-supplied XFCC is sanitised by the client's outbound sidecar.
    const { observations } = await authorized.run([{ kind: 'http', id: 'c', dial: d.dial, authority: d.authority, timeoutMs: 2_000, headers: { 'x-forwarded-client-cert': 'By=a;URI=spiffe://cluster.local/ns/mesh/sa/admin' } }]);
    const o = observations[0]!;
    expect(o.http?.status).toBe(200);
    expect(o.http?.echo?.nonce).toBe(o.nonce);
    const xfcc = o.http!.echo!.headers['x-forwarded-client-cert'] as string;
    expect(parseXfcc(xfcc)).toHaveLength(1);
    expect(xfcc).toMatch(/^By=spiffe:\/\/cluster\.local\/ns\/mesh\/sa\/echo;Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/mesh\/sa\/authorized$/);
    expect(lastXfccUri(xfcc)).toBe(AUTHZ_ID);
    expect(o.http?.headers.server).toBe('istio-envoy');
  });

  it('STRICT: TLS without a client certificate is closed after the handshake, no application bytes (§4c)', async () => {
    const [ep] = await lab.endpoints(ECHO, 8080);
    const [host, port] = ep!.dial.split(':');
    const result = await new Promise<{ secure: boolean; bytes: number; end: string }>((resolve) => {
      let secure = false;
      let bytes = 0;
      const s = tls.connect({ host, port: Number(port), rejectUnauthorized: false, ALPNProtocols: ['istio-http/1.1'] }, () => {
        secure = true;
        s.write('GET / HTTP/1.1\r\nhost: echo\r\n\r\n');
      });
      s.on('data', (d: Buffer) => {
        bytes += d.length;
      });
      s.on('error', (e) => resolve({ secure, bytes, end: (e as NodeJS.ErrnoException).code ?? e.message }));
      s.on('close', () => resolve({ secure, bytes, end: 'close' }));
    });
    expect(result.bytes).toBe(0);
    const stats = await lab.stats(ep!.pod);
    expect(stats['listener.0.0.0.0_15006.ssl.fail_verify_no_cert']).toBeGreaterThanOrEqual(1);
  });

  it('/certs answers in Envoy\'s admin JSON shape with the SPIFFE URI and a 24h lifetime', async () => {
    const [pod] = await lab.servicePods(ECHO);
    const certs = (await lab.workloadCert(pod!)) as { certificates: { cert_chain: { subject_alt_names: { uri: string }[]; valid_from: string; expiration_time: string; serial_number: string }[]; ca_cert: unknown[] }[] };
    const leaf = certs.certificates[0]!.cert_chain[0]!;
    expect(leaf.subject_alt_names).toEqual([{ uri: 'spiffe://cluster.local/ns/mesh/sa/echo' }]);
    expect(leaf.serial_number).toMatch(/^[0-9a-f]+$/);
    const lifetime = Date.parse(leaf.expiration_time) - Date.parse(leaf.valid_from);
    expect(lifetime).toBe(24 * 3600_000 + 2 * 60_000); // istiod backdates NotBefore by two minutes
    expect(certs.certificates[0]!.ca_cert).toHaveLength(1);
  });

  it('a probe without a sidecar reports so; an in-mesh probe carries its identity', () => {
    expect(outside.sidecar).toBe(false);
    expect(authorized.sidecar).toBe(true);
    expect(authorized.spiffeId).toBe(AUTHZ_ID);
  });
});

describe('lab under PERMISSIVE, without authorization policies', () => {
  const lab = new LabTarget();
  beforeAll(() => lab.apply(loadPosture('fixtures/secure', ['fixtures/weakened/permissive-mtls.yaml', 'fixtures/weakened/no-allow-policy.yaml'])));
  afterAll(() => lab.dispose());

  it('plaintext reaches the app and a forged XFCC is stripped (plaintext never carries XFCC)', async () => {
    const outside = await lab.probe({ namespace: 'outside', name: 'outside' });
    const [ep] = await lab.endpoints(ECHO, 8080);
    const { observations } = await outside.run([{ kind: 'http', id: 'p', dial: ep!.dial, timeoutMs: 2_000, headers: { 'x-forwarded-client-cert': `By=x;URI=${AUTHZ_ID}` } }]);
    expect(observations[0]!.http?.status).toBe(200);
    expect(observations[0]!.http?.echo?.headers['x-forwarded-client-cert']).toBeUndefined();
  });

  it('TLS without an Istio ALPN takes the passthrough chain: the app itself sees the ClientHello', async () => {
    const [ep] = await lab.endpoints(ECHO, 9000); // the TCP echo returns the raw ClientHello bytes
    const [host, port] = ep!.dial.split(':');
    // A real ClientHello offering only h2, captured from node:tls, then sent to the pod as raw bytes.
    const hello = await new Promise<Buffer>((resolve) => {
      const cap = net.createServer((c) => c.once('data', (d: Buffer) => { resolve(d); c.destroy(); cap.close(); }));
      cap.listen(0, '127.0.0.1', () => {
        tls.connect({ port: (cap.address() as net.AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['h2'] }).on('error', () => {});
      });
    });
    const first = await new Promise<Buffer>((resolve, reject) => {
      const raw = net.connect({ host, port: Number(port) }, () => raw.write(hello));
      raw.once('data', (d: Buffer) => { resolve(d); raw.destroy(); });
      raw.on('error', reject);
      setTimeout(() => reject(new Error('no bytes back within 3s')), 3_000);
    });
    expect(first.equals(hello.subarray(0, first.length))).toBe(true);
    expect(first[0]).toBe(0x16); // our own ClientHello, echoed by the app: nobody terminated TLS
  });

  it('I-L7: TLS without an Istio ALPN on the explicit-HTTP port finds no filter chain: NR filter_chain_not_found, reset', async () => {
    const [ep] = await lab.endpoints(ECHO, 8080);
    const [host, port] = ep!.dial.split(':');
    const since = new Date(Date.now() - 1000);
    const before = (await lab.stats(ep!.pod))['listener.0.0.0.0_15006.no_filter_chain_match'] ?? 0;
    const result = await new Promise<{ secure: boolean; bytes: number }>((resolve) => {
      let secure = false;
      let bytes = 0;
      const s = tls.connect({ host, port: Number(port), rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
        secure = true;
      });
      s.on('data', (d: Buffer) => {
        bytes += d.length;
      });
      s.on('error', () => resolve({ secure, bytes }));
      s.on('close', () => resolve({ secure, bytes }));
      s.setTimeout(3_000, () => s.destroy());
    });
    expect(result).toEqual({ secure: false, bytes: 0 });
    const records = (await lab.accessLog(ep!.pod, since)).map((l) => parseAccessLog(l)!);
    expect(records).toContainEqual(expect.objectContaining({ responseFlags: 'NR', responseCodeDetails: 'filter_chain_not_found' }));
    expect((await lab.stats(ep!.pod))['listener.0.0.0.0_15006.no_filter_chain_match']).toBe(before + 1);
  });
});

describe('lab lifecycle', () => {
  it('dispose stops every process and closes every port', async () => {
    const lab = new LabTarget();
    await lab.apply(loadPosture('fixtures/secure'));
    const [ep] = await lab.endpoints(ECHO, 8080);
    expect(lab.liveProcesses).toBeGreaterThan(5);
    await lab.dispose();
    expect(lab.liveProcesses).toBe(0);
    const [host, port] = ep!.dial.split(':');
    const err = await new Promise<string>((resolve) => {
      net.connect({ host, port: Number(port) }).on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')).on('connect', () => resolve('connected'));
    });
    expect(err).toBe('ECONNREFUSED');
  });
});
