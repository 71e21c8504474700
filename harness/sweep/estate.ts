// What a sweep attacks: the user's estate as discovered by a Target (ARCHITECTURE.md "Sweeping a user's estate").
// Pure data and pure functions: scope resolution, Istio's own ports and gateways, and the explanation of a
// finding from the policy snapshot. Targets fill these types; nothing here knows which Target it has.
import { ConfigError } from '../errors.js';
import { effectivePeerAuthentication as modelPeerAuthentication, type PeerAuthenticationObject } from '../istio/peer-authentication.js';
import { listAuthorizationPolicies, type TargetablePolicy } from '../istio/selection.js';
import { namespaceRequestsInjection } from '../istio/injection.js';
import { type ExtensionProvider, isDryRun } from '../istio/authz-policy.js';
import type { Manifest } from '../posture/load.js';

/** How Istio treats a port: `sniffed` when neither appProtocol nor the port name declares it. */
export type SweepProtocol = 'http' | 'tcp' | 'sniffed';

export interface EstatePort {
  /** The container port (what pod IP:port reaches, and what portLevelMtls keys on). */
  port: number;
  protocol: SweepProtocol;
  /** Why that protocol: `appProtocol http`, `port name http-web`, `container port name tcp`, `no declaration`. */
  protocolFrom: string;
  /** Services that target this port, `ns/name:servicePort`. */
  services: string[];
  /** Where a probe dials it: `podIP:port` in a cluster, the pod's loopback listener in the lab. */
  dial: string;
  /** Set for the sidecar's own plaintext ports (istioOwnPorts): reported as information, never attacked. */
  istioOwn?: string;
}

export interface EstatePod {
  namespace: string;
  name: string;
  serviceAccount: string;
  /**
   * The workload that owns the pod, from its ownerReferences (cluster/kube/discover.ts `ownerWorkload`): a
   * ReplicaSet's Deployment, a StatefulSet, DaemonSet or Job, or the bare Pod itself. Absent when the Target cannot
   * say; then the pod name's shape decides (harness/matrix/intent.ts `podOfWorkload`).
   */
  workload?: string;
  /** The owning workload's kind (`Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `ReplicaSet`, `Pod`…). */
  workloadKind?: string;
  labels: Record<string, string>;
  /** An `istio-proxy` among the containers or the native-sidecar initContainers. */
  sidecar: boolean;
  /** Whether the pod's namespace asks for injection (so a pod without a sidecar there is a finding). */
  injectedNamespace: boolean;
  /** Set by `sidecar.istio.io/inject: "false"` on the pod: it opted out (still a finding in an injected namespace). */
  optedOut: boolean;
  ports: EstatePort[];
  /** meshproof's own pods in the run namespace: the canary is judged separately, attackers not at all. */
  role?: 'canary' | 'attacker';
  /** Why this pod is an Istio gateway (gatewayReason): judged as a gateway, not as a workload. */
  gateway?: string;
  /** A gateway's labels or annotations on a pod that is no gateway (gatewayClaim, M2): judged as a workload, noted. */
  gatewayClaim?: string;
  /** The istio-proxy container's restart count at discovery (a change means its log moved to `previous`). */
  proxyRestarts?: number;
}

export interface EstateNamespace {
  name: string;
  labels: Record<string, string>;
  injected: boolean;
}

export interface EstateService {
  namespace: string;
  name: string;
  selector: Record<string, string>;
}

export interface Estate {
  namespaces: EstateNamespace[];
  services: EstateService[];
  pods: EstatePod[];
  /** Every PeerAuthentication, AuthorizationPolicy, DestinationRule, Sidecar and Telemetry in scope and in the root namespace. */
  snapshot: Manifest[];
  rootNamespace: string;
  /** meshproof's run namespace as the cluster names it (`mp-<run>-sweep`; `sweep` in the lab). */
  runNamespace: string;
  trustDomain: string;
  /**
   * meshConfig.trustDomainAliases: with `trustDomain`, the bundle istiod migrates every AuthorizationPolicy's
   * principals with (I: pilot/pkg/security/authz/builder/builder.go `New`, trustdomain.NewBundle).
   */
  trustDomainAliases: string[];
  /**
   * meshConfig.extensionProviders, as the target read the mesh config: what a CUSTOM policy's provider resolves to
   * (a bad one makes istiod turn its rules into DENY rules, builder/extauthz.go processExtensionProvider).
   */
  extensionProviders: ExtensionProvider[];
  /** What discovery read, for the evidence: the query and how many items it returned. */
  listings: { query: string; items: number }[];
  /** Namespaces left out of scope, with why. */
  left: { namespace: string; reason: string }[];
  /** Pods seen but not swept, with why (not ready, no IP, excluded port …). */
  skipped: { pod: string; reason: string }[];
}

