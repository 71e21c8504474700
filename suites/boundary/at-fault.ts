// What the posture snapshot says decides each boundary check's path, for the failure listing ("at fault", "fix").
// Read from the snapshot by the Istio model (harness/istio/), never guessed from the outcome. A user's own edge
// (`--edge`) is not in the posture: its Gateway and Secret are named as unknown, never invented.
import { BlockList, isIP } from 'node:net';
import type { AtFault } from '../../harness/check.js';
import { outboundTrafficPolicy, sidecarObjectOf } from '../../harness/istio/sidecar-scope.js';
import type { Manifest } from '../../harness/posture/load.js';
import { type PostureView, ROOT_NAMESPACE } from '../../harness/posture/view.js';
import type { Ref } from '../../harness/target.js';
import { parse as parseYaml } from 'yaml';
import type { EdgeTarget } from './shared.js';

const manifestsOf = (view: PostureView): Manifest[] => view.posture.objects.map((o) => o.manifest);
const find = (view: PostureView, kind: string, ref: Ref) => manifestsOf(view).find((m) => m.kind === kind && m.metadata.namespace === ref.namespace && m.metadata.name === ref.name);
const podLabels = (d: Manifest | undefined) => (d?.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)?.template?.metadata?.labels ?? {};

/** The mesh config of the snapshot (ConfigMap istio in the root namespace, key `mesh`). */
function meshConfigOf(view: PostureView): { outboundTrafficPolicy?: { mode?: 'REGISTRY_ONLY' | 'ALLOW_ANY' } } {
  const cm = find(view, 'ConfigMap', { namespace: ROOT_NAMESPACE, name: 'istio' }) as (Manifest & { data?: { mesh?: string } }) | undefined;
  try {
    return (cm?.data?.mesh ? parseYaml(cm.data.mesh) : {}) ?? {};
  } catch {
    return {};
  }
}

type ServiceEntrySpec = { hosts?: string[]; addresses?: string[]; exportTo?: string[]; ports?: { number: number; protocol?: string }[] };

/** Whether an address entry of a ServiceEntry (an IP or a CIDR) covers `ip`. */
function covers(entry: string, ip: string): boolean {
  const [net, bits] = entry.split('/');
  const family = isIP(net ?? '');
  if (family === 0 || isIP(ip) !== family) return false;
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  list.addSubnet(net!, bits === undefined ? (family === 4 ? 32 : 128) : Number(bits), type);
  return list.check(ip, type);
}

/**
 * EGRESS-001: why an unregistered destination was reached from `client`'s sidecar on `port`. Under ALLOW_ANY the
 * object that sets the outbound traffic policy for the client (harness/istio/sidecar-scope.ts); under REGISTRY_ONLY
 * the ServiceEntry visible to the client whose port and addresses (TCP) or hosts (HTTP) register the destination.
 * `dialed` is what the attack dialled (IP for TCP, authority for HTTP), when known.
 */
export function egressAtFault(view: PostureView, client: Ref, port: number, kind: 'http' | 'tcp', dialed: { ip?: string; authority?: string } = {}): AtFault {
  const manifests = manifestsOf(view);
  const sidecars = manifests.filter((m) => m.kind === 'Sidecar').map(sidecarObjectOf);
  const policy = outboundTrafficPolicy(sidecars, meshConfigOf(view), ROOT_NAMESPACE, { namespace: client.namespace, labels: podLabels(find(view, 'Deployment', client)) });
  if (policy.mode === 'ALLOW_ANY') {
    return {
      object: `${policy.setBy} = ALLOW_ANY for ${client.namespace}/${client.name}: its sidecar forwards any unknown destination (PassthroughCluster)`,
      remedy: policy.sidecar
        ? `set spec.outboundTrafficPolicy.mode: REGISTRY_ONLY in Sidecar ${policy.sidecar.namespace}/${policy.sidecar.name}`
        : `apply a Sidecar in ${client.namespace} (or ${ROOT_NAMESPACE}, mesh-wide) with spec.outboundTrafficPolicy.mode: REGISTRY_ONLY, or set meshConfig.outboundTrafficPolicy.mode: REGISTRY_ONLY`,
    };
  }
  const protocol = kind === 'http' ? 'HTTP' : 'TCP';
  const entries = manifests.filter((m) => {
    if (m.kind !== 'ServiceEntry') return false;
    const spec = (m.spec ?? {}) as ServiceEntrySpec;
    const local = spec.exportTo !== undefined && !spec.exportTo.includes('*') && !(m.metadata.namespace === client.namespace && spec.exportTo.includes('.'));
    if (local && !spec.exportTo!.includes(client.namespace)) return false;
    if (!spec.ports?.some((p) => p.number === port && (p.protocol ?? '').toUpperCase() === protocol)) return false;
    const addresses = spec.addresses ?? [];
    if (kind === 'tcp') return dialed.ip ? addresses.some((a) => covers(a, dialed.ip!)) : addresses.length > 0;
    const host = dialed.authority?.replace(/:\d+$/, '');
    return host === undefined || (spec.hosts ?? []).some((h) => h === host || (h.startsWith('*') && host.endsWith(h.slice(1)))) || addresses.includes(host);
  });
  if (entries.length === 0) {
    return {
      object: `${policy.setBy} = REGISTRY_ONLY for ${client.namespace}/${client.name}, and no ServiceEntry in the posture registers the destination on ${port}/${protocol}: the policy is right, the sidecar did not enforce it`,
      remedy: `check that istiod pushed it (istioctl proxy-config cluster ${client.name}.${client.namespace} | grep -E 'Passthrough|BlackHole') and that the client runs an istio-proxy`,
    };
  }
  const named = entries.map((m) => {
    const spec = (m.spec ?? {}) as ServiceEntrySpec;
    return `ServiceEntry ${m.metadata.namespace}/${m.metadata.name} (hosts ${(spec.hosts ?? []).join(', ')}${spec.addresses?.length ? `; addresses ${spec.addresses.join(', ')}` : ''}; port ${port}/${protocol})`;
  });
  return {
    object: `${named.join(', ')} registers the unregistered destination for ${client.namespace}/${client.name} (${policy.setBy} = REGISTRY_ONLY)`,
    remedy: `narrow spec.addresses and spec.hosts of ${entries.map((m) => `${m.metadata.namespace}/${m.metadata.name}`).join(', ')} to the destinations you mean (no 0.0.0.0/0 or wide CIDR), or scope it with exportTo`,
  };
}

