// The run's verdicts as a PolicyReport (wgpolicyk8s.io/v1alpha2, what Policy Reporter and Kyverno users read),
// one result per check with its controls, written into meshproof's own namespace as `meshproof` (replaced each
// run). Server-side applied without force, like everything meshproof writes.
import { type KubeConfig, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import type { RunResult } from '../../harness/result.js';
import { InfraError } from '../../harness/errors.js';
import { describeApiError } from './api-errors.js';
import { MESHPROOF_NAMESPACE } from './permissions.js';
import { FIELD_MANAGER, RUN_LABEL } from './render.js';
import { retrying } from './retry.js';

const RESULT = { pass: 'pass', fail: 'fail', error: 'error', 'not-applicable': 'skip' } as const;

export function policyReport(run: RunResult) {
  const at = Date.parse(run.finishedAt);
  const count = (v: string) => run.results.filter((r) => RESULT[r.verdict] === v).length;
  return {
    apiVersion: 'wgpolicyk8s.io/v1alpha2',
    kind: 'PolicyReport',
    metadata: { name: 'meshproof', namespace: MESHPROOF_NAMESPACE, labels: { [RUN_LABEL]: run.runId, 'app.kubernetes.io/managed-by': 'meshproof' } },
    summary: { pass: count('pass'), fail: count('fail'), warn: 0, error: count('error'), skip: count('skip') },
    results: run.results.map((r) => ({
      source: 'meshproof',
      policy: r.id,
      rule: r.title,
      category: r.suite,
      result: RESULT[r.verdict],
      message: r.verdict === 'pass' ? r.claim : r.reason,
      scored: true,
      timestamp: { seconds: Math.floor(at / 1000), nanos: 0 },
      properties: { controls: r.controls.join(', '), method: r.method, runId: run.runId },
    })),
  };
}

export async function writePolicyReport(kc: KubeConfig, run: RunResult): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  try {
    await retrying(() => api.patch(policyReport(run) as never, undefined, undefined, FIELD_MANAGER, false, PatchStrategy.ServerSideApply));
  } catch (e) {
    throw new InfraError(`writing PolicyReport ${MESHPROOF_NAMESPACE}/meshproof: ${describeApiError(e)}`);
  }
}
