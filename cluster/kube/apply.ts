// Applies a rendered posture to a cluster and waits until it can be attacked; sweeps it away on dispose. The
// KubeTarget (issue 5) is built on this. Server-side apply with field manager `meshproof`; a disposer is
// registered the moment each namespace is created (STYLE.md 8), so an interrupted apply still cleans up.
import { CoreV1Api, type KubeConfig, KubernetesObjectApi, PatchStrategy, type V1Pod } from '@kubernetes/client-node';
import { ConfigError, InfraError } from '../../harness/errors.js';
import { injection } from '../../harness/istio/injection.js';
import { codeOf, conflictManagers, describeApiError } from './api-errors.js';
import { deleteNamespaces, leftBehind } from './cleanup.js';
import { whyNoPods, whyNotReady } from './readiness.js';
import { retrying } from './retry.js';
import type { Manifest } from '../../harness/posture/load.js';
import { FIELD_MANAGER, RUN_LABEL, type Rendered } from './render.js';

export interface ReadyPod {
  namespace: string;
  name: string;
  workload: string;
  podIP: string;
  sidecar: boolean;
}

/** `istio-proxy` as a container, or (native sidecars, Istio ≥ 1.27) an init container that keeps running. */
export function hasSidecar(pod: V1Pod): boolean {
  const spec = pod.spec;
  return Boolean(
    spec?.containers.some((c) => c.name === 'istio-proxy') || spec?.initContainers?.some((c) => c.name === 'istio-proxy' && c.restartPolicy === 'Always'),
  );
}

