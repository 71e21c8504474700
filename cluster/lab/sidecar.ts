// One lab sidecar: emulates the observable behaviour of an injected Envoy as istio-behaviours.md describes it,
// split along Envoy's own seams (envoy/): inbound (filter chains, mTLS gate, RBAC, XFCC), outbound (clusters,
// load balancing, circuit breakers, outlier detection), observability (stats with Istio's inclusion list, access
// loggers as istiod configures them), and the admin port here (`/certs`, `/stats` on loopback).
// It is a test bed for the harness, not a mesh.
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import type tls from 'node:tls';
import type { EffectiveLogging } from '../../harness/mesh-logging.js';
import { uriSans } from '../../harness/pki.js';
import type { IssuedCert } from '../../harness/pki.js';
import { AccessLogger } from './envoy/access-log.js';
import type { MeshView, SidecarHost } from './envoy/host.js';
import { Inbound, type InboundPort } from './envoy/inbound.js';
import { Outbound } from './envoy/outbound.js';
import { type ProxyStatsMatcher, Stats } from './envoy/stats.js';
import type { AuthzPolicyModel, LabFaults, PortProtocol } from './model.js';

export type { MeshView, UpstreamEndpoint } from './envoy/host.js';
export { OVERFLOW_BODY } from './envoy/outbound.js';

export interface SidecarOptions {
  namespace: string;
  pod: string;
  cert: IssuedCert;
  mesh: MeshView;
  /** Where and how this workload's access logs go, as istiod resolves it (harness/mesh-logging.ts). */
  logging: EffectiveLogging;
  /** The pod's `proxyStatsMatcher` (proxy.istio.io/config), added to Istio's default inclusion list. */
  statsMatcher?: ProxyStatsMatcher;
  /** The pod's annotations: `sidecar.istio.io/statsInclusion*` replace proxyStatsMatcher per dimension. */
  podAnnotations?: Record<string, string>;
  /** proxyHeaders.envoyDebugHeaders.disabled (proxy.istio.io/config): the router's suppress_envoy_headers. */
  suppressEnvoyHeaders?: boolean;
  /** AuthorizationPolicies that apply to this workload, as istiod would push them. */
  policies: () => AuthzPolicyModel[];
  faults: () => LabFaults;
}

export class Sidecar implements SidecarHost {
  readonly stats: Stats;
  readonly log: AccessLogger;
  private readonly servers = new Set<net.Server>();
  private readonly sockets = new Set<net.Socket>();
  private readonly tlsServers = new Set<tls.Server>();
  private readonly inboundRoom: Inbound;
  private readonly outboundRoom: Outbound;
  private current: IssuedCert;
  private closed = false;

  constructor(private readonly o: SidecarOptions) {
    this.current = o.cert;
    this.stats = new Stats(o.statsMatcher, o.podAnnotations);
    this.log = new AccessLogger(o.logging);
    this.inboundRoom = new Inbound(this);
    this.outboundRoom = new Outbound(this);
  }

  get namespace(): string {
    return this.o.namespace;
  }

  get pod(): string {
    return this.o.pod;
  }

  get mesh(): MeshView {
    return this.o.mesh;
  }

  get suppressEnvoyHeaders(): boolean {
    return this.o.suppressEnvoyHeaders === true;
  }

  /** The proxy's stdout: access-log records as the configured loggers wrote them. */
  get accessLog(): string[] {
    return this.log.lines;
  }

  /** Test hook: drop records although logging is configured on (an audit gap the checks must catch). */
  set muted(v: boolean) {
    this.log.muted = v;
  }

  /** Test hook: reset every outbound connection (a client whose every call fails before reaching a peer). */
  set outboundBroken(v: boolean) {
    this.outboundRoom.broken = v;
  }

  /** Test hook: forget every ejection, as if baseEjectionTime had passed. */
  resetOutlierDetection(): void {
    this.outboundRoom.resetOutlierDetection();
  }

  policies(): AuthzPolicyModel[] {
    return this.o.policies();
  }

  faults(): LabFaults {
    return this.o.faults();
  }

  cert(): IssuedCert {
    return this.current;
  }

  get currentCert(): IssuedCert {
    return this.current;
  }

  /** Rotation: new handshakes use the new certificate; established connections keep theirs, as in Envoy. */
  setCert(cert: IssuedCert): void {
    this.current = cert;
    for (const ts of this.tlsServers) ts.setSecureContext(this.contextOptions());
  }

  contextOptions(): tls.SecureContextOptions {
    return { cert: this.current.chainPem, key: this.current.keyPem, ca: this.o.mesh.rootPem(), minVersion: 'TLSv1.2' };
  }

  rotates(ts: tls.Server): void {
    this.tlsServers.add(ts);
  }

  track(s: net.Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  async listen(server: net.Server): Promise<number> {
    if (this.closed) throw new Error(`sidecar ${this.o.pod} is closed`);
    this.servers.add(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  }

  /** Starts the inbound listener for one container port; returns the loopback port standing for podIP:port. */
  inbound(p: InboundPort): Promise<number> {
    return this.inboundRoom.listen(p);
  }

  /** Creates the outbound cluster of a Service port (its stats appear as soon as istiod pushes it). */
  cluster(namespace: string, service: string, port: number): void {
    this.outboundRoom.declareCluster(namespace, service, port);
  }

  /** An outbound listener for one Service port, standing for this pod's capture of `<svc>.<ns>:<port>`. */
  outbound(namespace: string, service: string, port: number, protocol: PortProtocol): Promise<number> {
    return this.outboundRoom.listen(namespace, service, port, protocol);
  }

  /** The outbound clusters' open upstream connections, busy and idle. */
  pooledConnections(): net.Socket[] {
    return this.outboundRoom.pooledConnections();
  }

  /** This pod's capture of an address no Service stands for (egress, §7). */
  capture(ip: string, port: number, protocol: PortProtocol): Promise<number> {
    return this.outboundRoom.capture(ip, port, protocol);
  }

  /** Envoy's admin API on loopback: `/certs` (E: api/envoy/admin/v3/certs.proto) and `/stats`. */
  async admin(): Promise<number> {
    const server = http.createServer((req, res) => {
      if (req.url === '/certs') {
        // Envoy shows only the FIRST CA certificate of a context (istio-behaviours.md §10).
        const firstRoot = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(this.o.mesh.rootPem())?.[0] ?? this.o.mesh.rootPem();
        const body = JSON.stringify({ certificates: [{ ca_cert: [certDetails(firstRoot)], cert_chain: [certDetails(this.current.certPem)] }] }, null, 2);
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      } else if (req.url === '/stats') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(this.stats.render());
      } else {
        res.writeHead(404).end();
      }
    });
    return this.listen(server);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.outboundRoom.close(); // pooled upstream connections, idle ones included: nothing is left behind
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
