// `echo` mode: the target application. Every HTTP answer is JSON carrying the request's nonce, its headers (XFCC
// included) and this pod's identity, so the harness can prove a request reached the app and who sent it.
import http from 'node:http';
import net from 'node:net';
import { NONCE_HEADER } from './protocol.js';
import type { EchoPayload } from './protocol.js';

export interface EchoOptions {
  httpPort: number;
  tcpPort: number;
  /**
   * A server-first TCP app (MySQL, SMTP, NATS…): this greeting line is sent the moment a connection is accepted,
   * before the client speaks; then the echo as usual.
   */
  tcpBanner?: string;
  /** Bind address; the lab binds loopback with ephemeral ports and reports them. */
  host: string;
  pod: string;
  namespace: string;
  serviceAccount: string;
  /**
   * Enables `/admin/fail?on=1|0` (answer 500 to everything else) and `/admin/intervals` (RES-001's read of the
   * request intervals) for requests carrying `x-meshproof-admin: <token>`. Only the harness knows the token; without one the endpoints do not exist.
   */
  adminToken?: string;
}

export interface EchoServers {
  ports: { http: number; tcp: number };
  close(): Promise<void>;
}

const MAX_DELAY_MS = 60_000;
/**
 * Longer than Envoy's upstream idle timeout (1 h by default; Istio's connectionPool.http.idleTimeout), so the
 * sidecar always closes an idle pooled connection first and never reuses one the app is closing under it (which
 * would be a spurious 503 UC). Node's default of 5 s is far shorter.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65 * 60_000;
/** Bounds the per-request intervals kept between two reads (RES-001 reads them after each flood). */
const MAX_INTERVALS = 20_000;

/** Epoch milliseconds with sub-millisecond resolution, comparable across pods. */
const now = () => performance.timeOrigin + performance.now();

export async function startEcho(o: EchoOptions): Promise<EchoServers> {
  let inFlight = 0;
  let peakInFlight = 0;
  let requests = 0;
  let failing = false;
  /** [start, end] of every application request since the last read, to merge in-flight counts across replicas. */
  let intervals: [number, number][] = [];
  const httpServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://echo');
    const nonce = url.searchParams.get('nonce') ?? (req.headers[NONCE_HEADER] as string | undefined) ?? null;
    const payload: EchoPayload = {
      nonce,
      pod: o.pod,
      namespace: o.namespace,
      serviceAccount: o.serviceAccount,
      method: req.method ?? 'GET',
      path: url.pathname,
      headers: req.headers,
    };
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    req.resume();
    if (url.pathname.startsWith('/admin/') && o.adminToken && req.headers['x-meshproof-admin'] === o.adminToken) {
      // The harness's own calls are not load: they count in no statistic. Answers the state as it was before this call.
      const before = { failing };
      if (url.pathname === '/admin/fail') failing = url.searchParams.get('on') === '1';
      else if (url.pathname === '/admin/intervals') {
        const taken = intervals;
        intervals = [];
        send(200, { ...payload, admin: before, intervals: taken, now: now() });
        return;
      }
      send(200, { ...payload, admin: before });
      return;
    }
    inFlight++;
    requests++;
    peakInFlight = Math.max(peakInFlight, inFlight);
    const start = now();
    let finished = false;
    const done = () => {
      if (!finished) {
        finished = true;
        inFlight--;
        if (intervals.length < MAX_INTERVALS) intervals.push([start, now()]);
      }
    };
    res.on('close', done);
    if (failing) {
      send(500, { ...payload, failing: true });
      return;
    }
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    const delay = /^\/delay\/(\d+)$/.exec(url.pathname);
    if (url.pathname === '/stats') {
      send(200, { ...payload, stats: { peakInFlight, inFlight: inFlight - 1, requests } });
    } else if (status) {
      send(Number(status[1]), payload);
    } else if (delay) {
      const t = setTimeout(() => send(200, payload), Math.min(Number(delay[1]), MAX_DELAY_MS));
      res.on('close', () => clearTimeout(t));
    } else {
      send(200, payload);
    }
  });
  httpServer.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  const tcpServer = net.createServer((s) => {
    s.on('error', () => s.destroy());
    if (o.tcpBanner) s.write(`${o.tcpBanner}\n`);
    s.pipe(s);
  });
  const listen = (srv: net.Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, o.host, () => resolve((srv.address() as net.AddressInfo).port));
    });
  const ports = { http: await listen(httpServer, o.httpPort), tcp: await listen(tcpServer, o.tcpPort) };
  return {
    ports,
    close: async () => {
      httpServer.closeAllConnections();
      await Promise.all([httpServer, tcpServer].map((s) => new Promise((r) => s.close(() => r(undefined)))));
    },
  };
}
