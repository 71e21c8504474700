// The lab's reading of a posture: the Kubernetes and Istio objects it implements, resolved the way istiod would.
import { ConfigError } from '../../harness/errors.js';
import type { Posture } from '../../harness/posture/load.js';
import { parseGoDuration } from '../../harness/duration.js';
import { effectiveLogging, type EffectiveLogging, type MeshLoggingConfig, type TelemetryObject } from '../../harness/mesh-logging.js';
import type { ProxyStatsMatcher } from './envoy/stats.js';
import { type LabKinds, meshConfigOf, type MtlsMode, proxyConfigOf, secretTtlOf, validateForLab } from './schema.js';

import { ROOT_NAMESPACE } from '../../harness/posture/view.js';

export { ROOT_NAMESPACE };

export type PortProtocol = 'http' | 'tcp';

export interface DeploymentModel {
  namespace: string;
  name: string;
  replicas: number;
  podLabels: Record<string, string>;
  podAnnotations: Record<string, string>;
  serviceAccount: string;
  mode: 'echo' | 'probe';
  args: string[];
  containerPorts: number[];
  injected: boolean;
  /** proxyMetadata.SECRET_TTL from `proxy.istio.io/config`, in ms; undefined means istiod's 24h default. */
  secretTtlMs?: number;
  /** proxyStatsMatcher from `proxy.istio.io/config`: stats kept beyond Istio's defaults (§10). */
  statsMatcher?: ProxyStatsMatcher;
  source: string;
}

export type AuthzRule = NonNullable<LabKinds['AuthorizationPolicy']['spec']['rules']>[number];

export interface AuthzPolicyModel {
  namespace: string;
  name: string;
  selector?: Record<string, string>;
  action: 'ALLOW' | 'DENY';
  /** undefined = `spec: {}` (ALLOW: allow-nothing); [{}] = allow-all. */
  rules: AuthzRule[];
}

/** The client-side traffic policy for one destination (I: pilot/pkg/networking/core/cluster_traffic_policy.go). */
export interface TrafficPolicy {
  /** Which DestinationRule it came from, for evidence. */
  source: string;
  maxConnections?: number;
  maxPendingRequests?: number;
  maxRequests?: number;
  maxRequestsPerConnection?: number;
  outlier?: { consecutive5xx: number; intervalMs: number; baseEjectionMs: number; maxEjectionPercent: number };
}

export interface DestinationRuleModel {
  namespace: string;
  name: string;
  /** The FQDN the host resolves to. */
  fqdn: string;
  policy: TrafficPolicy;
}

export interface LabFaults {
  acceptUntrustedChain: boolean;
  allowExpiredCertificate: boolean;
  disableRotation: boolean;
  plaintextOnControlPlaneOutage: boolean;
  injectionFailOpen: boolean;
  rootCertTtlMs?: number;
}

export interface ServicePortModel {
  name: string;
  port: number;
  targetPort: number;
  protocol: PortProtocol;
}

export interface ServiceModel {
  namespace: string;
  name: string;
  selector: Record<string, string>;
  ports: ServicePortModel[];
}

export interface PeerAuthnModel {
  namespace: string;
  name: string;
  selector?: Record<string, string>;
  mode: MtlsMode;
  portLevel: Map<number, MtlsMode>;
  source: string;
}

export interface LabModel {
  namespaces: Map<string, { injected: boolean; labels: Record<string, string>; source: string }>;
  serviceAccounts: Set<string>;
  deployments: DeploymentModel[];
  services: ServiceModel[];
  peerAuthentications: PeerAuthnModel[];
  telemetry: TelemetryObject[];
  /** The logging fields of the mesh config (ConfigMap istio-system/istio), `{}` when the posture has none. */
  meshConfig: MeshLoggingConfig;
  authorizationPolicies: AuthzPolicyModel[];
  destinationRules: DestinationRuleModel[];
  faults: LabFaults;
}

export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function injectionOf(ns: { injected: boolean } | undefined, d: LabKinds['Deployment']): boolean {
  // Pod label (or the legacy annotation) `sidecar.istio.io/inject: "false"` opts out (istio-behaviours.md §8).
  const opt =
    d.spec.template.metadata.labels['sidecar.istio.io/inject'] ?? d.spec.template.metadata.annotations?.['sidecar.istio.io/inject'];
  if (opt === 'false') return false;
  return ns?.injected ?? false;
}

