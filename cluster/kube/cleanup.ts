// Sweeping by label (STYLE.md 9, after testcontainers' reaper): every namespace a run creates carries
// meshproof.dev/run=<id>, and deleting the namespace deletes everything in it. Nothing unlabelled is touched.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { RUN_LABEL } from './render.js';

export interface Swept {
  deleted: string[];
  kept: string[];
}

export async function sweep(kc: KubeConfig, o: { runId?: string; olderThanMs?: number; now?: Date }): Promise<Swept> {
  const core = kc.makeApiClient(CoreV1Api);
  const selector = o.runId ? `${RUN_LABEL}=${o.runId}` : RUN_LABEL;
  const list = await core.listNamespace({ labelSelector: selector });
  const now = (o.now ?? new Date()).getTime();
  const out: Swept = { deleted: [], kept: [] };
  for (const ns of list.items) {
    const name = ns.metadata?.name;
    if (!name || ns.metadata?.labels?.[RUN_LABEL] === undefined) continue;
    const created = ns.metadata?.creationTimestamp ? new Date(ns.metadata.creationTimestamp).getTime() : 0;
    if (!o.runId && o.olderThanMs !== undefined && now - created < o.olderThanMs) {
      out.kept.push(name);
      continue;
    }
    await core.deleteNamespace({ name });
    out.deleted.push(name);
  }
  return out;
}
