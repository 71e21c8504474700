// One lab sidecar: emulates the observable behaviour of an injected Envoy as istio-behaviours.md describes it.
// - inbound listener per container port with PeerAuthentication semantics (§1): STRICT resets plaintext with an
//   `NR filter_chain_not_found` record; PERMISSIVE sniffs the first flight; DISABLE is plaintext only;
// - XFCC set as Envoy's APPEND_FORWARD does, only for mTLS peers with a certificate (§3);
// - outbound listeners that originate mTLS with this workload's identity (auto-mTLS) and sanitise app XFCC;
// - a loopback admin port with `/certs` in Envoy's JSON shape and `/stats` counters.
// It is a test bed for the harness, not a mesh.
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { formatAccessLog } from '../../harness/access-log.js';
import type { AccessLogRecord } from '../../harness/access-log.js';
import { uriSans } from '../../harness/pki.js';
import type { IssuedCert } from '../../harness/pki.js';
import { ISTIO_ALPNS, sniff } from './client-hello.js';
import { type AuthzRequest, evaluate } from './authz.js';
import type { AuthzPolicyModel, LabFaults, PortProtocol, TrafficPolicy } from './model.js';
import type { MtlsMode } from './schema.js';

/** Envoy's virtual inbound listener; its stats carry this prefix. */
const INBOUND_STATS = 'listener.0.0.0.0_15006';
/** Like Envoy's listener_filters_timeout: how long the inspector waits for a first flight. */
const SNIFF_TIMEOUT_MS = 5_000;
const UPSTREAM_TIMEOUT_MS = 15_000;
const XFCC = 'x-forwarded-client-cert';

export interface UpstreamEndpoint {
  pod: string;
  /** 127.0.0.1:port of the destination pod's inbound listener (or its app port when it has no sidecar). */
  address: string;
  /** Auto-mTLS: the destination has a sidecar and its port is not DISABLE. */
  mtls: boolean;
  /** The SPIFFE ID the destination must present. */
  spiffeId: string;
}

interface ClusterState {
  /** Upstream requests in flight (one connection each). */
  inflight: number;
  /** Requests waiting for a connection (http1MaxPendingRequests bounds this queue). */
  pending: (() => void)[];
  consecutive5xx: Map<string, number>;
  ejectedUntil: Map<string, number>;
  ejections: Map<string, number>;
  release(): void;
}

/** `outbound|8080||echo.mesh.svc.cluster.local` → namespace, service, port. */
function clusterTarget(cluster: string): [string, string, number] {
  const [, port, , fqdn] = cluster.split('|') as [string, string, string, string];
  const [svc, ns] = fqdn.split('.') as [string, string];
  return [ns, svc, Number(port)];
}

/** Envoy's local reply when a circuit breaker overflows (E: source/common/router/router.cc). */
export const OVERFLOW_BODY = 'upstream connect error or disconnect/reset before headers. reset reason: overflow';

export interface MeshView {
  trafficPolicy(clientNamespace: string, namespace: string, service: string): TrafficPolicy | undefined;
  rootPem(): string;
  upstreams(namespace: string, service: string, port: number): UpstreamEndpoint[];
}

interface Peer {
  mtls: boolean;
  peerUri?: string;
  peerHash?: string;
  peerSubject?: string;
  sni?: string;
}

export interface SidecarOptions {
  namespace: string;
  pod: string;
  cert: IssuedCert;
  mesh: MeshView;
  accessLogging: boolean;
  /** AuthorizationPolicies that apply to this workload, as istiod would push them. */
  policies: () => AuthzPolicyModel[];
  faults: () => LabFaults;
}

/** OpenSSL verify errors meaning "not chained to a root we trust" (what a foreign CA produces). */
const UNTRUSTED_CHAIN = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

