// Which outbound traffic policy a sidecar runs under (istio-behaviours.md §7): Istio's rule as one pure function,
// used by the lab (its sidecars forward or black-hole unknown destinations by it) and by EGRESS-001 (which object
// to name when egress gets through). Ported from istio/istio 86c9f01fd735:
// - pilot/pkg/model/push_context.go `initSidecarScopes`: a namespace's Sidecars sorted by creation time
//   (`sortConfigByCreationTime`), those with a workloadSelector first; the root namespace's first Sidecar without a
//   workloadSelector is `meshRootSidecarConfig`.
// - push_context.go `doGetSidecarScope` (SidecarProxy): the first Sidecar of the proxy's namespace whose
//   workloadSelector is absent or a subset of the pod's labels; else the root namespace's Sidecar; else none.
// - pilot/pkg/model/sidecar.go `convertToSidecarScope`: the Sidecar's `outboundTrafficPolicy` when set; otherwise
//   meshConfig.outboundTrafficPolicy (pkg/config/mesh/mesh.go `DefaultMeshConfig`: ALLOW_ANY).

export type OutboundMode = 'REGISTRY_ONLY' | 'ALLOW_ANY';

export interface SidecarObject {
  namespace: string;
  name: string;
  /** metadata.creationTimestamp (RFC 3339); absent = all created together (the lab applies a posture at once). */
  creationTimestamp?: string;
  /** spec.workloadSelector.labels */
  workloadSelector?: Record<string, string>;
  /** spec.outboundTrafficPolicy.mode */
  outboundMode?: OutboundMode;
}

export interface OutboundPolicy {
  mode: OutboundMode;
  /** The object and field that decide, in words: `Sidecar mesh/default outboundTrafficPolicy.mode`. */
  setBy: string;
  /** The Sidecar in force for the proxy, if any (its egress, when no outboundTrafficPolicy, still comes from it). */
  sidecar?: SidecarObject;
}

const byCreation = (a: SidecarObject, b: SidecarObject) =>
  (a.creationTimestamp ?? '').localeCompare(b.creationTimestamp ?? '') || a.name.localeCompare(b.name) || a.namespace.localeCompare(b.namespace);

const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The Sidecar that scopes a sidecar proxy in `namespace` with pod `labels` (push_context.go `doGetSidecarScope`). */
export function sidecarFor(all: SidecarObject[], rootNamespace: string, w: { namespace: string; labels: Record<string, string> }): SidecarObject | undefined {
  const ordered = (ns: string) => {
    const own = all.filter((s) => s.namespace === ns).sort(byCreation);
    return [...own.filter((s) => s.workloadSelector), ...own.filter((s) => !s.workloadSelector)];
  };
  const own = ordered(w.namespace).find((s) => !s.workloadSelector || selects(s.workloadSelector, w.labels));
  if (own) return own;
  return ordered(rootNamespace).find((s) => !s.workloadSelector);
}

/** The outbound traffic policy for that proxy, and what sets it (sidecar.go `convertToSidecarScope`). */
export function outboundTrafficPolicy(
  all: SidecarObject[],
  mesh: { outboundTrafficPolicy?: { mode?: OutboundMode } },
  rootNamespace: string,
  w: { namespace: string; labels: Record<string, string> },
): OutboundPolicy {
  const sidecar = sidecarFor(all, rootNamespace, w);
  if (sidecar?.outboundMode) return { mode: sidecar.outboundMode, setBy: `Sidecar ${sidecar.namespace}/${sidecar.name} outboundTrafficPolicy.mode`, sidecar };
  const inherited = sidecar ? `Sidecar ${sidecar.namespace}/${sidecar.name} sets no outboundTrafficPolicy, so ` : `no Sidecar in ${w.namespace} or ${rootNamespace}, so `;
  const meshMode = mesh.outboundTrafficPolicy?.mode;
  const withSidecar = sidecar ? { sidecar } : {};
  if (meshMode) return { mode: meshMode, setBy: `${inherited}meshConfig.outboundTrafficPolicy.mode (ConfigMap ${rootNamespace}/istio)`, ...withSidecar };
  return { mode: 'ALLOW_ANY', setBy: `${inherited}Istio's default (no meshConfig.outboundTrafficPolicy)`, ...withSidecar };
}

/** A Sidecar manifest as the function reads it. */
export function sidecarObjectOf(m: { metadata: { name: string; namespace?: string; creationTimestamp?: unknown }; spec?: unknown }): SidecarObject {
  const spec = (m.spec ?? {}) as { workloadSelector?: { labels?: Record<string, string> }; outboundTrafficPolicy?: { mode?: OutboundMode } };
  return {
    namespace: m.metadata.namespace ?? '',
    name: m.metadata.name,
    ...(m.metadata.creationTimestamp !== undefined ? { creationTimestamp: String(m.metadata.creationTimestamp) } : {}),
    ...(spec.workloadSelector?.labels ? { workloadSelector: spec.workloadSelector.labels } : {}),
    ...(spec.outboundTrafficPolicy?.mode ? { outboundMode: spec.outboundTrafficPolicy.mode } : {}),
  };
}