export interface SweepScope {
  /** `--namespaces a,b`: exactly these. */
  namespaces?: string[];
  /** `--namespace-selector`: a Kubernetes label query over namespaces. */
  selector?: string;
  exclude: string[];
  excludePorts: number[];
  /** meshproof's own run namespace (attackers and canary): always in scope. */
  runNamespace: string;
}

/** Never swept unless named with `--namespaces`: the control plane and Kubernetes' own. */
export function isSystemNamespace(name: string, rootNamespace: string): boolean {
  return name === rootNamespace || name === 'istio-system' || name === 'kube-system' || name === 'kube-public' || name === 'kube-node-lease' || name === 'local-path-storage';
}


type Requirement = (labels: Record<string, string>) => boolean;

/** A Kubernetes label query: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma-joined. */
export function parseLabelSelector(text: string): Requirement {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  const key = '([A-Za-z0-9][-A-Za-z0-9_./]*)';
  const eq = new RegExp(`^${key}\\s*(==|=|!=)\\s*([-A-Za-z0-9_.]*)$`);
  const set = new RegExp(`^${key}\\s+(in|notin)\\s*\\(([^)]*)\\)$`);
  const absent = new RegExp(`^!${key}$`);
  const present = new RegExp(`^${key}$`);
  const reqs = parts.map((raw): Requirement => {
    const p = raw.trim();
    const e = eq.exec(p);
    if (e) {
      const [, k, op, v] = e as unknown as [string, string, string, string];
      return op === '!=' ? (l) => l[k] !== v : (l) => l[k] === v;
    }
    const s = set.exec(p);
    if (s) {
      const [, k, op, list] = s as unknown as [string, string, string, string];
      const values = new Set(list.split(',').map((x) => x.trim()));
      return op === 'in' ? (l) => l[k] !== undefined && values.has(l[k]) : (l) => l[k] === undefined || !values.has(l[k]);
    }
    const a = absent.exec(p);
    if (a) {
      const k = a[1]!;
      return (l) => l[k] === undefined;
    }
    const h = present.exec(p);
    if (h) {
      const k = h[1]!;
      return (l) => l[k] !== undefined;
    }
    throw new ConfigError(`--namespace-selector: cannot read ${JSON.stringify(p)} (use k=v, k!=v, k, !k, k in (a,b))`);
  });
  return (labels) => reqs.every((r) => r(labels));
}

/** Which namespaces a sweep covers, and why each other one is left out. */
export function resolveScope(all: EstateNamespace[], scope: SweepScope, rootNamespace: string): { inScope: string[]; left: { namespace: string; reason: string }[] } {
  const byName = new Map(all.map((n) => [n.name, n]));
  const left: { namespace: string; reason: string }[] = [];
  let chosen: string[];
  if (scope.namespaces && scope.namespaces.length > 0) {
    for (const n of scope.namespaces) if (!byName.has(n)) throw new ConfigError(`--namespaces: namespace ${n} does not exist`);
    chosen = [...scope.namespaces];
  } else {
    const match = scope.selector ? parseLabelSelector(scope.selector) : (l: Record<string, string>) => namespaceRequestsInjection(l);
    chosen = [];
    for (const n of all) {
      if (n.name === scope.runNamespace) continue;
      if (isSystemNamespace(n.name, rootNamespace)) {
        left.push({ namespace: n.name, reason: 'system namespace (name it with --namespaces to sweep it)' });
      } else if (match(n.labels)) chosen.push(n.name);
      else left.push({ namespace: n.name, reason: scope.selector ? `does not match ${scope.selector}` : 'injection not enabled' });
    }
  }
  const excluded = new Set(scope.exclude);
  for (const n of chosen.filter((c) => excluded.has(c))) left.push({ namespace: n, reason: '--exclude-namespaces' });
  const inScope = [...new Set([...chosen.filter((c) => !excluded.has(c)), scope.runNamespace])].sort();
  return { inScope, left };
}

