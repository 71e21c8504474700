// The outbound side of a lab sidecar, along Envoy's own seams (istio-behaviours.md §3, §5, §10):
// - listeners: one per captured `<svc>.<ns>:<port>`, originating mTLS with this workload's identity (auto-mTLS)
//   and sanitising app-supplied XFCC;
// - clusters: `outbound|<port>||<fqdn>`, their stats created with the cluster (as Envoy does on CDS);
// - load balancing: Istio's default LEAST_REQUEST, two random choices with replacement (E:
//   source/extensions/load_balancing_policies/least_request; I: cluster_traffic_policy.go);
// - circuit breakers from the DestinationRule's connection pool (503 + `x-envoy-overloaded`, flag UO);
// - outlier detection, consecutive 5xx; with `outlierDetection` set Istio sets the panic threshold to
//   minHealthPercent (default 0), so an ejected host gets no traffic back by panic routing (§10);
// - HTTP/1.1 upstream connection pooling: an idle connection to the chosen host is reused, unless the
//   DestinationRule sets `maxRequestsPerConnection` (Istio sets Envoy's max_requests_per_connection only then:
//   I: pilot/pkg/networking/core/cluster_traffic_policy.go applyConnectionPool). TLS certificates are checked only
//   at the handshake, so a pooled mTLS connection opened before the client certificate expired keeps working.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { AccessLogRecord } from '../../../harness/access-log.js';
import { uriSans } from '../../../harness/pki.js';
import type { PortProtocol, TrafficPolicy } from '../model.js';
import { addr, type SidecarHost, type UpstreamEndpoint } from './host.js';
import { forward, localReply, proxyTcp, requestFields } from './relay.js';

const XFCC = 'x-forwarded-client-cert';
const STATUS_ROUTE = 'default';

/** Envoy's local reply when a circuit breaker overflows (E: source/common/router/router.cc). */
export const OVERFLOW_BODY = 'upstream connect error or disconnect/reset before headers. reset reason: overflow';

interface ClusterState {
  /** Upstream requests in flight (one connection each). */
  inflight: number;
  /** Requests waiting for a connection (http1MaxPendingRequests bounds this queue). */
  pending: (() => void)[];
  /** Active requests per host address: what LEAST_REQUEST compares. */
  active: Map<string, number>;
  consecutive5xx: Map<string, number>;
  ejectedUntil: Map<string, number>;
  ejections: Map<string, number>;
  release(): void;
}

/** The stats Envoy creates for every outbound cluster (kept only if the stats matcher includes them, §10). */
const CLUSTER_COUNTERS = ['upstream_rq_pending_overflow', 'upstream_cx_overflow', 'upstream_rq_total', 'ssl.session_reused'];
const OUTLIER_COUNTERS = ['outlier_detection.ejections_enforced_consecutive_5xx', 'outlier_detection.ejections_enforced_total', 'outlier_detection.ejections_overflow'];

/**
 * LEAST_REQUEST with choice_count 2: draw two hosts at random WITH replacement and keep the one with fewer active
 * requests; on a tie the first draw stays (E: least_request_lb.cc unweightedHostPick).
 */
export function leastRequest<T>(hosts: T[], active: (h: T) => number, random: () => number = Math.random): T | undefined {
  if (hosts.length === 0) return undefined;
  let candidate: T | undefined;
  for (let i = 0; i < 2; i++) {
    const h = hosts[Math.floor(random() * hosts.length)]!;
    if (candidate === undefined || active(h) < active(candidate)) candidate = h;
  }
  return candidate;
}

/** Auto-mTLS to this endpoint, unless the DestinationRule in force says `tls.mode: DISABLE`. */
function originatesMtls(ep: UpstreamEndpoint, policy: TrafficPolicy | undefined): boolean {
  return ep.mtls && policy?.tlsMode !== 'DISABLE';
}

/**
 * One outbound cluster's HTTP/1.1 connection pool (Envoy's per-host pools of a cluster). Node's Agent keeps one pool
 * per host and TLS options; a connection goes back to it after its response unless it has carried
 * `maxRequestsPerConnection` requests (0 or unset: unlimited, Envoy's default). In-flight requests, and so busy
 * connections, stay bounded by the circuit-breaker gate in `listen` (an HTTP/1.1 connection carries one request at a
 * time); idle connections are closed with the sidecar.
 */
