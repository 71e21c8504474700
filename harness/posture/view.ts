// Read-only questions the checks ask of a posture, in logical names. Lenient on purpose: validation of what a
// target supports belongs to the target (the lab refuses unknown fields; a cluster's API server validates).
import { parse as parseYaml } from 'yaml';
import type { Ref } from '../target.js';
import type { Manifest, Posture } from './load.js';
import { namespaceRequestsInjection } from '../istio/injection.js';
import { chainKind, convertProtocol } from '../istio/protocol.js';

export const ROOT_NAMESPACE = 'istio-system';

/**
 * Kubernetes Gateway API objects in a posture. Istio builds the same Envoy listeners from them (an automated
 * Deployment per Gateway, `gatewayClassName: istio`), but that adds a second way to make the gateway pod and its
 * Service, and the lab's model is Istio's Gateway + VirtualService. A user's Gateway API edge is attacked as it is.
 */
export const GATEWAY_API_REFUSAL =
  'Kubernetes Gateway API (gateway.networking.k8s.io) objects are not implemented in postures: write the edge as Istio networking.istio.io/v1 Gateway + VirtualService, or attack an existing Gateway API edge read-only with --edge <namespace>/<service> --edge-host <host>';


export interface ServicePort {
  name: string;
  port: number;
  protocol: 'http' | 'tcp';
}

export interface ServiceView extends Ref {
  ports: ServicePort[];
}

type Spec = Record<string, unknown> | undefined;

/** An edge (ingress gateway) to attack: where it is, which host it serves, which Service ports. */
export interface EdgeView {
  gateway?: Ref;
  /** The gateway's own Deployment (the posture's edge only): its service account is the identity EDGE-004 expects. */
  workload?: Ref;
  /** The gateway's Service, in logical names (or the user's own, `--edge`). */
  service: Ref;
  host: string;
  httpsPort: number;
  /** The plaintext port; undefined when the edge declares none (EDGE-001 then dials 80 and expects a refusal). */
  httpPort?: number;
}

/** Whether every label of `selector` is on `labels`. */
function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The pod template labels of a Deployment. */
function podLabelsOf(d: Manifest): Record<string, string> {
  return (d.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)?.template?.metadata?.labels ?? {};
}

export class PostureView {
  constructor(readonly posture: Posture) {}

  private all(kind: string): Manifest[] {
    return this.posture.objects.map((o) => o.manifest).filter((m) => m.kind === kind);
  }

  injectedNamespaces(): string[] {
    return this.all('Namespace')
      .filter((n) => namespaceRequestsInjection(n.metadata.labels ?? {}))
      .map((n) => n.metadata.name);
  }

  services(namespace?: string): ServiceView[] {
    return this.all('Service')
      .filter((s) => namespace === undefined || s.metadata.namespace === namespace)
      .map((s) => {
        const ports = ((s.spec as Spec)?.ports ?? []) as { name?: string; port: number; protocol?: string; appProtocol?: string }[];
        return {
          namespace: s.metadata.namespace ?? '',
          name: s.metadata.name,
          ports: ports.map((p) => ({
            name: p.name ?? String(p.port),
            port: p.port,
            // Istio's protocol of the port (the model's ConvertProtocol): an HTTP chain, or bytes to the sidecar.
            protocol: chainKind(convertProtocol(p.port, p.name, p.protocol, p.appProtocol)) === 'http' ? ('http' as const) : ('tcp' as const),
          })),
        };
      });
  }

  /** The first port of `protocol` a Service declares (what checks dial: the Service port, never a container port). */
  port(service: Ref, protocol: ServicePort['protocol']): ServicePort | undefined {
    return this.services(service.namespace).find((s) => s.name === service.name)?.ports.find((p) => p.protocol === protocol);
  }

  /** Services in namespaces labelled for injection: what "in-mesh" means for the checks. */
  inMeshServices(): ServiceView[] {
    const ns = new Set(this.injectedNamespaces());
    return this.services().filter((s) => ns.has(s.namespace));
  }

  peerAuthentications(namespace: string): Manifest[] {
    return this.all('PeerAuthentication').filter((p) => p.metadata.namespace === namespace);
  }

  authorizationPolicies(namespace?: string): Manifest[] {
    return this.all('AuthorizationPolicy').filter((p) => namespace === undefined || p.metadata.namespace === namespace);
  }

  /** The service account a Deployment's pods run as (`default` when unset). */
  serviceAccountOf(deployment: Ref): string | undefined {
    const d = this.all('Deployment').find((m) => m.metadata.namespace === deployment.namespace && m.metadata.name === deployment.name);
    if (!d) return undefined;
    const spec = d.spec as { template?: { spec?: { serviceAccountName?: string } } } | undefined;
    return spec?.template?.spec?.serviceAccountName ?? 'default';
  }

  /**
   * The posture's own edge: the first Istio Gateway with an HTTPS server, the Service in front of the pods it
   * selects, the Service ports of its HTTPS and HTTP servers and the host they serve. Undefined without one.
   */
  edge(): EdgeView | undefined {
    for (const g of this.all('Gateway')) {
      const spec = g.spec as { selector?: Record<string, string>; servers?: { port: { number: number; protocol: string }; hosts: string[]; tls?: { httpsRedirect?: boolean } }[] };
      const https = spec.servers?.find((x) => x.port.protocol === 'HTTPS');
      if (!https || !spec.selector) continue;
      const selector = spec.selector;
      for (const d of this.all('Deployment').filter((x) => selects(selector, podLabelsOf(x)))) {
        const svc = this.all('Service').find((s) => {
          const sel = (s.spec as { selector?: Record<string, string> }).selector ?? {};
          return s.metadata.namespace === d.metadata.namespace && Object.keys(sel).length > 0 && selects(sel, podLabelsOf(d));
        });
        if (!svc) continue;
        const ports = ((svc.spec as Spec)?.ports ?? []) as { port: number; targetPort?: number }[];
        const servicePort = (n: number) => ports.find((p) => p.port === n || p.targetPort === n)?.port;
        const httpsPort = servicePort(https.port.number);
        if (httpsPort === undefined) continue;
        const http = spec.servers?.find((x) => x.port.protocol === 'HTTP' && x.hosts.some((h) => https.hosts.includes(h)));
        return {
          gateway: { namespace: g.metadata.namespace ?? '', name: g.metadata.name },
          workload: { namespace: d.metadata.namespace ?? '', name: d.metadata.name },
          service: { namespace: svc.metadata.namespace ?? '', name: svc.metadata.name },
          host: https.hosts[0]!,
          httpsPort,
          httpPort: http ? servicePort(http.port.number) : undefined,
        };
      }
    }
    return undefined;
  }

  /**
   * The posture's mesh config (ConfigMap `istio` in istio-system, key `mesh`, parsed), undefined when the posture
   * has none. What a cluster really runs is read by the target (cluster/kube/preflight.ts); this is what the
   * posture declares (the lab runs exactly it).
   */
  meshConfig(): Record<string, unknown> | undefined {
    const cm = this.all('ConfigMap').find((m) => m.metadata.namespace === ROOT_NAMESPACE && m.metadata.name === 'istio');
    const text = (cm as { data?: { mesh?: unknown } } | undefined)?.data?.mesh;
    if (typeof text !== 'string') return undefined;
    try {
      const v = parseYaml(text) as unknown;
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
    } catch {
      return undefined;
    }
  }

  has(kind: string, ref: Ref): boolean {
    return this.all(kind).some((m) => m.metadata.namespace === ref.namespace && m.metadata.name === ref.name);
  }
}
