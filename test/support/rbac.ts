// kube-apiserver's RBAC authorizer, as much of it as the façade needs (test support): request attributes from
// the REST path (K8s API conventions: verbs get/list/watch/create/patch/update/delete, subresources,
// resourceNames), rules from the bindings of deploy/rbac*.yaml and of the RBAC objects in the cluster, the
// escalation check on binding writes, and a record of which grant each allowed request used, so a test can prove
// that no grant goes unused.
//
// Scope, as the real authorizer resolves it (kubernetes pkg/registry/rbac/validation/rule.go
// `DefaultRuleResolver.VisitRulesFor`): every ClusterRoleBinding of the subject applies to every request; the
// RoleBindings of a namespace (to a Role there or to a ClusterRole) are visited only when the request has that
// namespace (`if len(namespace) > 0 { ListRoleBindings(namespace) … }`). So a request without a namespace — a
// cluster-scoped resource (nodes, namespaces) or a SelfSubjectAccessReview without `namespace`, which means "in
// all namespaces" — is allowed only through ClusterRoleBindings.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
  /** Set when the rule comes through a RoleBinding: it holds only for requests in that namespace. */
  namespace?: string;
  /** A built-in grant of the API server (bootstrap policy), not one of deploy/. */
  builtIn?: string;
}

export interface Attributes {
  verb: string;
  group: string;
  /** With the subresource: `pods/exec`. */
  resource: string;
  namespace?: string;
  name?: string;
}

/** An RBAC object as applied (ClusterRole, Role, ClusterRoleBinding, RoleBinding). */
export interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { apiGroup?: string; kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/** A service account, as a binding's subject names it. */
export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

export const MESHPROOF_SA: ServiceAccountRef = { namespace: 'meshproof', name: 'meshproof' };

/**
 * What every authenticated user holds through the bootstrap policy (kubernetes
 * plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go): `system:basic-user` (create selfsubjectaccessreviews,
 * selfsubjectrulesreviews and, from 1.28, authentication.k8s.io selfsubjectreviews), bound to group system:authenticated. The non-resource URLs of `system:discovery`
 * and `system:public-info-viewer` (/api, /apis, /version, /openapi) are not resource requests here (attributesOf
 * answers undefined), so they are always allowed, as for any authenticated user.
 */
export const BUILT_IN: Rule[] = [
  { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'], builtIn: 'system:basic-user' },
  { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'], builtIn: 'system:basic-user' },
];

function readObjects(file: string): RbacObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as RbacObject).filter((d) => d?.kind);
}

/** Does a binding's subject list name this service account (`appliesToUser`: a subject without namespace is the binding's)? */
function names(b: RbacObject, sa: ServiceAccountRef): boolean {
  return (b.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === sa.name && (s.namespace ?? b.metadata.namespace) === sa.namespace);
}

/**
 * The rules a service account holds from a set of RBAC objects (VisitRulesFor, GetRoleReferenceRules): a
 * ClusterRoleBinding's ClusterRole everywhere; a RoleBinding's Role (in its namespace) or ClusterRole only in the
 * RoleBinding's namespace. A binding to a role that does not exist grants nothing.
 */
export function rulesFor(objects: RbacObject[], sa: ServiceAccountRef, clusterRoles: Map<string, Rule[]> = new Map()): Rule[] {
  const roles = new Map(clusterRoles);
  for (const o of objects) if (o.kind === 'ClusterRole') roles.set(o.metadata.name, o.rules ?? []);
  const roleIn = (ns: string, name: string) => objects.find((o) => o.kind === 'Role' && o.metadata.namespace === ns && o.metadata.name === name)?.rules;
  const out: Rule[] = [];
  for (const b of objects) {
    if (!names(b, sa) || !b.roleRef) continue;
    if (b.kind === 'ClusterRoleBinding' && b.roleRef.kind === 'ClusterRole') out.push(...(roles.get(b.roleRef.name) ?? []).map(({ namespace: _n, ...r }) => r));
    if (b.kind === 'RoleBinding' && b.metadata.namespace) {
      const rules = b.roleRef.kind === 'Role' ? roleIn(b.metadata.namespace, b.roleRef.name) : roles.get(b.roleRef.name);
      out.push(...(rules ?? []).map((r) => ({ ...r, namespace: b.metadata.namespace })));
    }
  }
  return out;
}

/**
 * The rules meshproof's service account gets from a deploy/ file, as bound there (ClusterRoleBindings: everywhere;
 * RoleBindings: in their namespace). `rolebindingsIn`: each RoleBinding of the file copied into these namespaces
 * too, as a cluster admin binds deploy/rbac-sweep.yaml in each namespace swept.
 */
export function loadRoles(file: string, o: { rolebindingsIn?: string[]; sa?: ServiceAccountRef } = {}): Rule[] {
  let objects = readObjects(file);
  if (o.rolebindingsIn) {
    const more = o.rolebindingsIn;
    objects = objects.flatMap((b) => (b.kind === 'RoleBinding' ? [b, ...more.filter((ns) => ns !== b.metadata.namespace).map((ns) => ({ ...b, metadata: { ...b.metadata, namespace: ns } }))] : [b]));
  }
  return rulesFor(objects, o.sa ?? MESHPROOF_SA);
}

/** The ClusterRoles a set of deploy/ files installs in a cluster, by name (bound to anyone or not). */
export function clusterRolesOf(files: string[]): Map<string, Rule[]> {
  return new Map(files.flatMap(readObjects).filter((o) => o.kind === 'ClusterRole').map((o) => [o.metadata.name, o.rules ?? []]));
}

/** Every grant a role makes, one per (group, resource, verb, names, namespace): what "every rule used" counts. */
export function grantsOf(rules: Rule[]): string[] {
  return rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => grantKey(g, res, v, r)))));
}

