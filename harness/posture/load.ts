// Loads a posture (a directory or file of Kubernetes manifests) and applies overlays. The SAME manifests are
// applied to a real cluster and interpreted by the lab (ARCHITECTURE.md), so this layer only parses and merges;
// what each target supports is decided by the target.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigError, messageOf } from '../errors.js';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface PostureObject {
  manifest: Manifest;
  /** Where it came from, for error messages and evidence: `fixtures/secure/mesh.yaml#3`. */
  source: string;
}

export interface Posture {
  /** Human description: the posture path and overlays in order. */
  origin: string[];
  objects: PostureObject[];
}

/** `security.istio.io/v1` → `security.istio.io`; core `v1` → ``. Overlays key on the group, not the version. */
export function apiGroup(apiVersion: string): string {
  const i = apiVersion.lastIndexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

export function objectKey(m: Manifest): string {
  return `${apiGroup(m.apiVersion)}/${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`;
}

export function describeObject(m: Manifest): string {
  return `${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ''}${m.metadata.name}`;
}

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

function yamlFiles(p: string): string[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(p);
  } catch {
    throw new ConfigError(`posture ${p}: no such file or directory`);
  }
  if (!st.isDirectory()) return [p];
  const files = readdirSync(p)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(p, f));
  if (files.length === 0) throw new ConfigError(`posture ${p}: the directory has no .yaml files`);
  return files;
}

export function parseManifests(text: string, file: string): PostureObject[] {
  const out: PostureObject[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: false });
  if (!Array.isArray(docs)) throw new ConfigError(`${file}: not a YAML stream`);
  docs.forEach((doc, i) => {
    const where = `${file}#${i + 1}`;
    if (doc.errors.length > 0) throw new ConfigError(`${where}: malformed YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    const v: unknown = doc.toJS();
    if (v === null || v === undefined) return; // an empty document between separators
    if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${where}: a manifest must be a mapping`);
    const m = v as Partial<Manifest>;
    if (typeof m.apiVersion !== 'string' || m.apiVersion === '') throw new ConfigError(`${where}: missing apiVersion`);
    if (typeof m.kind !== 'string' || m.kind === '') throw new ConfigError(`${where}: missing kind`);
    if (typeof m.metadata !== 'object' || m.metadata === null || typeof m.metadata.name !== 'string') {
      throw new ConfigError(`${where}: ${m.kind} has no metadata.name`);
    }
    if (!CLUSTER_SCOPED.has(m.kind) && typeof m.metadata.namespace !== 'string') {
      throw new ConfigError(`${where}: ${m.kind} ${m.metadata.name} has no metadata.namespace (fixtures name it explicitly)`);
    }
    if (m.kind === 'Secret' && ('data' in m || 'stringData' in m)) {
      // Postures are snapshotted into the evidence bundle: a key in one would be written out (and committed).
      throw new ConfigError(`${where}: Secret ${m.metadata.name} carries data: a posture never holds a private key; annotate it \`meshproof.dev/generate: tls\` and the Target generates the certificate`);
    }
    out.push({ manifest: m as Manifest, source: where });
  });
  return out;
}

function loadFiles(p: string): PostureObject[] {
  return yamlFiles(p).flatMap((f) => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      throw new ConfigError(`${f}: cannot read: ${messageOf(e)}`);
    }
    // A file that holds no manifest is a mistake (a wrong path, a template not rendered), never an empty posture.
    const line = text.split('\n').findIndex((l) => /\{\{.*\}\}/.test(l));
    if (line >= 0) throw new ConfigError(`${f}:${line + 1}: an unrendered template ({{ … }}): render it first (helm template, kustomize build)`);
    const objects = parseManifests(text, f);
    if (objects.length === 0) throw new ConfigError(`${f}: holds no manifest (empty, or only comments)`);
    return objects;
  });
}

/** An overlay object with this annotation set to `delete` removes the posture's object instead of replacing it. */
export const OVERLAY_ANNOTATION = 'meshproof.dev/overlay';

/**
 * Replaces objects of the same group/kind/namespace/name, appends the rest, keeping the posture's order; an
 * object annotated `meshproof.dev/overlay: delete` removes its match (and must have one).
 */
export function overlay(base: PostureObject[], extra: PostureObject[]): PostureObject[] {
  const out = [...base];
  for (const o of extra) {
    const k = objectKey(o.manifest);
    const i = out.findIndex((b) => objectKey(b.manifest) === k);
    const marker = o.manifest.metadata.annotations?.[OVERLAY_ANNOTATION];
    if (marker === 'delete') {
      if (i < 0) throw new ConfigError(`${o.source}: ${describeObject(o.manifest)} is marked for deletion but the posture has no such object`);
      out.splice(i, 1);
    } else if (marker !== undefined) {
      throw new ConfigError(`${o.source}: ${OVERLAY_ANNOTATION} must be "delete", got ${JSON.stringify(marker)}`);
    } else if (i >= 0) out[i] = o;
    else out.push(o);
  }
  return out;
}

export function loadPosture(posturePath: string, overlays: string[] = []): Posture {
  let objects = loadFiles(posturePath);
  const seen = new Map<string, string>();
  for (const o of objects) {
    const k = objectKey(o.manifest);
    const prev = seen.get(k);
    if (prev) throw new ConfigError(`${o.source}: ${describeObject(o.manifest)} is already defined at ${prev}`);
    seen.set(k, o.source);
  }
  for (const ov of overlays) objects = overlay(objects, loadFiles(ov));
  return { origin: [posturePath, ...overlays], objects };
}