function isReady(pod: V1Pod): boolean {
  return pod.status?.phase === 'Running' && (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Whether Istio's webhooks and injector give this pod a sidecar, on the revision under test (harness/istio/injection.ts). */
function injectionExpected(revision: string, ns: Manifest | undefined, podLabels: Record<string, string>, podAnnotations: Record<string, string>): boolean {
  return injection({ revisions: [revision] }, { namespace: ns?.metadata.name ?? '', namespaceLabels: ns?.metadata.labels ?? {}, labels: podLabels, annotations: podAnnotations }).injected;
}

/** The annotation `kubectl rollout restart` sets on a pod template. */
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

export class KubeApplier {
  private readonly createdNamespaces: string[] = [];
  private disposed = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly o: { runId: string; readyTimeoutMs: number; revision?: string; deleteTimeoutMs?: number; pollMs?: number; keep?: boolean; log?: (line: string) => void },
  ) {}

  /**
   * Namespaces with a plain create: one that exists already belongs to someone else and is never adopted (nor
   * later deleted). Everything else with server-side apply WITHOUT force, so another manager's fields are never
   * taken over; a conflict names that manager.
   */
  async apply(rendered: Rendered): Promise<void> {
    const api = KubernetesObjectApi.makeApiClient(this.kc);
    const core = this.kc.makeApiClient(CoreV1Api);
    for (const m of rendered.objects) {
      const what = `${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ''}${m.metadata.name}`;
      if (m.kind === 'Namespace') {
        try {
          await retrying(() => core.createNamespace({ body: m as never, fieldManager: FIELD_MANAGER }), {
            // A create whose answer was lost may have happened: read back before trying again.
            beforeRetry: async () => {
              const ns = await core.readNamespace({ name: m.metadata.name }).catch((e: unknown) => {
                if (codeOf(e) === 404) return undefined;
                throw e;
              });
              return ns?.metadata?.labels?.[RUN_LABEL] === this.o.runId ? ns : undefined;
            },
          });
        } catch (e) {
          if (codeOf(e) === 409) {
            throw new ConfigError(`namespace ${m.metadata.name} already exists: meshproof creates its run's namespaces and never adopts one (is another run using run id ${this.o.runId}?)`);
          }
          throw new InfraError(`creating namespace ${m.metadata.name} failed: ${describeApiError(e)}`);
        }
        this.createdNamespaces.push(m.metadata.name);
      } else if (m.kind === 'Secret') {
        // A plain create, never apply: the role may create Secrets but never read or patch one (deploy/rbac.yaml).
        // The namespace is the run's own, created just now, so a 409 can only be this same create retried after
        // its answer was lost.
        try {
          await retrying(() => core.createNamespacedSecret({ namespace: m.metadata.namespace!, body: m as never, fieldManager: FIELD_MANAGER }));
        } catch (e) {
          if (codeOf(e) !== 409) throw new InfraError(`creating ${what} failed: ${describeApiError(e)}`);
        }
      } else {
        try {
          await retrying(() => api.patch(m as never, undefined, undefined, FIELD_MANAGER, false, PatchStrategy.ServerSideApply)); // idempotent
        } catch (e) {
          const others = conflictManagers(e);
          if (codeOf(e) === 409 && others.length > 0) {
            throw new InfraError(`server-side apply of ${what} conflicts with field manager ${others.map((x) => `"${x}"`).join(', ')}: meshproof never forces: ${describeApiError(e)}`);
          }
          throw new InfraError(`server-side apply of ${what} failed: ${describeApiError(e)}`);
        }
      }
      this.o.log?.(`applied ${what}`);
    }
  }

  /**
   * Takes up the namespaces an earlier stage of the same run created (the upgrade gate's later runs): each must
   * exist and carry this run's label, or nothing is touched. They are deleted at dispose like created ones.
   */
  async resume(rendered: Rendered): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    for (const m of rendered.objects.filter((x) => x.kind === 'Namespace')) {
      const ns = await retrying(() => core.readNamespace({ name: m.metadata.name })).catch((e: unknown) => {
        throw new InfraError(`resuming run ${this.o.runId}: namespace ${m.metadata.name}: ${describeApiError(e)}`);
      });
      if (ns.metadata?.labels?.[RUN_LABEL] !== this.o.runId) throw new ConfigError(`namespace ${m.metadata.name} is not run ${this.o.runId}'s: meshproof never adopts a namespace`);
      this.createdNamespaces.push(m.metadata.name);
    }
  }

  /**
   * Restarts every Deployment of the run (what `kubectl rollout restart` does: a new template annotation), so its
   * pods come back with the proxy the current istiod injects. Returns the annotation value to wait for.
   */
  async restart(rendered: Rendered): Promise<string> {
    const api = KubernetesObjectApi.makeApiClient(this.kc);
    const at = new Date().toISOString();
    for (const d of rendered.objects.filter((x) => x.kind === 'Deployment')) {
      const spec = structuredClone(d.spec) as { template: { metadata: { annotations?: Record<string, string> } } };
      spec.template.metadata.annotations = { ...spec.template.metadata.annotations, [RESTARTED_AT]: at };
      await retrying(() => api.patch({ ...d, spec } as never, undefined, undefined, FIELD_MANAGER, false, PatchStrategy.ServerSideApply));
      this.o.log?.(`restarted Deployment ${d.metadata.namespace}/${d.metadata.name}`);
    }
    return at;
  }

  /**
   * Every Deployment's replicas Ready, with `istio-proxy` exactly where injection is expected. A missing sidecar
   * is a clear error, never a silent run without one.
   */
  async waitReady(rendered: Rendered, restartedAt?: string): Promise<ReadyPod[]> {
    const core = this.kc.makeApiClient(CoreV1Api);
    const deployments = rendered.objects.filter((m) => m.kind === 'Deployment');
    const namespaces = new Map(rendered.objects.filter((m) => m.kind === 'Namespace').map((m) => [m.metadata.name, m]));
    const deadline = Date.now() + this.o.readyTimeoutMs;
    let waitingFor = '';
    let lastPods: V1Pod[] = [];
    let lastSelector = { namespace: '', selector: '' };
    while (Date.now() < deadline) {
      const ready: ReadyPod[] = [];
      waitingFor = '';
      for (const d of deployments) {
        const spec = d.spec as { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } } };
        const selector = Object.entries({ ...spec.selector.matchLabels, [RUN_LABEL]: this.o.runId }).map(([k, v]) => `${k}=${v}`).join(',');
        const pods = (
          await retrying(() => core.listNamespacedPod({ namespace: d.metadata.namespace!, labelSelector: selector })).catch((e: unknown) => {
            throw new InfraError(`listing the pods of ${d.metadata.namespace}/${d.metadata.name}: ${describeApiError(e)}`);
          })
        ).items;
        const want = spec.replicas ?? 1;
        // After a restart only pods of the new template count (old ones may still be Ready while they drain).
        const up = pods.filter((p) => isReady(p) && (!restartedAt || p.metadata?.annotations?.[RESTARTED_AT] === restartedAt));
        const expected = injectionExpected(this.o.revision ?? 'default', namespaces.get(d.metadata.namespace!), spec.template.metadata.labels ?? {}, spec.template.metadata.annotations ?? {});
        for (const p of up) {
          const name = `${p.metadata?.namespace}/${p.metadata?.name}`;
          if (expected && !hasSidecar(p)) {
            throw new InfraError(`namespace ${d.metadata.namespace} is labelled for injection but pod ${p.metadata?.name} has no istio-proxy: is istiod's webhook installed?`);
          }
          if (!expected && hasSidecar(p)) {
            throw new InfraError(`pod ${name} got an istio-proxy although its namespace is not labelled for injection: a sidecar-less attacker would be upgraded to mTLS`);
          }
        }
        if (up.length < want && !waitingFor) {
          waitingFor = `${d.metadata.namespace}/${d.metadata.name} (${up.length}/${want} ready)`;
          lastPods = pods;
          lastSelector = { namespace: d.metadata.namespace!, selector };
          // Pods refused at admission never come: say why now rather than after the whole wait.
          if (pods.length === 0) {
            const none = await whyNoPods(this.kc, d.metadata.namespace!, selector);
            if (none?.final) throw new InfraError(`pods of ${d.metadata.namespace}/${d.metadata.name} are never created: ${none.reason}`);
          }
        }
        for (const p of up.slice(0, want)) {
          ready.push({ namespace: p.metadata!.namespace!, name: p.metadata!.name!, workload: d.metadata.name, podIP: p.status?.podIP ?? '', sidecar: hasSidecar(p) });
        }
      }
      if (!waitingFor) return ready;
      await new Promise((r) => setTimeout(r, this.o.pollMs ?? 1_000));
    }
    const why = lastPods.length > 0 ? await whyNotReady(this.kc, lastPods) : (await whyNoPods(this.kc, lastSelector.namespace, lastSelector.selector))?.reason;
    throw new InfraError(`pods not Ready after ${this.o.readyTimeoutMs / 1000}s: ${waitingFor}${why ? `: ${why}` : `. See \`kubectl get pods -n ${lastSelector.namespace}\``}`);
  }

  /**
   * Deletes the run's namespaces (last created first) and waits, bounded, until they are gone; names any that stay
   * with their finalizers. Carries on past one failure.
   */
  async dispose(): Promise<void> {
    if (this.disposed || this.o.keep) return;
    this.disposed = true;
    const d = await deleteNamespaces(this.kc, [...this.createdNamespaces].reverse(), { timeoutMs: this.o.deleteTimeoutMs ?? 120_000, pollMs: this.o.pollMs });
    const problem = leftBehind(d, `run \`meshproof cleanup --run ${this.o.runId}\``);
    if (problem) throw new InfraError(problem);
  }
}
