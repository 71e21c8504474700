// The agent over real sockets: failure classes as the socket API reports them, and echo mode end to end.
import { type ChildProcess, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpAttack, runAttacks, tcpAttack } from '../agent/probe.js';
import type { ProbeReport } from '../agent/protocol.js';
import { KEEP_ALIVE_TIMEOUT_MS } from '../agent/echo.js';
import { sameAddress } from '../harness/access-log.js';
import { AGENT_BUNDLE } from '../harness/paths.js';

const servers: net.Server[] = [];
async function server(onConn: (s: net.Socket) => void): Promise<string> {
  const srv = net.createServer(onConn);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return `127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
}
async function closedPort(): Promise<string> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return `127.0.0.1:${port}`;
}

let echo: ChildProcess;
let ports: Record<string, number>;
beforeAll(async () => {
  echo = spawn(process.execPath, [AGENT_BUNDLE, 'echo', '--http-port', '8080', '--tcp-port', '9000'], {
    env: { ...process.env, MESHPROOF_LAB: '1', POD_NAME: 'echo-test', POD_NAMESPACE: 'mesh', SERVICE_ACCOUNT: 'echo' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((r) => createInterface({ input: echo.stdout! }).once('line', r));
  ports = (JSON.parse(line) as { ready: Record<string, number> }).ready;
});
afterAll(() => {
  echo.stdin?.end();
  for (const s of servers) s.close();
});

describe('the agent bundle', () => {
  it('is one file under 1 MiB (it ships in a ConfigMap)', () => {
    expect(statSync(AGENT_BUNDLE).size).toBeLessThan(1024 * 1024);
  });
});

describe('probe failure classes', () => {
  const a = (dial: string, timeoutMs = 2_000) => ({ kind: 'http' as const, id: 'x', dial, timeoutMs });
  it('reset: the peer sends RST', async () => {
    const dial = await server((s) => s.once('data', () => s.resetAndDestroy()));
    const o = await httpAttack(a(dial));
    expect(o.failure?.class).toBe('reset');
    expect(o.bytesReceived).toBe(0);
    expect(o.localAddress).toMatch(/^127\.0\.0\.1:\d+$/);
  });
  it('eof: the peer closes without a byte', async () => {
    const dial = await server((s) => s.once('data', () => s.end()));
    const o = await httpAttack(a(dial));
    expect(o.failure?.class).toBe('eof');
    expect(o.bytesReceived).toBe(0);
  });
  it('refused, dns and timeout', async () => {
    expect((await httpAttack(a(await closedPort()))).failure?.class).toBe('refused');
    expect((await httpAttack(a('meshproof-no-such-host.invalid:80'))).failure?.class).toBe('dns');
    const silent = await server(() => {});
    const o = await httpAttack(a(silent, 300));
    expect(o.failure?.class).toBe('timeout');
    expect(o.durationMs).toBeGreaterThanOrEqual(290);
  });
  it('bytes that are not HTTP are counted, not hidden', async () => {
    const dial = await server((s) => s.once('data', () => s.end('\x15\x03\x03\x00\x02\x02\x28')));
    const o = await httpAttack(a(dial));
    expect(o.http).toBeUndefined();
    expect(o.bytesReceived).toBe(7);
  });
  it('tcp: reset and eof are told apart too', async () => {
    const r = await server((s) => s.once('data', () => s.resetAndDestroy()));
    const e = await server((s) => s.once('data', () => s.end()));
    expect((await tcpAttack({ kind: 'tcp', id: 't', dial: r, timeoutMs: 2_000 })).failure?.class).toBe('reset');
    expect((await tcpAttack({ kind: 'tcp', id: 't', dial: e, timeoutMs: 2_000 })).failure?.class).toBe('eof');
  });
});

describe('echo mode', () => {
  it('answers JSON with the nonce, headers and its pod name; /status/<code> answers that code', async () => {
    const [ok, app403] = await runAttacks([
      { kind: 'http', id: 'a', dial: `127.0.0.1:${ports['8080']}`, timeoutMs: 2_000, headers: { 'x-forwarded-client-cert': 'By=x;URI=y' } },
      { kind: 'http', id: 'b', dial: `127.0.0.1:${ports['8080']}`, path: '/status/403', timeoutMs: 2_000 },
    ]);
    expect(ok!.http?.status).toBe(200);
    expect(ok!.http?.echo).toMatchObject({ nonce: ok!.nonce, pod: 'echo-test', namespace: 'mesh', serviceAccount: 'echo' });
    expect(ok!.http?.echo?.headers['x-forwarded-client-cert']).toBe('By=x;URI=y');
    expect(app403!.http?.status).toBe(403);
    expect(app403!.http?.echo?.nonce).toBe(app403!.nonce);
  });
  it('echoes TCP and reports peak concurrency under /delay', async () => {
    const tcp = await tcpAttack({ kind: 'tcp', id: 't', dial: `127.0.0.1:${ports['9000']}`, timeoutMs: 2_000 });
    expect(tcp.tcp?.nonceEchoed).toBe(true);
    const dial = `127.0.0.1:${ports['8080']}`;
    await Promise.all([1, 2, 3].map((i) => httpAttack({ kind: 'http', id: `d${i}`, dial, path: '/delay/200', timeoutMs: 3_000 })));
    const stats = await httpAttack({ kind: 'http', id: 's', dial, path: '/stats', timeoutMs: 2_000 });
    expect((JSON.parse(stats.http!.body) as { stats: { peakInFlight: number } }).stats.peakInFlight).toBeGreaterThanOrEqual(3);
  });
  it('probe mode reads a batch on stdin and prints one report', async () => {
    const child = spawn(process.execPath, [AGENT_BUNDLE, 'probe'], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdin.end(JSON.stringify({ attacks: [{ kind: 'tcp', id: 'p', dial: `127.0.0.1:${ports['9000']}`, timeoutMs: 2_000 }] }));
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(0);
    const report = JSON.parse(out) as ProbeReport;
    expect(report.observations[0]?.tcp?.nonceEchoed).toBe(true);
    expect(report.agent.uid).toBe(process.getuid!());
  });
});

describe('addresses in the form Envoy writes them (istio-behaviours.md §10)', () => {
  it('the probe reports its own IPv6 address as [::1]:port, which matches the record a destination would write', async () => {
    let remote = '';
    const srv = net.createServer((s) => {
      remote = `[${s.remoteAddress}]:${s.remotePort}`;
      s.destroy();
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '::1', () => r()));
    const o = await tcpAttack({ kind: 'tcp', id: 'v6', dial: `[::1]:${(srv.address() as net.AddressInfo).port}`, timeoutMs: 2_000 });
    expect(o.localAddress).toMatch(/^\[::1\]:\d+$/);
    expect(sameAddress(o.localAddress, remote)).toBe(true);
  });
});

describe('echo keep-alive outlives the sidecar\'s upstream idle timeout', () => {
  it('an idle pooled connection is still served after Node\'s 5 s default would have closed it', async () => {
    expect(KEEP_ALIVE_TIMEOUT_MS).toBeGreaterThan(60 * 60_000); // Envoy's upstream idle timeout defaults to 1 h
    const sock = net.connect({ host: '127.0.0.1', port: ports['8080']! });
    await new Promise((r) => sock.once('connect', r));
    const ask = () =>
      new Promise<string>((resolve, reject) => {
        let got = '';
        const onData = (d: Buffer) => {
          got += d.toString();
          const m = /content-length: (\d+)\r\n/i.exec(got);
          const end = got.indexOf('\r\n\r\n');
          if (m && end >= 0 && Buffer.byteLength(got) >= end + 4 + Number(m[1])) {
            sock.off('data', onData);
            resolve(got);
          }
        };
        sock.on('data', onData);
        sock.once('close', () => reject(new Error('the app closed the kept-alive connection')));
        sock.write('GET /?nonce=k HTTP/1.1\r\nhost: echo\r\nconnection: keep-alive\r\n\r\n');
      });
    expect(await ask()).toMatch(/^HTTP\/1\.1 200/);
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await ask()).toMatch(/^HTTP\/1\.1 200/);
    sock.destroy();
  });
});
