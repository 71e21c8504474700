// Preflight: everything a cluster run needs, checked before anything is created. Each failure is one line
// saying what is wrong and what to do: a ConfigError (exit 2) when the user can fix it by configuration, an
// InfraError (exit 3) when the cluster is not in a state to test.
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  AppsV1Api,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Deployment,
  type V1MatchResources,
  type V1ValidatingAdmissionPolicy,
  type V1ValidatingAdmissionPolicyBinding,
  VersionApi,
} from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { ConfigError, InfraError, messageOf } from '../../harness/errors.js';
import type { LabelSelector } from '../../harness/istio/discovery.js';
import { describeApiError } from './api-errors.js';
import { CHAOS_PERMISSIONS, EDGE_PERMISSIONS, INTENT_PERMISSIONS, ISTIO_CRDS, MATRIX_BINDER_PERMISSIONS, MATRIX_PERMISSIONS, meshConfigName, type Permission, policyReportPermissions, requiredFor, SWEEP_BINDER_PERMISSIONS, SWEEP_NODE_PERMISSIONS, SWEEP_PERMISSIONS } from './permissions.js';
import { retrying } from './retry.js';

export { ISTIO_CRDS };

export interface PreflightReport {
  server: string;
  /** From the mesh config (ConfigMap `istio`, key `mesh`); `cluster.local` when unset. */
  trustDomain: string;
  kubernetes: string;
  istiod: { name: string; revision: string; image: string; ready: string };
  /** The revision tag `--revision` named, when it named one (istiod is then the tag's revision). */
  tag?: string;
  /** istiod's CA as a pod reaches it: its Service (named as its Deployment, istio-behaviours.md §10) on 15012. */
  caAddress: string;
  /** The name istiod's serving certificate always carries, whatever the revision (§10). */
  caServername: string;
  /** The ConfigMap holding the mesh config (`istio`, or `istio-<rev>`). */
  meshConfigName: string;
  /** meshConfig.rootNamespace, by default the Istio namespace. */
  rootNamespace: string;
  /** meshConfig.discoverySelectors: the namespaces istiod sees (all when absent). */
  discoverySelectors?: LabelSelector[];
  webhooks: string[];
  permissions: number;
  /**
   * The ValidatingAdmissionPolicy of deploy/confine.yaml, when it is installed and bound with Deny; else
   * undefined, and `warnings` says so in one line.
   */
  confine?: string;
  /** One line each: what is not wrong enough to stop, but the user must know (the confine policy absent). */
  warnings: string[];
}

/** deploy/confine.yaml's policy: what keeps meshproof's cluster-wide grants to its own namespaces. */
export const CONFINE_POLICY = 'meshproof-confine';

function status(e: unknown): number | undefined {
  return (e as { code?: number }).code;
}

/**
 * Where the control plane is: istiod's CA as a pod reaches it (its Service, named as its Deployment, on 15012), the
 * name istiod's certificate always carries (istio-behaviours.md §10), the mesh config's ConfigMap, the root
 * namespace. With no arguments, Istio's defaults (what a KubeTarget assumes when no preflight ran).
 */
export function istioLocation(istioNs = 'istio-system', istiodName = 'istiod', meshConfigName = 'istio', rootNamespace = istioNs) {
  return { namespace: istioNs, caAddress: `${istiodName}.${istioNs}.svc:15012`, caServername: `istiod.${istioNs}.svc`, meshConfigName, rootNamespace };
}

/**
 * The permissions of `perms` this identity lacks, one SelfSubjectAccessReview per verb and name, as
 * `verb group/resource[/sub] [name] [in namespace]`. A permission with `scope: 'istio'` is asked in the Istio
 * namespace; one without a namespace is asked for all namespaces (only a ClusterRoleBinding grants that).
 */
