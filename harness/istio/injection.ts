// Whether, and by which control plane, a pod is injected with a sidecar: Istio's rule, as data and one pure
// function, used by everything that predicts injection (the Kubernetes path's readiness check, the façade that
// emulates the webhooks). Two steps, as in Istio:
// 1. Admission calls a webhook only if its namespaceSelector matches the namespace's labels and its
//    objectSelector the pod's labels (never annotations). The webhooks are those Istio's charts render
//    (I: manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml, per revision:
//    `rev.namespace.` and `rev.object.` for the revision ("default" for the default one), and only for the
//    default revision `namespace.`, `object.` and, with enableNamespacesByDefault, `auto.`;
//    templates/revision-tags-mwc.yaml, per tag: `rev.namespace.`/`rev.object.` for the tag name, and the
//    default-revision webhooks only when the tag is `default`).
// 2. The injector then decides (I: pkg/kube/inject/inject.go injectRequired): no injection with hostNetwork or in
//    an ignored namespace (kube-system, kube-public); the `sidecar.istio.io/inject` label, or without it the
//    annotation of the same name, says "true" or "false"; anything else falls back to the policy (enabled).
// A webhook that is called fails closed while istiod is down (failurePolicy Fail), even for a pod it would not
// inject: `selected` says whether any webhook is called at all.

export type Requirement = { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] };

export interface InjectionWebhook {
  /** e.g. `rev.object.sidecar-injector.istio.io` */
  name: string;
  /** The MutatingWebhookConfiguration: `istio-sidecar-injector[-<rev>]` or `istio-revision-tag-<tag>`. */
  configuration: string;
  /** The revision whose istiod the webhook calls ("default" for the default revision). */
  revision: string;
  namespaceSelector: Requirement[];
  objectSelector: Requirement[];
}

/** What is installed: revisions (by name; "default" for an install without one) and revision tags. */
export interface ControlPlanes {
  revisions: string[];
  /** tag → the revision it points at (the tag MWC's `istio.io/rev` label). */
  tags?: Record<string, string>;
  /** sidecarInjectorWebhook.enableNamespacesByDefault: the `auto.` webhook. */
  enableNamespacesByDefault?: boolean;
}

export interface PodToAdmit {
  namespace: string;
  namespaceLabels: Record<string, string>;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  hostNetwork?: boolean;
}

export interface InjectionDecision {
  /** A webhook is called (so admission fails while its istiod is down). */
  selected: boolean;
  injected: boolean;
  /** The revision whose injector handles the pod, when one does. */
  revision?: string;
  webhook?: string;
}

const INJECT = 'sidecar.istio.io/inject';
const REV = 'istio.io/rev';
const NS_INJECTION = 'istio-injection';
/** pkg/kube/inject IgnoredNamespaces (kube-system, kube-public) as the injector skips them. */
const IGNORED_NAMESPACES = ['kube-system', 'kube-public'];
/** The `auto.` webhook's own exclusions (mutatingwebhook.yaml). */
const AUTO_EXCLUDED = ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage'];

/** Kubernetes label-selector semantics (apimachinery labels.Selector): NotIn and DoesNotExist match an absent key. */
export function matches(requirements: Requirement[], labels: Record<string, string>): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const v = labels[r.key];
    switch (r.operator) {
      case 'In':
        return has && (r.values ?? []).includes(v!);
      case 'NotIn':
        return !has || !(r.values ?? []).includes(v!);
      case 'Exists':
        return has;
      default: // DoesNotExist
        return !has;
    }
  });
}

/** The webhooks one injector configuration renders: for a revision or tag value, plus the default ones if asked. */
function rendered(configuration: string, revision: string, value: string, withDefault: boolean, auto: boolean): InjectionWebhook[] {
  const hook = (prefix: string, namespaceSelector: Requirement[], objectSelector: Requirement[]): InjectionWebhook => ({ name: `${prefix}sidecar-injector.istio.io`, configuration, revision, namespaceSelector, objectSelector });
  const notFalse: Requirement = { key: INJECT, operator: 'NotIn', values: ['false'] };
  const unlabelled: Requirement[] = [
    { key: NS_INJECTION, operator: 'DoesNotExist' },
    { key: REV, operator: 'DoesNotExist' },
  ];
  const out = [
    hook('rev.namespace.', [{ key: REV, operator: 'In', values: [value] }, { key: NS_INJECTION, operator: 'DoesNotExist' }], [notFalse]),
    hook('rev.object.', unlabelled, [notFalse, { key: REV, operator: 'In', values: [value] }]),
  ];
  if (withDefault) {
    out.push(hook('namespace.', [{ key: NS_INJECTION, operator: 'In', values: ['enabled'] }], [notFalse]));
    out.push(hook('object.', unlabelled, [{ key: INJECT, operator: 'In', values: ['true'] }, { key: REV, operator: 'DoesNotExist' }]));
    if (auto) {
      out.push(hook('auto.', [...unlabelled, { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: AUTO_EXCLUDED }], [{ key: INJECT, operator: 'DoesNotExist' }, { key: REV, operator: 'DoesNotExist' }]));
    }
  }
  return out;
}

/** Every injection webhook of the installed control planes, in the order admission calls them (by configuration name). */
export function injectionWebhooks(cp: ControlPlanes): InjectionWebhook[] {
  const hooks: InjectionWebhook[] = [];
  for (const rev of cp.revisions) {
    const isDefault = rev === 'default';
    hooks.push(...rendered(isDefault ? 'istio-sidecar-injector' : `istio-sidecar-injector-${rev}`, rev, rev, isDefault, Boolean(cp.enableNamespacesByDefault)));
  }
  for (const [tag, rev] of Object.entries(cp.tags ?? {})) {
    hooks.push(...rendered(`istio-revision-tag-${tag}`, rev, tag, tag === 'default', Boolean(cp.enableNamespacesByDefault)));
  }
  // Admission calls mutating webhooks ordered by configuration name, then in their order within it.
  return hooks.map((h, i) => ({ h, i })).sort((a, b) => a.h.configuration.localeCompare(b.h.configuration) || a.i - b.i).map(({ h }) => h);
}

/** injectRequired: the injector's own decision for a pod a webhook sent it (policy `enabled`, Istio's default). */
export function injectRequired(pod: PodToAdmit): boolean {
  if (pod.hostNetwork || IGNORED_NAMESPACES.includes(pod.namespace)) return false;
  // "The label is the new API; if both are present we prefer the label."
  const said = Object.hasOwn(pod.labels, INJECT) ? pod.labels[INJECT] : pod.annotations?.[INJECT];
  if (said === 'true') return true;
  if (said === 'false') return false;
  return true; // unset or invalid: the policy, enabled
}

export function injection(cp: ControlPlanes, pod: PodToAdmit): InjectionDecision {
  const nsLabels = { 'kubernetes.io/metadata.name': pod.namespace, ...pod.namespaceLabels };
  const hook = injectionWebhooks(cp).find((h) => matches(h.namespaceSelector, nsLabels) && matches(h.objectSelector, pod.labels));
  if (!hook) return { selected: false, injected: false };
  // The first webhook injects; later ones see the sidecar status annotation and leave the pod alone.
  return { selected: true, injected: injectRequired(pod), revision: hook.revision, webhook: `${hook.configuration}/${hook.name}` };
}
