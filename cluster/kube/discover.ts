// Discovery of a user's estate for `meshproof sweep`, read-only: namespaces (one list), then per namespace in
// scope its Services, EndpointSlices and Pods and the Istio policies (PeerAuthentication, AuthorizationPolicy, DestinationRule,
// Sidecar, Telemetry), plus the root namespace's policies. Every read is a list call scoped to a namespace in
// scope, so what the role must allow is get/list in scope (deploy/rbac-sweep.yaml).
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, type KubeConfig, type V1EndpointSlice, type V1Pod, type V1Service } from '@kubernetes/client-node';
import { formatAddress } from '../../agent/probe.js';
import type { Manifest } from '../../harness/posture/load.js';
import { type Estate, type EstatePod, type EstatePort, namespaceInjected, resolveScope, selectProtocol, type SweepScope } from '../../harness/sweep/estate.js';
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
  onCall?: (what: string) => void;
}

function ready(p: V1Pod): boolean {
  return p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') && Boolean(p.status.podIP);
}



/**
 * A pod's ports: its app containers' declared ports, and every port an EndpointSlice gives for it — the slices are
 * what istiod itself reads (I: pilot/pkg/serviceregistry/kube/controller/endpointslice.go), with named target
 * ports already resolved by the EndpointSlice controller. The protocol is the Service port's (appProtocol, then
 * its name), else the container port's name, else detected.
 */
