// Preflight: everything a cluster run needs, checked before anything is created. Each failure is one line
// saying what is wrong and what to do: a ConfigError (exit 2) when the user can fix it by configuration, an
// InfraError (exit 3) when the cluster is not in a state to test.
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  type KubeConfig,
  VersionApi,
} from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { ConfigError, InfraError, messageOf } from '../../harness/errors.js';
import { ISTIO_CRDS, REQUIRED } from './permissions.js';
import { retrying } from './retry.js';

export { ISTIO_CRDS };

export interface PreflightReport {
  server: string;
  /** From the mesh config (ConfigMap `istio`, key `mesh`); `cluster.local` when unset. */
  trustDomain: string;
  kubernetes: string;
  istiod: { image: string; ready: string };
  webhooks: string[];
  permissions: number;
}

function status(e: unknown): number | undefined {
  return (e as { code?: number }).code;
}

export async function preflight(kc: KubeConfig, o: { istioNamespace?: string } = {}): Promise<PreflightReport> {
  const server = kc.getCurrentCluster()?.server ?? '?';
  const istioNs = o.istioNamespace ?? 'istio-system';

  // 1. The API answers at all.
  let kubernetes: string;
  try {
    kubernetes = (await kc.makeApiClient(VersionApi).getCode()).gitVersion;
  } catch (e) {
    throw new InfraError(`cannot reach the Kubernetes API at ${server}: ${messageOf(e).split('\n')[0]}. Is the cluster running and the kubeconfig current?`);
  }

  // 2. Every permission the run needs (deploy/rbac.yaml grants exactly these).
  const authz = kc.makeApiClient(AuthorizationV1Api);
  const missing: string[] = [];
  for (const p of REQUIRED) {
    for (const verb of p.verbs) {
      for (const name of p.names ?? [undefined]) {
        const r = await retrying(() => authz.createSelfSubjectAccessReview({
          body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { group: p.group, resource: p.resource, subresource: p.subresource, verb, name } } },
        }));
        if (!r.status?.allowed) missing.push(`${verb} ${p.group || 'core'}/${p.resource}${p.subresource ? `/${p.subresource}` : ''}${name ? ` ${name}` : ''}`);
      }
    }
  }
  if (missing.length > 0) {
    throw new ConfigError(`missing permissions: ${missing.join(', ')}. Apply deploy/rbac.yaml and bind it to this identity, or use one that has them`);
  }

  // 3. Istio's CRDs.
  const crds = kc.makeApiClient(ApiextensionsV1Api);
  for (const name of ISTIO_CRDS) {
    try {
      await retrying(() => crds.readCustomResourceDefinition({ name }));
    } catch (e) {
      if (status(e) === 404) throw new ConfigError(`Istio CRD ${name} is not installed: install Istio (the base chart) or use --target kind to provision one`);
      throw new InfraError(`reading CRD ${name}: ${messageOf(e).split('\n')[0]}`);
    }
  }

  // 4. istiod is up.
  let image = '?';
  let ready = '0/0';
  try {
    const d = await retrying(() => kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'istiod', namespace: istioNs }));
    image = d.spec?.template.spec?.containers[0]?.image ?? '?';
    const want = d.spec?.replicas ?? 1;
    const have = d.status?.readyReplicas ?? 0;
    ready = `${have}/${want}`;
    if (have < 1) throw new InfraError(`istiod in ${istioNs} has ${ready} replicas ready: sidecars cannot get certificates or configuration. Check \`kubectl -n ${istioNs} get pods\``);
  } catch (e) {
    if (e instanceof InfraError) throw e;
    if (status(e) === 404) throw new ConfigError(`no istiod Deployment in ${istioNs}: install Istio or pass the namespace it runs in`);
    throw new InfraError(`reading istiod: ${messageOf(e).split('\n')[0]}`);
  }

  // 5. The sidecar injector webhook.
  const hooks = await retrying(() => kc.makeApiClient(AdmissionregistrationV1Api).listMutatingWebhookConfiguration());
  const injectors = hooks.items.map((h) => h.metadata?.name ?? '').filter((n) => n.startsWith('istio-sidecar-injector') || n.startsWith('istio-revision-tag'));
  if (injectors.length === 0) {
    throw new ConfigError('no sidecar injection webhook (MutatingWebhookConfiguration istio-sidecar-injector*): is istiod\'s webhook installed? Without it no pod gets an istio-proxy');
  }

  // 6. The mesh config: the trust domain principals and expected SPIFFE IDs must use.
  let trustDomain = 'cluster.local';
  try {
    const cm = await retrying(() => kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'istio', namespace: istioNs }));
    const mesh = parseYaml(cm.data?.mesh ?? '') as { trustDomain?: string } | null;
    if (mesh?.trustDomain) trustDomain = mesh.trustDomain;
  } catch (e) {
    if (status(e) !== 404) throw new InfraError(`reading the mesh config (ConfigMap ${istioNs}/istio): ${messageOf(e).split('\n')[0]}`);
  }

  return { server, trustDomain, kubernetes, istiod: { image, ready }, webhooks: injectors, permissions: REQUIRED.reduce((n, p) => n + p.verbs.length * (p.names?.length ?? 1), 0) };
}
