// The inbound side of a lab sidecar, along Envoy's own seams (istio-behaviours.md §1–§4):
// - filter chains: one listener per container port with PeerAuthentication semantics. STRICT resets plaintext
//   with an `NR filter_chain_not_found` listener record; PERMISSIVE sniffs the first flight; DISABLE is plaintext;
// - the mTLS gate: the client chain verified against the mesh root (a node:tls server closes instead of alerting, §4c);
// - CUSTOM: HTTP requests a CUSTOM policy matches go to its ext_authz provider first (envoy/ext-authz.ts);
// - RBAC: AuthorizationPolicy on HTTP (403 `RBAC: access denied`) and TCP (close on the first bytes);
// - XFCC set as Envoy's APPEND_FORWARD does, only for mTLS peers with a certificate (§3).
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { AccessLogRecord } from '../../../harness/access-log.js';
import { uriSans } from '../../../harness/pki.js';
import { type AuthzRequest, customMatch, evaluate } from '../authz.js';
import { ISTIO_ALPNS, sniff } from '../client-hello.js';
import type { PortProtocol } from '../model.js';
import type { MtlsMode } from '../schema.js';
import { checkExtAuthz, type ExtAuthzAnswer } from './ext-authz.js';
import { addr, type SidecarHost } from './host.js';
import { forward, localReply, proxyTcp, requestFields } from './relay.js';

/** Envoy's virtual inbound listener; its stats carry this prefix. */
export const INBOUND_STATS = 'listener.0.0.0.0_15006';
/** Envoy's default idle timeout for HTTP connections (see `listen`). */
const IDLE_TIMEOUT_MS = 3_600_000;
/** Like Envoy's listener_filters_timeout: how long the inspector waits for a first flight. */
const SNIFF_TIMEOUT_MS = 5_000;
const XFCC = 'x-forwarded-client-cert';
const STATUS_ROUTE = 'default';

/** OpenSSL verify errors meaning "not chained to a root we trust" (what a foreign CA produces). */
const UNTRUSTED_CHAIN = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

interface Peer {
  mtls: boolean;
  peerUri?: string;
  peerHash?: string;
  peerSubject?: string;
  sni?: string;
}

