// The declared intent of the access matrix (`meshproof sweep --matrix --intent <file|dir>`): the calls each workload
// says it needs, read from Otterize ClientIntents, the format from which Otterize's intents operator itself generates
// Istio AuthorizationPolicies. Pure: parsing and resolution against an estate; the only I/O is loadIntentFiles.
//
// Sources (github:otterize/intents-operator at df11253, read with `git show HEAD:<file>`):
// - src/operator/api/v2beta1/clientintents_types.go: IntentsSpec {workload {name, kind?}, targets[]}, Target
//   {kubernetes | service | kafka | sql | aws | gcp | azure | internet}, KubernetesTarget {name, kind?, http[]},
//   ServiceTarget {name, http[]}, HTTPTarget {path, methods}; GetTargetServerNamespace / GetTargetServerName (a name
//   `svc.ns` splits on `.`: the namespace defaults to the ClientIntents' own); IsTargetServerKubernetesService (a
//   `service` target, or kind `Service`); IsTargetInCluster (kubernetes, service, kafka: the rest is out of cluster).
// - src/operator/api/v1alpha3/clientintents_types.go: IntentsSpec {service {name, kind?}, calls[]}, Intent {name,
//   kind?, type?: http|kafka|database|aws|gcp|azure|internet, HTTPResources[] {path, methods}}; a `svc:` name prefix
//   or kind `Service` names a Kubernetes Service.
// - src/operator/controllers/istiopolicy/policy_manager.go generateAuthorizationPolicy and
//   intentsHTTPResourceToIstioOperations: ONE ALLOW rule per target, `from` the client's service account principal,
//   `to` one Operation per http entry {methods: the entry's methods as written, paths: [the entry's path]}, no ports
//   (every port of the server workload); a target without http gets a rule without `to` (the whole workload).
//   So a request is covered by a declared call exactly as Istio matches that generated rule: any entry whose methods
//   (none = any) and path (Istio's string/path match) both match; an http entry never covers a TCP connection (a
//   rule with HTTP fields is skipped on a TCP filter chain, harness/istio/authz.ts skippedOnTcp). `callsCover` below.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import type { DeclaredCall } from '../istio/grants.js';

// One copy of each: the shape of a declared call and whether it covers a request live with the grants they are held
// against (harness/istio/grants.ts).
export { callsCover, type DeclaredCall } from '../istio/grants.js';

/** The whole Service: a target without `http` (Otterize generates a rule without `to`). */
export const WHOLE_SERVICE: DeclaredCall[] = [{}];

/** One in-cluster target of one ClientIntents, as written (before resolution against the estate). */
export interface IntentTarget {
  name: string;
  namespace: string;
  /** The target names a Kubernetes Service (`service:`, kind `Service`, `svc:` prefix); else a workload. */
  service: boolean;
  /** kind as written (`Deployment`, `StatefulSet`…); absent: Otterize's legacy identity (the workload's name). */
  kind?: string;
  /** `[{}]` for the whole Service, else one call per http entry. */
  calls: DeclaredCall[];
}

/** A target meshproof does not judge (Kafka topics, databases, the internet, cloud IAM): listed, not an error. */
export interface IgnoredTarget {
  source: string;
  type: string;
  name: string;
}

/** One ClientIntents document. */
export interface IntentDoc {
  /** `file#document` (1-based), for every message about it. */
  source: string;
  apiVersion: 'k8s.otterize.com/v2beta1' | 'k8s.otterize.com/v1alpha3';
  namespace: string;
  name: string;
  workload: { name: string; kind?: string };
  targets: IntentTarget[];
  ignored: IgnoredTarget[];
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'CONNECT'] as const; // v2beta1 HTTPMethod
const HTTP_TYPES = ['kafka', 'database', 'aws', 'gcp', 'azure', 'internet'] as const;

const name = z.string().min(1);
const httpEntry = z.strictObject({ path: z.string().min(1).startsWith('/', 'a path starts with /'), methods: z.array(z.enum(METHODS)).optional() });
const metadata = z.object({ name, namespace: name });
const v2Target = z
  .object({
    kubernetes: z.strictObject({ name, kind: z.string().min(1).optional(), http: z.array(httpEntry).optional() }).optional(),
    service: z.strictObject({ name, http: z.array(httpEntry).optional() }).optional(),
    kafka: z.object({ name }).passthrough().optional(),
    sql: z.object({ name }).passthrough().optional(),
    aws: z.object({}).passthrough().optional(),
    gcp: z.object({}).passthrough().optional(),
    azure: z.object({}).passthrough().optional(),
    internet: z.object({}).passthrough().optional(),
  })
  .refine((t) => Object.values(t).filter((v) => v !== undefined).length === 1, 'exactly one of kubernetes, service, kafka, sql, aws, gcp, azure, internet');
