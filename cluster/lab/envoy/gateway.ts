// The listeners of a lab ingress gateway: what Envoy does with Istio `Gateway` servers bound to a gateway pod and
// the `VirtualService` routes bound to them. The pod's identity, outbound clusters (mTLS to the backend with the
// gateway's own SPIFFE ID, XFCC sanitised), stats and access log are a lab sidecar's, as a gateway is an Envoy with
// the same xDS.
// - HTTPS SIMPLE: TLS terminated with the `credentialName` Secret chosen by SNI; protocol versions and cipher
//   suites are Envoy's downstream defaults unless the server sets them (I: pilot/pkg/networking/core/listener.go
//   applyServerTLSSettings; gateway.go buildGatewayListenerTLSContext): minimum TLS 1.2, maximum 1.3, and for TLS ≤ 1.2
//   the default server list below (E: api/envoy/extensions/transport_sockets/tls/v3/common.proto). Below TLS 1.2 the
//   defaults hold no compatible suite, so a lower minimum alone still negotiates nothing older (same source).
// - HTTP with `httpsRedirect`: the virtual host gets `require_tls: ALL` (I: gateway.go), so Envoy answers every
//   request with a 301 to the same host and path over https (E: api/envoy/config/route/v3/route_components.proto).
// - No virtual host for the request's authority: 404 with flag NR, details `route_not_found`.
// - The gateway's own AuthorizationPolicies apply, as on any workload (§2), in the RBAC filter before the router: a
//   denied plaintext request gets 403, not the redirect (E: the http filter chain ends with the router).
import http from 'node:http';
import type net from 'node:net';
import tls from 'node:tls';
import type { AccessLogRecord } from '../../../harness/access-log.js';
import { evaluate } from '../authz.js';
import type { GatewayServerModel } from '../model.js';
import type { TlsVersion } from '../schema.js';
import { addr, type SidecarHost } from './host.js';
import { localReply, requestFields, upstreamTime } from './relay.js';
import { RBAC_DENIED_BODY } from '../../../harness/classify.js';

/** Envoy's default server cipher list for TLS ≤ 1.2, non-FIPS (BoringSSL's equal-preference brackets flattened). */
export const ENVOY_DEFAULT_SERVER_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
];

const NODE_VERSION: Record<Exclude<TlsVersion, 'TLS_AUTO'>, tls.SecureVersion> = {
  TLSV1_0: 'TLSv1',
  TLSV1_1: 'TLSv1.1',
  TLSV1_2: 'TLSv1.2',
  TLSV1_3: 'TLSv1.3',
};

/** One Gateway server bound to this pod's container port, with its credential when it terminates TLS. */
export interface ServerBinding {
  /** `<ns>/<name>` of the Gateway. */
  gateway: string;
  server: GatewayServerModel;
  credential?: { chainPem: string; keyPem: string };
}

export interface GatewayRouting {
  /** The backend of the VirtualService bound to one of `gateways` for `host`; undefined: no virtual host. */
  route(gateways: string[], host: string): { namespace: string; service: string; port: number } | undefined;
  /** This pod's outbound listener for a Service port (its capture, as for any client in the lab). */
  outbound(namespace: string, service: string, port: number): Promise<number>;
}

export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return pattern === host;
}

/** The TLS parameters of a set of HTTPS servers sharing one port (the lab refuses differing ones). */
export function tlsParameters(servers: GatewayServerModel[]): { minVersion: tls.SecureVersion; maxVersion: tls.SecureVersion; ciphers: string } {
  const first = servers[0]!;
  for (const s of servers.slice(1)) {
    if (s.minProtocolVersion !== first.minProtocolVersion || s.maxProtocolVersion !== first.maxProtocolVersion || String(s.cipherSuites) !== String(first.cipherSuites)) {
      throw new Error(`HTTPS servers on port ${first.port} differ in TLS settings: the lab implements one set per port`);
    }
  }
  const min = first.minProtocolVersion === 'TLS_AUTO' ? 'TLSv1.2' : NODE_VERSION[first.minProtocolVersion];
  const max = first.maxProtocolVersion === 'TLS_AUTO' ? 'TLSv1.3' : NODE_VERSION[first.maxProtocolVersion];
  // BoringSSL has no security levels; OpenSSL 3 needs level 0 to sign TLS 1.0/1.1 handshakes with SHA-1.
  const legacy = min === 'TLSv1' || min === 'TLSv1.1';
  return { minVersion: min, maxVersion: max, ciphers: (first.cipherSuites ?? ENVOY_DEFAULT_SERVER_CIPHERS).join(':') + (legacy ? '@SECLEVEL=0' : '') };
}

export class GatewayListeners {
  constructor(
    private readonly host: SidecarHost,
    private readonly routing: GatewayRouting,
  ) {}