export function buildModel(posture: Posture): LabModel {
  const model: LabModel = {
    namespaces: new Map(),
    serviceAccounts: new Set(),
    deployments: [],
    services: [],
    peerAuthentications: [],
    telemetry: [],
    meshConfig: {},
    authorizationPolicies: [],
    destinationRules: [],
    faults: { acceptUntrustedChain: false, allowExpiredCertificate: false, disableRotation: false, plaintextOnControlPlaneOutage: false, injectionFailOpen: false },
  };
  const objects = posture.objects.map(validateForLab);
  for (const o of objects) {
    if (o.kind === 'Namespace') {
      model.namespaces.set(o.value.metadata.name, { injected: o.value.metadata.labels?.['istio-injection'] === 'enabled', labels: { ...(o.value.metadata.labels ?? {}) }, source: o.source });
    }
  }
  const requireNs = (ns: string | undefined, source: string, what: string) => {
    if (ns === undefined) throw new ConfigError(`${source}: ${what} has no namespace`);
    if (!model.namespaces.has(ns) && ns !== ROOT_NAMESPACE) {
      throw new ConfigError(`${source}: ${what}: namespace ${ns} is not defined in the posture`);
    }
    return ns;
  };
  for (const o of objects) {
    const m = o.value.metadata;
    const what = `${o.kind} ${m.namespace}/${m.name}`;
    switch (o.kind) {
      case 'Namespace':
        break;
      case 'ServiceAccount':
        model.serviceAccounts.add(`${requireNs(m.namespace, o.source, what)}/${m.name}`);
        break;
      case 'Deployment': {
        const ns = requireNs(m.namespace, o.source, what);
        const c = o.value.spec.template.spec.containers[0]!;
        const sa = o.value.spec.template.spec.serviceAccountName ?? 'default';
        if (sa !== 'default' && !model.serviceAccounts.has(`${ns}/${sa}`)) {
          throw new ConfigError(`${o.source}: ${what}: serviceAccountName ${sa} is not defined in namespace ${ns}`);
        }
        model.deployments.push({
          namespace: ns,
          name: m.name,
          replicas: o.value.spec.replicas ?? 1,
          podLabels: o.value.spec.template.metadata.labels,
          podAnnotations: o.value.spec.template.metadata.annotations ?? {},
          serviceAccount: sa,
          mode: c.args[0],
          args: c.args.slice(1),
          containerPorts: (c.ports ?? []).map((p) => p.containerPort),
          injected: injectionOf(model.namespaces.get(ns), o.value),
          secretTtlMs: secretTtlOf(o.value.spec.template.metadata.annotations),
          statsMatcher: proxyConfigOf(o.value.spec.template.metadata.annotations).proxyStatsMatcher,
          source: o.source,
        });
        break;
      }
      case 'Service':
        model.services.push({
          namespace: requireNs(m.namespace, o.source, what),
          name: m.name,
          selector: o.value.spec.selector,
          ports: o.value.spec.ports.map((p) => ({
            name: p.name,
            port: p.port,
            targetPort: p.targetPort ?? p.port,
            protocol: p.name.startsWith('http') ? 'http' : 'tcp',
          })),
        });
        break;
      case 'PeerAuthentication': {
        const ns = requireNs(m.namespace, o.source, what);
        const spec = o.value.spec;
        if (ns === ROOT_NAMESPACE && spec.selector) {
          throw new ConfigError(`${o.source}: ${what}: a selector in the root namespace is not implemented by the lab`);
        }
        if (spec.portLevelMtls && !spec.selector) {
          // Istio ignores portLevelMtls without a selector (API: peer_authentication.proto); a fixture relying on
          // it is wrong, so say so rather than ignore it.
          throw new ConfigError(`${o.source}: ${what}: portLevelMtls only takes effect with a workload selector`);
        }
        model.peerAuthentications.push({
          namespace: ns,
          name: m.name,
          selector: spec.selector?.matchLabels,
          mode: spec.mtls?.mode ?? 'UNSET',
          portLevel: new Map(Object.entries(spec.portLevelMtls ?? {}).map(([p, v]) => [Number(p), v.mode ?? 'UNSET'])),
          source: o.source,
        });
        break;
      }
      case 'AuthorizationPolicy':
        model.authorizationPolicies.push({
          namespace: requireNs(m.namespace, o.source, what),
          name: m.name,
          selector: o.value.spec.selector?.matchLabels,
          action: o.value.spec.action ?? 'ALLOW',
          rules: o.value.spec.rules ?? [],
        });
        break;
      case 'DestinationRule': {
        const ns = requireNs(m.namespace, o.source, what);
        const h = o.value.spec.host;
        const tp = o.value.spec.trafficPolicy;
        const od = tp?.outlierDetection;
        const dur = (v: string | undefined, d: number) => (v ? (parseGoDuration(v) ?? d) : d);
        model.destinationRules.push({
          namespace: ns,
          name: m.name,
          // A short name is relative to the rule's own namespace.
          fqdn: h.includes('.') ? h : `${h}.${ns}.svc.cluster.local`,
          policy: {
            source: `${ns}/${m.name}`,
            maxConnections: tp?.connectionPool?.tcp?.maxConnections,
            maxPendingRequests: tp?.connectionPool?.http?.http1MaxPendingRequests,
            maxRequests: tp?.connectionPool?.http?.http2MaxRequests,
            maxRequestsPerConnection: tp?.connectionPool?.http?.maxRequestsPerConnection,
            // Envoy defaults: interval 10s, base ejection 30s, max ejection 10% (but at least one host).
            outlier: od
              ? {
                  consecutive5xx: od.consecutive5xxErrors ?? 5,
                  intervalMs: dur(od.interval, 10_000),
                  baseEjectionMs: dur(od.baseEjectionTime, 30_000),
                  maxEjectionPercent: od.maxEjectionPercent ?? 10,
                }
              : undefined,
          },
        });
        break;
      }
      case 'LabFault': {
        const f = o.value.spec;
        if (f.acceptUntrustedChain) model.faults.acceptUntrustedChain = true;
        if (f.allowExpiredCertificate) model.faults.allowExpiredCertificate = true;
        if (f.disableRotation) model.faults.disableRotation = true;
        if (f.plaintextOnControlPlaneOutage) model.faults.plaintextOnControlPlaneOutage = true;
        if (f.injectionFailOpen) model.faults.injectionFailOpen = true;
        if (f.rootCertTtl) model.faults.rootCertTtlMs = parseGoDuration(f.rootCertTtl);
        break;
      }
      case 'Telemetry': {
        const ns = requireNs(m.namespace, o.source, what);
        if (ns === ROOT_NAMESPACE && o.value.spec.selector) {
          throw new ConfigError(`${o.source}: ${what}: a selector in the root namespace is not implemented by the lab`);
        }
        model.telemetry.push({ namespace: ns, name: m.name, selector: o.value.spec.selector?.matchLabels, accessLogging: o.value.spec.accessLogging, source: o.source } as TelemetryObject);
        break;
      }
      case 'ConfigMap':
        model.meshConfig = meshConfigOf(o.value);
        break;
    }
  }
  // A provider name istiod cannot resolve is skipped with only a log line in istiod: logging silently absent.
  const providers = new Set(['envoy', ...(model.meshConfig.extensionProviders ?? []).map((p) => p.name)]);
  for (const t of model.telemetry as (TelemetryObject & { source: string })[]) {
    for (const e of t.accessLogging ?? []) {
      for (const p of e.providers ?? []) {
        if (!providers.has(p.name)) throw new ConfigError(`${t.source}: Telemetry ${t.namespace}/${t.name}: provider ${p.name} is neither \`envoy\` nor an extensionProvider of the mesh config`);
      }
    }
  }
  for (const s of model.services) {
    const backends = model.deployments.filter((d) => d.namespace === s.namespace && selects(s.selector, d.podLabels));
    for (const p of s.ports) {
      for (const d of backends) {
        if (d.mode === 'echo' && !d.containerPorts.includes(p.targetPort)) {
          throw new ConfigError(`${d.source}: Deployment ${d.namespace}/${d.name} declares no containerPort ${p.targetPort} for Service ${s.namespace}/${s.name} port ${p.name}`);
        }
      }
    }
  }
  return model;
}