const v2beta1 = z.object({
  apiVersion: z.literal('k8s.otterize.com/v2beta1'),
  kind: z.literal('ClientIntents'),
  metadata,
  spec: z.object({ workload: z.object({ name, kind: z.string().min(1).optional() }), targets: z.array(v2Target) }),
});
const v1Call = z.object({
  name,
  kind: z.string().min(1).optional(),
  type: z.enum(['http', ...HTTP_TYPES]).optional(),
  HTTPResources: z.array(httpEntry).optional(),
});
const v1alpha3 = z.object({
  apiVersion: z.literal('k8s.otterize.com/v1alpha3'),
  kind: z.literal('ClientIntents'),
  metadata,
  spec: z.object({ service: z.object({ name, kind: z.string().min(1).optional() }), calls: z.array(v1Call) }),
});

/** The first zod issue as `field: message` (one line). */
function firstIssue(e: z.ZodError): string {
  const i = e.issues[0]!;
  const field = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  return `${field || '(document)'}: ${i.message}`;
}

function callsOf(http: z.infer<typeof httpEntry>[] | undefined): DeclaredCall[] {
  if (!http || http.length === 0) return WHOLE_SERVICE;
  return http.map((h) => ({ path: h.path, ...(h.methods && h.methods.length > 0 ? { methods: [...h.methods] } : {}) }));
}

/** Otterize's `svc` / `svc.ns` (GetTargetServerName, GetTargetServerNamespace), with v1alpha3's `svc:` prefix removed. */
function splitName(written: string, ns: string): { name: string; namespace: string } {
  const parts = written.replace(/^svc:/, '').split('.');
  return { name: parts[0]!, namespace: parts.length > 1 && parts[1] ? parts[1] : ns };
}

function fromV2(d: z.infer<typeof v2beta1>, source: string): IntentDoc {
  const ns = d.metadata.namespace;
  const doc: IntentDoc = { source, apiVersion: d.apiVersion, namespace: ns, name: d.metadata.name, workload: d.spec.workload, targets: [], ignored: [] };
  for (const t of d.spec.targets) {
    if (t.kubernetes) {
      const k = t.kubernetes;
      doc.targets.push({ ...splitName(k.name, ns), service: k.kind === 'Service', ...(k.kind ? { kind: k.kind } : {}), calls: callsOf(k.http) });
    } else if (t.service) {
      doc.targets.push({ ...splitName(t.service.name, ns), service: true, kind: 'Service', calls: callsOf(t.service.http) });
    } else {
      const [type, v] = Object.entries(t).find(([, x]) => x !== undefined)!;
      const n = (v as { name?: string; arn?: string; resource?: string; scope?: string }) ?? {};
      doc.ignored.push({ source, type, name: n.name ?? n.arn ?? n.resource ?? n.scope ?? type });
    }
  }
  return doc;
}

function fromV1(d: z.infer<typeof v1alpha3>, source: string): IntentDoc {
  const ns = d.metadata.namespace;
  const doc: IntentDoc = { source, apiVersion: d.apiVersion, namespace: ns, name: d.metadata.name, workload: d.spec.service, targets: [], ignored: [] };
  for (const c of d.spec.calls) {
    if (c.type !== undefined && c.type !== 'http') {
      doc.ignored.push({ source, type: c.type, name: c.name });
      continue;
    }
    const service = c.name.startsWith('svc:') || c.kind === 'Service';
    doc.targets.push({ ...splitName(c.name, ns), service, ...(c.kind ? { kind: c.kind } : {}), calls: callsOf(c.HTTPResources) });
  }
  return doc;
}

/**
 * The ClientIntents in one YAML stream. Other kinds are refused (an intent file holds intents only, so a posture
 * file given by mistake is one line, not a silent empty intent). Every error: `<file>#<doc>: <field>: <why>`.
 */