class UpstreamPool {
  private readonly served = new WeakMap<net.Socket, number>();
  readonly http: http.Agent;
  readonly https: https.Agent;

  constructor(host: SidecarHost, maxRequestsPerConnection: () => number | undefined, sessionReused: () => void) {
    const served = this.served;
    const keep = (s: net.Socket) => {
      const max = maxRequestsPerConnection();
      return !(max !== undefined && max > 0 && (served.get(s) ?? 0) >= max);
    };
    class PoolAgent extends http.Agent {
      override keepSocketAlive(s: net.Socket): boolean {
        if (!keep(s)) return false;
        super.keepSocketAlive(s); // Node's own: TCP keep-alive on, no timeout; it keeps the socket
        return true;
      }
    }
    class TlsPoolAgent extends https.Agent {
      override keepSocketAlive(s: net.Socket): boolean {
        if (!keep(s)) return false;
        super.keepSocketAlive(s); // Node's own: TCP keep-alive on, no timeout; it keeps the socket
        return true;
      }
    }
    // Envoy's upstream idle timeout defaults to 1 h (E: api/envoy/config/core/v3/protocol.proto
    // HttpProtocolOptions.idle_timeout); nothing in a lab run lasts that long, so idle connections live until closed.
    this.http = new PoolAgent({ keepAlive: true, scheduling: 'lifo' });
    // A-H2: TLS session resumption as Envoy does it. Istio's upstream TLS context leaves max_session_keys at its
    // default 1 (E: api/envoy/extensions/transport_sockets/tls/v3/tls.proto UpstreamTlsContext.max_session_keys): one
    // cached session per cluster, offered on the next new connection. A new SDS secret builds a new context, so a
    // session is never offered under a different client certificate: Node's Agent keys its cache by the TLS options,
    // the client certificate among them (node: lib/https.js Agent.getName). The inbound accepts tickets (Istio does not
    // disable them), and a resumed session does not re-verify the peer certificate's notAfter (BoringSSL
    // ssl/ssl_session.cc ssl_session_is_resumable; OpenSSL keeps the session's verify result likewise).
    this.https = new TlsPoolAgent({ keepAlive: true, scheduling: 'lifo', maxCachedSessions: 1 });
    this.track = (req) =>
      req.on('socket', (s) => {
        host.track(s);
        served.set(s, (served.get(s) ?? 0) + 1);
        if (s instanceof tls.TLSSocket) s.once('secureConnect', () => s.isSessionReused() && sessionReused());
      });
  }

  /** Counts a request against the connection it is given (new or reused), and tracks that connection. */
  readonly track: (req: http.ClientRequest) => http.ClientRequest;