async function refusedPermissions(kc: KubeConfig, perms: (Permission & { namespace?: string })[], istioNs: string, rename: (name: string) => string = (n) => n): Promise<string[]> {
  const authz = kc.makeApiClient(AuthorizationV1Api);
  const refused: string[] = [];
  for (const p of perms) {
    const namespace = p.namespace ?? (p.scope === 'istio' ? istioNs : undefined);
    for (const verb of p.verbs) {
      for (const name of p.names?.map(rename) ?? [undefined]) {
        const resourceAttributes = { group: p.group, resource: p.resource, subresource: p.subresource, verb, name, namespace };
        const r = await retrying(() => authz.createSelfSubjectAccessReview({ body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes } } }));
        if (!r.status?.allowed) refused.push(`${verb} ${p.group || 'core'}/${p.resource}${p.subresource ? `/${p.subresource}` : ''}${name ? ` ${name}` : ''}${namespace ? ` in ${namespace}` : ''}`);
      }
    }
  }
  return refused;
}

/**
 * A sweep's read-only lists (deploy/rbac-sweep.yaml), asked in each namespace it will read (the swept ones and
 * the root namespace), so RoleBindings per namespace pass; `nodes list` (cluster-scoped, a ClusterRoleBinding
 * only) only when the sweep places one attacker per node (no --probes). One line names everything missing.
 */
export async function sweepPreflight(kc: KubeConfig, o: { namespaces: string[]; rootNamespace: string; nodes: boolean; istioNamespace?: string; matrix?: boolean; intentCluster?: boolean }): Promise<void> {
  const istioNs = o.istioNamespace ?? 'istio-system';
  // The root namespace is read for its mesh-wide policies only, unless it is swept too.
  const policies = SWEEP_PERMISSIONS.filter((p) => p.group.endsWith('.istio.io'));
  const perNamespace = [
    ...o.namespaces.flatMap((namespace) => SWEEP_PERMISSIONS.map((p) => ({ ...p, namespace }))),
    ...(o.namespaces.includes(o.rootNamespace) ? [] : policies.map((p) => ({ ...p, namespace: o.rootNamespace }))),
  ];
  const refused = await refusedPermissions(kc, [...perNamespace, ...SWEEP_BINDER_PERMISSIONS, ...(o.nodes ? SWEEP_NODE_PERMISSIONS : [])], istioNs);
  if (refused.length > 0) {
    throw new ConfigError(
      `sweep: missing permissions: ${refused.join(', ')}. Apply deploy/rbac-sweep.yaml and bind ClusterRole meshproof-sweep to this identity in each namespace swept and in the root namespace (RoleBindings), meshproof-sweep-binder cluster-wide${o.nodes ? ', and meshproof-sweep-nodes cluster-wide (or pass --probes)' : ''}`,
    );
  }
  if (o.matrix) await matrixPreflight(kc, o.namespaces, istioNs, o.intentCluster ?? false);
}

/**
 * `sweep --matrix`: create serviceaccounts/token in each swept namespace (one SelfSubjectAccessReview per
 * namespace, so RoleBindings per namespace pass) and the binder for its own run namespace. One line names every
 * namespace missing the grant.
 */
async function matrixPreflight(kc: KubeConfig, namespaces: string[], istioNs: string, intentCluster: boolean): Promise<void> {
  const perNamespace = [...MATRIX_PERMISSIONS, ...(intentCluster ? INTENT_PERMISSIONS : [])];
  const refused = await refusedPermissions(kc, [...namespaces.flatMap((namespace) => perNamespace.map((p) => ({ ...p, namespace }))), ...MATRIX_BINDER_PERMISSIONS], istioNs);
  if (refused.length > 0) {
    throw new ConfigError(
      `sweep --matrix: missing permissions: ${refused.join(', ')}. Apply deploy/rbac-matrix.yaml and bind ClusterRole meshproof-matrix${intentCluster ? ' and meshproof-matrix-intents' : ''} to this identity in each namespace swept (RoleBindings) and meshproof-matrix-binder cluster-wide`,
    );
  }
}

/**
 * Who this identity is to the API server (a SelfSubjectReview, authentication.k8s.io/v1, Kubernetes >= 1.28;
 * every authenticated user may ask: bootstrap policy system:basic-user): a binding meshproof makes for itself
 * names it.
 */
export async function whoAmI(kc: KubeConfig): Promise<string> {
  const r = await retrying(() => kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } }));
  const name = r.status?.userInfo?.username;
  if (!name) throw new InfraError('the API server did not say who this identity is (SelfSubjectReview without a username)');
  return name;
}


