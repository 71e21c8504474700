// Relaying one HTTP request upstream and the answer back, with Envoy's local replies when the upstream fails
// (E: source/common/router/router.cc): shared by the inbound (to the app) and outbound (to a peer) routers.
import type http from 'node:http';
import type net from 'node:net';
import type { AccessLogRecord } from '../../../harness/access-log.js';
import type { Side } from './access-log.js';
import type { SidecarHost } from './host.js';

const UPSTREAM_TIMEOUT_MS = 15_000;
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection'];

export interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  started: number;
  base: Partial<AccessLogRecord>;
  headers: http.OutgoingHttpHeaders;
  side: Side;
  onStatus?: (status: number) => void;
}

/** The request's own fields of an HTTP record (method, path with query, protocol, agent, id, authority). */
export function requestFields(req: http.IncomingMessage, headers: http.OutgoingHttpHeaders): Partial<AccessLogRecord> {
  return {
    method: req.method,
    path: req.url,
    protocol: `HTTP/${req.httpVersion}`,
    userAgent: req.headers['user-agent'],
    requestId: String(headers['x-request-id']),
    authority: req.headers.host,
  };
}

export function localReply(host: SidecarHost, side: Side, res: http.ServerResponse, status: number, body: string, record: Partial<AccessLogRecord>): void {
  if (!res.headersSent) {
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), server: 'istio-envoy' });
  }
  res.end(body);
  host.log.write(side, { ...record, responseCode: status, bytesSent: Buffer.byteLength(body) });
}

/** The router's x-envoy-upstream-service-time, unless it suppresses its headers (E: source/common/router/router.cc). */
export function upstreamTime(host: SidecarHost, sent: number): http.OutgoingHttpHeaders {
  return host.suppressEnvoyHeaders ? {} : { 'x-envoy-upstream-service-time': String(Date.now() - sent) };
}

export function forward(host: SidecarHost, x: Exchange, open: (h: http.OutgoingHttpHeaders, cb: (r: http.IncomingMessage) => void) => http.ClientRequest): void {
  const { req, res, started, base } = x;
  // Connection-specific headers are the downstream hop's, never forwarded (E: source/common/http/
  // conn_manager_utility.cc mutateRequestHeaders removes Connection, Keep-Alive, Proxy-Connection): a client's
  // `Connection: close` does not close the sidecar's pooled upstream connection.
  for (const h of HOP_BY_HOP) delete x.headers[h];
  let answered = false;
  const up = open(x.headers, (ur) => {
    answered = true;
    x.onStatus?.(ur.statusCode ?? 502);
    const h: http.OutgoingHttpHeaders = { ...ur.headers, server: 'istio-envoy', ...upstreamTime(host, started) };
    for (const k of HOP_BY_HOP) delete h[k]; // the upstream hop's, as above: each hop keeps its own connection
    res.writeHead(ur.statusCode ?? 502, h);
    ur.pipe(res);
    ur.on('end', () =>
      host.log.write(x.side, {
        ...base,
        responseCode: ur.statusCode,
        responseCodeDetails: 'via_upstream',
        bytesReceived: req.socket.bytesRead,
        bytesSent: Number(ur.headers['content-length'] ?? 0),
        durationMs: Date.now() - started,
        upstreamServiceTime: String(Date.now() - started),
      }),
    );
  });
  up.on('socket', (s) => {
    // A pooled connection is already connected: its address is known at once.
    if (!s.connecting && s.localPort !== undefined) base.upstreamLocalAddress = `${s.localAddress}:${s.localPort}`;
    else
      s.once('connect', () => {
        base.upstreamLocalAddress = `${s.localAddress}:${s.localPort}`;
      });
  });
  up.setTimeout(UPSTREAM_TIMEOUT_MS, () => up.destroy(Object.assign(new Error('upstream timeout'), { code: 'ETIMEDOUT' })));
  up.on('error', (e: NodeJS.ErrnoException) => {
    if (answered) {
      res.destroy();
      return;
    }
    const refused = e.code === 'ECONNREFUSED' || e.code === 'ETIMEDOUT' || /certificate|SSL|TLS|SAN/i.test(e.message);
    const reason = refused ? 'connection failure' : 'connection termination';
    x.onStatus?.(503);
    localReply(host, x.side, res, 503, `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`, {
      ...base,
      responseFlags: refused ? 'UF' : 'UC',
      responseCodeDetails: `upstream_reset_before_response_started{${reason.replace(' ', '_')}}`,
      upstreamTransportFailureReason: refused && e.code !== 'ECONNREFUSED' ? e.message : undefined,
      durationMs: Date.now() - started,
    });
  });
  req.pipe(up);
}

/** Relays a TCP connection both ways and writes one record when the downstream closes (tcp_proxy's access log). */
export function proxyTcp(host: SidecarHost, side: Side, down: net.Socket, up: net.Socket, record: () => Partial<AccessLogRecord>): void {
  const started = Date.now();
  host.track(up);
  let failed = false;
  up.on('error', () => {
    failed = true;
    down.destroy();
  });
  down.on('error', () => up.destroy());
  down.pipe(up);
  up.pipe(down);
  down.resume();
  down.once('close', () => {
    up.destroy();
    host.log.write(side, { responseFlags: failed ? 'UF' : '', bytesReceived: down.bytesRead, bytesSent: down.bytesWritten, durationMs: Date.now() - started, ...record() });
  });
}