  /** The pool's open connections, busy and idle (Node's documented `sockets` and `freeSockets`). */
  connections(): net.Socket[] {
    return [this.http, this.https].flatMap((a) => [...Object.values(a.sockets), ...Object.values(a.freeSockets)].flatMap((l) => l ?? []));
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

export class Outbound {
  private readonly clusters = new Map<string, ClusterState>();
  private readonly pools = new Map<string, UpstreamPool>();
  /** Test hook: every outbound connection is reset before it reaches a peer (a client whose path is broken). */
  broken = false;

  constructor(private readonly host: SidecarHost) {}

  /** Creates a cluster's stats, as Envoy does when CDS pushes it. */
  declareCluster(namespace: string, service: string, port: number): void {
    const cluster = `outbound|${port}||${service}.${namespace}.svc.cluster.local`;
    for (const c of CLUSTER_COUNTERS) this.host.stats.declare(`cluster.${cluster}.${c}`);
    if (this.host.mesh.trafficPolicy(this.host.namespace, namespace, service)?.outlier) {
      for (const c of OUTLIER_COUNTERS) this.host.stats.declare(`cluster.${cluster}.${c}`);
      const st = this.state(cluster);
      this.host.stats.gauge(`cluster.${cluster}.outlier_detection.ejections_active`, () => [...st.ejectedUntil.values()].filter((t) => t > Date.now()).length);
    }
  }

  private pick(namespace: string, service: string, port: number, st: ClusterState): UpstreamEndpoint | undefined {
    const now = Date.now();
    const healthy = this.host.mesh.upstreams(namespace, service, port).filter((e) => (st.ejectedUntil.get(e.address) ?? 0) <= now);
    return leastRequest(healthy, (e) => st.active.get(e.address) ?? 0);
  }

  private tlsOptions(ep: UpstreamEndpoint, fqdn: string, port: number, alpn: string): tls.ConnectionOptions {
    const cert = this.host.cert();
    return {
      cert: cert.chainPem,
      key: cert.keyPem,
      ca: this.host.mesh.rootPem(),
      ALPNProtocols: [alpn],
      servername: `outbound_.${port}_._.${fqdn}`,
      // Istio verifies the server's SPIFFE ID, not a DNS name.
      checkServerIdentity: (_host, c) =>
        c.raw && uriSans(c.raw).includes(ep.spiffeId) ? undefined : Object.assign(new Error(`SAN mismatch: expected ${ep.spiffeId}`), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
    };
  }

  /** An outbound listener for one Service port, standing for this pod's capture of `<svc>.<ns>:<port>`. */
  async listen(namespace: string, service: string, port: number, protocol: PortProtocol): Promise<number> {
    const fqdn = `${service}.${namespace}.svc.cluster.local`;
    const cluster = `outbound|${port}||${fqdn}`;
    const { host } = this;
    this.declareCluster(namespace, service, port);
    const st = this.state(cluster);
    const pool = this.pool(cluster, () => host.mesh.trafficPolicy(host.namespace, namespace, service)?.maxRequestsPerConnection);
    if (protocol === 'tcp') {
      const server = net.createServer((down) => {
        host.track(down);
        down.on('error', () => down.destroy());
        if (this.broken) {
          down.resetAndDestroy();
          return;
        }
        const ep = this.pick(namespace, service, port, st);
        const remote = addr(down.remoteAddress, down.remotePort);
        if (!ep) {
          host.log.write('client', { responseFlags: 'UH', upstreamCluster: cluster, downstreamRemoteAddress: remote });
          down.destroy();
          return;
        }
        const [h, p] = ep.address.split(':') as [string, string];
        const up = originatesMtls(ep, host.mesh.trafficPolicy(host.namespace, namespace, service)) ? tls.connect({ host: h, port: Number(p), ...this.tlsOptions(ep, fqdn, port, 'istio') }) : net.connect({ host: h, port: Number(p) });
        let upstreamLocal: string | undefined;
        up.once('connect', () => {
          upstreamLocal = addr(up.localAddress, up.localPort);
        });
        proxyTcp(host, 'client', down, up, () => ({ upstreamHost: ep.address, upstreamCluster: cluster, upstreamLocalAddress: upstreamLocal, downstreamRemoteAddress: remote }));
      });
      return host.listen(server);
    }
    const server = http.createServer((req, res) => {
      if (this.broken) {
        req.socket.resetAndDestroy();
        return;
      }
      const started = Date.now();
      const headers: http.OutgoingHttpHeaders = { ...req.headers };
      delete headers[XFCC]; // outbound sanitises app-supplied XFCC (istio-behaviours.md §3)
      headers['x-request-id'] ??= randomUUID();
      headers['x-forwarded-proto'] = 'http';
      const base: Partial<AccessLogRecord> = {
        ...requestFields(req, headers),
        upstreamCluster: cluster,
        downstreamRemoteAddress: addr(req.socket.remoteAddress, req.socket.remotePort),
        routeName: STATUS_ROUTE,
      };
      const policy = host.mesh.trafficPolicy(host.namespace, namespace, service);
      host.stats.inc(`cluster.${cluster}.upstream_rq_total`);
      const dispatch = () => {
        const ep = this.pick(namespace, service, port, st);
        if (!ep) {
          st.release();
          localReply(host, 'client', res, 503, 'no healthy upstream', { ...base, responseFlags: 'UH', responseCodeDetails: 'no_healthy_upstream' });
          return;
        }
        base.upstreamHost = ep.address;
        st.active.set(ep.address, (st.active.get(ep.address) ?? 0) + 1);
        const [h, p] = ep.address.split(':') as [string, string];
        // An HTTP/1.1 connection carries one request at a time, so busy connections equal requests in flight (the
        // gate below); the pool reuses idle ones as Envoy does.
        res.once('close', () => {
          st.active.set(ep.address, (st.active.get(ep.address) ?? 1) - 1);
          st.release();
        });
        forward(host, { req, res, started, base, headers, side: 'client', onStatus: (code) => this.outlierResult(cluster, st, ep.address, code, policy) }, (hd, cb) =>
          pool.track(
            originatesMtls(ep, policy)
              ? https.request({ host: h, port: Number(p), method: req.method, path: req.url, headers: hd, agent: pool.https, ...this.tlsOptions(ep, fqdn, port, 'istio-http/1.1') }, cb)
              : http.request({ host: h, port: Number(p), method: req.method, path: req.url, headers: hd, agent: pool.http }, cb),
          ),
        );
      };
      // Circuit breaking, enforced here in the CLIENT's sidecar (istio-behaviours.md §5).
      const limit = Math.min(policy?.maxConnections ?? Number.POSITIVE_INFINITY, policy?.maxRequests ?? Number.POSITIVE_INFINITY);
      const pendingLimit = policy?.maxPendingRequests ?? Number.POSITIVE_INFINITY;
      if (st.inflight < limit) {
        st.inflight++;
        dispatch();
      } else if (st.pending.length < pendingLimit) {
        if (policy?.maxConnections !== undefined && st.inflight >= policy.maxConnections) host.stats.inc(`cluster.${cluster}.upstream_cx_overflow`);
        st.pending.push(dispatch);
        res.once('close', () => {
          const i = st.pending.indexOf(dispatch);
          if (i >= 0) st.pending.splice(i, 1);
        });
      } else {
        host.stats.inc(`cluster.${cluster}.upstream_rq_pending_overflow`);
        if (!host.suppressEnvoyHeaders) res.setHeader('x-envoy-overloaded', 'true'); // the router's (suppress_envoy_headers)
        localReply(host, 'client', res, 503, OVERFLOW_BODY, { ...base, responseFlags: 'UO', responseCodeDetails: 'upstream_reset_before_response_started{overflow}' });
      }
    });
    server.on('connection', (s: net.Socket) => host.track(s));
    return host.listen(server);
  }

  /**
   * This pod's capture of `ip:port`, an address no Service stands for (§7). What Envoy does with it depends on the
   * registry and the outbound traffic policy:
   * - registered by a ServiceEntry: forwarded to the original destination, cluster `outbound|<port>||<host>`;
   * - ALLOW_ANY: forwarded, cluster `PassthroughCluster` (route `allow_any` for HTTP);
   * - REGISTRY_ONLY, HTTP: the `block_all` virtual host answers 502 with a direct response and no body
   *   (I: pilot/pkg/networking/core/httproute.go; pilot/pkg/networking/util/util.go BlackHole = "block_all");
   * - REGISTRY_ONLY, TCP: tcp_proxy to `BlackHoleCluster`, a cluster with no endpoints: the connection is closed
   *   (I: pilot/pkg/networking/core/listener_builder.go), logged with flag UH.
   * HTTP is chosen when some Service or ServiceEntry declares this port HTTP (the 0.0.0.0:<port> HTTP listener).
   */
  async capture(ip: string, port: number, protocol: PortProtocol): Promise<number> {
    const { host } = this;
    const dest = `${ip}:${port}`;
    if (protocol === 'tcp') {
      const server = net.createServer((down) => {
        host.track(down);
        down.on('error', () => down.destroy());
        const remote = addr(down.remoteAddress, down.remotePort);
        const entry = host.mesh.registered(ip, port, 'tcp', host.namespace);
        const cluster = entry ? `outbound|${port}||${entry.host}` : host.mesh.outboundPolicy(host.namespace) === 'ALLOW_ANY' ? 'PassthroughCluster' : 'BlackHoleCluster';
        const target = host.mesh.original(ip, port);
        if (cluster === 'BlackHoleCluster' || !target) {
          // No endpoint at all (UH), or an original destination nothing answers at (UF): closed either way.
          host.log.write('client', { responseFlags: target || cluster === 'BlackHoleCluster' ? 'UH' : 'UF', upstreamCluster: cluster, downstreamRemoteAddress: remote, downstreamLocalAddress: dest });
          down.destroy();
          return;
        }
        const [h, p] = target.split(':') as [string, string];
        const up = net.connect({ host: h, port: Number(p) });
        proxyTcp(host, 'client', down, up, () => ({ upstreamHost: dest, upstreamCluster: cluster, downstreamRemoteAddress: remote, downstreamLocalAddress: dest }));
      });
      return host.listen(server);
    }
    const server = http.createServer((req, res) => {
      const started = Date.now();
      const headers: http.OutgoingHttpHeaders = { ...req.headers };
      delete headers[XFCC];
      headers['x-request-id'] ??= randomUUID();
      const hostHeader = (req.headers.host ?? '').replace(/:\d+$/, '');
      const entry = host.mesh.registered(ip, port, 'http', host.namespace, hostHeader);
      const allowAny = host.mesh.outboundPolicy(host.namespace) === 'ALLOW_ANY';
      const base: Partial<AccessLogRecord> = {
        ...requestFields(req, headers),
        downstreamRemoteAddress: addr(req.socket.remoteAddress, req.socket.remotePort),
        downstreamLocalAddress: dest,
        // A registered host's route, with no VirtualService, is named `default` (I-L11; I:
        // pilot/pkg/networking/core/route/route.go DefaultRouteName).
        routeName: entry ? 'default' : allowAny ? 'allow_any' : 'block_all',
      };
      if (!entry && !allowAny) {
        localReply(host, 'client', res, 502, '', { ...base, responseCodeDetails: 'direct_response' });
        return;
      }
      const target = host.mesh.original(ip, port);
      base.upstreamCluster = entry ? `outbound|${port}||${entry.host}` : 'PassthroughCluster';
      base.upstreamHost = dest;
      const [h, p] = (target ?? '127.0.0.1:1').split(':') as [string, string];
      forward(host, { req, res, started, base, headers, side: 'client' }, (hd, cb) => http.request({ host: h, port: Number(p), method: req.method, path: req.url, headers: hd, agent: false }, cb));
    });
    server.on('connection', (s: net.Socket) => host.track(s));
    return host.listen(server);
  }

  private pool(cluster: string, maxRequestsPerConnection: () => number | undefined): UpstreamPool {
    let p = this.pools.get(cluster);
    if (!p) {
      p = new UpstreamPool(this.host, maxRequestsPerConnection, () => this.host.stats.inc(`cluster.${cluster}.ssl.session_reused`));
      this.pools.set(cluster, p);
    }
    return p;
  }

  /** Every open pooled upstream connection (for tests: nothing may be left behind). */
  pooledConnections(): net.Socket[] {
    return [...this.pools.values()].flatMap((p) => p.connections());
  }

  /** Closes every pooled upstream connection, idle or not (the sidecar is going away). */
  close(): void {
    for (const p of this.pools.values()) p.close();
    this.pools.clear();
  }

  resetOutlierDetection(): void {
    for (const st of this.clusters.values()) {
      st.ejectedUntil.clear();
      st.consecutive5xx.clear();
    }
  }

  private state(name: string): ClusterState {
    let st = this.clusters.get(name);
    if (!st) {
      const created: ClusterState = {
        inflight: 0,
        pending: [],
        active: new Map(),
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
   * times the number of ejections; at most maxEjectionPercent of hosts, but the first ejection is always allowed).
   */
  private outlierResult(cluster: string, st: ClusterState, hostAddress: string, status: number, policy: TrafficPolicy | undefined): void {
    const od = policy?.outlier;
    if (status < 500) {
      st.consecutive5xx.set(hostAddress, 0);
      return;
    }
    const n = (st.consecutive5xx.get(hostAddress) ?? 0) + 1;
    st.consecutive5xx.set(hostAddress, n);
    if (!od || od.consecutive5xx === 0 || n < od.consecutive5xx) return;
    const now = Date.now();
    const [, port, , fqdn] = cluster.split('|') as [string, string, string, string];
    const [svc, ns] = fqdn.split('.') as [string, string];
    const total = Math.max(1, this.host.mesh.upstreams(ns, svc, Number(port)).length);
    const active = [...st.ejectedUntil.values()].filter((t) => t > now).length;
    if (active >= Math.max(1, Math.floor((total * od.maxEjectionPercent) / 100))) {
      this.host.stats.inc(`cluster.${cluster}.outlier_detection.ejections_overflow`);
      return;
    }
    const times = (st.ejections.get(hostAddress) ?? 0) + 1;
    st.ejections.set(hostAddress, times);
    st.ejectedUntil.set(hostAddress, now + od.baseEjectionMs * times);
    st.consecutive5xx.set(hostAddress, 0);
    this.host.stats.inc(`cluster.${cluster}.outlier_detection.ejections_enforced_consecutive_5xx`);
    this.host.stats.inc(`cluster.${cluster}.outlier_detection.ejections_enforced_total`);
  }
}