/**
 * `--revision` may name a revision tag: its MutatingWebhookConfiguration `istio-revision-tag-<tag>` carries
 * `istio.io/tag: <tag>` and, in `istio.io/rev`, the revision it points at (I: manifests/charts/istio-control/
 * istio-discovery/templates/revision-tags-mwc.yaml). istiod, its ConfigMap and its CA are the revision's; run
 * namespaces keep the tag (its webhooks select `istio.io/rev: <tag>`).
 */
async function resolveRevision(kc: KubeConfig, given?: string): Promise<{ revision?: string; tag?: string }> {
  if (!given) return {};
  try {
    const hooks = (await retrying(() => kc.makeApiClient(AdmissionregistrationV1Api).listMutatingWebhookConfiguration())).items;
    const tag = hooks.find((h) => h.metadata?.labels?.['istio.io/tag'] === given && (h.metadata?.name ?? '').startsWith(`istio-revision-tag-${given}`));
    const revision = tag?.metadata?.labels?.['istio.io/rev'];
    if (revision) return { revision, tag: given };
  } catch {
    // The permission check that follows names what is missing.
  }
  return { revision: given };
}


/** `policyReport`: the command writes a PolicyReport (a run's, or with 'sweep' a sweep's); its CRD and Role are checked. */
/** `edgeNamespace`: `--edge` names a Service outside the posture there; reading it needs deploy/rbac-edge.yaml. */
export async function preflight(kc: KubeConfig, o: { istioNamespace?: string; revision?: string; policyReport?: boolean | 'sweep'; chaos?: boolean; edgeNamespace?: string } = {}): Promise<PreflightReport> {
  const server = kc.getCurrentCluster()?.server ?? '?';
  const istioNs = o.istioNamespace ?? 'istio-system';
  const { revision: givenRevision, tag } = await resolveRevision(kc, o.revision);
  o = { ...o, revision: givenRevision };
  const required = requiredFor(o.revision);
  const meshCm = meshConfigName(o.revision);

  // 1. The API answers at all.
  let kubernetes: string;
  try {
    kubernetes = (await kc.makeApiClient(VersionApi).getCode()).gitVersion;
  } catch (e) {
    throw new InfraError(`cannot reach the Kubernetes API at ${server}: ${messageOf(e).split('\n')[0]}. Is the cluster running and the kubeconfig current?`);
  }

  // 2. Every permission the run needs (deploy/rbac.yaml grants exactly these), one SelfSubjectAccessReview each.
  const refusedOf = (perms: (Permission & { namespace?: string })[], rename?: (name: string) => string) => refusedPermissions(kc, perms, istioNs, rename);
  const missing = await refusedOf(required);
  if (missing.length > 0) {
    throw new ConfigError(`missing permissions: ${missing.join(', ')}. Apply deploy/rbac.yaml and bind it to this identity, or use one that has them`);
  }

  // 2a'. The chaos suite's scale subresources (deploy/rbac-chaos.yaml), istiod's by its revisioned name.
  if (o.chaos) {
    const istiodName = o.revision && o.revision !== 'default' ? `istiod-${o.revision}` : 'istiod';
    const refused = await refusedOf(CHAOS_PERMISSIONS, (n) => (n === 'istiod' ? istiodName : n));
    if (refused.length > 0) throw new ConfigError(`the chaos suite: missing permissions: ${refused.join(', ')}. Apply deploy/rbac-chaos.yaml and bind it to this identity`);
  }

  // 2a''. --edge outside the posture: its Service is read (edgeServicePorts) before any work.
  if (o.edgeNamespace) {
    const refused = await refusedOf(EDGE_PERMISSIONS.map((p) => ({ ...p, namespace: o.edgeNamespace })));
    if (refused.length > 0) throw new ConfigError(`--edge: missing permissions: ${refused.join(', ')}. Apply deploy/rbac-edge.yaml with its RoleBinding in ${o.edgeNamespace}, or omit --edge`);
  }

  // 2b. --policy-report: the CRD, and the Role in meshproof's namespace.
  if (o.policyReport) {
    try {
      await retrying(() => kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: 'policyreports.wgpolicyk8s.io' }));
    } catch (e) {
      if (status(e) === 404) throw new ConfigError('--policy-report: the PolicyReport CRD (policyreports.wgpolicyk8s.io) is not installed: install Policy Reporter or Kyverno, or run without --policy-report');
      throw new InfraError(`reading the PolicyReport CRD: ${describeApiError(e)}`);
    }
    const refused = await refusedOf(policyReportPermissions(o.policyReport === 'sweep' ? 'sweep' : 'run'));
    if (refused.length > 0) throw new ConfigError(`--policy-report: missing permissions: ${refused.join(', ')}. Apply the meshproof-reports Role of deploy/rbac.yaml`);
  }

  // 3. Istio's CRDs.
  const crds = kc.makeApiClient(ApiextensionsV1Api);
  for (const name of ISTIO_CRDS) {
    try {
      const crd = await retrying(() => crds.readCustomResourceDefinition({ name }));
      // meshproof writes and lists Istio's v1 API, served from Istio 1.22; an older Istio's CRD serves only
      // v1beta1/v1alpha3, and every apply would fail later with "no matches for kind".
      if (!(crd.spec?.versions ?? []).some((v) => v.name === 'v1' && v.served)) {
        const served = (crd.spec?.versions ?? []).filter((v) => v.served).map((v) => v.name);
        throw new ConfigError(`Istio CRD ${name} does not serve v1 (served: ${served.join(', ') || 'none'}): meshproof needs Istio 1.22 or later`);
      }
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      if (status(e) === 404) throw new ConfigError(`Istio CRD ${name} is not installed: install Istio (the base chart) or use --target kind to provision one`);
      throw new InfraError(`reading CRD ${name}: ${messageOf(e).split('\n')[0]}`);
    }
  }

  // 4. istiod is up: found by its labels, as revisioned installs name it istiod-<rev> (§10).
  let istiod: V1Deployment | undefined;
  try {
    const selector = `app=istiod${o.revision ? `,istio.io/rev=${o.revision}` : ''}`;
    const found = (await retrying(() => kc.makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace: istioNs, labelSelector: selector }))).items;
    // Without --revision: the default revision (label absent or `default`), else the one called istiod.
    istiod = o.revision
      ? found[0]
      : (found.find((d) => ['default', undefined].includes(d.metadata?.labels?.['istio.io/rev'])) ?? found.find((d) => d.metadata?.name === 'istiod'));
    if (!istiod) {
      const others = found.map((d) => `${d.metadata?.name} (revision ${d.metadata?.labels?.['istio.io/rev'] ?? 'default'})`);
      throw new ConfigError(
        `no istiod${o.revision ? ` of revision ${o.revision}` : ''} in ${istioNs}${others.length ? `; found ${others.join(', ')}: pass --revision` : ': install Istio or pass --istio-namespace'}`,
      );
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new InfraError(`looking for istiod in ${istioNs}: ${describeApiError(e)}`);
  }
  const istiodName = istiod.metadata?.name ?? 'istiod';
  const revision = istiod.metadata?.labels?.['istio.io/rev'] ?? 'default';
  const image = istiod.spec?.template.spec?.containers[0]?.image ?? '?';
  const ready = `${istiod.status?.readyReplicas ?? 0}/${istiod.spec?.replicas ?? 1}`;
  if ((istiod.status?.readyReplicas ?? 0) < 1) {
    throw new InfraError(`${istiodName} in ${istioNs} has ${ready} replicas ready: sidecars cannot get certificates or configuration. Check \`kubectl -n ${istioNs} get pods\``);
  }

  // 5. The sidecar injector webhook.
  const hooks = await retrying(() => kc.makeApiClient(AdmissionregistrationV1Api).listMutatingWebhookConfiguration());
  const injectors = hooks.items.map((h) => h.metadata?.name ?? '').filter((n) => n.startsWith('istio-sidecar-injector') || n.startsWith('istio-revision-tag'));
  if (injectors.length === 0) {
    throw new ConfigError('no sidecar injection webhook (MutatingWebhookConfiguration istio-sidecar-injector*): is istiod\'s webhook installed? Without it no pod gets an istio-proxy');
  }

  // 5b. deploy/confine.yaml: without it, deploy/rbac.yaml's cluster-wide writes reach every namespace.
  const warnings: string[] = [];
  const confine = await confinePolicy(kc);
  if (!confine.installed) warnings.push(`${confine.why}: meshproof's write grants reach every namespace. Apply it: kubectl apply -f deploy/confine.yaml`);
  warnings.push(...confine.inert);

  // 6. The mesh config: the trust domain principals and expected SPIFFE IDs must use.
  let trustDomain = 'cluster.local';
  let rootNamespace = istioNs;
  let discoverySelectors: LabelSelector[] | undefined;
  try {
    const cm = await retrying(() => kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: meshCm, namespace: istioNs }));
    const mesh = parseYaml(cm.data?.mesh ?? '') as { trustDomain?: string; rootNamespace?: string; discoverySelectors?: LabelSelector[] } | null;
    if (mesh?.trustDomain) trustDomain = mesh.trustDomain;
    if (mesh?.rootNamespace) rootNamespace = mesh.rootNamespace;
    if (mesh?.discoverySelectors?.length) discoverySelectors = mesh.discoverySelectors;
  } catch (e) {
    if (status(e) !== 404) throw new InfraError(`reading the mesh config (ConfigMap ${istioNs}/${meshCm}): ${messageOf(e).split('\n')[0]}`);
  }

  return {
    server,
    trustDomain,
    kubernetes,
    istiod: { name: istiodName, revision, image, ready },
    ...(tag ? { tag } : {}),
    caAddress: istioLocation(istioNs, istiodName).caAddress,
    caServername: istioLocation(istioNs, istiodName).caServername,
    meshConfigName: meshCm,
    rootNamespace,
    ...(discoverySelectors ? { discoverySelectors } : {}),
    webhooks: injectors,
    permissions: required.reduce((n, p) => n + p.verbs.length * (p.names?.length ?? 1), 0),
    ...(confine.installed && confine.inert.length === 0 ? { confine: CONFINE_POLICY } : {}),
    warnings,
  };
}

