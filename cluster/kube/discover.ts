// Discovery of a user's estate for `meshproof sweep`, read-only: namespaces (one list), then per namespace in
// scope its Services, EndpointSlices and Pods and the Istio policies (PeerAuthentication, AuthorizationPolicy, DestinationRule,
// Sidecar, Telemetry), plus the root namespace's policies. Every read is a list call scoped to a namespace in
// scope, so what the role must allow is get/list in scope (deploy/rbac-sweep.yaml). Every list is paged
// (`limit` + `continue`), namespaces are read a few at a time, and slices are indexed once per namespace.
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, type KubeConfig, type V1EndpointSlice, type V1Pod, type V1Service } from '@kubernetes/client-node';
import { formatAddress } from '../../agent/probe.js';
import type { ExtensionProvider } from '../../harness/istio/authz-policy.js';
import type { Manifest } from '../../harness/posture/load.js';
import { namespaceRequestsInjection, podOptsOut } from '../../harness/istio/injection.js';
import { chainKind, type ServicePortDecl, targetPortProtocol } from '../../harness/istio/protocol.js';
import { type Estate, type EstatePod, type EstatePort, gatewayClaim, gatewayReason, istioOwnPorts, resolveScope, type SweepScope } from '../../harness/sweep/estate.js';
import { hasSidecar } from './apply.js';
import { retrying } from './retry.js';

/** The Istio kinds the snapshot holds, by API group, version and plural. */
const POLICY_KINDS: { group: string; version: string; plural: string; kind: string }[] = [
  { group: 'security.istio.io', version: 'v1', plural: 'peerauthentications', kind: 'PeerAuthentication' },
  { group: 'security.istio.io', version: 'v1', plural: 'authorizationpolicies', kind: 'AuthorizationPolicy' },
  { group: 'networking.istio.io', version: 'v1', plural: 'destinationrules', kind: 'DestinationRule' },
  { group: 'networking.istio.io', version: 'v1', plural: 'sidecars', kind: 'Sidecar' },
  { group: 'telemetry.istio.io', version: 'v1', plural: 'telemetries', kind: 'Telemetry' },
];

export interface DiscoverOptions {
  kc: KubeConfig;
  scope: SweepScope;
  /** The run namespace's real name (the scope names it logically). */
  runNamespace: string;
  rootNamespace: string;
  trustDomain: string;
  /** meshConfig.trustDomainAliases (the mesh config the target read). */
  trustDomainAliases: string[];
  /** meshConfig.extensionProviders (the mesh config the target read). */
  extensionProviders: ExtensionProvider[];
  onCall?: (what: string) => void;
  /** Items per list page (LIST_PAGE unless a test asks for less). */
  pageSize?: number;
}

function ready(p: V1Pod): boolean {
  return p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') && Boolean(p.status.podIP);
}

/** One Service port as it reaches a pod's container port, from an EndpointSlice. */
interface Targeting {
  port: number;
  decl: ServicePortDecl;
}

/** Per namespace: pod name → the Service ports its ready endpoints serve. Built once, so the join is linear. */
export type SliceIndex = Map<string, Targeting[]>;

/**
 * Indexes a namespace's EndpointSlices by `targetRef` once (audit K-M12: no per-pod scan of every slice). The
 * slices are what istiod itself reads (I: pilot/pkg/serviceregistry/kube/controller/endpointslice.go), with named
 * target ports already resolved by the EndpointSlice controller. `endpoints` and `ports` are `null`, not `[]`, for
 * a Service with no ready pods: Go's `[]Endpoint` has no omitempty (kubernetes/api discovery/v1/types.go;
 * kubernetes/kubernetes#135968), and client-node passes the null through (audit K-H1).
 */