function principalOf(peer: Peer): Pick<AuthzRequest, 'principal' | 'namespace'> {
  if (!peer.mtls || !peer.peerUri?.startsWith('spiffe://')) return {};
  const principal = peer.peerUri.slice('spiffe://'.length);
  return { principal, namespace: /\/ns\/([^/]+)\//.exec(principal)?.[1] };
}

const STATUS_ROUTE = 'default';

export class Sidecar {
  readonly accessLog: string[] = [];
  private readonly counters = new Map<string, number>();
  private readonly servers = new Set<net.Server>();
  private readonly sockets = new Set<net.Socket>();
  private readonly peers = new WeakMap<net.Socket, Peer>();
  private cert: IssuedCert;
  private readonly tlsServers = new Set<tls.Server>();
  private readonly rr = new Map<string, number>();
  private readonly clusters = new Map<string, ClusterState>();
  private closed = false;

  constructor(private readonly o: SidecarOptions) {
    this.cert = o.cert;
  }

  get namespace(): string {
    return this.o.namespace;
  }

  get currentCert(): IssuedCert {
    return this.cert;
  }

  /** Rotation: new handshakes use the new certificate; established connections keep theirs, as in Envoy. */
  setCert(cert: IssuedCert): void {
    this.cert = cert;
    for (const ts of this.tlsServers) ts.setSecureContext(this.contextOptions());
  }

  private contextOptions(): tls.SecureContextOptions {
    return { cert: this.cert.chainPem, key: this.cert.keyPem, ca: this.o.mesh.rootPem(), minVersion: 'TLSv1.2' };
  }

  bump(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  /** Test hook: drop records although logging is configured on (an audit gap the checks must catch). */
  muted = false;

  private log(r: Partial<AccessLogRecord>): void {
    if (!this.o.accessLogging || this.muted) return;
    this.accessLog.push(formatAccessLog({ startTime: new Date().toISOString(), ...r }));
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  private async listen(server: net.Server): Promise<number> {
    if (this.closed) throw new Error(`sidecar ${this.o.pod} is closed`);
    this.servers.add(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  }

  // ---------------------------------------------------------------- inbound

  /** Starts the inbound listener for one container port; returns the loopback port standing for podIP:port. */
  async inbound(p: { containerPort: number; appPort: number; protocol: PortProtocol; mode: () => Exclude<MtlsMode, 'UNSET'> }): Promise<number> {
    const httpServer = http.createServer((req, res) => this.inboundHttp(p.appPort, p.containerPort, req, res));
    httpServer.on('clientError', (_e, s) => s.destroy());
    const tlsServer = this.tlsServer(p.protocol, httpServer, p.appPort, p.containerPort);
    const server = net.createServer((socket) => {
      this.track(socket);
      socket.on('error', () => socket.destroy());
      const local = `${socket.localAddress}:${socket.localPort}`;
      const remote = `${socket.remoteAddress}:${socket.remotePort}`;
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
        if (mode === 'STRICT' && !isTls) {
          this.bump(`${INBOUND_STATS}.no_filter_chain_match`);
          this.log({
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
        if (terminate) tlsServer.emit('connection', socket);
        else this.plaintext(socket, p.protocol, httpServer, p.appPort, p.containerPort, local, remote);
      };
    });
    return this.listen(server);
  }

  /** A non-listening tls.Server per inbound port: it runs OpenSSL's verification of the client chain. */
  private tlsServer(protocol: PortProtocol, httpServer: http.Server, appPort: number, containerPort: number): tls.Server {
    const ts = tls.createServer({
      ...this.contextOptions(),
      requestCert: true,
      // node:tls verifies client certificates after the handshake and cannot send Envoy's alerts; we check below
      // and close instead (istio-behaviours.md §4c).
      rejectUnauthorized: false,
      ALPNProtocols: ['istio-http/1.1', 'istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-h2', 'http/1.1'],
    });
    this.tlsServers.add(ts);
    ts.on('tlsClientError', (_e, t) => {
      this.bump(`${INBOUND_STATS}.ssl.connection_error`);
      t.destroy();
    });
    ts.on('secureConnection', (t: tls.TLSSocket) => {
      this.track(t);
      t.on('error', () => t.destroy());
      const local = `${t.localAddress}:${t.localPort}`;
      const remote = `${t.remoteAddress}:${t.remotePort}`;
      const peer = t.getPeerCertificate(true);
      if (!peer?.raw) {
        this.bump(`${INBOUND_STATS}.ssl.fail_verify_no_cert`);
        this.log({ upstreamTransportFailureReason: 'no_peer_certificate', downstreamLocalAddress: local, downstreamRemoteAddress: remote });
        t.destroy();
        return;
      }
      const code = String(t.authorizationError ?? '');
      const faults = this.o.faults();
      const excused = (code === 'CERT_HAS_EXPIRED' && faults.allowExpiredCertificate) || (UNTRUSTED_CHAIN.has(code) && faults.acceptUntrustedChain);
      if (!t.authorized && !excused) {
        this.bump(`${INBOUND_STATS}.ssl.fail_verify_error`);
        this.log({ upstreamTransportFailureReason: `verify_failed:${String(t.authorizationError)}`, downstreamLocalAddress: local, downstreamRemoteAddress: remote });
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
      else this.tcpToApp(t, appPort, containerPort, local, remote, true);
    });
    return ts;
  }

  private plaintext(
    socket: net.Socket,
    protocol: PortProtocol,
    httpServer: http.Server,
    appPort: number,
    containerPort: number,
    local: string,
    remote: string,
  ): void {
    this.peers.set(socket, { mtls: false });
    if (protocol === 'http') {
      httpServer.emit('connection', socket);
      socket.resume();
    } else this.tcpToApp(socket, appPort, containerPort, local, remote, false);
  }

  private tcpToApp(down: net.Socket, appPort: number, containerPort: number, local: string, remote: string, mtls: boolean): void {
    const started = Date.now();
    const decision = evaluate(this.o.policies(), { ...principalOf(this.peers.get(down) ?? { mtls: false }), port: containerPort, http: false });
    if (!decision.allowed) {
      // The connection is accepted; the RBAC network filter closes it on the first client bytes (§2).
      down.once('data', () => {
        this.bump('tcp.rbac.denied');
        this.log({
          connectionTerminationDetails: `rbac_access_denied_matched_policy[${decision.policy}]`,
          bytesReceived: down.bytesRead,
          durationMs: Date.now() - started,
          upstreamCluster: `inbound|${containerPort}||`,
          downstreamLocalAddress: local,
          downstreamRemoteAddress: remote,
          requestedServerName: this.peers.get(down)?.sni,
        });
        down.end();
      });
      down.resume();
      return;
    }
    const up = net.connect({ host: '127.0.0.1', port: appPort });
    this.track(up);
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
      this.log({
        responseFlags: failed ? 'UF' : '',
        bytesReceived: down.bytesRead,
        bytesSent: down.bytesWritten,
        durationMs: Date.now() - started,
        upstreamHost: `127.0.0.1:${appPort}`,
        upstreamCluster: `inbound|${containerPort}||`,
        downstreamLocalAddress: local,
        downstreamRemoteAddress: remote,
        requestedServerName: mtls ? this.peers.get(down)?.sni : undefined,
      });
    });
  }

  private xfccElement(peer: Peer): string {
    // Envoy order: By, Hash, Subject, URI (E: conn_manager_utility.cc); Subject is empty for istiod certificates.
    return `By=${this.cert.spiffeId};Hash=${peer.peerHash};Subject="${peer.peerSubject ?? ''}";URI=${peer.peerUri ?? ''}`;
  }

  private inboundHttp(appPort: number, containerPort: number, req: http.IncomingMessage, res: http.ServerResponse): void {
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
    const decision = evaluate(this.o.policies(), {
      ...principalOf(peer),
      method: req.method,
      path: (req.url ?? '/').split('?')[0],
      port: containerPort,
      http: true,
    });
    const base: Partial<AccessLogRecord> = {
      method: req.method,
      path: req.url,
      protocol: `HTTP/${req.httpVersion}`,
      userAgent: req.headers['user-agent'],
      requestId: String(headers['x-request-id']),
      authority: req.headers.host,
      xForwardedFor: req.headers['x-forwarded-for'] as string | undefined,
      upstreamCluster: `inbound|${containerPort}||`,
      upstreamHost: `127.0.0.1:${appPort}`,
      downstreamLocalAddress: `${sock.localAddress}:${sock.localPort}`,
      downstreamRemoteAddress: `${sock.remoteAddress}:${sock.remotePort}`,
      requestedServerName: peer.sni,
      routeName: STATUS_ROUTE,
    };
    if (!decision.allowed) {
      // E: rbac_filter.cc: 403, body exactly `RBAC: access denied`, details name the deciding policy (§2).
      this.bump(`http.inbound_0.0.0.0_${containerPort}.rbac.denied`);
      req.resume();
      this.localReply(res, 403, 'RBAC: access denied', { ...base, upstreamHost: undefined, upstreamCluster: undefined, responseCodeDetails: `rbac_access_denied_matched_policy[${decision.policy}]` });
      return;
    }
    this.forward(
      { req, res, started, base, headers },
      (h, cb) => http.request({ host: '127.0.0.1', port: appPort, method: req.method, path: req.url, headers: h, agent: false }, cb),
    );
  }

  /** Relays one request upstream and the answer back, with Envoy's local replies on upstream failure. */
  private forward(
    x: {
      req: http.IncomingMessage;
      res: http.ServerResponse;
      started: number;
      base: Partial<AccessLogRecord>;
      headers: http.OutgoingHttpHeaders;
      onStatus?: (status: number) => void;
    },
    open: (h: http.OutgoingHttpHeaders, cb: (r: http.IncomingMessage) => void) => http.ClientRequest,
  ): void {
    const { req, res, started, base } = x;
    let answered = false;
    const up = open(x.headers, (ur) => {
      answered = true;
      x.onStatus?.(ur.statusCode ?? 502);
      const h = { ...ur.headers, server: 'istio-envoy', 'x-envoy-upstream-service-time': String(Date.now() - started) };
      res.writeHead(ur.statusCode ?? 502, h);
      ur.pipe(res);
      ur.on('end', () =>
        this.log({ ...base, responseCode: ur.statusCode, responseCodeDetails: 'via_upstream', bytesReceived: req.socket.bytesRead, bytesSent: Number(ur.headers['content-length'] ?? 0), durationMs: Date.now() - started, upstreamServiceTime: String(Date.now() - started) }),
      );
    });
    up.setTimeout(UPSTREAM_TIMEOUT_MS, () => up.destroy(Object.assign(new Error('upstream timeout'), { code: 'ETIMEDOUT' })));
    up.on('error', (e: NodeJS.ErrnoException) => {
      if (answered) {
        res.destroy();
        return;
      }
      const refused = e.code === 'ECONNREFUSED' || e.code === 'ETIMEDOUT' || /certificate|SSL|TLS|SAN/i.test(e.message);
      const reason = refused ? 'connection failure' : 'connection termination';
      const flag = refused ? 'UF' : 'UC';
      x.onStatus?.(503);
      this.localReply(res, 503, `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`, {
        ...base,
        responseFlags: flag,
        responseCodeDetails: `upstream_reset_before_response_started{${reason.replace(' ', '_')}}`,
        upstreamTransportFailureReason: refused && e.code !== 'ECONNREFUSED' ? e.message : undefined,
        durationMs: Date.now() - started,
      });
    });
    req.pipe(up);
  }

  private localReply(res: http.ServerResponse, status: number, body: string, record: Partial<AccessLogRecord>): void {
    if (!res.headersSent) {
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), server: 'istio-envoy' });
    }
    res.end(body);
    this.log({ ...record, responseCode: status, bytesSent: Buffer.byteLength(body) });
  }

  // ---------------------------------------------------------------- outbound

  private pick(namespace: string, service: string, port: number, state?: ClusterState): UpstreamEndpoint | undefined {
    const now = Date.now();
    const eps = this.o.mesh.upstreams(namespace, service, port).filter((e) => !state || (state.ejectedUntil.get(e.address) ?? 0) <= now);
    if (eps.length === 0) return undefined;
    const key = `${namespace}/${service}:${port}`;
    const i = this.rr.get(key) ?? 0;
    this.rr.set(key, i + 1);
    return eps[i % eps.length];
  }

  private tlsOptions(ep: UpstreamEndpoint, fqdn: string, port: number, alpn: string): tls.ConnectionOptions {
    return {
      cert: this.cert.chainPem,
      key: this.cert.keyPem,
      ca: this.o.mesh.rootPem(),
      ALPNProtocols: [alpn],
      servername: `outbound_.${port}_._.${fqdn}`,
      // Istio verifies the server's SPIFFE ID, not a DNS name.
      checkServerIdentity: (_host, cert) =>
        cert.raw && uriSans(cert.raw).includes(ep.spiffeId)
          ? undefined
          : Object.assign(new Error(`SAN mismatch: expected ${ep.spiffeId}`), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
    };
  }

  /** An outbound listener for one Service port, standing for this pod's capture of `<svc>.<ns>:<port>`. */
  async outbound(namespace: string, service: string, port: number, protocol: PortProtocol): Promise<number> {
    const fqdn = `${service}.${namespace}.svc.cluster.local`;
    const cluster = `outbound|${port}||${fqdn}`;
    if (protocol === 'tcp') {
      const server = net.createServer((down) => {
        this.track(down);
        const started = Date.now();
        const ep = this.pick(namespace, service, port);
        down.on('error', () => down.destroy());
        if (!ep) {
          this.log({ responseFlags: 'UH', upstreamCluster: cluster });
          down.destroy();
          return;
        }
        const [host, p] = ep.address.split(':') as [string, string];
        const up = ep.mtls ? tls.connect({ host, port: Number(p), ...this.tlsOptions(ep, fqdn, port, 'istio') }) : net.connect({ host, port: Number(p) });
        this.track(up);
        let failed = false;
        up.on('error', () => {
          failed = true;
          down.destroy();
        });
        down.on('close', () => {
          up.destroy();
          this.log({ responseFlags: failed ? 'UF' : '', bytesReceived: down.bytesRead, bytesSent: down.bytesWritten, durationMs: Date.now() - started, upstreamHost: ep.address, upstreamCluster: cluster, downstreamRemoteAddress: `${down.remoteAddress}:${down.remotePort}` });
        });
        down.pipe(up);
        up.pipe(down);
      });
      return this.listen(server);
    }
    const server = http.createServer((req, res) => {
      const started = Date.now();
      const headers: http.OutgoingHttpHeaders = { ...req.headers };
      delete headers[XFCC]; // outbound sanitises app-supplied XFCC (istio-behaviours.md §3)
      headers['x-request-id'] ??= randomUUID();
      headers['x-forwarded-proto'] = 'http';
      const base: Partial<AccessLogRecord> = {
        method: req.method,
        path: req.url,
        protocol: `HTTP/${req.httpVersion}`,
        userAgent: req.headers['user-agent'],
        requestId: String(headers['x-request-id']),
        authority: req.headers.host,
        upstreamCluster: cluster,
        downstreamRemoteAddress: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
        routeName: STATUS_ROUTE,
      };
      const policy = this.o.mesh.trafficPolicy(this.o.namespace, namespace, service);
      const state = this.clusterState(cluster);
      const dispatch = () => {
        const ep = this.pick(namespace, service, port, state);
        if (!ep) {
          state.release();
          this.localReply(res, 503, 'no healthy upstream', { ...base, responseFlags: 'UH', responseCodeDetails: 'no_healthy_upstream' });
          return;
        }
        base.upstreamHost = ep.address;
        const [host, p] = ep.address.split(':') as [string, string];
        // One upstream connection per request (as with maxRequestsPerConnection: 1), so connections in use equal
        // requests in flight: the bound an HTTP/1.1 pool enforces either way.
        res.once('close', () => state.release());
        this.forward(
          { req, res, started, base, headers, onStatus: (code) => this.outlierResult(cluster, state, ep.address, code, policy) },
          (h, cb) =>
            ep.mtls
              ? https.request({ host, port: Number(p), method: req.method, path: req.url, headers: h, agent: false, ...this.tlsOptions(ep, fqdn, port, 'istio-http/1.1') }, cb)
              : http.request({ host, port: Number(p), method: req.method, path: req.url, headers: h, agent: false }, cb),
        );
      };
      // Circuit breaking, enforced here in the CLIENT's sidecar (istio-behaviours.md §5).
      const limit = Math.min(policy?.maxConnections ?? Number.POSITIVE_INFINITY, policy?.maxRequests ?? Number.POSITIVE_INFINITY);
      const pendingLimit = policy?.maxPendingRequests ?? Number.POSITIVE_INFINITY;
      if (state.inflight < limit) {
        state.inflight++;
        dispatch();
      } else if (state.pending.length < pendingLimit) {
        if (policy?.maxConnections !== undefined && state.inflight >= policy.maxConnections) this.bump(`cluster.${cluster}.upstream_cx_overflow`);
        state.pending.push(dispatch);
        res.once('close', () => {
          const i = state.pending.indexOf(dispatch);
          if (i >= 0) state.pending.splice(i, 1);
        });
      } else {
        this.bump(`cluster.${cluster}.upstream_rq_pending_overflow`);
        res.setHeader('x-envoy-overloaded', 'true');
        this.localReply(res, 503, OVERFLOW_BODY, { ...base, responseFlags: 'UO', responseCodeDetails: 'upstream_reset_before_response_started{overflow}' });
      }
    });
    server.on('connection', (s: net.Socket) => this.track(s));
    return this.listen(server);
  }

  private clusterState(name: string): ClusterState {
    let st = this.clusters.get(name);
    if (!st) {
      const created: ClusterState = {
        inflight: 0,
        pending: [],
        consecutive5xx: new Map(),
        ejectedUntil: new Map(),
        ejections: new Map(),
        release: () => {
          created.inflight--;
          const next = created.pending.shift();
          if (next) {
            created.inflight++;
            next();
          }
        },
      };
      st = created;
      this.clusters.set(name, st);
    }
    return st;
  }

  /**
   * Outlier detection, consecutive 5xx (Envoy: ejection as soon as the count is reached, for baseEjectionTime
   * times the number of ejections; at most maxEjectionPercent of hosts, but at least one).
   */
  private outlierResult(cluster: string, st: ClusterState, host: string, status: number, policy: TrafficPolicy | undefined): void {
    const od = policy?.outlier;
    if (status < 500) {
      st.consecutive5xx.set(host, 0);
      return;
    }
    const n = (st.consecutive5xx.get(host) ?? 0) + 1;
    st.consecutive5xx.set(host, n);
    if (!od || od.consecutive5xx === 0 || n < od.consecutive5xx) return;
    const now = Date.now();
    const total = Math.max(1, this.o.mesh.upstreams(...clusterTarget(cluster)).length);
    const active = [...st.ejectedUntil.values()].filter((t) => t > now).length;
    if (active >= Math.max(1, Math.floor((total * od.maxEjectionPercent) / 100))) {
      this.bump(`cluster.${cluster}.outlier_detection.ejections_overflow`);
      return;
    }
    const times = (st.ejections.get(host) ?? 0) + 1;
    st.ejections.set(host, times);
    st.ejectedUntil.set(host, now + od.baseEjectionMs * times);
    st.consecutive5xx.set(host, 0);
    this.bump(`cluster.${cluster}.outlier_detection.ejections_enforced_consecutive_5xx`);
    this.bump(`cluster.${cluster}.outlier_detection.ejections_enforced_total`);
  }

  // ---------------------------------------------------------------- admin

  /** Envoy's admin API on loopback: `/certs` (E: api/envoy/admin/v3/certs.proto) and `/stats`. */
  async admin(): Promise<number> {
    const server = http.createServer((req, res) => {
      if (req.url === '/certs') {
        const body = JSON.stringify({ certificates: [{ ca_cert: [certDetails(this.o.mesh.rootPem())], cert_chain: [certDetails(this.cert.certPem)] }] }, null, 2);
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      } else if (req.url === '/stats') {
        const gauges: [string, number][] = [...this.clusters.entries()].map(([name, st]) => [
          `cluster.${name}.outlier_detection.ejections_active`,
          [...st.ejectedUntil.values()].filter((t) => t > Date.now()).length,
        ]);
        const lines = [...this.counters.entries(), ...gauges].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`);
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`${lines.join('\n')}\n`);
      } else {
        res.writeHead(404).end();
      }
    });
    return this.listen(server);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await Promise.all([...this.servers].map((s) => new Promise((r) => s.close(() => r(undefined)))));
    this.servers.clear();
  }
}

function certDetails(pem: string) {
  const c = new X509Certificate(pem);
  const notAfter = new Date(c.validTo);
  return {
    path: '<inline>',
    serial_number: c.serialNumber.toLowerCase(),
    subject_alt_names: uriSans(pem).map((uri) => ({ uri })),
    days_until_expiration: String(Math.max(0, Math.floor((notAfter.getTime() - Date.now()) / 86_400_000))),
    valid_from: new Date(c.validFrom).toISOString(),
    expiration_time: notAfter.toISOString(),
  };
}