/**
 * `request.userInfo.username == '<name>'`, the only matchCondition form meshproof reads (deploy/confine.yaml's):
 * the username it names, or undefined for any other expression.
 */
export function matchedUsername(expression: string): string | undefined {
  const m = /^\s*request\.userInfo\.username\s*==\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*$/.exec(expression);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** A selector that selects less than everything (an empty or absent one selects everything). */
function narrows(selector: { matchLabels?: object; matchExpressions?: unknown[] } | undefined): boolean {
  return Object.keys(selector?.matchLabels ?? {}).length > 0 || (selector?.matchExpressions?.length ?? 0) > 0;
}

/**
 * A binding's matchResources narrows the policy only when it says something: the API server defaults an empty
 * one (namespaceSelector {}, objectSelector {}, matchPolicy Equivalent: kubernetes pkg/apis/admissionregistration/
 * v1/defaults.go SetDefaults_MatchResources), which still matches every request the policy's constraints match.
 */
function narrowingMatchResources(mr: V1MatchResources | undefined): string | undefined {
  if (!mr) return undefined;
  const what = [
    (mr.resourceRules?.length ?? 0) > 0 && 'resourceRules',
    (mr.excludeResourceRules?.length ?? 0) > 0 && 'excludeResourceRules',
    narrows(mr.namespaceSelector) && 'namespaceSelector',
    narrows(mr.objectSelector) && 'objectSelector',
  ].filter(Boolean);
  return what.length > 0 ? what.join(', ') : undefined;
}

/**
 * Is the confine policy installed, and bound so that it denies (a binding with Warn or Audit only denies nothing)?
 * `inert`: one line each for what makes an installed policy confine nothing meshproof does (A-M3): a matchCondition
 * naming another identity than the one running (a SelfSubjectReview says who that is), failurePolicy Ignore (a
 * CEL error admits), a binding narrowed by matchResources, a policy narrowed by selectors. Matching follows
 * kubernetes staging/src/k8s.io/apiserver/pkg/admission/plugin/policy/generic/policy_matcher.go (`BindingMatches`,
 * `DefinitionMatches`) and matchconditions/matcher.go (every matchCondition must be true).
 */
async function confinePolicy(kc: KubeConfig): Promise<{ installed: boolean; why: string; inert: string[] }> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  let policy: V1ValidatingAdmissionPolicy | undefined;
  let bindings: V1ValidatingAdmissionPolicyBinding[];
  try {
    policy = (await retrying(() => api.listValidatingAdmissionPolicy())).items.find((p) => p.metadata?.name === CONFINE_POLICY);
    if (!policy) return { installed: false, why: `ValidatingAdmissionPolicy ${CONFINE_POLICY} (deploy/confine.yaml) is not installed`, inert: [] };
    bindings = (await retrying(() => api.listValidatingAdmissionPolicyBinding())).items.filter((b) => b.spec?.policyName === CONFINE_POLICY && b.spec?.validationActions?.includes('Deny'));
    if (bindings.length === 0) return { installed: false, why: `ValidatingAdmissionPolicy ${CONFINE_POLICY} has no binding with validationActions [Deny] (deploy/confine.yaml)`, inert: [] };
  } catch (e) {
    throw new InfraError(`listing ValidatingAdmissionPolicies: ${describeApiError(e)}`);
  }
  const inert: string[] = [];
  const name = `ValidatingAdmissionPolicy ${CONFINE_POLICY}`;
  // failurePolicy defaults to Fail in admissionregistration.k8s.io/v1 (defaults.go SetDefaults_ValidatingAdmissionPolicySpec).
  const failurePolicy = policy.spec?.failurePolicy ?? 'Fail';
  if (failurePolicy !== 'Fail') inert.push(`${name} has failurePolicy ${failurePolicy}: a request its expressions cannot evaluate is admitted; deploy/confine.yaml sets Fail`);
  const narrowed = bindings.map((b) => [b.metadata?.name, narrowingMatchResources(b.spec?.matchResources)] as const).filter(([, w]) => w);
  // One Deny binding without narrowing confines everything the policy matches.
  if (narrowed.length === bindings.length) inert.push(`${name} is bound only through matchResources that narrow it (${narrowed.map(([b, w]) => `binding ${b}: ${w}`).join('; ')}): meshproof's writes outside them are not confined; deploy/confine.yaml's binding has none`);
  const selectors = [narrows(policy.spec?.matchConstraints?.namespaceSelector) && 'namespaceSelector', narrows(policy.spec?.matchConstraints?.objectSelector) && 'objectSelector'].filter(Boolean);
  if (selectors.length > 0) inert.push(`${name} matchConstraints has a ${selectors.join(' and ')}: meshproof's writes outside it are not confined; deploy/confine.yaml has none`);
  const conditions = policy.spec?.matchConditions ?? [];
  if (conditions.length > 0) {
    let me: string | undefined;
    try {
      me = await whoAmI(kc);
    } catch (e) {
      inert.push(`cannot tell whether ${name} applies to this identity (SelfSubjectReview: ${messageOf(e).split('\n')[0]}): its matchConditions name ${conditions.map((c) => c.expression).join(' and ')}`);
    }
    if (me !== undefined) {
      for (const c of conditions) {
        const user = matchedUsername(c.expression);
        if (user === undefined) inert.push(`cannot tell whether ${name} applies to this identity (${me}): matchCondition ${c.name} is \`${c.expression}\`, not request.userInfo.username == '<name>'`);
        else if (user !== me) inert.push(`${name} applies only to ${user} (matchCondition ${c.name}), but this identity is ${me}: meshproof's writes are not confined. Change the username in deploy/confine.yaml's matchConditions to ${me}, or run as ${user}`);
      }
    }
  }
  return { installed: true, why: '', inert };
}

/**
 * The ports of a Service on the cluster (`--edge`), or undefined when it does not exist: one GET, under
 * deploy/rbac-edge.yaml's `get services` in its namespace (checked by preflight first).
 */
export async function edgeServicePorts(kc: KubeConfig, ref: { namespace: string; name: string }): Promise<number[] | undefined> {
  try {
    const svc = await retrying(() => kc.makeApiClient(CoreV1Api).readNamespacedService({ name: ref.name, namespace: ref.namespace }));
    return (svc.spec?.ports ?? []).map((p) => p.port);
  } catch (e) {
    if (status(e) === 404) return undefined;
    throw new InfraError(`reading Service ${ref.namespace}/${ref.name} (--edge): ${describeApiError(e)}`);
  }
}