  /** Listens for every server bound to one container port; returns the loopback port standing for podIP:port. */
  async listen(containerPort: number, bindings: ServerBinding[]): Promise<number> {
    const https = bindings.filter((b) => b.server.protocol === 'HTTPS');
    if (https.length > 0 && https.length !== bindings.length) throw new Error(`port ${containerPort}: HTTP and HTTPS servers on one port are not implemented by the lab`);
    const handler = (scheme: 'http' | 'https') => (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(scheme, containerPort, bindings, req, res);
    if (https.length === 0) {
      const server = http.createServer(handler('http'));
      server.on('connection', (s: net.Socket) => this.host.track(s));
      return this.host.listen(server);
    }
    const params = tlsParameters(https.map((b) => b.server));
    // A server whose credentialName istiod's SDS did not send (the gateway may not list secrets) has a filter chain
    // with no certificate: its handshakes fail (istio pilot/pkg/security/model/authentication.go SDSAdsConfig leaves
    // Envoy's initial_fetch_timeout at its default, so the listener comes up without the secret).
    const contexts = https.map((b) => ({ hosts: b.server.hosts, ctx: b.credential ? tls.createSecureContext({ cert: b.credential.chainPem, key: b.credential.keyPem, ...params }) : undefined }));
    const server = tls.createServer({
      ...params,
      ALPNProtocols: ['http/1.1'],
      // The filter chain by SNI (server_names = the server's hosts); no match: no chain, the connection closes.
      SNICallback: (name, cb) => {
        const hit = contexts.find((c) => c.hosts.some((h) => hostMatches(h, name)));
        if (hit && !hit.ctx) return cb(new Error(`no certificate for SNI ${name}: SDS refused the credentialName`));
        cb(hit ? null : new Error(`no filter chain for SNI ${name}`), hit?.ctx);
      },
    });
    const inner = http.createServer(handler('https'));
    server.on('secureConnection', (s: tls.TLSSocket) => {
      this.host.track(s);
      inner.emit('connection', s);
    });
    server.on('connection', (s: net.Socket) => this.host.track(s));
    server.on('tlsClientError', (_e, s) => s.destroy());
    return this.host.listen(server);
  }

  private handle(scheme: 'http' | 'https', containerPort: number, bindings: ServerBinding[], req: http.IncomingMessage, res: http.ServerResponse): void {
    const { host } = this;
    const authority = (req.headers.host ?? '').replace(/:\d+$/, '');
    const headers: http.OutgoingHttpHeaders = { ...req.headers };
    const base: Partial<AccessLogRecord> = {
      ...requestFields(req, headers),
      downstreamRemoteAddress: addr(req.socket.remoteAddress, req.socket.remotePort),
      downstreamLocalAddress: addr(req.socket.localAddress, req.socket.localPort),
      requestedServerName: scheme === 'https' ? ((req.socket as tls.TLSSocket).servername || undefined) : undefined,
    };
    // The RBAC filter runs before the router, and both the https redirect (a direct response of the virtual host's
    // require_tls) and route_not_found are the router's: a gateway that denies a request answers 403 even on its
    // plaintext port, and even for an authority it has no virtual host for (I-L4; I: listener_builder.go
    // buildHTTPConnectionManager puts the router last).
    const decision = evaluate(host.policies(), { method: req.method, path: (req.url ?? '/').split('?')[0], host: req.headers.host, port: containerPort, http: true });
    if (!decision.allowed) {
      host.stats.inc(`http.outbound_0.0.0.0_${containerPort}.rbac.denied`); // a gateway's HTTP stat prefix
      localReply(host, 'client', res, 403, RBAC_DENIED_BODY, { ...base, responseCodeDetails: `rbac_access_denied_matched_policy[${decision.policy ?? 'none'}]` });
      return;
    }
    // No virtual host for the authority: Envoy's route_not_found, 404 with an empty body and nothing upstream called
    // (I: pilot/pkg/networking/core/gateway.go buildGatewayHTTPRouteConfig: only the server's hosts get vhosts).
    const bound = bindings.filter((b) => b.server.hosts.some((h) => hostMatches(h, authority)));
    if (bound.length === 0) {
      localReply(host, 'client', res, 404, '', { ...base, responseFlags: 'NR', responseCodeDetails: 'route_not_found' });
      return;
    }
    if (scheme === 'http' && bound.some((b) => b.server.httpsRedirect)) {
      // Envoy keeps the request's port unless it is the old scheme's default (:80) (I-L4; E:
      // source/common/http/utility.cc processRequestHost).
      const requestHost = req.headers.host ?? '';
      const location = `https://${requestHost.endsWith(':80') ? requestHost.slice(0, -3) : requestHost}${req.url ?? '/'}`;
      res.writeHead(301, { location, server: 'istio-envoy', 'content-length': 0 }).end();
      host.log.write('client', { ...base, responseCode: 301, responseCodeDetails: 'direct_response' });
      return;
    }
    const to = this.routing.route(bound.map((b) => b.gateway), authority);
    if (!to) {
      localReply(host, 'client', res, 404, '', { ...base, responseFlags: 'NR', responseCodeDetails: 'route_not_found' });
      return;
    }
    headers['x-forwarded-proto'] = scheme;
    const client = req.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${req.headers['x-forwarded-for']}, ${client}` : client;
    void this.routing.outbound(to.namespace, to.service, to.port).then(
      (port) => {
        const sent = Date.now();
        const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers, agent: false }, (ur) => {
          // The router's header on every upstream answer unless suppressed (E: source/common/router/router.cc).
          res.writeHead(ur.statusCode ?? 502, { ...ur.headers, ...upstreamTime(host, sent) });
          ur.pipe(res);
        });
        up.on('error', () => localReply(host, 'client', res, 503, 'upstream connect error or disconnect/reset before headers. reset reason: connection failure', { ...base, responseFlags: 'UF' }));
        req.pipe(up);
      },
      () => localReply(host, 'client', res, 503, 'no healthy upstream', { ...base, responseFlags: 'UH' }),
    );
  }
}