/**
 * The sidecar's own ports, which answer plaintext by design and are excluded from inbound capture: 15090 (Envoy
 * Prometheus), 15021 (health), and the status port, 15020 unless the pod's `status.sidecar.istio.io/port`
 * annotation names another or turns it off with "0" (I: manifests/charts/istio-control/istio-discovery/files/injection-template.yaml,
 * `excludeInboundPorts: "15090,15021,<status port>"`; istio-behaviours.md §1: INFO, not a finding).
 */
export function istioOwnPorts(annotations: Record<string, string>): Map<number, string> {
  const out = new Map<number, string>([
    [15090, "the sidecar's Prometheus port (excluded from capture; plaintext by design)"],
    [15021, "the sidecar's health port (excluded from capture; plaintext by design)"],
    [15020, "the sidecar's status port (excluded from capture; plaintext by design)"],
  ]);
  const raw = annotations['status.sidecar.istio.io/port'];
  const status = Number(raw);
  // "0" turns the status server off: pilot-agent binds nothing and the injector's excludeInboundPort adds no port
  // (I: pkg/kube/inject/template.go `excludeInboundPort`: `portStr == "0"` → "Nothing to do"), so 15020 is captured
  // like any app port and an app listening there is attacked (audit L7).
  if (raw !== undefined && raw.trim() === '0') out.delete(15020);
  else if (Number.isInteger(status) && status > 0 && status !== 15020) {
    out.delete(15020);
    out.set(status, "the sidecar's status port, set by status.sidecar.istio.io/port (excluded from capture; plaintext by design)");
  }
  return out;
}

/**
 * What a pod's labels and annotations claim about it being an Istio gateway: the gateway injection template
 * (`inject.istio.io/templates: gateway`), an `istio: *gateway` label (ingressgateway, eastwestgateway …), or a
 * Gateway API deployment (`gateway.istio.io/managed`). Anyone who can label a pod can make these claims, so a claim
 * alone never spares a pod from being attacked (audit M2): see gatewayReason.
 */
export function gatewayClaim(labels: Record<string, string>, annotations: Record<string, string>): string | undefined {
  if ((annotations['inject.istio.io/templates'] ?? '').split(',').map((t) => t.trim()).includes('gateway')) return 'inject.istio.io/templates: gateway';
  if (/gateway$/.test(labels.istio ?? '')) return `label istio: ${labels.istio}`;
  if (labels['gateway.istio.io/managed'] !== undefined) return `label gateway.istio.io/managed: ${labels['gateway.istio.io/managed']}`;
  return undefined;
}

/**
 * Why a pod is an Istio gateway, or undefined: its `istio-proxy` container runs `pilot-agent proxy router`, which
 * the gateway injection template renders (I: manifests/charts/istio-control/istio-discovery/files/
 * gateway-injection-template.yaml, `args: [proxy, router, …]`) and a sidecar never does (injection-template.yaml,
 * `args: [proxy, sidecar, …]`). A gateway listens in plaintext on its server ports by design, so SWEEP-MTLS and
 * SWEEP-AUTHZ do not judge it as a workload (audit I-M7); a pod that only carries a gateway's labels is judged as
 * a workload (audit M2). `proxyArgs`: the istio-proxy container's args, undefined without one.
 */
export function gatewayReason(proxyArgs: string[] | undefined, labels: Record<string, string>, annotations: Record<string, string>): string | undefined {
  if (proxyArgs?.[0] !== 'proxy' || proxyArgs[1] !== 'router') return undefined;
  const claim = gatewayClaim(labels, annotations);
  return `istio-proxy runs proxy router${claim ? `; ${claim}` : ''}`;
}

const specOf = (m: Manifest) => (m.spec ?? {}) as Record<string, unknown>;
const ref = (m: Manifest) => `${m.kind} ${m.metadata.namespace}/${m.metadata.name}`;
const creationOf = (m: Manifest) => (m.metadata as { creationTimestamp?: unknown }).creationTimestamp;

/** A snapshot object as the model reads a policy (metadata flattened; the spec fields selection reads). */
function targetableOf(m: Manifest): TargetablePolicy {
  const spec = specOf(m) as Pick<TargetablePolicy, 'selector' | 'targetRef' | 'targetRefs'>;
  const created = creationOf(m);
  return {
    namespace: m.metadata.namespace ?? '',
    name: m.metadata.name,
    ...(created === undefined ? {} : { creationTimestamp: String(created) }),
    ...(spec.selector ? { selector: spec.selector } : {}),
    ...(spec.targetRef ? { targetRef: spec.targetRef } : {}),
    ...(spec.targetRefs ? { targetRefs: spec.targetRefs } : {}),
  };
}

