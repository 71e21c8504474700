// Transient API failures must not fail a night (K8s API conventions: 429 Too Many Requests with Retry-After under
// API Priority and Fairness; 5xx while an API server restarts; connections reset). Reads and idempotent writes
// (server-side apply, delete) are retried with bounded, jittered backoff that honours Retry-After (p-retry);
// anything else fails at once. A create whose outcome is unknown is never retried blindly: the caller reads back
// first (see KubeApplier).
import pRetry, { AbortError } from 'p-retry';
import { messageOf } from '../../harness/errors.js';
import { statusOf } from './api-errors.js';

/** How many times, and how long at most, one call is retried. */
export const RETRY = { retries: 5, minTimeoutMs: 200, maxTimeoutMs: 5_000, maxRetryAfterMs: 10_000 };

const TRANSIENT_CODES = new Set([429, 500, 502, 503, 504]);
const TRANSIENT_ERRNO = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** Whether a failure is worth another try, and how long the server asked us to wait. */
export function transient(e: unknown): { retryAfterMs?: number } | undefined {
  const s = statusOf(e);
  if (s?.code !== undefined) {
    if (!TRANSIENT_CODES.has(s.code)) return undefined;
    const headers = (e as { headers?: Record<string, string> }).headers ?? {};
    const ra = Number(headers['retry-after'] ?? headers['Retry-After']);
    return { retryAfterMs: Number.isFinite(ra) && ra > 0 ? Math.min(ra * 1000, RETRY.maxRetryAfterMs) : undefined };
  }
  const x = e as { code?: string; cause?: { code?: string }; message?: string };
  const code = x?.code ?? x?.cause?.code;
  if (code && TRANSIENT_ERRNO.has(code)) return {};
  if (/socket hang up|ECONNRESET|other side closed|Unexpected server response: (429|50[0234])/.test(x?.message ?? '')) return {};
  return undefined;
}

/** Runs `call`, retrying transient failures; `onRetry` hears of each (for --verbose and the tests). */
export function retrying<T>(call: () => Promise<T>, o: { onRetry?: (error: unknown) => void; beforeRetry?: () => Promise<T | undefined> } = {}): Promise<T> {
  let attempt = 0;
  return pRetry(
    async () => {
      attempt++;
      if (attempt > 1 && o.beforeRetry) {
        const already = await o.beforeRetry();
        if (already !== undefined) return already;
      }
      try {
        return await call();
      } catch (e) {
        // p-retry accepts only Errors; a library that rejects with something else must still fail cleanly.
        const error = e instanceof Error ? e : new Error(messageOf(e));
        if (!transient(e)) throw new AbortError(error);
        throw error;
      }
    },
    {
      retries: RETRY.retries,
      minTimeout: RETRY.minTimeoutMs,
      maxTimeout: RETRY.maxTimeoutMs,
      randomize: true,
      onFailedAttempt: async ({ error }) => {
        o.onRetry?.(error);
        const wait = transient(error)?.retryAfterMs;
        if (wait) await new Promise((r) => setTimeout(r, wait));
      },
    },
  );
}
