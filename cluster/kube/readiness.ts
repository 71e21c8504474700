// Why pods are not Ready, in one line, from what the cluster says (STYLE.md 11): a ReplicaSet that cannot create
// its pods (ReplicaFailure, FailedCreate events: Pod Security rejecting istio-init names istio-cni as the fix,
// istio-behaviours.md §10), containers waiting (ImagePullBackOff with the image, CrashLoopBackOff with the last
// line the container wrote), or simply how many are ready.
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { retrying } from './retry.js';

export interface NotReady {
  /** Nothing will change by waiting (pods are refused at admission): stop now. */
  final: boolean;
  reason: string;
}

const PSA_FIX = 'Pod Security rejects istio-init (NET_ADMIN, NET_RAW): install istio-cni, or run where the namespace\'s pod-security.kubernetes.io/enforce level allows it';

/**
 * The ReplicaSet refusals already on record (conditions by ReplicaSet, FailedCreate events by name), so that a
 * later look tells a new refusal from an old one. A `ReplicaFailure` condition outlives its cause until the
 * controller's next successful sync, which after a failure is rate-limited (K: pkg/controller/replicaset/
 * replica_set_utils.go calculateStatus removes it only when `manageReplicasErr == nil`; replica_set.go
 * processNextWorkItem requeues with `AddRateLimited`, client-go workqueue DefaultControllerRateLimiter: 5 ms
 * doubling to 1000 s). Compared by value, not by clock: the API server's clock is not ours.
 */
export interface RefusalsSeen {
  conditions: Map<string, string>;
  events: Map<string, string>;
}

interface Refusal {
  rs: string;
  condition: string;
  conditionSince: string;
  events: { name: string; stamp: string; message: string; last: string }[];
}

/** client-node gives date-time fields as Date. */
const stamp = (v: unknown) => (v instanceof Date ? v.toISOString() : String(v ?? ''));

async function refusals(kc: KubeConfig, namespace: string, selector: string): Promise<Refusal[]> {
  const apps = kc.makeApiClient(AppsV1Api);
  const failing = (await retrying(() => apps.listNamespacedReplicaSet({ namespace, labelSelector: selector }))).items.flatMap((rs) =>
    (rs.status?.conditions ?? [])
      .filter((c) => c.type === 'ReplicaFailure' && c.status === 'True')
      .map((c) => ({ rs: rs.metadata?.name ?? '', condition: c.message ?? c.reason ?? '', conditionSince: stamp(c.lastTransitionTime) })),
  );
  if (failing.length === 0) return [];
  const events = (await retrying(() => kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace, fieldSelector: 'reason=FailedCreate' }))).items;
  return failing.map((f) => ({
    ...f,
    events: events
      .filter((e) => e.involvedObject?.name === f.rs)
      .map((e) => {
        // An aggregated event repeats by count and lastTimestamp (client-go tools/record EventCorrelator).
        const last = stamp(e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime);
        return { name: e.metadata?.name ?? '', stamp: `${e.series?.count ?? e.count ?? 1}@${last}`, message: e.message ?? '', last };
      }),
  }));
}

/** What is on record now: pass it to whyNoPods to hear only of refusals that come after. */
export async function refusalsSeen(kc: KubeConfig, namespace: string, selector: string): Promise<RefusalsSeen> {
  const now = await refusals(kc, namespace, selector);
  return { conditions: new Map(now.map((r) => [r.rs, r.conditionSince])), events: new Map(now.flatMap((r) => r.events.map((e) => [e.name, e.stamp]))) };
}

/**
 * Pods were never created: what the ReplicaSet and its FailedCreate events say. With `after`, only a refusal
 * newer than that record counts (a condition that appeared since, or an event that repeated since). Final only for
 * Pod Security: a webhook timeout, an exceeded quota or istiod restarting pass, and the controller retries.
 */
export async function whyNoPods(kc: KubeConfig, namespace: string, selector: string, after?: RefusalsSeen): Promise<NotReady | undefined> {
  for (const r of await refusals(kc, namespace, selector)) {
    const fresh = r.events.filter((e) => !after || after.events.get(e.name) !== e.stamp);
    const newCondition = !after || after.conditions.get(r.rs) !== r.conditionSince;
    if (!newCondition && fresh.length === 0) continue;
    const latest = (fresh.length > 0 ? fresh : r.events).sort((a, b) => b.last.localeCompare(a.last))[0];
    const message = latest?.message ?? r.condition;
    const podSecurity = /violates PodSecurity/.test(message);
    const hint = podSecurity && /istio-init/.test(message) ? ` — ${PSA_FIX}` : '';
    return { final: podSecurity, reason: `ReplicaSet ${namespace}/${r.rs} cannot create pods: ${message}${hint}` };
  }
  return undefined;
}

/** Pods exist but are not Ready: their containers' waiting reasons, with the crashed container's last line. */
export async function whyNotReady(kc: KubeConfig, pods: V1Pod[]): Promise<string | undefined> {
  for (const p of pods) {
    for (const c of p.status?.containerStatuses ?? []) {
      const w = c.state?.waiting;
      if (!w?.reason) continue;
      const where = `${p.metadata?.namespace}/${p.metadata?.name} (${c.name})`;
      if (w.reason === 'ImagePullBackOff' || w.reason === 'ErrImagePull') {
        return `${where}: ${w.reason} for image ${c.image}${w.message ? ` (${w.message})` : ''}. Is the registry reachable from the nodes? See --image and --image-registry (pulls use the nodes' credentials)`;
      }
      if (w.reason === 'CrashLoopBackOff') {
        let last = '';
        try {
          const text = await kc.makeApiClient(CoreV1Api).readNamespacedPodLog({ name: p.metadata!.name!, namespace: p.metadata!.namespace!, container: c.name, previous: true, tailLines: 5 });
          last = String(text).trim().split('\n').pop() ?? '';
        } catch {
          // no previous container log
        }
        return `${where}: CrashLoopBackOff after ${c.restartCount} restarts${last ? `; last log line: ${last}` : ''}`;
      }
      return `${where}: ${w.reason}${w.message ? ` (${w.message})` : ''}`;
    }
  }
  return undefined;
}
