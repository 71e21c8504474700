// CUSTOM authorization in the lab: a loopback HTTP ext_authz server standing for a mesh config
// `envoyExtAuthzHttp` provider, and the sidecar's HTTP ext_authz client (Envoy's raw-HTTP authorization client).
// - The server is Istio's sample (samples/extauthz): it allows a request carrying `x-ext-authz: allow` and denies
//   everything else with 403 and a body of its own.
// - The client asks it before RBAC (Istio's inbound HTTP filter order is CUSTOM, then DENY, then ALLOW, the router
//   last: I: pilot/pkg/networking/core/listener_builder.go). A 200 lets the request on; any other status is the
//   denial, relayed to the caller with the server's body; the sidecar records it as response-code details
//   `ext_authz_denied` (E: source/extensions/filters/http/ext_authz/ext_authz.cc, RcDetailsValues::AuthzDenied, set
//   on a Denied check; test/extensions/filters/http/ext_authz/ext_authz_test.cc expects "ext_authz_denied") with
//   response flag UAEX. An unreachable server is `ext_authz_error` with 403 (Istio's statusOnError default and
//   failOpen false).
import http from 'node:http';
import type net from 'node:net';

/** The header the lab's provider allows on, and the value it wants (Istio's samples/extauthz). */
export const EXT_AUTHZ_ALLOW_HEADER = 'x-ext-authz';
export const EXT_AUTHZ_ALLOW_VALUE = 'allow';
export const EXT_AUTHZ_DENIED_BODY = `denied by ext_authz for not found header \`${EXT_AUTHZ_ALLOW_HEADER}: ${EXT_AUTHZ_ALLOW_VALUE}\` in the request`;
/** Envoy always sends these to an HTTP authorization server (Envoy docs, ext_authz AuthorizationRequest allowed_headers: "Host, Method, Path, Content-Length, and Authorization are always included"; from memory, not re-read). */
const ALWAYS_SENT = ['host', 'authorization', 'content-length'];
const CHECK_TIMEOUT_MS = 5_000;

export interface ExtAuthzProvider {
  /** Loopback port of the provider's server. */
  port: number;
  includeRequestHeadersInCheck: string[];
}

/** Starts the lab's provider on loopback; resolves with the server (its port in `address()`). */
export async function startExtAuthzServer(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.headers[EXT_AUTHZ_ALLOW_HEADER] === EXT_AUTHZ_ALLOW_VALUE) {
      res.writeHead(200, { 'content-length': 0 }).end();
      return;
    }
    res.writeHead(403, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(EXT_AUTHZ_DENIED_BODY) }).end(EXT_AUTHZ_DENIED_BODY);
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  return server;
}

export type ExtAuthzAnswer = { allowed: true } | { allowed: false; status: number; body: string; details: 'ext_authz_denied' | 'ext_authz_error' };

/** The check: the request's method and path, no body, only the headers Envoy sends. */
export function checkExtAuthz(p: ExtAuthzProvider, req: http.IncomingMessage): Promise<ExtAuthzAnswer> {
  const headers: http.OutgoingHttpHeaders = {};
  for (const h of [...ALWAYS_SENT, ...p.includeRequestHeadersInCheck.map((x) => x.toLowerCase())]) {
    if (req.headers[h] !== undefined) headers[h] = req.headers[h];
  }
  headers['content-length'] = '0';
  return new Promise((resolve) => {
    const error = (): void => resolve({ allowed: false, status: 403, body: '', details: 'ext_authz_error' });
    const c = http.request({ host: '127.0.0.1', port: p.port, method: req.method, path: req.url, headers, agent: false, timeout: CHECK_TIMEOUT_MS }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => {
        body += d;
      });
      r.on('end', () => resolve(r.statusCode === 200 ? { allowed: true } : { allowed: false, status: r.statusCode ?? 403, body, details: 'ext_authz_denied' }));
      r.on('error', error);
    });
    c.on('timeout', () => c.destroy());
    c.on('error', error);
    c.end();
  });
}

export function serverPort(s: http.Server): number {
  return (s.address() as net.AddressInfo).port;
}
