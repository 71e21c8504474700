// What the sidecar's parts share: the workload's identity and certificate, its stats and access loggers, and the
// sockets and listeners it must close. Each Envoy subsystem (inbound, outbound, admin) is a room of its own and
// reaches the rest only through this.
import type net from 'node:net';
import type tls from 'node:tls';
import type { IssuedCert } from '../../../harness/pki.js';
import type { AuthzPolicyModel, LabFaults, PortProtocol, TrafficPolicy } from '../model.js';
import type { AccessLogger } from './access-log.js';
import type { ExtAuthzProvider } from './ext-authz.js';
import type { Stats } from './stats.js';

export interface UpstreamEndpoint {
  pod: string;
  /** 127.0.0.1:port of the destination pod's inbound listener (or its app port when it has no sidecar). */
  address: string;
  /** Auto-mTLS: the destination has a sidecar and its port is not DISABLE. */
  mtls: boolean;
  /** The SPIFFE ID the destination must present. */
  spiffeId: string;
}

/** A registered destination outside the Services: the ServiceEntry that names it (§7). */
export interface RegistryEntry {
  /** The entry's host for this port: the cluster is `outbound|<port>||<host>`. */
  host: string;
}

/** What istiod pushes to every sidecar: endpoints, traffic policies, the root of trust. */
export interface MeshView {
  /** The client namespace's outbound traffic policy (Sidecar, else the mesh default ALLOW_ANY; §7). */
  outboundPolicy(clientNamespace: string): 'REGISTRY_ONLY' | 'ALLOW_ANY';
  /**
   * The ServiceEntry that registers `ip:port` for this client: by address for TCP, by address or by the request's
   * Host for HTTP (I: pilot/pkg/networking/core/httproute.go builds one virtual host per registered host).
   */
  registered(ip: string, port: number, protocol: PortProtocol, clientNamespace: string, hostHeader?: string): RegistryEntry | undefined;
  /** Where a connection to `ip:port` really lands (the original destination); undefined when nothing is there. */
  original(ip: string, port: number): string | undefined;
  trafficPolicy(clientNamespace: string, namespace: string, service: string): TrafficPolicy | undefined;
  rootPem(): string;
  upstreams(namespace: string, service: string, port: number): UpstreamEndpoint[];
  /** The mesh config's envoyExtAuthzHttp provider of that name, as the lab serves it; undefined when none. */
  extAuthz(provider: string): ExtAuthzProvider | undefined;
}

export interface SidecarHost {
  readonly namespace: string;
  readonly pod: string;
  readonly mesh: MeshView;
  readonly stats: Stats;
  readonly log: AccessLogger;
  /**
   * The router's `suppress_envoy_headers` (Istio `proxyHeaders.envoyDebugHeaders.disabled: true`; I:
   * pilot/pkg/networking/util/proxy_headers.go, pilot/pkg/xds/filters/filters.go): no x-envoy-upstream-service-time
   * on upstream answers, no x-envoy-overloaded on an overflow (E: api/envoy/extensions/filters/http/router/v3/router.proto).
   */
  readonly suppressEnvoyHeaders: boolean;
  /** AuthorizationPolicies that apply to this workload, as istiod would push them. */
  policies(): AuthzPolicyModel[];
  faults(): LabFaults;
  cert(): IssuedCert;
  /** TLS options with this workload's current certificate and the mesh root. */
  contextOptions(): tls.SecureContextOptions;
  /** Registers a TLS server whose context must follow certificate rotation. */
  rotates(ts: tls.Server): void;
  track(s: net.Socket): void;
  listen(server: net.Server): Promise<number>;
}

/** `ip:port` as Envoy writes it (IPv6 in brackets). */
export function addr(ip: string | undefined, port: number | undefined): string {
  return ip?.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