export function indexEndpointSlices(services: V1Service[], slices: V1EndpointSlice[]): SliceIndex {
  const byName = new Map(services.map((s) => [s.metadata?.name ?? '', s]));
  const index: SliceIndex = new Map();
  for (const slice of slices) {
    const svc = byName.get(slice.metadata?.labels?.['kubernetes.io/service-name'] ?? '');
    const endpoints = slice.endpoints ?? [];
    const ports = slice.ports ?? [];
    if (!svc || endpoints.length === 0 || ports.length === 0) continue;
    const decls: Targeting[] = [];
    for (const sp of ports) {
      if (sp.port === undefined || sp.port === null) continue;
      const servicePort = (svc.spec?.ports ?? []).find((x) => (x.name ?? '') === (sp.name ?? ''));
      const label = `${svc.metadata?.namespace}/${svc.metadata?.name}:${servicePort?.port ?? sp.port}`;
      decls.push({
        port: sp.port,
        decl: {
          created: svc.metadata?.creationTimestamp ? new Date(svc.metadata.creationTimestamp).toISOString() : undefined,
          label,
          port: servicePort?.port ?? sp.port,
          name: sp.name ?? servicePort?.name,
          protocol: sp.protocol ?? servicePort?.protocol ?? 'TCP',
          appProtocol: sp.appProtocol ?? servicePort?.appProtocol,
        },
      });
    }
    for (const e of endpoints) {
      if (e.targetRef?.kind !== 'Pod' || !e.targetRef.name || e.conditions?.ready === false) continue;
      const list = index.get(e.targetRef.name) ?? [];
      for (const d of decls) if (!list.some((x) => x.port === d.port && x.decl.label === d.decl.label)) list.push(d);
      index.set(e.targetRef.name, list);
    }
  }
  return index;
}

/**
 * A pod's ports: every port a Service's EndpointSlice gives for it, with the protocol Istio derives
 * (harness/istio/protocol.ts: ConvertProtocol, the oldest Service winning a conflict), and its app containers'
 * declared ports no Service targets, which Istio sniffs (it never reads container port names). UDP is not proxied.
 */
export function podPorts(pod: V1Pod, index: SliceIndex): EstatePort[] {
  const ip = pod.status?.podIP ?? '';
  const byPort = new Map<number, ServicePortDecl[]>();
  for (const t of index.get(pod.metadata?.name ?? '') ?? []) byPort.set(t.port, [...(byPort.get(t.port) ?? []), t.decl]);
  const out: EstatePort[] = [];
  for (const [port, decls] of byPort) {
    const sel = targetPortProtocol(decls)!;
    const kind = chainKind(sel.protocol);
    if (kind === 'udp') continue;
    out.push({ port, protocol: kind, protocolFrom: sel.from, services: decls.map((d) => d.label), dial: formatAddress(ip, port) });
  }
  for (const c of (pod.spec?.containers ?? []).filter((x) => x.name !== 'istio-proxy')) {
    for (const cp of c.ports ?? []) {
      if ((cp.protocol ?? 'TCP') !== 'TCP' || byPort.has(cp.containerPort) || out.some((x) => x.port === cp.containerPort)) continue;
      out.push({ port: cp.containerPort, protocol: 'sniffed', protocolFrom: 'no Service targets it: Istio sniffs the protocol (container port names are never read)', services: [], dial: formatAddress(ip, cp.containerPort) });
    }
  }
  return out.sort((a, b) => a.port - b.port);
}

