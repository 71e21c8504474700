// Istio's injection decision (harness/istio/injection.ts) against the webhooks its charts render
// (I: manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml, revision-tags-mwc.yaml) and
// the injector's injectRequired (I: pkg/kube/inject/inject.go). Each row names the webhook that must be called.
import { describe, expect, it } from 'vitest';
import { type ControlPlanes, injection, injectionWebhooks, injectRequired, namespaceRequestsInjection, type PodToAdmit, podOptsOut } from '../harness/istio/injection.js';

const DEFAULT: ControlPlanes = { revisions: ['default'] };
const CANARY_ONLY: ControlPlanes = { revisions: ['canary'] };
const pod = (o: Partial<PodToAdmit>): PodToAdmit => ({ namespace: 'apps', namespaceLabels: {}, labels: {}, ...o });

const rows: { name: string; cp: ControlPlanes; pod: PodToAdmit; selected: boolean; injected: boolean; webhook?: string; revision?: string }[] = [
  { name: 'istio-injection=enabled: namespace.', cp: DEFAULT, pod: pod({ namespaceLabels: { 'istio-injection': 'enabled' } }), selected: true, injected: true, webhook: 'istio-sidecar-injector/namespace.sidecar-injector.istio.io', revision: 'default' },
  { name: 'the label inject=false: no webhook is called', cp: DEFAULT, pod: pod({ namespaceLabels: { 'istio-injection': 'enabled' }, labels: { 'sidecar.istio.io/inject': 'false' } }), selected: false, injected: false },
  { name: 'the annotation inject=false: called, the injector declines', cp: DEFAULT, pod: pod({ namespaceLabels: { 'istio-injection': 'enabled' }, annotations: { 'sidecar.istio.io/inject': 'false' } }), selected: true, injected: false },
  { name: 'the label wins over the annotation', cp: DEFAULT, pod: pod({ namespaceLabels: { 'istio-injection': 'enabled' }, labels: { 'sidecar.istio.io/inject': 'true' }, annotations: { 'sidecar.istio.io/inject': 'false' } }), selected: true, injected: true },
  { name: 'unlabelled namespace, pod label inject=true: object.', cp: DEFAULT, pod: pod({ labels: { 'sidecar.istio.io/inject': 'true' } }), selected: true, injected: true, webhook: 'istio-sidecar-injector/object.sidecar-injector.istio.io' },
  { name: 'unlabelled namespace, only the annotation inject=true: no webhook (selectors see labels)', cp: DEFAULT, pod: pod({ annotations: { 'sidecar.istio.io/inject': 'true' } }), selected: false, injected: false },
  { name: 'istio-injection=disabled beats the pod label', cp: DEFAULT, pod: pod({ namespaceLabels: { 'istio-injection': 'disabled' }, labels: { 'sidecar.istio.io/inject': 'true' } }), selected: false, injected: false },
  { name: 'istio.io/rev=default on the namespace: rev.namespace.', cp: DEFAULT, pod: pod({ namespaceLabels: { 'istio.io/rev': 'default' } }), selected: true, injected: true, webhook: 'istio-sidecar-injector/rev.namespace.sidecar-injector.istio.io' },
  { name: 'hostNetwork: called, never injected', cp: DEFAULT, pod: pod({ namespaceLabels: { 'istio-injection': 'enabled' }, hostNetwork: true }), selected: true, injected: false },
  { name: 'K-M2: revision-only, pod inject=true alone: no webhook', cp: CANARY_ONLY, pod: pod({ labels: { 'sidecar.istio.io/inject': 'true' } }), selected: false, injected: false },
  { name: 'K-M2: revision-only, pod inject=true and istio.io/rev=canary: rev.object.', cp: CANARY_ONLY, pod: pod({ labels: { 'sidecar.istio.io/inject': 'true', 'istio.io/rev': 'canary' } }), selected: true, injected: true, webhook: 'istio-sidecar-injector-canary/rev.object.sidecar-injector.istio.io', revision: 'canary' },
  { name: 'revision-only, istio-injection=enabled: no webhook', cp: CANARY_ONLY, pod: pod({ namespaceLabels: { 'istio-injection': 'enabled' } }), selected: false, injected: false },
  { name: 'a tag names its revision: istio.io/rev=prod → canary', cp: { revisions: ['canary'], tags: { prod: 'canary' } }, pod: pod({ namespaceLabels: { 'istio.io/rev': 'prod' } }), selected: true, injected: true, webhook: 'istio-revision-tag-prod/rev.namespace.sidecar-injector.istio.io', revision: 'canary' },
  { name: 'a non-default tag renders no object.', cp: { revisions: ['canary'], tags: { prod: 'canary' } }, pod: pod({ labels: { 'sidecar.istio.io/inject': 'true' } }), selected: false, injected: false },
  { name: 'the default tag renders object.', cp: { revisions: ['canary'], tags: { default: 'canary' } }, pod: pod({ labels: { 'sidecar.istio.io/inject': 'true' } }), selected: true, injected: true, webhook: 'istio-revision-tag-default/object.sidecar-injector.istio.io', revision: 'canary' },
  { name: 'enableNamespacesByDefault: auto. on an unlabelled namespace', cp: { ...DEFAULT, enableNamespacesByDefault: true }, pod: pod({}), selected: true, injected: true, webhook: 'istio-sidecar-injector/auto.sidecar-injector.istio.io' },
  { name: 'K-L15: enableNamespacesByDefault, istio-injection=disabled: none', cp: { ...DEFAULT, enableNamespacesByDefault: true }, pod: pod({ namespaceLabels: { 'istio-injection': 'disabled' } }), selected: false, injected: false },
  { name: 'enableNamespacesByDefault spares kube-system', cp: { ...DEFAULT, enableNamespacesByDefault: true }, pod: pod({ namespace: 'kube-system' }), selected: false, injected: false },
];