function grantKey(group: string, resource: string, verb: string, r: Rule): string {
  const names = r.resourceNames;
  return `${verb} ${group || 'core'}/${resource}${names ? ` [${[...names].sort().join(',')}]` : ''}${r.namespace ? ` in ${r.namespace}` : ''}${r.builtIn ? ` (${r.builtIn})` : ''}`;
}

/**
 * The grant that allows the request, or undefined. RBAC (rbac.go `RuleAllows`): a rule with resourceNames never
 * matches a nameless request; a RoleBinding's rule only a request in its namespace (VisitRulesFor).
 */
export function authorize(rules: Rule[], a: Attributes): string | undefined {
  for (const r of rules) {
    const group = r.apiGroups.find((g) => g === '*' || g === a.group);
    const resource = r.resources.find((x) => x === '*' || x === a.resource);
    const verb = r.verbs.find((v) => v === '*' || v === a.verb);
    if (group === undefined || !resource || !verb) continue;
    if (r.resourceNames && (!a.name || !r.resourceNames.includes(a.name))) continue;
    if (r.namespace !== undefined && (!a.namespace || r.namespace !== a.namespace)) continue;
    return grantKey(group, resource, verb, r);
  }
  return undefined;
}

/**
 * The rules of a role a binding grants that `holder` does not hold in the binding's namespace (kubernetes
 * pkg/registry/rbac/validation `ConfirmNoEscalation`): each (group, resource, verb, name) of the role must be
 * allowed to the holder. Wildcards in the role are never covered here (stricter than the real `Covers`).
 */
export function notHeld(holder: Rule[], role: Rule[], namespace: string): Rule[] {
  return role.filter((r) =>
    r.apiGroups.some((g) =>
      r.resources.some((res) =>
        r.verbs.some((verb) => (r.resourceNames ?? [undefined]).some((name) => g === '*' || res === '*' || verb === '*' || !authorize(holder, { verb, group: g, resource: res, namespace, name }))),
      ),
    ),
  );
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