type GatewayServer = { port: { number: number; protocol: string }; hosts: string[]; tls?: { httpsRedirect?: boolean; mode?: string; credentialName?: string; minProtocolVersion?: string; maxProtocolVersion?: string; cipherSuites?: string[] } };

function gatewayOf(view: PostureView, edge: EdgeTarget): { ref: Ref; servers: GatewayServer[] } | undefined {
  if (edge.kind !== 'posture' || !edge.gateway) return undefined;
  const g = find(view, 'Gateway', edge.gateway);
  return g ? { ref: edge.gateway, servers: ((g.spec as { servers?: GatewayServer[] } | undefined)?.servers ?? []) } : undefined;
}

const userEdge = (edge: EdgeTarget, what: string): AtFault => ({
  object: `the edge ${edge.service.namespace}/${edge.service.name} given with --edge (its Gateway is not in the posture): ${what}`,
  remedy: 'inspect the Gateway that selects this Service\'s pods (kubectl get gateway -A -o yaml) and fix the field named above',
});

/** EDGE-001: the Gateway server for the edge's host on the plaintext port, and its tls.httpsRedirect. */
export function edgePlaintextAtFault(view: PostureView, edge: EdgeTarget): AtFault {
  const g = gatewayOf(view, edge);
  if (!g) return userEdge(edge, 'plaintext HTTP is served; the server for port 80 sets no tls.httpsRedirect');
  const i = g.servers.findIndex((s) => s.port.protocol === 'HTTP' && s.hosts.includes(edge.host));
  const s = g.servers[i];
  return s
    ? {
        object: `Gateway ${g.ref.namespace}/${g.ref.name} servers[${i}] (HTTP port ${s.port.number}, hosts ${s.hosts.join(', ')}) tls.httpsRedirect = ${s.tls?.httpsRedirect ?? 'unset (false)'}`,
        remedy: `set servers[${i}].tls.httpsRedirect: true in Gateway ${g.ref.namespace}/${g.ref.name} (or remove the plaintext server)`,
      }
    : {
        object: `Gateway ${g.ref.namespace}/${g.ref.name} has no HTTP server for ${edge.host}: something else on the edge Service's port ${edge.httpPort ?? 80} served plaintext`,
        remedy: `find what answers on ${edge.service.namespace}/${edge.service.name}:${edge.httpPort ?? 80} (istioctl proxy-config listener on the gateway pod) and remove it, or add an HTTP server with tls.httpsRedirect: true`,
      };
}