/**
 * The effective mTLS mode of one workload port: workload-selector policy, then namespace, then mesh-wide (root
 * namespace); UNSET inherits from the level above; nothing at all is PERMISSIVE (Istio's default).
 * portLevelMtls keys on the container port (istio-behaviours.md §1).
 */
export function effectiveMtls(model: LabModel, d: DeploymentModel, containerPort: number): Exclude<MtlsMode, 'UNSET'> {
  const one = (list: PeerAuthnModel[], level: string): PeerAuthnModel | undefined => {
    if (list.length > 1) {
      throw new ConfigError(`${list[1]!.source}: ${level} has more than one PeerAuthentication (${list.map((p) => p.name).join(', ')}); Istio would pick the oldest, the lab refuses to guess`);
    }
    return list[0];
  };
  const workload = one(
    model.peerAuthentications.filter((p) => p.namespace === d.namespace && p.selector && selects(p.selector, d.podLabels)),
    `workload ${d.namespace}/${d.name}`,
  );
  const namespace = one(model.peerAuthentications.filter((p) => p.namespace === d.namespace && !p.selector), `namespace ${d.namespace}`);
  const mesh = one(model.peerAuthentications.filter((p) => p.namespace === ROOT_NAMESPACE && !p.selector), 'the root namespace');
  const chain: MtlsMode[] = [
    workload?.portLevel.get(containerPort) ?? 'UNSET',
    workload?.mode ?? 'UNSET',
    namespace?.mode ?? 'UNSET',
    mesh?.mode ?? 'UNSET',
  ];
  const found = chain.find((m) => m !== 'UNSET');
  return (found ?? 'PERMISSIVE') as Exclude<MtlsMode, 'UNSET'>;
}

/** The DestinationRule in force for a client: its own namespace's, then the service's, then the root's. */
export function destinationRuleFor(model: LabModel, clientNamespace: string, namespace: string, service: string): DestinationRuleModel | undefined {
  const fqdn = `${service}.${namespace}.svc.cluster.local`;
  const rules = model.destinationRules.filter((d) => d.fqdn === fqdn);
  return rules.find((d) => d.namespace === clientNamespace) ?? rules.find((d) => d.namespace === namespace) ?? rules.find((d) => d.namespace === ROOT_NAMESPACE);
}

/** Where a workload's access logs go, as istiod resolves mesh config and Telemetry (harness/mesh-logging.ts). */
export function loggingFor(model: LabModel, d: DeploymentModel): EffectiveLogging {
  return effectiveLogging(model.meshConfig, model.telemetry, { namespace: d.namespace, labels: d.podLabels });
}
