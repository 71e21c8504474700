// A posture applied to the lab, as istiod holds it: the model built from the posture's objects (model.ts), the CA
// that stands for istiod's, the mesh config's ext_authz providers served on loopback, the edge's TLS credentials;
// and from them what istiod pushes to every sidecar (MeshView: endpoints, traffic policies, the registry, the root
// of trust) and the per-port settings it configures (mTLS mode, protocol). istiod's outage is its state too.
import type http from 'node:http';
import { ConfigError } from '../../harness/errors.js';
import { CertificateAuthority, EdgeAuthority } from '../../harness/pki.js';
import type { Posture } from '../../harness/posture/load.js';
import type { Ref } from '../../harness/target.js';
import { type ExtAuthzProvider, serverPort, startExtAuthzServer } from './envoy/ext-authz.js';
import { hostMatches } from './envoy/gateway.js';
import type { LabPod, PodTable } from './lab-pod.js';
import { buildModel, type DeploymentModel, destinationRuleFor, effectiveMtls, type LabModel, ROOT_NAMESPACE, type ServiceModel, selects, type TrafficPolicy } from './model.js';
import type { MeshView, UpstreamEndpoint } from './sidecar.js';
import type { ControlPlanes } from '../../harness/istio/injection.js';
import { outboundTrafficPolicy } from '../../harness/istio/sidecar-scope.js';

export class AppliedPosture implements MeshView {
  readonly model: LabModel;
  /** Created by `start()`: the lab CA (istiod's). */
  ca?: CertificateAuthority;
  /** istiod is down: the CA refuses, the injection webhook cannot be called, sidecars keep what they have. */
  controlPlaneDown = false;
  /** A CA for the edge's certificates (meshproof.dev/generate: tls), created with the first one. */
  private edgeCa?: EdgeAuthority;
  private readonly credentials = new Map<string, { chainPem: string; keyPem: string }>();
  /** The mesh config's envoyExtAuthzHttp providers, each served by the lab on loopback (envoy/ext-authz.ts). */
  private readonly extAuthzServers = new Map<string, { server: http.Server; provider: ExtAuthzProvider }>();

  /** Builds the lab's model of the posture (refusing any field the lab does not implement). */
  constructor(
    readonly posture: Posture,
    private readonly pods: PodTable,
    controlPlanes?: ControlPlanes,
  ) {
    this.model = buildModel(posture, controlPlanes);
  }

  /** The CA, then one loopback ext_authz server per envoyExtAuthzHttp provider, up before any sidecar can ask it. */
  async start(): Promise<void> {
    this.ca = await CertificateAuthority.create({ rootTtlMs: this.model.faults.rootCertTtlMs });
    await this.startExtAuthzProviders(this.model);
  }

  // ------------------------------------------------------------ MeshView (what istiod would push to sidecars)

  rootPem(): string {
    return this.requireCa().rootPem;
  }

  extAuthz(provider: string): ExtAuthzProvider | undefined {
    return this.extAuthzServers.get(provider)?.provider;
  }

  private async startExtAuthzProviders(model: LabModel): Promise<void> {
    for (const p of model.meshConfig.extensionProviders ?? []) {
      if (!p.envoyExtAuthzHttp) continue;
      const server = await startExtAuthzServer();
      this.extAuthzServers.set(p.name, { server, provider: { port: serverPort(server), includeRequestHeadersInCheck: p.envoyExtAuthzHttp.includeRequestHeadersInCheck ?? [] } });
    }
  }

  trafficPolicy(clientNamespace: string, namespace: string, service: string): TrafficPolicy | undefined {
    return destinationRuleFor(this.model, clientNamespace, namespace, service)?.policy;
  }

  /** The endpoints of `service:port`: each live selected pod's inbound listener (its app without a sidecar). */
  backends(namespace: string, service: string, port: number): { pod: LabPod; address: string; ep: UpstreamEndpoint }[] {
    const svc = this.service({ namespace, name: service });
    const sp = svc.ports.find((p) => p.port === port);
    if (!sp) throw new ConfigError(`Service ${namespace}/${service} has no port ${port}`);
    const out: { pod: LabPod; address: string; ep: UpstreamEndpoint }[] = [];
    for (const pod of this.pods.list) {
      if (!pod.alive || pod.namespace !== namespace || !selects(svc.selector, pod.deployment.podLabels)) continue;
      const inbound = pod.inboundPorts.get(sp.targetPort);
      const app = pod.appPorts.get(sp.targetPort);
      const local = pod.sidecar ? inbound : app;
      if (local === undefined) continue;
      const address = `127.0.0.1:${local}`;
      // A gateway pod carries no `security.istio.io/tlsMode: istio` label: auto-mTLS sends it plaintext.
      const mtls = pod.sidecar !== undefined && pod.deployment.mode !== 'gateway' && effectiveMtls(this.model, pod.deployment, sp.targetPort) !== 'DISABLE';
      out.push({ pod, address, ep: { pod: pod.name, address, mtls, spiffeId: pod.spiffeId } });
    }
    return out;
  }

  upstreams(namespace: string, service: string, port: number): UpstreamEndpoint[] {
    return this.backends(namespace, service, port).map((e) => e.ep);
  }