export function parseIntents(text: string, file: string): IntentDoc[] {
  const out: IntentDoc[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: false });
  if (!Array.isArray(docs)) throw new ConfigError(`--intent ${file}: not a YAML stream`);
  docs.forEach((doc, i) => {
    const where = `--intent ${file}#${i + 1}`;
    if (doc.errors.length > 0) throw new ConfigError(`${where}: malformed YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    const v: unknown = doc.toJS();
    if (v === null || v === undefined) return;
    if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${where}: a ClientIntents must be a mapping`);
    const m = v as { apiVersion?: unknown; kind?: unknown };
    if (m.kind !== 'ClientIntents') throw new ConfigError(`${where}: kind: expected ClientIntents, got ${JSON.stringify(m.kind ?? null)}`);
    const schema = m.apiVersion === 'k8s.otterize.com/v2beta1' ? v2beta1 : m.apiVersion === 'k8s.otterize.com/v1alpha3' ? v1alpha3 : undefined;
    if (!schema) throw new ConfigError(`${where}: apiVersion: expected k8s.otterize.com/v2beta1 or k8s.otterize.com/v1alpha3, got ${JSON.stringify(m.apiVersion ?? null)}`);
    const r = schema.safeParse(v);
    if (!r.success) throw new ConfigError(`${where}: ${firstIssue(r.error)}`.replace(/\n/g, ' '));
    const source = `${file}#${i + 1}`;
    out.push(r.data.apiVersion === 'k8s.otterize.com/v2beta1' ? fromV2(r.data as z.infer<typeof v2beta1>, source) : fromV1(r.data as z.infer<typeof v1alpha3>, source));
  });
  return out;
}

/** A file, or every `.yaml`/`.yml` file of a directory (sorted, not recursive). */
export function loadIntentFiles(pathOrDir: string): IntentDoc[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(pathOrDir);
  } catch {
    throw new ConfigError(`--intent ${pathOrDir}: no such file or directory`);
  }
  const files = st.isDirectory()
    ? readdirSync(pathOrDir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => path.join(pathOrDir, f))
    : [pathOrDir];
  if (files.length === 0) throw new ConfigError(`--intent ${pathOrDir}: the directory has no .yaml files`);
  return files.flatMap((f) => parseIntents(readFileSync(f, 'utf8'), f));
}

/** What resolution needs of the estate (harness/sweep/estate.ts Estate fits it). */
export interface IntentScope {
  /** The namespaces in scope; absent: those of the pods and Services given. */
  namespaces?: { name: string }[];
  services: { namespace: string; name: string; selector: Record<string, string> }[];
  /** `workload`: the owning workload's name when the Target knows it; else the pod name's shape decides (podOfWorkload). */
  pods: { namespace: string; name: string; serviceAccount: string; labels: Record<string, string>; workload?: string; workloadKind?: string; role?: string }[];
}

/** An intent naming a workload or Service that does not exist in scope: reported, with a warning, never fatal. */
export interface UnresolvedRef {
  source: string;
  kind: 'workload' | 'target';
  /** `ns/name` as resolved from what was written. */
  ref: string;
  reason: string;
}

export interface ResolvedIntent {
  /** identity `ns/sa` → Service `ns/name` → the declared calls (`[{}]`: the whole Service). */
  declared: Map<string, Map<string, DeclaredCall[]>>;
  /** Namespaces holding any ClientIntents: an identity there with no declaration has declared nothing. */
  namespaces: string[];
  unresolved: UnresolvedRef[];
  ignored: IgnoredTarget[];
  /** Declared (identity, Service) pairs after resolution. */
  calls: number;
}

/**
 * Whether a pod belongs to the workload `name` (of `kind`, when the intent names one): its `workload` from its
 * ownerReferences when the Target knows it, as Otterize resolves pods (otterize/intents-operator
 * src/shared/serviceidresolver/podownerresolver/podownerresolver.go `GetOwnerObject`, walking the owners to the
 * root); else, only for a Target that cannot say, the pod name's shape, as the controllers name pods: a
 * Deployment's `<name>-<pod-template-hash>-<suffix>`, a StatefulSet's `<name>-<ordinal>`, the lab's `<name>-<i>`, a
 * bare Pod's own name (which misses names truncated to 58 characters and lets `cart` absorb `cart-worker-0`, M22-M3).
 */
export function podOfWorkload(pod: { name: string; workload?: string; workloadKind?: string }, name: string, kind?: string): boolean {
  if (pod.workload !== undefined) return pod.workload === name && (kind === undefined || pod.workloadKind === undefined || kind.toLowerCase() === pod.workloadKind.toLowerCase());
  if (pod.name === name) return true;
  if (!pod.name.startsWith(`${name}-`)) return false;
  return /^(?:[a-z0-9]{6,10}-)?[a-z0-9]{1,5}$/.test(pod.name.slice(name.length + 1));
}