describe('Istio injection (webhook selectors, then injectRequired)', () => {
  it.each(rows.map((r) => [r.name, r] as const))('%s', (_name, r) => {
    const d = injection(r.cp, r.pod);
    expect({ selected: d.selected, injected: d.injected }).toEqual({ selected: r.selected, injected: r.injected });
    if (r.webhook) expect(d.webhook).toBe(r.webhook);
    if (r.revision) expect(d.revision).toBe(r.revision);
  });

  it('renders the default revision five webhooks only with enableNamespacesByDefault, a revision two', () => {
    expect(injectionWebhooks({ revisions: ['default'], enableNamespacesByDefault: true }).map((h) => h.name.split('.')[0])).toEqual(['rev', 'rev', 'namespace', 'object', 'auto']);
    expect(injectionWebhooks(CANARY_ONLY).map((h) => h.name)).toEqual(['rev.namespace.sidecar-injector.istio.io', 'rev.object.sidecar-injector.istio.io']);
  });

  // Model fixes found by oracle/inject.ts (pkg/kube/inject/webhook_test.go TestInjectRequired) and inject.go injectRequired.
  it('issue 20: a pod that says nothing is decided by NeverInjectSelector, then AlwaysInjectSelector, then the policy (injectRequired)', () => {
    const enabledNever: ControlPlanes = { ...DEFAULT, injector: { policy: 'enabled', neverInjectSelector: [{ matchExpressions: [{ key: 'batch', operator: 'Exists' }] }] } };
    const disabledAlways: ControlPlanes = { ...DEFAULT, injector: { policy: 'disabled', alwaysInjectSelector: [{ matchLabels: { mesh: 'yes' } }] } };
    const inNs = (labels: Record<string, string>, annotations?: Record<string, string>) => pod({ namespaceLabels: { 'istio-injection': 'enabled' }, labels, ...(annotations ? { annotations } : {}) });
    // The webhook is called either way (admission fails closed while istiod is down); the injector declines.
    expect(injection(enabledNever, inNs({ batch: '' }))).toMatchObject({ selected: true, injected: false });
    expect(injection(enabledNever, inNs({}))).toMatchObject({ selected: true, injected: true });
    // The pod's own word beats the selectors.
    expect(injection(enabledNever, inNs({ batch: '' }, { 'sidecar.istio.io/inject': 'true' }))).toMatchObject({ selected: true, injected: true });
    expect(injection(disabledAlways, inNs({ mesh: 'yes' }))).toMatchObject({ selected: true, injected: true });
    expect(injection(disabledAlways, inNs({}))).toMatchObject({ selected: true, injected: false });
    // An illegal policy turns auto injection off, even for a pod that asks ("Illegal value for autoInject").
    expect(injectRequired(pod({ labels: { 'sidecar.istio.io/inject': 'true' } }), { policy: 'wrong_policy' })).toBe(false);
    // An empty selector never applies (`!selector.Empty()`); an invalid one is skipped.
    expect(injectRequired(pod({}), { policy: 'enabled', neverInjectSelector: [{}] })).toBe(true);
    expect(injectRequired(pod({ labels: { a: 'b' } }), { policy: 'enabled', neverInjectSelector: [{ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }] })).toBe(true);
  });

  it('issue 20: kube-node-lease and local-path-storage are ignored namespaces too (initializer.go IgnoredNamespaces)', () => {
    for (const namespace of ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']) {
      expect(injection(DEFAULT, pod({ namespace, namespaceLabels: { 'istio-injection': 'enabled' } }))).toMatchObject({ selected: true, injected: false });
    }
  });

  it('a namespace asks for injection by istio-injection=enabled, or without it by istio.io/rev; a pod opts out by label or annotation', () => {
    expect(([{ 'istio-injection': 'enabled' }, { 'istio.io/rev': 'x' }, { 'istio-injection': 'disabled', 'istio.io/rev': 'x' }, {}] as Record<string, string>[]).map((l) => namespaceRequestsInjection(l))).toEqual([true, true, false, false]);
    expect(podOptsOut({ 'sidecar.istio.io/inject': 'false' })).toBe(true);
    expect(podOptsOut({}, { 'sidecar.istio.io/inject': 'false' })).toBe(true);
    expect(podOptsOut({ 'sidecar.istio.io/inject': 'true' }, { 'sidecar.istio.io/inject': 'false' })).toBe(false);
  });
});
