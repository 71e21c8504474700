// What an API failure says, for a person: the Status object's reason, message and causes (K8s API conventions,
// "Response Status Kind"), not client-node's `HTTP-Code: 422\nMessage: …\nBody: …` (istio-behaviours.md §10,
// K: src/gen/apis/exception.ts keeps the Status in `body`, sometimes as a JSON string).
import { messageOf } from '../../harness/errors.js';

export interface ApiStatus {
  code?: number;
  reason?: string;
  message?: string;
  causes: { reason?: string; message?: string; field?: string }[];
}

export function statusOf(e: unknown): ApiStatus | undefined {
  const x = e as { code?: number; body?: unknown };
  if (typeof x?.code !== 'number') return undefined;
  let body = x.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return { code: x.code, message: body as string, causes: [] };
    }
  }
  const s = (body ?? {}) as { reason?: string; message?: string; details?: { causes?: ApiStatus['causes'] } };
  return { code: x.code, reason: s.reason, message: s.message, causes: s.details?.causes ?? [] };
}

export function codeOf(e: unknown): number | undefined {
  return statusOf(e)?.code;
}

/** One line: `Conflict: … (conflict with "kubectl" using v1: .spec.replicas)`. */
export function describeApiError(e: unknown): string {
  const s = statusOf(e);
  if (!s) return messageOf(e).split('\n')[0]!;
  const causes = s.causes.map((c) => [c.field, c.message].filter(Boolean).join(': ')).filter(Boolean);
  const head = [s.reason, s.message].filter(Boolean).join(': ') || `HTTP ${s.code}`;
  return causes.length > 0 ? `${head} (${causes.join('; ')})` : head;
}

/** The other field managers an apply conflicted with (`conflict with "helm" using apps/v1: .spec.replicas`). */
export function conflictManagers(e: unknown): string[] {
  const s = statusOf(e);
  const out = new Set<string>();
  for (const c of s?.causes ?? []) {
    const m = /conflict with "([^"]+)"/.exec(c.message ?? '');
    if (m) out.add(m[1]!);
  }
  const m = /conflict with "([^"]+)"/.exec(s?.message ?? '');
  if (m) out.add(m[1]!);
  return [...out];
}
