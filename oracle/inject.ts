// The injection decision, replayed against harness/istio/injection.ts:
// - pkg/kube/inject/webhook_test.go TestInjectRequired: the injector's own decision (policy, Always/NeverInjectSelector,
//   hostNetwork, the label and the annotation);
// - istioctl/pkg/checkinject/checkinject_test.go Test_analyzeRunningWebhooks: which injector configuration's webhooks
//   admission calls for a namespace and pod (the model's rendered webhooks for the default revision and 1-16, and
//   the testdata's own webhooks, both through the model's selector matching);
// - istioctl/pkg/tag/generate_test.go TestGenerateMutatingWebhook: how many webhooks a revision tag's configuration has.
import { readFileSync } from 'node:fs';
import { calls, type ControlPlanes, type InjectionWebhook, type InjectorConfig, injectionWebhooks, injectRequired, type LabelSelector, type Requirement, requirementsOf } from '../harness/istio/injection.js';
import { compare, type OracleCase, type OracleFile } from './types.js';

interface Source {
  path: string;
  test: string;
  commit: string;
}

function load<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(`../test/data/istio/${file}`, import.meta.url), 'utf8')) as T;
}

interface InjectRequiredData {
  source: Source;
  cases: { name: string; config: InjectorConfig; pod: { namespace: string; hostNetwork: boolean; labels?: Record<string, string>; annotations?: Record<string, string> }; want: boolean }[];
}

function injectRequiredFile(): OracleFile {
  const data = load<InjectRequiredData>('inject_required_test.json');
  const cases = data.cases.map((c) => compare(c.name, injectRequired({ namespace: c.pod.namespace, namespaceLabels: {}, labels: c.pod.labels ?? {}, annotations: c.pod.annotations ?? {}, hostNetwork: c.pod.hostNetwork }, c.config), c.want));
  return { source: data.source.path, test: data.source.test, commit: data.source.commit, cases };
}

interface WebhookData {
  name: string;
  namespaceSelector: LabelSelector;
  objectSelector: LabelSelector;
}

interface CheckInjectData {
  source: Source;
  webhookConfigurations: { file: string; name: string; labels: Record<string, string>; webhooks: WebhookData[] }[];
  cases: { name: string; podLabels: Record<string, string>; namespaceLabels: Record<string, string>; expected: { name: string; revision: string; injected: boolean }[] }[];
}

/** The installed control planes the testdata's injector configurations come from: the default revision and 1-16. */
const CHECK_INJECT_PLANES: ControlPlanes = { revisions: ['default', '1-16'] };

/** Requirements are ANDed: their order is not part of a selector's meaning. */
function canonical(reqs: Requirement[] | undefined): Requirement[] | undefined {
  return reqs && [...reqs].sort((a, b) => a.key.localeCompare(b.key) || a.operator.localeCompare(b.operator));
}

function asHooks(whs: WebhookData[]): { name: string; namespaceSelector: Requirement[] | undefined; objectSelector: Requirement[] | undefined }[] {
  return whs.map((w) => ({ name: w.name, namespaceSelector: canonical(requirementsOf(w.namespaceSelector)), objectSelector: canonical(requirementsOf(w.objectSelector)) }));
}

function modelHooks(configuration: string): InjectionWebhook[] {
  return injectionWebhooks(CHECK_INJECT_PLANES).filter((h) => h.configuration === configuration);
}

function checkInjectFile(): OracleFile {
  const data = load<CheckInjectData>('checkinject_test.json');
  const cases: OracleCase[] = [];
  // The model renders the two installed configurations as the testdata has them (webhooks in order; the ANDed
  // requirements of a selector compared in any order).
  for (const cfg of data.webhookConfigurations) {
    const rendered = modelHooks(cfg.name);
    if (rendered.length === 0) continue; // the deactivated configuration is istioctl's, not a chart's rendering
    const mine = rendered.map((h) => ({ name: h.name, namespaceSelector: canonical(h.namespaceSelector), objectSelector: canonical(h.objectSelector) }));
    cases.push(compare(`webhooks of ${cfg.file}`, mine, asHooks(cfg.webhooks)));
  }
  for (const c of data.cases) {
    const pod = { namespace: 'test1', namespaceLabels: c.namespaceLabels, labels: c.podLabels };
    const got = data.webhookConfigurations
      .map((cfg) => {
        const rendered = modelHooks(cfg.name);
        // A configuration the model renders is judged on the model's webhooks; the deactivated one on its own selectors.
        const hooks = rendered.length > 0 ? rendered : cfg.webhooks.map((w) => ({ namespaceSelector: requirementsOf(w.namespaceSelector) ?? [], objectSelector: requirementsOf(w.objectSelector) ?? [] }));
        const revision = rendered[0]?.revision ?? cfg.labels['istio.io/rev'] ?? 'default';
        return { name: cfg.name, revision, injected: hooks.some((h) => calls(h, pod)) };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
    cases.push(compare(c.name, got, c.expected));
  }
  return { source: data.source.path, test: data.source.test, commit: data.source.commit, cases };
}

interface TagData {
  source: Source;
  cases: { name: string; revision: string; tagName: string; numWebhooks: number }[];
}

function tagFile(): OracleFile {
  const data = load<TagData>('tag_generate_test.json');
  const cases = data.cases.map((c) => {
    const hooks = injectionWebhooks({ revisions: [], tags: { [c.tagName]: c.revision } }).filter((h) => h.configuration === `istio-revision-tag-${c.tagName}`);
    return compare(c.name, hooks.length, c.numWebhooks);
  });
  return { source: data.source.path, test: data.source.test, commit: data.source.commit, cases };
}

export function inject(): OracleFile[] {
  return [injectRequiredFile(), checkInjectFile(), tagFile()];
}
