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
//    an ignored namespace (pkg/kube/inject/initializer.go IgnoredNamespaces: kube-system, kube-public,
//    kube-node-lease, local-path-storage); the `sidecar.istio.io/inject` label, or without it the annotation of the
//    same name, says "true" or "false"; anything else (unset or invalid) asks the injector config: a pod matching a
//    NeverInjectSelector is not injected, else one matching an AlwaysInjectSelector is, else the policy decides
//    (`enabled`, Istio's default: inject; `disabled`: don't; any other value: don't).
// Held against Istio's own tests by oracle/inject.ts (TestInjectRequired, istioctl check-inject, tag webhooks).
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

/** A Kubernetes metav1.LabelSelector, as the injector config's AlwaysInjectSelector / NeverInjectSelector hold it. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Requirement[];
}

/** The injector's own config (ConfigMap istio-sidecar-injector `config`: policy, alwaysInjectSelector, neverInjectSelector). */
export interface InjectorConfig {
  /** `enabled` (Istio's default), `disabled`, or anything else (auto injection off: I: inject.go, "Illegal value for autoInject"). */
  policy: string;
  alwaysInjectSelector?: LabelSelector[];
  neverInjectSelector?: LabelSelector[];
}

/** The chart's default (I: istio-discovery values.yaml sidecarInjectorWebhook: enabled, no selectors). */
export const DEFAULT_INJECTOR: InjectorConfig = { policy: 'enabled' };

/** What is installed: revisions (by name; "default" for an install without one) and revision tags. */
export interface ControlPlanes {
  revisions: string[];
  /** tag → the revision it points at (the tag MWC's `istio.io/rev` label). */
  tags?: Record<string, string>;
  /** sidecarInjectorWebhook.enableNamespacesByDefault: the `auto.` webhook. */
  enableNamespacesByDefault?: boolean;
  /** The injector config every revision's istiod runs with (DEFAULT_INJECTOR when absent). */
  injector?: InjectorConfig;
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
/** I: pkg/kube/inject/initializer.go IgnoredNamespaces: the injector never injects a pod of these namespaces. */
export const IGNORED_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage'];
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

/**
 * The requirements of a metav1.LabelSelector (I: apimachinery metav1.LabelSelectorAsSelector): matchLabels are `In`
 * one value; an invalid expression (In/NotIn without values, Exists/DoesNotExist with values, an unknown operator)
 * makes the whole selector invalid (undefined), which the injector logs and skips.
 */
export function requirementsOf(selector: LabelSelector): Requirement[] | undefined {
  const exprs = selector.matchExpressions ?? [];
  const valid = exprs.every((r) => (r.operator === 'In' || r.operator === 'NotIn' ? (r.values ?? []).length > 0 : (r.operator === 'Exists' || r.operator === 'DoesNotExist') && (r.values ?? []).length === 0));
  if (!valid) return undefined;
  return [...Object.entries(selector.matchLabels ?? {}).map(([key, v]): Requirement => ({ key, operator: 'In', values: [v] })), ...exprs];
}

/** A Never/AlwaysInjectSelector entry applies: valid, not empty (`!selector.Empty()`), and matching the pod's labels. */
function selectorApplies(selector: LabelSelector, labels: Record<string, string>): boolean {
  const reqs = requirementsOf(selector);
  return reqs !== undefined && reqs.length > 0 && matches(reqs, labels);
}

/** What the pod says: the `sidecar.istio.io/inject` label, or without it the annotation ("the label is the new API; if both are present we prefer the label"). */
export function podInjectValue(labels: Record<string, string>, annotations: Record<string, string> = {}): string | undefined {
  return Object.hasOwn(labels, INJECT) ? labels[INJECT] : annotations[INJECT];
}

/** The pod opts out itself (`sidecar.istio.io/inject: "false"`, label or annotation): no injector config overrides it. */
export function podOptsOut(labels: Record<string, string>, annotations: Record<string, string> = {}): boolean {
  return podInjectValue(labels, annotations) === 'false';
}

/** injectRequired (I: pkg/kube/inject/inject.go): the injector's own decision for a pod a webhook sent it. */
export function injectRequired(pod: PodToAdmit, config: InjectorConfig = DEFAULT_INJECTOR): boolean {
  if (pod.hostNetwork || IGNORED_NAMESPACES.includes(pod.namespace)) return false;
  const said = podInjectValue(pod.labels, pod.annotations);
  if (said === 'true') return config.policy === 'enabled' || config.policy === 'disabled';
  if (said === 'false') return false;
  // Unset or invalid ("Falling back to default injection policy"): NeverInjectSelector first, then AlwaysInjectSelector.
  if ((config.neverInjectSelector ?? []).some((s) => selectorApplies(s, pod.labels))) return false;
  if ((config.alwaysInjectSelector ?? []).some((s) => selectorApplies(s, pod.labels))) return config.policy === 'enabled' || config.policy === 'disabled';
  return config.policy === 'enabled';
}

/** Whether admission calls this webhook for the pod: its namespaceSelector on the namespace's labels, its objectSelector on the pod's. */
export function calls(hook: Pick<InjectionWebhook, 'namespaceSelector' | 'objectSelector'>, pod: Pick<PodToAdmit, 'namespace' | 'namespaceLabels' | 'labels'>): boolean {
  // The API server labels every namespace with its name (kubernetes.io/metadata.name).
  const nsLabels = { 'kubernetes.io/metadata.name': pod.namespace, ...pod.namespaceLabels };
  return matches(hook.namespaceSelector, nsLabels) && matches(hook.objectSelector, pod.labels);
}

export function injection(cp: ControlPlanes, pod: PodToAdmit): InjectionDecision {
  const hook = injectionWebhooks(cp).find((h) => calls(h, pod));
  if (!hook) return { selected: false, injected: false };
  // The first webhook injects; later ones see the sidecar status annotation and leave the pod alone.
  return { selected: true, injected: injectRequired(pod, cp.injector), revision: hook.revision, webhook: `${hook.configuration}/${hook.name}` };
}

/**
 * A namespace asks for injection: a namespace-level webhook of some revision selects it — `istio-injection=enabled`
 * (`namespace.`), or without `istio-injection` an `istio.io/rev` label (`rev.namespace.`; mutatingwebhook.yaml).
 */
export function namespaceRequestsInjection(labels: Record<string, string>): boolean {
  const legacy = labels[NS_INJECTION];
  if (legacy !== undefined) return legacy === 'enabled';
  return labels[REV] !== undefined;
}