export function podPorts(pod: V1Pod, services: V1Service[], slices: V1EndpointSlice[]): EstatePort[] {
  const ip = pod.status?.podIP ?? '';
  const name = pod.metadata?.name;
  const app = (pod.spec?.containers ?? []).filter((c) => c.name !== 'istio-proxy');
  const byPort = new Map<number, EstatePort>();
  for (const c of app) {
    for (const cp of c.ports ?? []) {
      if ((cp.protocol ?? 'TCP') !== 'TCP') continue; // UDP and SCTP are not proxied (IO: protocol-selection)
      const sel = selectProtocol(undefined, cp.name, 'container port name');
      byPort.set(cp.containerPort, { port: cp.containerPort, protocol: sel.protocol, protocolFrom: sel.from, services: [], dial: formatAddress(ip, cp.containerPort) });
    }
  }
  for (const slice of slices) {
    const serviceName = slice.metadata?.labels?.['kubernetes.io/service-name'];
    const svc = services.find((x) => x.metadata?.name === serviceName);
    if (!svc || !slice.endpoints.some((e) => e.targetRef?.kind === 'Pod' && e.targetRef.name === name && e.conditions?.ready !== false)) continue;
    for (const sp of slice.ports ?? []) {
      if ((sp.protocol ?? 'TCP') !== 'TCP' || sp.port === undefined) continue;
      const port = sp.port;
      const servicePort = (svc.spec?.ports ?? []).find((x) => (x.name ?? '') === (sp.name ?? ''));
      const sel = selectProtocol(sp.appProtocol ?? servicePort?.appProtocol, sp.name ?? servicePort?.name);
      const prev = byPort.get(port);
      const label = `${svc.metadata?.namespace}/${svc.metadata?.name}:${servicePort?.port ?? port}`;
      const decided = sel.protocol !== 'sniffed' || !prev ? { protocol: sel.protocol, protocolFrom: sel.from } : { protocol: prev.protocol, protocolFrom: prev.protocolFrom };
      byPort.set(port, { port, ...decided, services: [...(prev?.services ?? []).filter((x) => x !== label), label], dial: formatAddress(ip, port) });
    }
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
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
  const list = await retrying(() => kc.makeApiClient(CoreV1Api).listNamespace());
  const all = list.items.map((n) => ({ name: n.metadata?.name ?? '', labels: n.metadata?.labels ?? {}, injected: namespaceInjected(n.metadata?.labels ?? {}) }));
  const runNamespace = '\0run'; // no namespace has this name: the run's own is left out
  const { inScope } = resolveScope(all, { ...scope, runNamespace }, rootNamespace);
  return inScope.filter((n) => n !== runNamespace);
}

export async function discoverEstate(o: DiscoverOptions): Promise<Estate> {
  const core = o.kc.makeApiClient(CoreV1Api);
  const custom = o.kc.makeApiClient(CustomObjectsApi);
  const discovery = o.kc.makeApiClient(DiscoveryV1Api);
  const listings: Estate['listings'] = [];
  const call = async <T>(query: string, f: () => Promise<T>, count: (t: T) => number): Promise<T> => {
    o.onCall?.(query);
    const r = await retrying(f);
    listings.push({ query, items: count(r) });
    return r;
  };
  const nsList = await call('GET /api/v1/namespaces', () => core.listNamespace(), (r) => r.items.length);
  const all = nsList.items.map((n) => {
    const labels = n.metadata?.labels ?? {};
    return { name: n.metadata?.name ?? '', labels, injected: namespaceInjected(labels) };
  });
  const { inScope, left } = resolveScope(all, { ...o.scope, runNamespace: o.runNamespace }, o.rootNamespace);
  const pods: EstatePod[] = [];
  const services: Estate['services'] = [];
  const skipped: Estate['skipped'] = [];
  const snapshot: Manifest[] = [];
  const readPolicies = async (ns: string) => {
    for (const k of POLICY_KINDS) {
      const r = (await call(`GET /apis/${k.group}/${k.version}/namespaces/${ns}/${k.plural}`, () => custom.listNamespacedCustomObject({ group: k.group, version: k.version, namespace: ns, plural: k.plural }), (x) => ((x as { items?: unknown[] }).items ?? []).length)) as { items?: Manifest[] };
      for (const m of r.items ?? []) {
        const { managedFields: _mf, ...metadata } = m.metadata as Manifest['metadata'] & { managedFields?: unknown };
        snapshot.push({ ...m, apiVersion: `${k.group}/${k.version}`, kind: k.kind, metadata });
      }
    }
  };
  await readPolicies(o.rootNamespace);
  for (const ns of inScope) {
    const nsInfo = all.find((n) => n.name === ns)!;
    const svcs = await call(`GET /api/v1/namespaces/${ns}/services`, () => core.listNamespacedService({ namespace: ns }), (r) => r.items.length);
    const slices = await call(`GET /apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, () => discovery.listNamespacedEndpointSlice({ namespace: ns }), (r) => r.items.length);
    const podList = await call(`GET /api/v1/namespaces/${ns}/pods`, () => core.listNamespacedPod({ namespace: ns }), (r) => r.items.length);
    if (ns !== o.rootNamespace) await readPolicies(ns);
    for (const s of svcs.items) services.push({ namespace: ns, name: s.metadata?.name ?? '', selector: s.spec?.selector ?? {} });
    for (const p of podList.items) {
      const name = p.metadata?.name ?? '';
      if (!ready(p)) {
        skipped.push({ pod: `${ns}/${name}`, reason: `not ready (${p.status?.phase ?? 'unknown phase'})` });
        continue;
      }
      const labels = p.metadata?.labels ?? {};
      const role = ns === o.runNamespace ? labels['meshproof.dev/role'] : undefined;
      pods.push({
        namespace: ns,
        name,
        serviceAccount: p.spec?.serviceAccountName ?? 'default',
        labels,
        sidecar: hasSidecar(p),
        injectedNamespace: nsInfo.injected,
        optedOut: (labels['sidecar.istio.io/inject'] ?? p.metadata?.annotations?.['sidecar.istio.io/inject']) === 'false',
        ports: podPorts(p, svcs.items, slices.items),
        ...(role === 'canary' || role === 'attacker' ? { role } : {}),
      });
    }
  }
  return {
    namespaces: all.filter((n) => inScope.includes(n.name)),
    services,
    pods,
    snapshot,
    rootNamespace: o.rootNamespace,
    runNamespace: o.runNamespace,
    trustDomain: o.trustDomain,
    listings,
    left,
    skipped,
  };
}