/** EDGE-002: the Gateway HTTPS server's tls.minProtocolVersion and cipherSuites. */
export function edgeTlsAtFault(view: PostureView, edge: EdgeTarget): AtFault {
  const g = gatewayOf(view, edge);
  if (!g) return userEdge(edge, 'legacy TLS or weak suites accepted; its HTTPS server sets tls.minProtocolVersion / tls.cipherSuites');
  const i = g.servers.findIndex((s) => s.port.protocol === 'HTTPS' && s.hosts.includes(edge.host));
  const s = g.servers[i];
  if (!s) return userEdge(edge, `Gateway ${g.ref.namespace}/${g.ref.name} has no HTTPS server for ${edge.host}`);
  return {
    object: `Gateway ${g.ref.namespace}/${g.ref.name} servers[${i}] (HTTPS port ${s.port.number}) tls.minProtocolVersion = ${s.tls?.minProtocolVersion ?? 'unset (TLS_AUTO: TLS 1.2)'}, tls.cipherSuites = ${s.tls?.cipherSuites?.length ? s.tls.cipherSuites.join(', ') : "unset (Envoy's defaults)"}`,
    remedy: `set servers[${i}].tls.minProtocolVersion: TLSV1_2 (or TLSV1_3) and remove the CBC and non-forward-secret suites (…-SHA, AES128-SHA) from tls.cipherSuites (or drop cipherSuites for Envoy's defaults)`,
  };
}

/** EDGE-003: the Secret the Gateway's HTTPS server serves (tls.credentialName, in the gateway's namespace). */
export function edgeCertAtFault(view: PostureView, edge: EdgeTarget, problems: string[]): AtFault {
  const fix = [
    problems.some((p) => /not .*names|names .*not/.test(p) || p.includes(', not ')) ? `reissue it with a DNS SAN for ${edge.host}` : undefined,
    problems.some((p) => p.includes('trust anchor')) ? 'put the leaf followed by every intermediate in tls.crt' : undefined,
    problems.some((p) => p.includes('horizon')) ? 'renew it (or fix the renewal: cert-manager Certificate renewBefore)' : undefined,
  ].filter(Boolean);
  const remedy = fix.length ? fix.join('; ') : 'replace the certificate';
  const g = gatewayOf(view, edge);
  if (!g) return { object: `the certificate served by the edge ${edge.service.namespace}/${edge.service.name} given with --edge (its Gateway and Secret are not in the posture)`, remedy: `in the Secret the edge's Gateway names in tls.credentialName: ${remedy}` };
  const s = g.servers.find((x) => x.port.protocol === 'HTTPS' && x.hosts.includes(edge.host));
  const name = s?.tls?.credentialName;
  // A credentialName is read in the gateway workload's namespace: the SDS resource `kubernetes://<name>` without a
  // namespace resolves in the proxy's (I: pilot/pkg/model/credentials/resource.go ParseResourceName).
  const ns = edge.workload?.namespace ?? g.ref.namespace;
  if (!name) return { object: `Gateway ${g.ref.namespace}/${g.ref.name} HTTPS server for ${edge.host} names no tls.credentialName`, remedy: `set tls.credentialName to a Secret in ${ns} holding the full chain` };
  const present = find(view, 'Secret', { namespace: ns, name }) !== undefined;
  return {
    object: `Secret ${ns}/${name} (tls.crt), served by Gateway ${g.ref.namespace}/${g.ref.name} tls.credentialName for ${edge.host}${present ? '' : ' (not in the posture)'}`,
    remedy: `in Secret ${ns}/${name}: ${remedy}`,
  };
}

/** EDGE-004: the VirtualService that routes the edge's host, and whether its destination's pods can be in the mesh. */
export function edgeBackendAtFault(view: PostureView, edge: EdgeTarget): AtFault {
  const g = gatewayOf(view, edge);
  const vs = manifestsOf(view).find((m) => {
    if (m.kind !== 'VirtualService') return false;
    const spec = m.spec as { hosts?: string[]; gateways?: string[] } | undefined;
    const gws = (spec?.gateways ?? []).map((x) => (x.includes('/') ? x : `${m.metadata.namespace}/${x}`));
    return (spec?.hosts ?? []).includes(edge.host) && g !== undefined && gws.includes(`${g.ref.namespace}/${g.ref.name}`);
  });
  if (!vs) return { object: `no VirtualService in the posture routes ${edge.host} through the edge's Gateway`, remedy: 'route the host to an in-mesh Service with a VirtualService bound to the Gateway' };
  const dest = (vs.spec as { http?: { route?: { destination?: { host?: string } }[] }[] }).http?.[0]?.route?.[0]?.destination?.host ?? '?';
  const [svc, ns = vs.metadata.namespace ?? ''] = dest.split('.');
  const injected = view.injectedNamespaces().includes(ns);
  return {
    object: `VirtualService ${vs.metadata.namespace}/${vs.metadata.name} routes ${edge.host} to ${dest}${injected ? '' : `, whose namespace ${ns} is not labelled for sidecar injection`}`,
    remedy: injected
      ? `make sure the pods behind ${ns}/${svc} run an istio-proxy (restart them after labelling; check sidecar.istio.io/inject) so the gateway's mTLS reaches them`
      : `route ${edge.host} to an in-mesh Service, or label namespace ${ns} istio-injection=enabled and restart its pods`,
  };
}
