// Read-only questions the checks ask of a posture, in logical names. Lenient on purpose: validation of what a
// target supports belongs to the target (the lab refuses unknown fields; a cluster's API server validates).
import type { Ref } from '../target.js';
import type { Manifest, Posture } from './load.js';

export const ROOT_NAMESPACE = 'istio-system';

export interface ServicePort {
  name: string;
  port: number;
  protocol: 'http' | 'tcp';
}

export interface ServiceView extends Ref {
  ports: ServicePort[];
}

type Spec = Record<string, unknown> | undefined;

export class PostureView {
  constructor(readonly posture: Posture) {}

  private all(kind: string): Manifest[] {
    return this.posture.objects.map((o) => o.manifest).filter((m) => m.kind === kind);
  }

  injectedNamespaces(): string[] {
    return this.all('Namespace')
      .filter((n) => n.metadata.labels?.['istio-injection'] === 'enabled')
      .map((n) => n.metadata.name);
  }

  services(namespace?: string): ServiceView[] {
    return this.all('Service')
      .filter((s) => namespace === undefined || s.metadata.namespace === namespace)
      .map((s) => {
        const ports = ((s.spec as Spec)?.ports ?? []) as { name?: string; port: number; appProtocol?: string }[];
        return {
          namespace: s.metadata.namespace ?? '',
          name: s.metadata.name,
          ports: ports.map((p) => ({
            name: p.name ?? String(p.port),
            port: p.port,
            // Istio's explicit protocol selection: port name prefix or appProtocol.
            protocol: /^(http|grpc)/.test(p.appProtocol ?? p.name ?? '') ? ('http' as const) : ('tcp' as const),
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

  has(kind: string, ref: Ref): boolean {
    return this.all(kind).some((m) => m.metadata.namespace === ref.namespace && m.metadata.name === ref.name);
  }
}