/** Nodes a probe pod can land on: Ready and not cordoned (the default number of attacker pods). */
export async function schedulableNodes(kc: KubeConfig, onCall?: (what: string) => void): Promise<number> {
  onCall?.('GET /api/v1/nodes');
  const nodes = await retrying(() => kc.makeApiClient(CoreV1Api).listNode());
  return nodes.items.filter((n) => !n.spec?.unschedulable && (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')).length;
}

/**
 * The namespaces a sweep will sweep, known before it starts (its preflight asks for the sweep role in each, and
 * for the policy lists in the root namespace). The run namespace is not among them: it does not exist yet,
 * and deploy/rbac.yaml's cluster-wide grants cover what the run creates.
 */
export async function sweptNamespaces(kc: KubeConfig, scope: Omit<SweepScope, 'runNamespace'>, rootNamespace: string): Promise<string[]> {
  const items = await listAll((cont) => retrying(() => kc.makeApiClient(CoreV1Api).listNamespace({ limit: LIST_PAGE, _continue: cont })));
  const all = items.map((n) => ({ name: n.metadata?.name ?? '', labels: n.metadata?.labels ?? {}, injected: namespaceRequestsInjection(n.metadata?.labels ?? {}) }));
  const runNamespace = '\0run'; // no namespace has this name: the run's own is left out
  const { inScope } = resolveScope(all, { ...scope, runNamespace }, rootNamespace);
  return inScope.filter((n) => n !== runNamespace);
}

/** Items per list page (K8s API conventions: `limit` + `continue`; audit K-M12). */
export const LIST_PAGE = 500;
/** Namespaces discovered at once: bounded, so a large estate neither runs serially nor floods the API server. */
export const NAMESPACE_PARALLELISM = 4;

export type Page<T> = { items: T[]; metadata?: { _continue?: string; continue?: string } };

/** Every page of one list, following `continue` until the server gives none. */
export async function listAll<T>(fetch: (cont: string | undefined) => Promise<Page<T>>): Promise<T[]> {
  const out: T[] = [];
  let cont: string | undefined;
  for (let pages = 0; pages < 100_000; pages++) {
    const r = await fetch(cont);
    out.push(...(r.items ?? []));
    cont = r.metadata?._continue ?? r.metadata?.continue;
    if (!cont) return out;
  }
  throw new Error('a list did not end after 100000 pages');
}

/** Runs `f` over `items` with at most `n` in flight, keeping the input order of the results. */
async function boundedMap<T, R>(items: T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

export async function discoverEstate(o: DiscoverOptions): Promise<Estate> {
  const core = o.kc.makeApiClient(CoreV1Api);
  const custom = o.kc.makeApiClient(CustomObjectsApi);
  const discovery = o.kc.makeApiClient(DiscoveryV1Api);
  const limit = o.pageSize ?? LIST_PAGE;
  const listings: Estate['listings'] = [];
  const call = async <T>(query: string, f: (cont: string | undefined) => Promise<Page<T>>): Promise<T[]> => {
    o.onCall?.(query);
    const items = await listAll((cont) => retrying(() => f(cont)));
    listings.push({ query, items: items.length });
    return items;
  };
  const nsItems = await call('GET /api/v1/namespaces', (cont) => core.listNamespace({ limit, _continue: cont }));
  const all = nsItems.map((n) => {
    const labels = n.metadata?.labels ?? {};
    return { name: n.metadata?.name ?? '', labels, injected: namespaceRequestsInjection(labels) };
  });
  const { inScope, left } = resolveScope(all, { ...o.scope, runNamespace: o.runNamespace }, o.rootNamespace);
  const readPolicies = async (ns: string): Promise<Manifest[]> => {
    const out: Manifest[] = [];
    for (const k of POLICY_KINDS) {
      const items = (await call(`GET /apis/${k.group}/${k.version}/namespaces/${ns}/${k.plural}`, (cont) =>
        custom.listNamespacedCustomObject({ group: k.group, version: k.version, namespace: ns, plural: k.plural, limit, _continue: cont }) as Promise<Page<Manifest>>,
      )) as Manifest[];
      for (const m of items) {
        const { managedFields: _mf, ...metadata } = m.metadata as Manifest['metadata'] & { managedFields?: unknown };
        out.push({ ...m, apiVersion: `${k.group}/${k.version}`, kind: k.kind, metadata });
      }
    }
    return out;
  };
  const readNamespace = async (ns: string) => {
    const nsInfo = all.find((n) => n.name === ns)!;
    const svcs = await call(`GET /api/v1/namespaces/${ns}/services`, (cont) => core.listNamespacedService({ namespace: ns, limit, _continue: cont }));
    const slices = await call(`GET /apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, (cont) => discovery.listNamespacedEndpointSlice({ namespace: ns, limit, _continue: cont }));
    const podList = await call(`GET /api/v1/namespaces/${ns}/pods`, (cont) => core.listNamespacedPod({ namespace: ns, limit, _continue: cont }));
    const policies = ns !== o.rootNamespace ? await readPolicies(ns) : [];
    const index = indexEndpointSlices(svcs, slices);
    const pods: EstatePod[] = [];
    const skipped: Estate['skipped'] = [];
    for (const p of podList) {
      const name = p.metadata?.name ?? '';
      if (!ready(p)) {
        skipped.push({ pod: `${ns}/${name}`, reason: `not ready (${p.status?.phase ?? 'unknown phase'})` });
        continue;
      }
      const labels = p.metadata?.labels ?? {};
      const annotations = p.metadata?.annotations ?? {};
      const role = ns === o.runNamespace ? labels['meshproof.dev/role'] : undefined;
      const sidecar = hasSidecar(p);
      const gateway = gatewayReason(proxyArgs(p), labels, annotations);
      const claim = gateway ? undefined : gatewayClaim(labels, annotations);
      const own = sidecar ? istioOwnPorts(annotations) : new Map<number, string>();
      pods.push({
        namespace: ns,
        name,
        serviceAccount: p.spec?.serviceAccountName ?? 'default',
        ...ownerWorkload(p.metadata ?? {}),
        labels,
        sidecar,
        injectedNamespace: nsInfo.injected,
        optedOut: podOptsOut(labels, annotations),
        ports: podPorts(p, index).map((x) => (own.has(x.port) ? { ...x, istioOwn: own.get(x.port) } : x)),
        proxyRestarts: proxyRestarts(p),
        ...(gateway ? { gateway } : {}),
        ...(claim ? { gatewayClaim: claim } : {}),
        ...(role === 'canary' || role === 'attacker' ? { role } : {}),
      });
    }
    const services = svcs.map((s) => ({ namespace: ns, name: s.metadata?.name ?? '', selector: s.spec?.selector ?? {} }));
    return { pods, skipped, services, policies };
  };
  const rootPolicies = await readPolicies(o.rootNamespace);
  const perNamespace = await boundedMap(inScope, NAMESPACE_PARALLELISM, readNamespace);
  return {
    namespaces: all.filter((n) => inScope.includes(n.name)),
    services: perNamespace.flatMap((x) => x.services),
    pods: perNamespace.flatMap((x) => x.pods),
    snapshot: [...rootPolicies, ...perNamespace.flatMap((x) => x.policies)],
    rootNamespace: o.rootNamespace,
    runNamespace: o.runNamespace,
    trustDomain: o.trustDomain,
    trustDomainAliases: o.trustDomainAliases,
    extensionProviders: o.extensionProviders,
    listings,
    left,
    skipped: perNamespace.flatMap((x) => x.skipped),
  };
}

/** The istio-proxy container's restart count (native sidecar or regular container), to know when to read `previous`. */
export function proxyRestarts(p: V1Pod): number {
  const statuses = [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? [])];
  return statuses.find((c) => c.name === 'istio-proxy')?.restartCount ?? 0;
}

/** The istio-proxy container's args (a regular container or a native-sidecar initContainer), undefined without one. */
export function proxyArgs(p: V1Pod): string[] | undefined {
  const proxy = [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])].find((c) => c.name === 'istio-proxy');
  return proxy ? (proxy.args ?? []) : undefined;
}

/**
 * The workload that owns a pod, from its controller ownerReference (as Otterize resolves a pod's workload,
 * otterize/intents-operator src/shared/serviceidresolver/podownerresolver/podownerresolver.go `GetOwnerObject`), not
 * from its name: a pod name is `generateName` truncated to 58 characters before the 5-character suffix
 * (k8s.io/apiserver pkg/storage/names/generate.go `simpleNameGenerator.GenerateName`, `MaxGeneratedNameLength =
 * maxNameLength - randomLength`), so a long Deployment name loses its pod-template hash, and a StatefulSet's
 * `cart-worker-0` looks like a pod of `cart`. A ReplicaSet is named `<deployment>-<pod-template-hash>` (kubernetes
 * pkg/controller/deployment/sync.go `getNewReplicaSet`: `Name: d.Name + "-" + podTemplateSpecHash`), the hash being
 * the pod's `pod-template-hash` label, so its Deployment is read off without a GET; StatefulSet, DaemonSet and Job
 * own their pods directly; a pod with no owner is its own workload.
 */
export function ownerWorkload(meta: { name?: string; labels?: Record<string, string>; ownerReferences?: { kind?: string; name?: string; controller?: boolean }[] }): { workload: string; workloadKind: string } | Record<string, never> {
  const owners = meta.ownerReferences ?? [];
  const owner = owners.find((o) => o.controller) ?? owners[0];
  if (!owner) return meta.name ? { workload: meta.name, workloadKind: 'Pod' } : {};
  if (!owner.kind || !owner.name) return {};
  const hash = meta.labels?.['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) return { workload: owner.name.slice(0, -(hash.length + 1)), workloadKind: 'Deployment' };
  return { workload: owner.name, workloadKind: owner.kind };
}
