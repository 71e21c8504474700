// The lab's reading of a posture: the Kubernetes and Istio objects it implements, resolved the way istiod would.
import { ConfigError } from '../../harness/errors.js';
import type { AuthzPolicy } from '../../harness/istio/authz.js';
import { authorizationPolicyFromIstio, CLUSTER_LOCAL_BUNDLE, extensionProvidersOf, resolveProviders } from '../../harness/istio/authz-policy.js';
import type { Posture } from '../../harness/posture/load.js';
import { parseGoDuration } from '../../harness/duration.js';
import { type ControlPlanes, injection, namespaceRequestsInjection } from '../../harness/istio/injection.js';
import { effectiveLogging, type EffectiveLogging, type TelemetryObject } from '../../harness/mesh-logging.js';
import type { ProxyStatsMatcher } from './envoy/stats.js';
import { effectivePeerAuthentication, type MtlsMode as MtlsModeIn, type PeerAuthenticationObject, peerAuthenticationProblems } from '../../harness/istio/peer-authentication.js';
import { listAuthorizationPolicies } from '../../harness/istio/selection.js';
import { type MeshConfig, meshConfigOf, proxyConfigOf, secretTtlOf, type TlsVersion, validateForLab } from './schema.js';

import { ROOT_NAMESPACE } from '../../harness/posture/view.js';
import { chainKind, convertProtocol } from '../../harness/istio/protocol.js';
import { type SidecarObject, sidecarObjectOf } from '../../harness/istio/sidecar-scope.js';

export { ROOT_NAMESPACE };

export type PortProtocol = 'http' | 'tcp';

export interface DeploymentModel {
  namespace: string;
  name: string;
  replicas: number;
  podLabels: Record<string, string>;
  podAnnotations: Record<string, string>;
  serviceAccount: string;
  /** The agent's mode, or an Istio gateway (`inject.istio.io/templates: gateway`): Envoy is the whole pod. */
  mode: 'echo' | 'probe' | 'gateway';
  args: string[];
  containerPorts: number[];
  /** Istio's webhooks and injector give the pod a sidecar (harness/istio/injection.ts). */
  injected: boolean;
  /** An injection webhook is called for the pod (so its creation fails while istiod is down, injected or not). */
  webhookCalled: boolean;
  /** The webhook called (`<configuration>/<name>`) and the revision whose istiod it posts to, when one is. */
  webhook?: { name: string; revision: string };
  /** proxyMetadata.SECRET_TTL from `proxy.istio.io/config`, in ms; undefined means istiod's 24h default. */
  secretTtlMs?: number;
  /** proxyStatsMatcher from `proxy.istio.io/config`: stats kept beyond Istio's defaults (§10). */
  statsMatcher?: ProxyStatsMatcher;
  /** proxyHeaders.envoyDebugHeaders.disabled from `proxy.istio.io/config`: the router adds no x-envoy-* header. */
  suppressEnvoyHeaders: boolean;
  source: string;
}

/**
 * An AuthorizationPolicy as the lab holds it: the model's policy (harness/istio/authz-policy.ts converts the object,
 * the one conversion in the project), its workload selector, and the fixture file it came from.
 */
export interface AuthzPolicyModel extends AuthzPolicy {
  selector?: Record<string, string>;
  source?: string;
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
  /** `trafficPolicy.tls.mode`: DISABLE sends plaintext even where auto-mTLS would originate mTLS. */
  tlsMode?: 'DISABLE' | 'ISTIO_MUTUAL';
}

export interface DestinationRuleModel {
  namespace: string;
  name: string;
  /** The FQDN the host resolves to. */
  fqdn: string;
  policy: TrafficPolicy;
  /** exportTo ["."]: only this namespace's workloads see it (else the whole mesh, Istio's default). */
  local: boolean;
}

