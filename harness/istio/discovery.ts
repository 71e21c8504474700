// meshConfig.discoverySelectors: the namespaces istiod sees. A namespace is seen when any selector matches its
// labels, every namespace when there is none (I: pkg/kube/namespace/filter.go isSelectedLocked). A namespace
// istiod does not see gets no istio-ca-root-cert (I: pilot/pkg/serviceregistry/kube/controller/
// namespacecontroller.go: "If the namespace is filtered out by discovery selector, the configmap will be
// deleted"), and its Services and policies are invisible to the mesh.
import { type LabelSelector, matches, requirementsOf } from './injection.js';

export type { LabelSelector };

export function discovered(selectors: LabelSelector[] | undefined, labels: Record<string, string>): boolean {
  if (!selectors || selectors.length === 0) return true;
  // An invalid selector (metav1.LabelSelectorAsSelector fails) selects nothing.
  return selectors.some((s) => {
    const reqs = requirementsOf(s);
    return reqs !== undefined && matches(reqs, labels);
  });
}

/** The namespace-label prefix meshproof may add on its own namespaces to be seen. */
export const OWN_LABEL_PREFIX = 'meshproof.dev/';

/**
 * What a namespace meshproof creates needs to be seen by istiod: nothing, labels of its own (`meshproof.dev/…`,
 * from the first selector those alone satisfy), or, when every selector needs someone else's label (or the
 * absence of one), the label the first selector needs.
 */
export function discoveryLabels(selectors: LabelSelector[] | undefined, labels: Record<string, string>): { add: Record<string, string> } | { needs: string } {
  if (discovered(selectors, labels)) return { add: {} };
  let needs = '';
  for (const s of selectors ?? []) {
    const add: Record<string, string> = {};
    let foreign: string | undefined;
    const reqs = requirementsOf(s);
    if (!reqs) {
      needs ||= `a valid selector (${JSON.stringify(s)} is not one)`;
      continue;
    }
    for (const r of reqs) {
      if (matches([r], { ...labels, ...add })) continue;
      const value = r.operator === 'In' ? r.values?.[0] : r.operator === 'Exists' ? 'true' : undefined;
      const described = r.operator === 'In' ? `${r.key}=${r.values?.join('|')}` : r.operator === 'Exists' ? `${r.key} (any value)` : `${r.key} ${r.operator === 'NotIn' ? `not ${r.values?.join('|')}` : 'absent'}`;
      if (value === undefined || !r.key.startsWith(OWN_LABEL_PREFIX)) {
        foreign = described;
        break;
      }
      add[r.key] = value;
    }
    if (!foreign) return { add };
    needs ||= foreign;
  }
  return { needs };
}
