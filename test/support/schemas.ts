// The real schemas (test support): `kubernetes-models` (generated from Kubernetes' OpenAPI) and
// `@kubernetes-models/istio` (from Istio 1.29's CRDs). Validates a manifest as the API server's schema would,
// giving the failures as causes (path and message), as a 422 Status would carry them.

import { z } from 'zod';

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
  if (key === 'wgpolicyk8s.io/v1alpha2/PolicyReport') return PolicyReportModel;
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

/**
 * PolicyReport (wgpolicyk8s.io/v1alpha2), which neither models package has: the CRD's schema as the Policy WG
 * publishes it (kubernetes-sigs/wg-policy-prototypes), for the fields a report uses. Strict: a field the CRD does
 * not have is refused, as a structural schema would prune or reject it.
 */
const policyResult = z.strictObject({
  source: z.string().optional(),
  policy: z.string(),
  rule: z.string().optional(),
  category: z.string().optional(),
  severity: z.enum(['critical', 'high', 'low', 'medium', 'info']).optional(),
  timestamp: z.strictObject({ seconds: z.number().int(), nanos: z.number().int() }).optional(),
  result: z.enum(['pass', 'fail', 'warn', 'error', 'skip']),
  scored: z.boolean().optional(),
  message: z.string().optional(),
  properties: z.record(z.string(), z.string()).optional(),
});
export const policyReportSchema = z.strictObject({
  apiVersion: z.literal('wgpolicyk8s.io/v1alpha2'),
  kind: z.literal('PolicyReport'),
  metadata: z.object({ name: z.string(), namespace: z.string().optional(), labels: z.record(z.string(), z.string()).optional() }).passthrough(),
  summary: z.strictObject({ pass: z.number().int(), fail: z.number().int(), warn: z.number().int(), error: z.number().int(), skip: z.number().int() }).partial().optional(),
  results: z.array(policyResult).optional(),
});

class PolicyReportModel {
  constructor(private readonly data: unknown) {}
  validate(): void {
    const r = policyReportSchema.safeParse(this.data);
    if (!r.success) throw Object.assign(new Error('invalid PolicyReport'), { errors: r.error.issues.map((i) => ({ instancePath: `/${i.path.join('/')}`, message: i.message })) });
  }
}
