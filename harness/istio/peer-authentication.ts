// The effective PeerAuthentication of a workload port, as istiod composes it. Pure: no I/O, no cluster/ import.
// Sources (istio/istio 86c9f01fd735):
// - pilot/pkg/model/authentication.go `addPeerAuthentication` (creation order; only the oldest namespace- or
//   mesh-level policy of a namespace is kept), `GetPeerAuthenticationsForWorkload` / `getConfigsForWorkload` (the
//   workload's namespace, the root namespace and its services' namespaces; `selector` SubsetOf the labels; no
//   targetRef for PeerAuthentication), `GetNamespaceMutualTLSMode`;
// - pilot/pkg/security/authn/policy_applier.go `ComposePeerAuthentication` (mesh, then namespace, then workload;
//   the oldest wins within a level; UNSET inherits; portLevelMtls only from the workload policy; a selector in the
//   root namespace is ignored) and `GetMutualTLSModeForPort` (keyed on the endpoint, i.e. container, port);
// - pkg/config/validation/validation.go `ValidatePeerAuthentication` (portLevelMtls needs a selector).
import { byCreation, creationTime, labelsSubsetOf, lookupNamespaces, type ServiceInfo, sameCreationTime } from './selection.js';

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';
export type MtlsModeSpec = MtlsMode | 'UNSET';

/** A PeerAuthentication as the API spells it (metadata and spec flattened). */
export interface PeerAuthenticationObject {
  namespace: string;
  name: string;
  /** metadata.creationTimestamp (RFC 3339); absent = Go's zero time (all absent: created together, name decides). */
  creationTimestamp?: string;
  selector?: { matchLabels?: Record<string, string> };
  mtls?: { mode?: MtlsModeSpec };
  /** Keyed on the workload's container (endpoint) port. */
  portLevelMtls?: Record<string, { mode?: MtlsModeSpec } | undefined>;
}

/** The workload istiod selects policies for (`PolicyMatcherForProxy(proxy).WithService(svc)`). */
export interface PeerAuthnWorkload {
  namespace: string;
  labels: Record<string, string>;
  services?: ServiceInfo[];
}

export type PeerAuthnLevel = 'mesh' | 'namespace' | 'workload';

/** One mode and what set it. */
export interface MtlsSetting {
  mode: MtlsMode;
  /** `PeerAuthentication ns/name`, with ` portLevelMtls <port>` when a port-level entry set it; or Istio's default. */
  setBy: string;
  /** The object that set it; undefined for the default PERMISSIVE. */
  policy?: { namespace: string; name: string };
  level: PeerAuthnLevel | 'default';
  portLevel: boolean;
}

/** A level where more than one PeerAuthentication applied and the winner shares its creation time with another. */
export interface PeerAuthnTie {
  level: PeerAuthnLevel;
  /** The candidates, the winner (first by name) first. */
  names: string[];
}

/** `MergedPeerAuthentication`, with what set each mode. */
export interface MergedPeerAuthentication {
  mode: MtlsSetting;
  perPort: Map<number, MtlsSetting>;
  /** Levels decided by name only (equal creation times): the explanation names them; the lab refuses them. */
  ties: PeerAuthnTie[];
  /** Applicable objects that do not count, with why (newer at their level, a selector in the root namespace). */
  ignored: string[];
}

const DEFAULT: MtlsSetting = { mode: 'PERMISSIVE', setBy: 'no PeerAuthentication sets a mode: Istio defaults to PERMISSIVE', level: 'default', portLevel: false };
const ref = (p: PeerAuthenticationObject) => `PeerAuthentication ${p.namespace}/${p.name}`;
/** Mesh- and namespace-level policies are those with no selector or an empty `matchLabels`. */
export const isNamespaceWide = (p: PeerAuthenticationObject) => Object.keys(p.selector?.matchLabels ?? {}).length === 0;
/** `isMtlsModeUnset`. */
const modeOf = (m: { mode?: MtlsModeSpec } | undefined): MtlsMode | undefined => (m?.mode === undefined || m.mode === 'UNSET' ? undefined : m.mode);

/**
 * `addPeerAuthentication` then `getConfigsForWorkload`: the PeerAuthentications that apply to a workload, in
 * istiod's order (its namespace, the root namespace, its services' namespaces; within each, creation time then
 * name). A namespace- or mesh-level policy newer than another of its namespace is dropped here, as istiod drops it.
 */
export function peerAuthenticationsForWorkload(all: PeerAuthenticationObject[], rootNamespace: string, w: PeerAuthnWorkload): PeerAuthenticationObject[] {
  return selectFor(keptPeerAuthentications(all), rootNamespace, w);
}

/** `getConfigsForWorkload` over `sorted`: by namespace in lookup order, selector SubsetOf the workload's labels. */
function selectFor(sorted: PeerAuthenticationObject[], rootNamespace: string, w: PeerAuthnWorkload): PeerAuthenticationObject[] {
  return lookupNamespaces([w.namespace, rootNamespace], w.services).flatMap((ns) => sorted.filter((p) => p.namespace === ns && labelsSubsetOf(p.selector?.matchLabels, w.labels)));
}

/** `addPeerAuthentication`: sorted by creation; only the first namespace-wide policy of each namespace is kept. */
function keptPeerAuthentications(all: PeerAuthenticationObject[]): PeerAuthenticationObject[] {
  const seen = new Set<string>();
  return [...all].sort(byCreation).filter((p) => {
    if (!isNamespaceWide(p)) return true;
    if (seen.has(p.namespace)) return false;
    seen.add(p.namespace);
    return true;
  });
}

/**
 * `GetNamespaceMutualTLSMode`: the namespace-level mode (UNSET inherits the mesh's, else PERMISSIVE), else the
 * mesh-level mode (UNSET there is PERMISSIVE), else undefined (`MTLSUnknown`).
 */