const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

function mergeCalls(into: DeclaredCall[] | undefined, calls: DeclaredCall[]): DeclaredCall[] {
  if (!into) return calls;
  // Any whole-Service declaration covers everything; otherwise the union of the entries.
  if (into.some((c) => c.path === undefined && !c.methods?.length) || calls.some((c) => c.path === undefined && !c.methods?.length)) return WHOLE_SERVICE;
  return [...into, ...calls];
}

/**
 * Resolves every ClientIntents against the estate: the workload to its pods' service accounts (the identity Otterize's
 * generated policy names, `cluster.local/ns/<ns>/sa/<sa>`), each target to the Services it stands for (a Service by
 * name; a workload target: every Service selecting its pods). References into namespaces outside the scope are
 * skipped silently (another team's scope); references to nothing inside it are `unresolved`.
 */
export function resolveIntent(docs: IntentDoc[], scope: IntentScope): ResolvedIntent {
  const inScope = new Set((scope.namespaces ?? [...scope.pods, ...scope.services].map((x) => ({ name: x.namespace }))).map((n) => n.name));
  const declared = new Map<string, Map<string, DeclaredCall[]>>();
  const unresolved: UnresolvedRef[] = [];
  const pods = scope.pods.filter((p) => p.role !== 'attacker');
  for (const d of docs) {
    if (!inScope.has(d.namespace)) continue;
    const clientPods = pods.filter((p) => p.namespace === d.namespace && podOfWorkload(p, d.workload.name, d.workload.kind));
    const identities = [...new Set(clientPods.map((p) => `${p.namespace}/${p.serviceAccount}`))].sort();
    if (identities.length === 0) {
      unresolved.push({ source: d.source, kind: 'workload', ref: `${d.namespace}/${d.workload.name}`, reason: 'no running pod of that workload in scope' });
      continue;
    }
    for (const t of d.targets) {
      if (!inScope.has(t.namespace)) continue;
      const services = targetServices(t, scope, pods);
      if (services.length === 0) {
        unresolved.push({ source: d.source, kind: 'target', ref: `${t.namespace}/${t.name}`, reason: t.service ? 'no such Service in scope' : 'no Service selects a pod of that workload' });
        continue;
      }
      for (const id of identities) {
        const m = declared.get(id) ?? new Map<string, DeclaredCall[]>();
        declared.set(id, m);
        for (const s of services) m.set(s, mergeCalls(m.get(s), t.calls));
      }
    }
  }
  const calls = [...declared.values()].reduce((n, m) => n + m.size, 0);
  return { declared, namespaces: [...new Set(docs.map((d) => d.namespace).filter((n) => inScope.has(n)))].sort(), unresolved, ignored: docs.flatMap((d) => d.ignored), calls };
}

function targetServices(t: IntentTarget, scope: IntentScope, pods: IntentScope['pods']): string[] {
  if (t.service) return scope.services.some((s) => s.namespace === t.namespace && s.name === t.name) ? [`${t.namespace}/${t.name}`] : [];
  const backends = pods.filter((p) => p.namespace === t.namespace && podOfWorkload(p, t.name, t.kind));
  return scope.services
    .filter((s) => s.namespace === t.namespace && backends.some((p) => selects(s.selector, p.labels)))
    .map((s) => `${s.namespace}/${s.name}`)
    .sort();
}

/**
 * The calls one identity declares to one Service: `undefined` when the identity's namespace has no ClientIntents
 * (no intent known: `no-intent`), `[]` when it declares nothing to that Service, else the calls (`[{}]` whole).
 */
export function declaredFor(r: ResolvedIntent, identity: string, service: string): DeclaredCall[] | undefined {
  const ns = identity.split('/')[0]!;
  if (!r.namespaces.includes(ns)) return undefined;
  return r.declared.get(identity)?.get(service) ?? [];
}

/** One warning line per unresolved reference (the CLI writes them to stderr; they never change the exit code). */
export function intentWarnings(r: ResolvedIntent): string[] {
  return r.unresolved.map((u) => `meshproof: --intent ${u.source}: ${u.kind} ${u.ref}: ${u.reason} (ignored)`);
}
