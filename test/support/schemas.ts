// The real schemas (test support): `kubernetes-models` (generated from Kubernetes' OpenAPI) and
// `@kubernetes-models/istio` (from Istio 1.29's CRDs). Validates a manifest as the API server's schema would,
// giving the failures as causes (path and message), as a 422 Status would carry them.

type ModelClass = new (data: unknown) => { validate(): void };

const cache = new Map<string, ModelClass | undefined>();

function moduleFor(apiVersion: string): string {
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  if (group.endsWith('.istio.io')) return `@kubernetes-models/istio/${group}/${version}`;
  return group === '' ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`;
}

/** Loads the model class for apiVersion/kind; undefined when neither package knows it. */
export async function modelFor(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  const key = `${apiVersion}/${kind}`;
  if (!cache.has(key)) {
    try {
      const mod = (await import(moduleFor(apiVersion))) as Record<string, ModelClass>;
      cache.set(key, mod[kind]);
    } catch {
      cache.set(key, undefined);
    }
  }
  return cache.get(key);
}

export interface SchemaCause {
  field: string;
  message: string;
}

/** Synchronous validation with an already loaded class. */
export function validateWith(model: ModelClass, manifest: unknown): SchemaCause[] {
  try {
    new model(manifest).validate();
    return [];
  } catch (e) {
    const errors = (e as { errors?: { instancePath?: string; message?: string }[] }).errors;
    if (errors?.length) return errors.map((x) => ({ field: (x.instancePath ?? '').replace(/^\/?/, '').replace(/\//g, '.'), message: x.message ?? 'invalid' }));
    return [{ field: '', message: (e as Error).message }];
  }
}

export async function validateManifest(manifest: { apiVersion: string; kind: string }): Promise<SchemaCause[] | 'unknown-kind'> {
  const model = await modelFor(manifest.apiVersion, manifest.kind);
  return model ? validateWith(model, manifest) : 'unknown-kind';
}
