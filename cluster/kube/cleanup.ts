// Sweeping by label (STYLE.md 9, after testcontainers' reaper): every namespace a run creates carries
// meshproof.dev/run=<id> and an `mp-` name, and deleting the namespace deletes everything in it. Nothing else is
// touched. Deletion is asynchronous on a real cluster (istio-behaviours.md §10): a namespace goes Terminating, a
// second DELETE answers 409 until its finalizers finish, and a stuck finalizer keeps it forever; so every delete
// is followed by a bounded wait, and what stays is named with its finalizers.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { codeOf, describeApiError } from './api-errors.js';
import { RUN_LABEL } from './render.js';
import { retrying } from './retry.js';

const NAME_PREFIX = 'mp-';

export interface Deletion {
  /** Deleted and gone. */
  gone: string[];
  /** Still there when the wait ended, with what holds them. */
  stuck: { name: string; phase: string; finalizers: string[] }[];
  /** Deletes that failed outright (forbidden, unreachable): carried on past. */
  errors: string[];
}

export async function deleteNamespaces(kc: KubeConfig, names: string[], o: { timeoutMs: number; pollMs?: number }): Promise<Deletion> {
  const core = kc.makeApiClient(CoreV1Api);
  const out: Deletion = { gone: [], stuck: [], errors: [] };
  const pending = new Set<string>();
  for (const name of names) {
    try {
      await retrying(() => core.deleteNamespace({ name }));
      pending.add(name);
    } catch (e) {
      const code = codeOf(e);
      if (code === 404) out.gone.push(name);
      else if (code === 409) pending.add(name); // already Terminating: in progress
      else out.errors.push(`${name}: ${describeApiError(e)}`);
    }
  }
  const deadline = Date.now() + o.timeoutMs;
  const last = new Map<string, { phase: string; finalizers: string[] }>();
  while (pending.size > 0) {
    for (const name of [...pending]) {
      try {
        const ns = await retrying(() => core.readNamespace({ name }));
        last.set(name, { phase: ns.status?.phase ?? '?', finalizers: [...(ns.spec?.finalizers ?? []), ...(ns.metadata?.finalizers ?? [])] });
      } catch (e) {
        if (codeOf(e) === 404) {
          pending.delete(name);
          out.gone.push(name);
        }
      }
    }
    if (pending.size === 0 || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, o.pollMs ?? 1_000));
  }
  for (const name of pending) out.stuck.push({ name, ...(last.get(name) ?? { phase: '?', finalizers: [] }) });
  return out;
}

/** One line for what a deletion left behind, or undefined when everything went. */
export function leftBehind(d: Deletion, retry: string): string | undefined {
  const parts = [
    ...d.stuck.map((s) => `${s.name} still ${s.phase}${s.finalizers.length ? ` (finalizers: ${s.finalizers.join(', ')})` : ''}`),
    ...d.errors,
  ];
  return parts.length > 0 ? `cleanup left namespaces behind (${retry}): ${parts.join('; ')}` : undefined;
}

export interface Swept extends Deletion {
  /** Younger than --older-than: left alone. */
  kept: string[];
}

export async function sweep(kc: KubeConfig, o: { runId?: string; olderThanMs?: number; now?: Date; timeoutMs?: number; pollMs?: number }): Promise<Swept> {
  const core = kc.makeApiClient(CoreV1Api);
  const selector = o.runId ? `${RUN_LABEL}=${o.runId}` : RUN_LABEL;
  const list = await retrying(() => core.listNamespace({ labelSelector: selector }));
  const now = (o.now ?? new Date()).getTime();
  const kept: string[] = [];
  const doomed: string[] = [];
  for (const ns of list.items) {
    const name = ns.metadata?.name;
    // Both marks of a meshproof namespace, never one alone: the label and the run-scoped name.
    if (!name?.startsWith(NAME_PREFIX) || ns.metadata?.labels?.[RUN_LABEL] === undefined) continue;
    const created = ns.metadata?.creationTimestamp ? new Date(ns.metadata.creationTimestamp).getTime() : 0;
    if (!o.runId && o.olderThanMs !== undefined && now - created < o.olderThanMs) {
      kept.push(name);
      continue;
    }
    doomed.push(name);
  }
  const d = await deleteNamespaces(kc, doomed, { timeoutMs: o.timeoutMs ?? 120_000, pollMs: o.pollMs });
  return { ...d, kept };
}
