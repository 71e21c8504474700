// kube-apiserver's RBAC authorizer, as much of it as the façade needs (test support): request attributes from
// the REST path (K8s API conventions: verbs get/list/watch/create/patch/update/delete, subresources,
// resourceNames), rules from a ClusterRole (deploy/rbac.yaml, bound cluster-wide), and a record of which grant
// each allowed request used, so a test can prove that no grant goes unused.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
  /** Set for a Role's rules: they hold only in its namespace (RoleBinding scope). */
  namespace?: string;
}

export interface Attributes {
  verb: string;
  group: string;
  /** With the subresource: `pods/exec`. */
  resource: string;
  namespace?: string;
  name?: string;
}

/** The ClusterRole's rules (cluster-wide) and every Role's (scoped to its namespace), as bound in the file. */
export function loadClusterRole(file: string): Rule[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as { kind: string; metadata?: { namespace?: string }; rules?: Rule[] });
  const role = docs.find((d) => d.kind === 'ClusterRole');
  if (!role?.rules) throw new Error(`${file}: no ClusterRole with rules`);
  const roles = docs.filter((d) => d.kind === 'Role').flatMap((d) => (d.rules ?? []).map((r) => ({ ...r, namespace: d.metadata?.namespace })));
  return [...role.rules, ...roles];
}

/** Every grant a role makes, one per (group, resource, verb, names): what "every rule used" counts. */
export function grantsOf(rules: Rule[]): string[] {
  return rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => grantKey(g, res, v, r.resourceNames, r.namespace)))));
}

function grantKey(group: string, resource: string, verb: string, names?: string[], namespace?: string): string {
  return `${verb} ${group || 'core'}/${resource}${names ? ` [${[...names].sort().join(',')}]` : ''}${namespace ? ` in ${namespace}` : ''}`;
}

/** The grant that allows the request, or undefined (RBAC: a rule with resourceNames never matches a nameless request). */
export function authorize(rules: Rule[], a: Attributes): string | undefined {
  for (const r of rules) {
    const group = r.apiGroups.find((g) => g === '*' || g === a.group);
    const resource = r.resources.find((x) => x === '*' || x === a.resource);
    const verb = r.verbs.find((v) => v === '*' || v === a.verb);
    if (group === undefined || !resource || !verb) continue;
    if (r.resourceNames && (!a.name || !r.resourceNames.includes(a.name))) continue;
    if (r.namespace && r.namespace !== a.namespace) continue;
    return grantKey(group, resource, verb, r.resourceNames, r.namespace);
  }
  return undefined;
}

/**
 * The attributes of a REST request (kube-apiserver's RequestInfoFactory), or undefined for non-resource paths
 * (discovery, /version), which every authenticated user may read.
 */
export function attributesOf(method: string, pathname: string, query: URLSearchParams): Omit<Attributes, 'verb'> & { verb: string } | undefined {
  const parts = pathname.split('/').filter(Boolean);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts[1] === 'v1') {
    group = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    group = parts[1]!;
    rest = parts.slice(3);
  } else return undefined;
  if (rest.length === 0) return undefined; // discovery
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, sub] = rest as [string, string | undefined, string | undefined];
  const collection = name === undefined;
  const verb =
    method === 'GET' ? (query.get('watch') === 'true' ? 'watch' : collection ? 'list' : 'get') : method === 'POST' ? 'create' : method === 'PATCH' ? 'patch' : method === 'PUT' ? 'update' : method === 'DELETE' ? (collection ? 'deletecollection' : 'delete') : method.toLowerCase();
  return { verb, group, resource: sub ? `${resource}/${sub}` : resource, namespace, name };
}

export function forbiddenMessage(a: Attributes, user: string): string {
  const what = a.name ? `${a.resource.split('/')[0]} "${a.name}"` : a.resource;
  return `${what} is forbidden: User "${user}" cannot ${a.verb} resource "${a.resource}" in API group "${a.group}"${a.namespace ? ` in the namespace "${a.namespace}"` : ' at the cluster scope'}`;
}
