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

/** Pods were never created: what the ReplicaSet and its FailedCreate events say. */
export async function whyNoPods(kc: KubeConfig, namespace: string, selector: string): Promise<NotReady | undefined> {
  const apps = kc.makeApiClient(AppsV1Api);
  const failure = (await retrying(() => apps.listNamespacedReplicaSet({ namespace, labelSelector: selector }))).items
    .flatMap((rs) => (rs.status?.conditions ?? []).filter((c) => c.type === 'ReplicaFailure' && c.status === 'True').map((c) => ({ rs: rs.metadata?.name, message: c.message ?? c.reason ?? '' })))
    .at(0);
  if (!failure) return undefined;
  const events = (await retrying(() => kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace, fieldSelector: 'reason=FailedCreate' }))).items;
  const event = events.find((e) => e.involvedObject?.name === failure.rs)?.message;
  const message = event ?? failure.message;
  const hint = /istio-init/.test(message) && /PodSecurity/.test(message) ? ` — ${PSA_FIX}` : '';
  return { final: true, reason: `ReplicaSet ${namespace}/${failure.rs} cannot create pods: ${message}${hint}` };
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