export interface LabFaults {
  acceptUntrustedChain: boolean;
  allowExpiredCertificate: boolean;
  disableRotation: boolean;
  plaintextOnControlPlaneOutage: boolean;
  injectionFailOpen: boolean;
  rootCertTtlMs?: number;
  /** `<ns>/<name>` of AuthorizationPolicies no sidecar enforces (as if istiod never pushed them); the model still holds them. */
  skipAuthorizationPolicies: string[];
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

/** A PeerAuthentication as the model reads it (harness/istio/peer-authentication.ts); posture objects have no creation time. */
export interface PeerAuthnModel extends PeerAuthenticationObject {
  source: string;
}

export interface GatewayServerModel {
  port: number;
  protocol: 'HTTP' | 'HTTPS';
  hosts: string[];
  httpsRedirect: boolean;
  credentialName?: string;
  minProtocolVersion: TlsVersion;
  maxProtocolVersion: TlsVersion;
  cipherSuites?: string[];
}

export interface GatewayModel {
  namespace: string;
  name: string;
  selector: Record<string, string>;
  servers: GatewayServerModel[];
}

export interface VirtualServiceModel {
  namespace: string;
  name: string;
  hosts: string[];
  /** `<ns>/<name>` of each bound Gateway. */
  gateways: string[];
  destination: { namespace: string; service: string; port: number };
  /** exportTo ["."]: only gateway pods in this namespace see it. */
  local: boolean;
}

export interface ServiceEntryModel {
  namespace: string;
  name: string;
  hosts: string[];
  addresses: string[];
  /** `<ns>/<deployment>` whose pod IPs the Target adds to `addresses` (meshproof.dev/addresses-of). */
  addressesOf?: string;
  ports: { number: number; name: string; protocol: 'HTTP' | 'TCP' }[];
  /** exportTo ["."]: only this namespace's workloads see it. */
  local: boolean;
}

/** A `kubernetes.io/tls` Secret: generated by the Target, or given (the façade, after KubeTarget generated it). */
export interface TlsSecretModel {
  namespace: string;
  name: string;
  hosts: string[];
  validDays: number;
  chain: 'complete' | 'leaf-only';
  given?: { certPem: string; keyPem: string };
}

export interface LabModel {
  /** The Istio control planes the lab emulates: one default revision unless the lab is told otherwise. */
  controlPlanes: ControlPlanes;
  /** `injected`: the namespace asks for injection (harness/istio/injection.ts namespaceRequestsInjection). */
  namespaces: Map<string, { injected: boolean; labels: Record<string, string>; source: string }>;
  serviceAccounts: Set<string>;
  deployments: DeploymentModel[];
  services: ServiceModel[];
  peerAuthentications: PeerAuthnModel[];
  telemetry: TelemetryObject[];
  /** The logging fields of the mesh config (ConfigMap istio-system/istio), `{}` when the posture has none. */
  meshConfig: MeshConfig;
  authorizationPolicies: AuthzPolicyModel[];
  destinationRules: DestinationRuleModel[];
  gateways: GatewayModel[];
  virtualServices: VirtualServiceModel[];
  /** The posture's Sidecars (one per namespace, no workloadSelector); harness/istio/sidecar-scope.ts picks (§7). */
  sidecars: SidecarObject[];
  serviceEntries: ServiceEntryModel[];
  tlsSecrets: TlsSecretModel[];
  /**
   * `<ns>/<sa>` bound by a RoleBinding in `<ns>` to ClusterRole meshproof-gateway-secrets: the service accounts
   * that may `list secrets` in their namespace, so istiod's SDS gives their gateways credentialName Secrets.
   */
  secretReaders: Set<string>;
  faults: LabFaults;
}

export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/**
 * The AuthorizationPolicies that attach to a workload, in istiod's order: harness/istio/selection.ts
 * `listAuthorizationPolicies` (the root namespace's, then the workload's own; `selector` SubsetOf its labels).
 */
export function applicable<P extends Pick<AuthzPolicyModel, 'namespace' | 'name' | 'selector'>>(policies: P[], namespace: string, labels: Record<string, string>): P[] {
  const wrapped = policies.map((p) => ({ namespace: p.namespace, name: p.name, ...(p.selector ? { selector: { matchLabels: p.selector } } : {}), p }));
  return listAuthorizationPolicies(wrapped, ROOT_NAMESPACE, { namespace, labels }).map((w) => w.p);
}

/**
 * The AuthorizationPolicies the sidecars enforce: every one in the model but those a LabFault skipAuthorizationPolicy
 * names (istiod never pushed them). Predictions (the oracle, the sweep's explanations, the matrix's grants) read the
 * model's full list, as they read the API on a cluster; only the proxies lack the skipped policy.
 */
export function enforced(model: Pick<LabModel, 'authorizationPolicies' | 'faults'>): AuthzPolicyModel[] {
  const skipped = model.faults.skipAuthorizationPolicies;
  return skipped.length === 0 ? model.authorizationPolicies : model.authorizationPolicies.filter((p) => !skipped.includes(`${p.namespace}/${p.name}`));
}

/** One Istio default revision, with Istio's default injector config: what the lab emulates unless told otherwise. */
export const LAB_CONTROL_PLANES: ControlPlanes = { revisions: ['default'] };

/**
 * A CUSTOM policy must name an envoyExtAuthzHttp provider of the mesh config. istiod turns the rules of a policy
 * whose provider is unknown or invalid into DENY rules (I: pilot/pkg/security/authz/builder/builder.go buildHTTP,
 * getBadCustomDenyRules, "deny-due-to-bad-CUSTOM-action"; the model judges that: harness/istio/authz.ts
 * `badProvider`); the lab refuses such a fixture instead. Two providers on one workload make both bad unless
 * PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS is set (builder.go, "multiple CUSTOM authorization providers per
 * workload requires …"): the lab refuses two CUSTOM providers that could select the same pods.
 */
function checkCustomProviders(model: LabModel): void {
  const http = new Set((model.meshConfig.extensionProviders ?? []).filter((p) => p.envoyExtAuthzHttp).map((p) => p.name));
  const custom = model.authorizationPolicies.filter((p) => p.action === 'CUSTOM');
  // A provider istiod cannot use (builder/extauthz.go processExtensionProvider: validateProviderName, a duplicate
  // name, an invalid port …) makes its policies fail closed in Istio; the lab refuses it rather than serve it.
  const resolved = resolveProviders(extensionProvidersOf(model.meshConfig));
  for (const p of custom) {
    const problem = resolved.get(p.provider!)?.problem;
    if (problem) throw new ConfigError(`${p.source}: AuthorizationPolicy ${p.namespace}/${p.name}: provider ${p.provider}: ${problem} (istiod turns the policy's rules into DENY rules)`);
    if (!http.has(p.provider!)) throw new ConfigError(`${p.source}: AuthorizationPolicy ${p.namespace}/${p.name}: provider ${p.provider} is not an envoyExtAuthzHttp extensionProvider of the mesh config (ConfigMap istio-system/istio); the lab implements HTTP ext_authz providers only`);
  }
  for (const d of model.deployments) {
    const names = new Set(applicable(custom, d.namespace, d.podLabels).map((p) => p.provider));
    if (names.size > 1) throw new ConfigError(`Deployment ${d.namespace}/${d.name}: CUSTOM policies name ${[...names].join(' and ')}; Istio allows one provider per workload`);
  }
}

export function buildModel(posture: Posture, controlPlanes: ControlPlanes = LAB_CONTROL_PLANES): LabModel {
  const model: LabModel = {
    controlPlanes,
    namespaces: new Map(),
    serviceAccounts: new Set(),
    deployments: [],
    services: [],
    peerAuthentications: [],
    telemetry: [],
    meshConfig: {},
    authorizationPolicies: [],
    destinationRules: [],
    gateways: [],
    virtualServices: [],
    sidecars: [],
    serviceEntries: [],
    tlsSecrets: [],
    secretReaders: new Set(),
    faults: { acceptUntrustedChain: false, allowExpiredCertificate: false, disableRotation: false, plaintextOnControlPlaneOutage: false, injectionFailOpen: false, skipAuthorizationPolicies: [] },
  };
  const objects = posture.objects.map(validateForLab);
  for (const o of objects) {
    if (o.kind === 'Namespace') {
      model.namespaces.set(o.value.metadata.name, { injected: namespaceRequestsInjection(o.value.metadata.labels ?? {}), labels: { ...(o.value.metadata.labels ?? {}) }, source: o.source });
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
      case 'RoleBinding': {
        const ns = requireNs(m.namespace, o.source, what);
        for (const s of o.value.subjects) model.secretReaders.add(`${ns}/${s.name}`);
        break;
      }
      case 'Deployment': {
        const ns = requireNs(m.namespace, o.source, what);
        const c = o.value.spec.template.spec.containers[0]!;
        const isGateway = o.value.spec.template.metadata.annotations?.['inject.istio.io/templates'] === 'gateway';
        const args = c.args ?? [];
        const sa = o.value.spec.template.spec.serviceAccountName ?? 'default';
        const tmpl = o.value.spec.template.metadata;
        const decision = injection(model.controlPlanes, { namespace: ns, namespaceLabels: model.namespaces.get(ns)?.labels ?? {}, labels: tmpl.labels, annotations: tmpl.annotations ?? {} });
        if (isGateway && !decision.injected) {
          // The gateway template is the injector's: a pod no webhook injects keeps `image: auto`, which never runs.
          throw new ConfigError(`${o.source}: ${what}: inject.istio.io/templates: gateway, but no injection webhook injects this pod (label it sidecar.istio.io/inject: "true" in a namespace that does not disable injection)`);
        }
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
          mode: isGateway ? 'gateway' : (args[0] as 'echo' | 'probe'),
          args: args.slice(1),
          containerPorts: (c.ports ?? []).map((p) => p.containerPort),
          injected: decision.injected,
          webhookCalled: decision.selected,
          ...(decision.webhook ? { webhook: { name: decision.webhook.split('/').pop()!, revision: decision.revision ?? 'default' } } : {}),
          secretTtlMs: secretTtlOf(o.value.spec.template.metadata.annotations),
          statsMatcher: proxyConfigOf(o.value.spec.template.metadata.annotations).proxyStatsMatcher,
          suppressEnvoyHeaders: proxyConfigOf(o.value.spec.template.metadata.annotations).proxyHeaders?.envoyDebugHeaders?.disabled === true,
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
            // Istio's protocol of the port (the model's ConvertProtocol; the schema admits named http, http2, https,
            // tcp and tls ports only): http, http2 → an HTTP chain; https, tls, tcp → opaque to the sidecar.
            protocol: chainKind(convertProtocol(p.port, p.name, 'TCP', undefined)) === 'http' ? 'http' : 'tcp',
          })),
        });
        break;
      case 'PeerAuthentication': {
        const ns = requireNs(m.namespace, o.source, what);
        const spec = o.value.spec;
        // istiod's webhook rejects these (I: pkg/config/validation/validation.go ValidatePeerAuthentication), e.g.
        // portLevelMtls without a selector; so does the lab. A selector in the root namespace is valid and ignored
        // for sidecars (ComposePeerAuthentication): the model ignores it and the sweep's explanation says so.
        const problems = peerAuthenticationProblems(spec);
        if (problems.length > 0) throw new ConfigError(`${o.source}: ${what}: ${problems.join('; ')}`);
        model.peerAuthentications.push({
          namespace: ns,
          name: m.name,
          ...(spec.selector ? { selector: spec.selector } : {}),
          ...(spec.mtls ? { mtls: spec.mtls } : {}),
          ...(spec.portLevelMtls ? { portLevelMtls: spec.portLevelMtls } : {}),
          source: o.source,
        });
        break;
      }
      case 'AuthorizationPolicy':
      {
        requireNs(m.namespace, o.source, what);
        // The schema (schema.ts) admits only what the lab enforces; the model's front end converts it, with the
        // lab's trust-domain bundle: the lab's mesh config pins trustDomain to cluster.local and refuses
        // trustDomainAliases (schema.ts meshConfigSchema), so istiod's MigrateTrustDomain bundle is cluster.local alone.
        const conv = authorizationPolicyFromIstio(o.value, { trustDomainBundle: CLUSTER_LOCAL_BUNDLE });
        if ('refused' in conv) throw new ConfigError(`${o.source}: ${what}: ${conv.refused}`);
        model.authorizationPolicies.push({ ...conv.policy, ...(conv.selector ? { selector: conv.selector } : {}), source: o.source });
        break;
      }
      case 'DestinationRule': {
        // Istio treats 0 as unset for these limits (I: pilot/pkg/networking/core/cluster_traffic_policy.go
        // applyConnectionPool's `> 0` guards).
        const positive = (v: number | undefined) => (v !== undefined && v > 0 ? v : undefined);
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
          local: o.value.spec.exportTo !== undefined,
          policy: {
            source: `${ns}/${m.name}`,
            maxConnections: positive(tp?.connectionPool?.tcp?.maxConnections),
            maxPendingRequests: positive(tp?.connectionPool?.http?.http1MaxPendingRequests),
            maxRequests: positive(tp?.connectionPool?.http?.http2MaxRequests),
            maxRequestsPerConnection: positive(tp?.connectionPool?.http?.maxRequestsPerConnection),
            // Envoy defaults: interval 10s, base ejection 30s, max ejection 10% (but at least one host).
            outlier: od
              ? {
                  consecutive5xx: od.consecutive5xxErrors ?? 5,
                  intervalMs: dur(od.interval, 10_000),
                  baseEjectionMs: dur(od.baseEjectionTime, 30_000),
                  maxEjectionPercent: od.maxEjectionPercent ?? 10,
                }
              : undefined,
            tlsMode: tp?.tls?.mode,
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
        if (f.skipAuthorizationPolicy) model.faults.skipAuthorizationPolicies.push(f.skipAuthorizationPolicy);
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
      case 'Gateway': {
        const ns = requireNs(m.namespace, o.source, what);
        model.gateways.push({
          namespace: ns,
          name: m.name,
          selector: o.value.spec.selector,
          servers: o.value.spec.servers.map((sv) => ({
            port: sv.port.number,
            protocol: sv.port.protocol,
            hosts: sv.hosts,
            httpsRedirect: sv.tls?.httpsRedirect ?? false,
            credentialName: sv.tls?.credentialName,
            minProtocolVersion: sv.tls?.minProtocolVersion ?? 'TLS_AUTO',
            maxProtocolVersion: sv.tls?.maxProtocolVersion ?? 'TLS_AUTO',
            cipherSuites: sv.tls?.cipherSuites,
          })),
        });
        break;
      }
      case 'VirtualService': {
        const ns = requireNs(m.namespace, o.source, what);
        const d = o.value.spec.http[0]!.route[0]!.destination;
        const [service, dns = ns] = d.host.split('.');
        if (d.host.includes('.') && !/^[^.]+\.[^.]+(\.svc(\.cluster\.local)?)?$/.test(d.host)) {
          throw new ConfigError(`${o.source}: ${what}: destination host ${d.host}: the lab routes to Services of the posture only (<name>[.<namespace>[.svc.cluster.local]])`);
        }
        model.virtualServices.push({
          namespace: ns,
          name: m.name,
          hosts: o.value.spec.hosts,
          gateways: o.value.spec.gateways.map((g) => (g.includes('/') ? g : `${ns}/${g}`)),
          destination: { namespace: dns, service: service!, port: d.port.number },
          local: o.value.spec.exportTo !== undefined,
        });
        break;
      }
      case 'Sidecar': {
        const ns = requireNs(m.namespace, o.source, what);
        if (model.sidecars.some((x) => x.namespace === ns)) throw new ConfigError(`${o.source}: ${what}: namespace ${ns} already has a Sidecar; Istio would pick the oldest, the lab refuses to guess`);
        model.sidecars.push(sidecarObjectOf({ metadata: { name: m.name, namespace: ns }, spec: o.value.spec }));
        break;
      }
      case 'ServiceEntry':
        model.serviceEntries.push({
          namespace: requireNs(m.namespace, o.source, what),
          name: m.name,
          hosts: o.value.spec.hosts,
          addresses: o.value.spec.addresses ?? [],
          addressesOf: m.annotations?.['meshproof.dev/addresses-of'],
          ports: o.value.spec.ports,
          local: o.value.spec.exportTo !== undefined,
        });
        break;
      case 'Secret': {
        const a = m.annotations ?? {};
        const data = o.value.data;
        model.tlsSecrets.push({
          namespace: requireNs(m.namespace, o.source, what),
          name: m.name,
          hosts: (a['meshproof.dev/tls-hosts'] ?? '').split(',').map((h) => h.trim()).filter(Boolean),
          validDays: Number(a['meshproof.dev/tls-valid-days'] ?? 365),
          chain: a['meshproof.dev/tls-chain'] === 'leaf-only' ? 'leaf-only' : 'complete',
          ...(data ? { given: { certPem: Buffer.from(data['tls.crt'], 'base64').toString('utf8'), keyPem: Buffer.from(data['tls.key'], 'base64').toString('utf8') } } : {}),
        });
        break;
      }
    }
  }
  checkCustomProviders(model);
  // A provider name istiod cannot resolve is skipped with only a log line in istiod: logging silently absent.
  const providers = new Set(['envoy', ...(model.meshConfig.extensionProviders ?? []).map((p) => p.name)]);
  for (const t of model.telemetry as (TelemetryObject & { source: string })[]) {
    for (const e of t.accessLogging ?? []) {
      for (const p of e.providers ?? []) {
        if (!providers.has(p.name)) throw new ConfigError(`${t.source}: Telemetry ${t.namespace}/${t.name}: provider ${p.name} is neither \`envoy\` nor an extensionProvider of the mesh config`);
      }
    }
  }
  // Every route must lead somewhere the lab runs, and every HTTPS server to a Secret beside its gateway pods
  // (credentialName is read in the gateway's own namespace, IO: tasks/traffic-management/ingress/secure-ingress).
  for (const vs of model.virtualServices) {
    const d = vs.destination;
    const svc = model.services.find((x) => x.namespace === d.namespace && x.name === d.service);
    if (!svc?.ports.some((p) => p.port === d.port)) throw new ConfigError(`VirtualService ${vs.namespace}/${vs.name}: destination ${d.service}.${d.namespace}:${d.port} is no Service port of the posture`);
    for (const g of vs.gateways) if (!model.gateways.some((x) => `${x.namespace}/${x.name}` === g)) throw new ConfigError(`VirtualService ${vs.namespace}/${vs.name}: gateway ${g} is not in the posture`);
  }
  for (const g of model.gateways) {
    const pods = model.deployments.filter((d) => d.mode === 'gateway' && selects(g.selector, d.podLabels));
    for (const sv of g.servers.filter((x) => x.credentialName)) {
      for (const d of pods) {
        if (!model.tlsSecrets.some((x) => x.namespace === d.namespace && x.name === sv.credentialName)) {
          throw new ConfigError(`Gateway ${g.namespace}/${g.name}: credentialName ${sv.credentialName} has no kubernetes.io/tls Secret in ${d.namespace}, the namespace of gateway pod ${d.name}`);
        }
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
  for (const id of model.faults.skipAuthorizationPolicies) {
    // A fault that skips nothing would plant no hole and leave a test proving nothing: refuse it.
    if (!model.authorizationPolicies.some((p) => `${p.namespace}/${p.name}` === id)) throw new ConfigError(`LabFault skipAuthorizationPolicy ${id}: no such AuthorizationPolicy in the posture`);
  }
  return model;
}

/**
 * The effective mTLS mode of one workload port: Istio's composition (harness/istio/peer-authentication.ts
 * `effectivePeerAuthentication`, keyed on the container port). Where more than one PeerAuthentication competes at
 * one level, istiod takes the oldest and, on equal creation times, the first by name; a posture's objects have no
 * creation time (their order in the file is not one: kubectl stamps them in whole seconds), so the lab refuses
 * the tie the model reports rather than guess which a cluster would keep.
 */
export function effectiveMtls(model: LabModel, d: DeploymentModel, containerPort: number): MtlsModeIn {
  const e = effectivePeerAuthentication(model.peerAuthentications, ROOT_NAMESPACE, { namespace: d.namespace, labels: d.podLabels }, containerPort);
  const tie = e.ties[0];
  if (tie) {
    const first = model.peerAuthentications.find((p) => tie.names[1] === `PeerAuthentication ${p.namespace}/${p.name}`);
    throw new ConfigError(`${first?.source ?? 'posture'}: workload ${d.namespace}/${d.name}: ${tie.names.join(', ')} compete at the ${tie.level} level; Istio keeps the oldest, the lab has no creation times and refuses to guess`);
  }
  return e.mode;
}

/**
 * The DestinationRule in force for a client: its own namespace's, then the service's, then the root's, among those
 * exported to the client's namespace (istio/api networking/v1alpha3/destination_rule.proto `export_to`: "."
 * exports to the rule's own namespace only; the same field on VirtualService and ServiceEntry).
 */
export function destinationRuleFor(model: LabModel, clientNamespace: string, namespace: string, service: string): DestinationRuleModel | undefined {
  const fqdn = `${service}.${namespace}.svc.cluster.local`;
  const rules = model.destinationRules.filter((d) => d.fqdn === fqdn && (!d.local || d.namespace === clientNamespace));
  return rules.find((d) => d.namespace === clientNamespace) ?? rules.find((d) => d.namespace === namespace) ?? rules.find((d) => d.namespace === ROOT_NAMESPACE);
}

/** Where a workload's access logs go, as istiod resolves mesh config and Telemetry (harness/mesh-logging.ts). */
export function loggingFor(model: LabModel, d: DeploymentModel): EffectiveLogging {
  return effectiveLogging(model.meshConfig, model.telemetry, { namespace: d.namespace, labels: d.podLabels });
}