function peerAuthenticationOf(m: Manifest): PeerAuthenticationObject {
  const spec = specOf(m) as Pick<PeerAuthenticationObject, 'mtls' | 'portLevelMtls'>;
  return { ...targetableOf(m), ...(spec.mtls ? { mtls: spec.mtls } : {}), ...(spec.portLevelMtls ? { portLevelMtls: spec.portLevelMtls } : {}) };
}

/**
 * The PeerAuthentication mode in force on one pod port, and the object that set it: Istio's composition
 * (harness/istio/peer-authentication.ts `effectivePeerAuthentication`), over the snapshot's PeerAuthentications.
 * `note` names what Istio passed over (a newer policy at one level, a selector in the root namespace) and a level
 * decided by name because creation times are equal.
 */
export function effectivePeerAuthentication(snapshot: Manifest[], rootNamespace: string, pod: Pick<EstatePod, 'namespace' | 'labels'>, port: number): { mode: string; setBy: string; note?: string } {
  const pas = snapshot.filter((m) => m.kind === 'PeerAuthentication').map(peerAuthenticationOf);
  const e = modelPeerAuthentication(pas, rootNamespace, { namespace: pod.namespace, labels: pod.labels }, port);
  const notes = [...e.ignored, ...e.ties.map((t) => `equal creation times at the ${t.level} level: ${t.names[0]} wins by name over ${t.names.slice(1).join(', ')}`)];
  return { mode: e.mode, setBy: e.setBy, ...(notes.length > 0 ? { note: notes.join('; ') } : {}) };
}

/**
 * The AuthorizationPolicies that attach to a workload, as istiod lists them (harness/istio/selection.ts
 * `listAuthorizationPolicies`: the root namespace's and the pod's own, by selector; one with targetRef(s) never
 * attaches to a sidecar).
 */
export function selectingPolicies(snapshot: Manifest[], rootNamespace: string, pod: Pick<EstatePod, 'namespace' | 'labels'>): string[] {
  const aps = snapshot.filter((m) => m.kind === 'AuthorizationPolicy');
  const byKey = new Map(aps.map((m) => [`${m.metadata.namespace}/${m.metadata.name}`, m]));
  return listAuthorizationPolicies(aps.map(targetableOf), rootNamespace, { namespace: pod.namespace, labels: pod.labels })
    .map((p) => byKey.get(`${p.namespace}/${p.name}`)!)
    .map((m) => `${ref(m)} (${policyNote(m)})`);
}

/**
 * One policy's effect in words. A rule-less policy means something different per action (API:
 * security/v1beta1/authorization_policy.proto): ALLOW with no rules allows nothing; DENY with no rules denies
 * nothing; AUDIT with no rules audits nothing; CUSTOM with no rules sends nothing to its provider. A policy
 * annotated `istio.io/dry-run` (read as istiod does, strconv.ParseBool: harness/istio/authz-policy.ts `isDryRun`) is
 * not enforced (its result is only recorded in shadow stats and logs), except CUSTOM: istiod still matches a dry-run
 * CUSTOM policy's rules before ext_authz (I: pilot/pkg/security/authz/builder/builder.go buildHTTP, `rbac.Rules =
 * providerShadowRules`).
 */
export function policyNote(m: Manifest): string {
  const action = (specOf(m).action as string | undefined) ?? 'ALLOW';
  const parts = [action];
  if (specOf(m).rules === undefined || (specOf(m).rules as unknown[]).length === 0) {
    parts.push(action === 'ALLOW' ? 'no rules: allows nothing' : action === 'DENY' ? 'no rules: denies nothing' : action === 'AUDIT' ? 'no rules: audits nothing' : 'no rules: asks its provider about nothing');
  }
  if (action === 'CUSTOM') parts.push(`provider ${((specOf(m).provider as { name?: string } | undefined)?.name ?? '?')}`);
  if (isDryRun(m.metadata.annotations)) parts.push(action === 'CUSTOM' ? 'istio.io/dry-run: still matched before ext_authz' : 'istio.io/dry-run: not enforced');
  return parts.join(', ');
}