function principalOf(peer: Peer): Pick<AuthzRequest, 'principal' | 'namespace'> {
  if (!peer.mtls || !peer.peerUri?.startsWith('spiffe://')) return {};
  const principal = peer.peerUri.slice('spiffe://'.length);
  return { principal, namespace: /\/ns\/([^/]+)\//.exec(principal)?.[1] };
}

export interface InboundPort {
  containerPort: number;
  appPort: number;
  protocol: PortProtocol;
  mode: () => Exclude<MtlsMode, 'UNSET'>;
}

/**
 * No inbound filter chain matches (I: pilot/pkg/networking/core/filterchain_options.go): STRICT has TLS chains only;
 * PERMISSIVE on an explicit-HTTP port has Istio-ALPN TLS and raw_buffer only (`inboundPermissiveHTTPFilterChainMatch
 * WithMxcOptions`: "We do not need to handle other simple TLS"), so TLS without an Istio ALPN finds none (I-L7);
 * PERMISSIVE TCP passes any TLS through. Envoy then logs NR filter_chain_not_found and closes.
 */
export function noFilterChain(mode: string, protocol: PortProtocol, isTls: boolean, istioAlpn: boolean): boolean {
  if (mode === 'STRICT') return !isTls;
  if (mode === 'PERMISSIVE') return protocol === 'http' && isTls && !istioAlpn;
  return false;
}

export class Inbound {
  private readonly peers = new WeakMap<net.Socket, Peer>();
  /** Upstream connections tcp_proxy opened for TLS connections still handshaking, by downstream remote address. */
  private readonly pendingUpstream = new Map<string, net.Socket>();

  constructor(private readonly host: SidecarHost) {
    for (const s of ['no_filter_chain_match', 'ssl.connection_error', 'ssl.fail_verify_error', 'ssl.fail_verify_no_cert']) host.stats.declare(`${INBOUND_STATS}.${s}`);
  }

  /** Starts the inbound listener for one container port; returns the loopback port standing for podIP:port. */
  async listen(p: InboundPort): Promise<number> {
    const { host } = this;
    if (p.protocol === 'http') {
      host.stats.declare(`http.inbound_0.0.0.0_${p.containerPort}.rbac.allowed`);
      host.stats.declare(`http.inbound_0.0.0.0_${p.containerPort}.rbac.denied`);
    } else {
      host.stats.declare('tcp.rbac.allowed');
      host.stats.declare('tcp.rbac.denied');
    }
    const httpServer = http.createServer((req, res) => this.http(p.appPort, p.containerPort, req, res));
    httpServer.on('clientError', (_e, s) => s.destroy());
    // Envoy keeps an idle downstream connection for the HTTP connection manager's idle_timeout, 1 h by default (E:
    // api/envoy/config/core/v3/protocol.proto HttpProtocolOptions.idle_timeout), not Node's 5 s: a client sidecar's
    // pooled connection stays usable for the whole of a lab run.
    httpServer.keepAliveTimeout = IDLE_TIMEOUT_MS;
    const tlsServer = this.tlsServer(p.protocol, httpServer, p.appPort, p.containerPort);
    const server = net.createServer((socket) => {
      host.track(socket);
      socket.on('error', () => socket.destroy());
      const local = addr(socket.localAddress, socket.localPort);
      const remote = addr(socket.remoteAddress, socket.remotePort);
      let first = Buffer.alloc(0);
      const timer = setTimeout(() => decide(true), SNIFF_TIMEOUT_MS);
      const onData = (d: Buffer) => {
        first = Buffer.concat([first, d]);
        decide(false);
      };
      socket.on('data', onData);
      socket.once('end', () => decide(true));
      let decided = false;
      const decide = (final: boolean) => {
        if (decided) return;
        const s = sniff(first);
        if (s.kind === 'incomplete' && !final && first.length < 16_384) return;
        decided = true;
        clearTimeout(timer);
        socket.off('data', onData);
        socket.pause();
        if (first.length > 0) socket.unshift(first);
        const mode = p.mode();
        const isTls = s.kind === 'tls';
        const istioAlpn = isTls && s.alpn.some((a) => ISTIO_ALPNS.includes(a));
        // Filter-chain match (I: filterchain_options.go): STRICT has TLS chains only; PERMISSIVE terminates TLS
        // carrying an Istio ALPN and passes everything else through; DISABLE has a plaintext chain only.
        const terminate = mode === 'STRICT' ? isTls : mode === 'PERMISSIVE' ? istioAlpn : false;
        if (noFilterChain(mode, p.protocol, isTls, istioAlpn)) {
          host.stats.inc(`${INBOUND_STATS}.no_filter_chain_match`);
          host.log.write('listener', {
            method: '',
            responseFlags: 'NR',
            responseCodeDetails: 'filter_chain_not_found',
            bytesReceived: 0,
            downstreamLocalAddress: local,
            downstreamRemoteAddress: remote,
          });
          socket.resetAndDestroy();
          return;
        }
        if (terminate && p.protocol !== 'http') {
          // tcp_proxy opens the upstream connection in onNewConnection, when the filter chain is chosen, before the
          // TLS handshake with the client finishes (E: source/common/tcp_proxy/tcp_proxy.cc Filter::onNewConnection);
          // a server-first app's greeting is then waiting when the handshake completes.
          const up = net.connect({ host: '127.0.0.1', port: p.appPort });
          up.on('error', () => up.destroy());
          this.pendingUpstream.set(remote, up);
          socket.once('close', () => {
            if (this.pendingUpstream.get(remote) === up) {
              this.pendingUpstream.delete(remote);
              up.destroy();
            }
          });
        }
        if (terminate) tlsServer.emit('connection', socket);
        else this.plaintext(socket, p.protocol, httpServer, p.appPort, p.containerPort, local, remote);
      };
    });
    return host.listen(server);
  }

  /** A non-listening tls.Server per inbound port: it runs OpenSSL's verification of the client chain. */
  private tlsServer(protocol: PortProtocol, httpServer: http.Server, appPort: number, containerPort: number): tls.Server {
    const { host } = this;
    const ts = tls.createServer({
      ...host.contextOptions(),
      requestCert: true,
      // node:tls verifies client certificates after the handshake and cannot send Envoy's alerts; we check below
      // and close instead (istio-behaviours.md §4c).
      rejectUnauthorized: false,
      ALPNProtocols: ['istio-http/1.1', 'istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-h2', 'http/1.1'],
    });
    host.rotates(ts);
    ts.on('tlsClientError', (_e, t) => {
      host.stats.inc(`${INBOUND_STATS}.ssl.connection_error`);
      t.destroy();
    });
    ts.on('secureConnection', (t: tls.TLSSocket) => {
      host.track(t);
      t.on('error', () => t.destroy());
      const local = addr(t.localAddress, t.localPort);
      const remote = addr(t.remoteAddress, t.remotePort);
      const peer = t.getPeerCertificate(true);
      if (!peer?.raw) {
        host.stats.inc(`${INBOUND_STATS}.ssl.fail_verify_no_cert`);
        t.destroy();
        return;
      }
      const code = String(t.authorizationError ?? '');
      const faults = host.faults();
      const excused = (code === 'CERT_HAS_EXPIRED' && faults.allowExpiredCertificate) || (UNTRUSTED_CHAIN.has(code) && faults.acceptUntrustedChain);
      if (!t.authorized && !excused) {
        // A failed handshake leaves no access-log record in Istio's default setup (istio-behaviours.md §4); the
        // listener stat is the only trace, and a default stats matcher drops it (§10).
        host.stats.inc(`${INBOUND_STATS}.ssl.fail_verify_error`);
        t.destroy();
        return;
      }
      const der = peer.raw;
      this.peers.set(t, {
        mtls: true,
        peerUri: uriSans(der)[0],
        peerHash: createHash('sha256').update(der).digest('hex'),
        peerSubject: (new X509Certificate(der).subject ?? '').replace(/\n/g, ','),
        sni: (t as tls.TLSSocket & { servername?: string | false }).servername || undefined,
      });
      if (protocol === 'http') httpServer.emit('connection', t);
      else {
        const up = this.pendingUpstream.get(remote);
        this.pendingUpstream.delete(remote);
        this.tcpToApp(t, appPort, containerPort, local, remote, true, up);
      }
    });
    return ts;
  }

  private plaintext(socket: net.Socket, protocol: PortProtocol, httpServer: http.Server, appPort: number, containerPort: number, local: string, remote: string): void {
    this.peers.set(socket, { mtls: false });
    if (protocol === 'http') {
      httpServer.emit('connection', socket);
      socket.resume();
    } else this.tcpToApp(socket, appPort, containerPort, local, remote, false);
  }

  /**
   * The TCP chain: tcp_proxy connects upstream at once (or already did, `pending`), and relays what the app sends;
   * the RBAC network filter decides only on the client's first bytes (E: source/extensions/filters/network/rbac/
   * rbac_filter.cc `onData`), which tcp_proxy lets through only once the upstream is connected (it read-disables
   * the downstream until then). So a server-first app's greeting reaches a denied client before the close, and the
   * close carries `rbac_access_denied_matched_policy[…]` as CONNECTION_TERMINATION_DETAILS (istio-behaviours.md §2).
   */
  private tcpToApp(down: net.Socket, appPort: number, containerPort: number, local: string, remote: string, mtls: boolean, pending?: net.Socket): void {
    const { host } = this;
    const started = Date.now();
    const sni = mtls ? this.peers.get(down)?.sni : undefined;
    const up = pending ?? net.connect({ host: '127.0.0.1', port: appPort });
    const decision = evaluate(host.policies(), { ...principalOf(this.peers.get(down) ?? { mtls: false }), port: containerPort, http: false });
    if (!decision.allowed) {
      host.track(up);
      up.on('error', () => up.destroy());
      down.on('error', () => up.destroy());
      up.on('data', (d: Buffer) => {
        if (!down.destroyed) down.write(d);
      });
      down.pause();
      const onFirstBytes = () =>
        down.once('data', () => {
          host.stats.inc('tcp.rbac.denied');
          host.log.write('server', {
            connectionTerminationDetails: `rbac_access_denied_matched_policy[${decision.policy}]`,
            bytesReceived: down.bytesRead,
            bytesSent: down.bytesWritten,
            durationMs: Date.now() - started,
            upstreamHost: `127.0.0.1:${appPort}`,
            upstreamCluster: `inbound|${containerPort}||`,
            downstreamLocalAddress: local,
            downstreamRemoteAddress: remote,
            requestedServerName: sni,
          });
          up.destroy();
          down.end();
        });
      const go = () => {
        onFirstBytes();
        down.resume();
      };
      if (up.connecting) up.once('connect', go);
      else go();
      up.once('close', () => {
        if (up.connecting) down.destroy(); // upstream never came: tcp_proxy closes the downstream (UF)
      });
      return;
    }
    host.stats.inc('tcp.rbac.allowed');
    proxyTcp(host, 'server', down, up, () => ({
      upstreamHost: `127.0.0.1:${appPort}`,
      upstreamCluster: `inbound|${containerPort}||`,
      downstreamLocalAddress: local,
      downstreamRemoteAddress: remote,
      requestedServerName: sni,
    }));
  }

  private xfccElement(peer: Peer): string {
    // Envoy order: By, Hash, Subject, URI (E: conn_manager_utility.cc); Subject is empty for istiod certificates.
    return `By=${this.host.cert().spiffeId};Hash=${peer.peerHash};Subject="${peer.peerSubject ?? ''}";URI=${peer.peerUri ?? ''}`;
  }

  private http(appPort: number, containerPort: number, req: http.IncomingMessage, res: http.ServerResponse): void {
    const { host } = this;
    const started = Date.now();
    const sock = req.socket;
    const peer = this.peers.get(sock) ?? { mtls: false };
    const headers: http.OutgoingHttpHeaders = { ...req.headers };
    if (peer.mtls && peer.peerHash) {
      // APPEND_FORWARD: keep what the client's proxy forwarded, append this hop. Trust only the last element.
      const prior = req.headers[XFCC];
      headers[XFCC] = prior ? `${prior},${this.xfccElement(peer)}` : this.xfccElement(peer);
    } else {
      delete headers[XFCC]; // not mTLS: Envoy removes the header rather than forward a client's claim
    }
    headers['x-forwarded-proto'] = peer.mtls ? 'https' : 'http';
    headers['x-request-id'] ??= randomUUID();
    const authzRequest: AuthzRequest = { ...principalOf(peer), method: req.method, path: (req.url ?? '/').split('?')[0], host: req.headers.host, port: containerPort, http: true };
    const base: Partial<AccessLogRecord> = {
      ...requestFields(req, headers),
      xForwardedFor: req.headers['x-forwarded-for'] as string | undefined,
      upstreamCluster: `inbound|${containerPort}||`,
      upstreamHost: `127.0.0.1:${appPort}`,
      downstreamLocalAddress: addr(sock.localAddress, sock.localPort),
      downstreamRemoteAddress: addr(sock.remoteAddress, sock.remotePort),
      requestedServerName: peer.sni,
      routeName: STATUS_ROUTE,
    };
    // CUSTOM first, then DENY and ALLOW (RBAC), the router last (I: pilot/pkg/networking/core/listener_builder.go).
    const custom = customMatch(host.policies(), authzRequest);
    if (!custom) {
      this.rbacThenApp(appPort, containerPort, req, res, started, base, headers, authzRequest);
      return;
    }
    req.pause(); // ext_authz holds the request until the provider answers
    const provider = host.mesh.extAuthz(custom.provider);
    const answer: Promise<ExtAuthzAnswer> = provider ? checkExtAuthz(provider, req) : Promise.resolve({ allowed: false, status: 403, body: '', details: 'ext_authz_error' });
    void answer.then((a) => {
      if (a.allowed) {
        req.resume();
        this.rbacThenApp(appPort, containerPort, req, res, started, base, headers, authzRequest);
        return;
      }
      req.resume();
      host.stats.inc(`http.inbound_0.0.0.0_${containerPort}.ext_authz.${a.details === 'ext_authz_denied' ? 'denied' : 'error'}`);
      localReply(host, 'server', res, a.status, a.body, { ...base, upstreamHost: undefined, upstreamCluster: undefined, responseFlags: 'UAEX', responseCodeDetails: a.details });
    });
  }

  /** The RBAC filter (DENY, then ALLOW), then the router to the app. */
  private rbacThenApp(appPort: number, containerPort: number, req: http.IncomingMessage, res: http.ServerResponse, started: number, base: Partial<AccessLogRecord>, headers: http.OutgoingHttpHeaders, authzRequest: AuthzRequest): void {
    const { host } = this;
    const decision = evaluate(host.policies(), authzRequest);
    if (!decision.allowed) {
      // E: rbac_filter.cc: 403, body exactly `RBAC: access denied`, details name the deciding policy (§2).
      host.stats.inc(`http.inbound_0.0.0.0_${containerPort}.rbac.denied`);
      req.resume();
      localReply(host, 'server', res, 403, 'RBAC: access denied', { ...base, upstreamHost: undefined, upstreamCluster: undefined, responseCodeDetails: `rbac_access_denied_matched_policy[${decision.policy}]` });
      return;
    }
    host.stats.inc(`http.inbound_0.0.0.0_${containerPort}.rbac.allowed`);
    forward(host, { req, res, started, base, headers, side: 'server' }, (h, cb) =>
      http.request({ host: '127.0.0.1', port: appPort, method: req.method, path: req.url, headers: h, agent: false }, cb),
    );
  }
}