  outboundPolicy(clientNamespace: string): 'REGISTRY_ONLY' | 'ALLOW_ANY' {
    // A Sidecar in the client's namespace, else one in the root namespace, else the mesh config, else ALLOW_ANY (§7).
    // The lab's Sidecars have no workloadSelector (schema.ts), so the pod's labels do not matter.
    return outboundTrafficPolicy(this.model.sidecars, this.model.meshConfig, ROOT_NAMESPACE, { namespace: clientNamespace, labels: {} }).mode;
  }

  registered(ip: string, port: number, protocol: 'http' | 'tcp', clientNamespace: string, hostHeader?: string): { host: string } | undefined {
    for (const se of this.model.serviceEntries) {
      if (se.local && se.namespace !== clientNamespace) continue; // exportTo ["."]: invisible elsewhere
      const p = se.ports.find((x) => x.number === port);
      if (!p || (protocol === 'tcp' && p.protocol !== 'TCP') || (protocol === 'http' && p.protocol !== 'HTTP')) continue;
      const addresses = [...se.addresses, ...this.addressesOf(se.addressesOf)];
      const byAddress = addresses.some((a) => inCidr(ip, a));
      // HTTP routes by the request's authority: a virtual host per registered host, and per address VERBATIM: a
      // CIDR address is a domain no Host header equals (I-L2; I: pilot/pkg/networking/core/httproute.go
      // generateVirtualHostDomains, pilot/pkg/serviceregistry/serviceentry/conversion.go convertServices).
      const byHost = protocol === 'http' && hostHeader !== undefined && (se.hosts.some((h) => hostMatches(h, hostHeader)) || addresses.includes(hostHeader));
      if (protocol === 'tcp' ? byAddress : byHost) return { host: se.hosts[0]! };
    }
    return undefined;
  }

  original(ip: string, port: number): string | undefined {
    const p = this.pods.list.find((x) => x.alive && this.pods.ipOf(x) === ip);
    if (!p) return undefined;
    const local = p.sidecar ? p.inboundPorts.get(port) : p.appPorts.get(port);
    return local === undefined ? undefined : `127.0.0.1:${local}`;
  }

  /** The pod IPs of `<ns>/<deployment>` (a ServiceEntry's meshproof.dev/addresses-of). */
  private addressesOf(ref: string | undefined): string[] {
    if (!ref) return [];
    const [ns, name] = ref.split('/') as [string, string];
    return this.pods.list.filter((p) => p.alive && p.namespace === ns && p.workload === name).map((p) => this.pods.ipOf(p));
  }

  // ------------------------------------------------------------ what istiod configures per pod and port

  /** The PeerAuthentication mode in force; the lab-only fault degrades it to PERMISSIVE while istiod is down. */
  inboundMode(d: DeploymentModel, containerPort: number): ReturnType<typeof effectiveMtls> {
    const mode = effectiveMtls(this.model, d, containerPort);
    return this.controlPlaneDown && this.model.faults.plaintextOnControlPlaneOutage && mode === 'STRICT' ? 'PERMISSIVE' : mode;
  }

  /** Protocol selection by Service port name (I: protocol sniffing is not emulated; schema.ts requires names). */
  protocolOf(d: DeploymentModel, containerPort: number): 'http' | 'tcp' {
    for (const s of this.model.services) {
      if (s.namespace !== d.namespace || !selects(s.selector, d.podLabels)) continue;
      const p = s.ports.find((x) => x.targetPort === containerPort);
      if (p) return p.protocol;
    }
    return 'tcp';
  }

  /** The certificate and key of a kubernetes.io/tls Secret: given, or generated by the lab's edge CA. */
  async credential(namespace: string, name: string): Promise<{ chainPem: string; keyPem: string }> {
    const key = `${namespace}/${name}`;
    const known = this.credentials.get(key);
    if (known) return known;
    const s = this.model.tlsSecrets.find((x) => x.namespace === namespace && x.name === name)!;
    if (s.given) {
      this.credentials.set(key, { chainPem: s.given.certPem, keyPem: s.given.keyPem });
    } else {
      this.edgeCa ??= await EdgeAuthority.create();
      const c = await this.edgeCa.issue(s.hosts, { validDays: s.validDays, chain: s.chain });
      this.credentials.set(key, { chainPem: c.chainPem, keyPem: c.keyPem });
    }
    return this.credentials.get(key)!;
  }

  /** The roots of the edge certificates this Target generated (EDGE-003's trust anchors for the posture's edge). */
  async edgeRoots(): Promise<string[]> {
    return this.edgeCa ? [this.edgeCa.rootPem] : [];
  }

  service(ref: Ref): ServiceModel {
    const s = this.model.services.find((x) => x.namespace === ref.namespace && x.name === ref.name);
    if (!s) throw new ConfigError(`the posture has no Service ${ref.namespace}/${ref.name}`);
    return s;
  }

  requireCa(): CertificateAuthority {
    if (!this.ca) throw new Error('lab CA not created yet');
    return this.ca;
  }

  /** Stops the ext_authz servers. */
  async close(): Promise<void> {
    for (const { server } of this.extAuthzServers.values()) {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }
}

/** Whether an IPv4 address (or a host header holding one) is `a` or inside CIDR `a`. */
export function inCidr(ip: string, a: string): boolean {
  const num = (x: string) => x.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return false;
  const [base, bits = '32'] = a.split('/') as [string, string?];
  const b = Number(bits);
  if (b === 0) return true;
  const mask = 2 ** 32 - 2 ** (32 - b);
  return (num(ip) & mask) >>> 0 === (num(base) & mask) >>> 0;
}