export function namespaceMutualTlsMode(all: PeerAuthenticationObject[], rootNamespace: string, namespace: string): MtlsMode | undefined {
  const kept = keptPeerAuthentications(all).filter(isNamespaceWide);
  const mesh = kept.find((p) => p.namespace === rootNamespace);
  const global: MtlsMode | undefined = mesh ? (modeOf(mesh.mtls) ?? 'PERMISSIVE') : undefined;
  const ns = namespace === rootNamespace ? undefined : kept.find((p) => p.namespace === namespace);
  if (ns) return modeOf(ns.mtls) ?? global ?? 'PERMISSIVE';
  return global;
}

/**
 * `ComposePeerAuthentication(rootNamespace, configs)`: `configs` are the applicable policies in istiod's order. At
 * each level the oldest wins (strictly older; on equal times the first in `configs`, i.e. by name); the mesh, then
 * the namespace, then the workload policy overrides the mode unless UNSET; each portLevelMtls entry of the workload
 * policy is its own mode or, UNSET, the composed one. A selector in the root namespace is ignored.
 */
export function composePeerAuthentication(rootNamespace: string, configs: PeerAuthenticationObject[]): MergedPeerAuthentication {
  const chosen: Partial<Record<PeerAuthnLevel, PeerAuthenticationObject>> = {};
  const candidates: Record<PeerAuthnLevel, PeerAuthenticationObject[]> = { mesh: [], namespace: [], workload: [] };
  const ignored: string[] = [];
  for (const cfg of configs) {
    let level: PeerAuthnLevel;
    if (isNamespaceWide(cfg)) level = cfg.namespace === rootNamespace ? 'mesh' : 'namespace';
    else if (cfg.namespace !== rootNamespace) level = 'workload';
    else {
      ignored.push(`${ref(cfg)}: a selector in the root namespace is ignored`);
      continue;
    }
    candidates[level].push(cfg);
    const cur = chosen[level];
    if (cur === undefined || byTime(cfg, cur) < 0) chosen[level] = cfg;
  }
  const ties: PeerAuthnTie[] = [];
  for (const level of ['mesh', 'namespace', 'workload'] as const) {
    const win = chosen[level];
    if (!win) continue;
    for (const c of candidates[level]) if (c !== win) ignored.push(`${ref(c)}: ${ref(win)} is older at the ${level} level`);
    const tied = candidates[level].filter((c) => sameCreationTime(c, win));
    if (tied.length > 1) ties.push({ level, names: tied.map(ref) });
  }
  let mode = DEFAULT;
  for (const level of ['mesh', 'namespace', 'workload'] as const) {
    const p = chosen[level];
    const m = p && modeOf(p.mtls);
    if (p && m) mode = { mode: m, setBy: ref(p), policy: { namespace: p.namespace, name: p.name }, level, portLevel: false };
  }
  const perPort = new Map<number, MtlsSetting>();
  const w = chosen.workload;
  for (const [port, entry] of Object.entries(w?.portLevelMtls ?? {})) {
    const m = modeOf(entry);
    perPort.set(Number(port), m ? { mode: m, setBy: `${ref(w!)} portLevelMtls ${port}`, policy: { namespace: w!.namespace, name: w!.name }, level: 'workload', portLevel: true } : mode);
  }
  return { mode, perPort, ties, ignored };
}

/** Strictly-before on creation time only, as `CreationTimestamp.Before` (ties keep the earlier in the list). */
const byTime = (a: PeerAuthenticationObject, b: PeerAuthenticationObject) => creationTime(a) - creationTime(b);

/** `GetMutualTLSModeForPort`: the port-level setting for this endpoint port, else the composed mode. */
export function mutualTlsModeForPort(merged: MergedPeerAuthentication, endpointPort: number): MtlsSetting {
  return merged.perPort.get(endpointPort) ?? merged.mode;
}

export interface EffectivePeerAuthentication extends MtlsSetting {
  ties: PeerAuthnTie[];
  ignored: string[];
}

/**
 * The one function the lab, the sweep and the explanation use: the mTLS mode istiod gives a workload's inbound
 * `containerPort`, and the object (and port-level entry or not) that set it.
 */
export function effectivePeerAuthentication(all: PeerAuthenticationObject[], rootNamespace: string, w: PeerAuthnWorkload, containerPort: number): EffectivePeerAuthentication {
  // Composed over every applicable policy, the newer namespace-wide ones included (which istiod's
  // addPeerAuthentication drops first): in creation order Compose picks the same oldest one, and the explanation
  // can name the ones it passed over and the levels decided by name.
  const merged = composePeerAuthentication(rootNamespace, selectFor([...all].sort(byCreation), rootNamespace, w));
  return { ...mutualTlsModeForPort(merged, containerPort), ties: merged.ties, ignored: merged.ignored };
}

/** `ValidatePeerAuthentication`'s structural checks, as istiod's webhook rejects them (message as Istio's). */
export function peerAuthenticationProblems(p: Pick<PeerAuthenticationObject, 'selector' | 'portLevelMtls'>): string[] {
  const out: string[] = [];
  const ports = p.portLevelMtls === undefined ? undefined : Object.keys(p.portLevelMtls);
  if (isNamespaceWide(p as PeerAuthenticationObject) && (ports?.length ?? 0) > 0) out.push('mesh/namespace peer authentication cannot have port level mTLS');
  if (ports !== undefined && ports.length === 0) out.push('port level mTLS, if defined, must have at least one element');
  for (const port of ports ?? []) {
    const n = Number(port);
    if (!Number.isInteger(n) || n <= 0 || n > 65535) out.push('port must be in range 1..65535');
  }
  return out;
}
