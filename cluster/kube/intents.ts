// `sweep --matrix --intent cluster`: the Otterize ClientIntents already in the cluster, read-only, in the namespaces
// swept (the access matrix's declared calls; harness/matrix/intent.ts reads them as it reads a file). Listed with
// the CustomObjectsApi in the newest version the CRD serves of the two meshproof reads (`v2beta1`, else the older
// `v1alpha3`); an API server answers 404 to a list of a resource no installed CRD serves, so a CRD that is not
// installed is one line and exit 2, before any attack.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { ConfigError, InfraError } from '../../harness/errors.js';
import { describeApiError, statusOf } from './api-errors.js';
import { LIST_PAGE, listAll, type Page } from './discover.js';
import { retrying } from './retry.js';

/** Otterize's ClientIntents CRD (`clientintents.k8s.otterize.com`), the versions meshproof reads, newest first. */
export const CLIENT_INTENTS = { group: 'k8s.otterize.com', plural: 'clientintents', versions: ['v2beta1', 'v1alpha3'] } as const;

/** A ClientIntents object as listed (apiVersion tells which of the two shapes it is). */
export type ClientIntentsObject = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string }; spec?: unknown };

/**
 * Every ClientIntents of `namespaces`. The version is found on the first namespace (404 on v2beta1: try v1alpha3;
 * 404 on both: the CRD is not installed). A 403 names the grant missing (deploy/rbac-matrix.yaml's
 * meshproof-matrix-intents, bound per namespace). Objects are returned as the API server serves them.
 */
export async function listClientIntents(kc: KubeConfig, namespaces: string[], onCall?: (what: string) => void): Promise<ClientIntentsObject[]> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const { group, plural } = CLIENT_INTENTS;
  const list = (version: string, namespace: string) => {
    onCall?.(`list ${plural}.${group}/${version} in ${namespace}`);
    return listAll((cont) => retrying(() => api.listNamespacedCustomObject({ group, version, namespace, plural, limit: LIST_PAGE, _continue: cont }) as Promise<Page<ClientIntentsObject>>));
  };
  const refused = (e: unknown, namespace: string): never => {
    const s = statusOf(e);
    if (s?.code === 403) throw new ConfigError(`--intent cluster: missing permission: list ${group}/${plural} in ${namespace}. Apply deploy/rbac-matrix.yaml and bind ClusterRole meshproof-matrix-intents to this identity in each namespace swept`);
    throw new InfraError(`--intent cluster: listing ClientIntents in ${namespace}: ${describeApiError(e)}`);
  };
  let version: string | undefined;
  const out: ClientIntentsObject[] = [];
  for (const namespace of namespaces) {
    if (version) {
      out.push(...(await list(version, namespace).catch((e: unknown) => refused(e, namespace))));
      continue;
    }
    for (const v of CLIENT_INTENTS.versions) {
      try {
        out.push(...(await list(v, namespace)));
        version = v;
        break;
      } catch (e) {
        if (statusOf(e)?.code !== 404) refused(e, namespace);
      }
    }
    if (!version) throw new ConfigError(`--intent cluster: the ClientIntents CRD is not installed (${plural}.${group} serves neither ${CLIENT_INTENTS.versions.join(' nor ')}); pass --intent <file or dir> instead`);
  }
  return out;
}
