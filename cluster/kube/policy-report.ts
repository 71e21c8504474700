// The run's verdicts as a PolicyReport (wgpolicyk8s.io/v1alpha2, what Policy Reporter and Kyverno users read),
// one result per check with its controls, written into meshproof's own namespace as `meshproof` (replaced each
// run). A sweep's report is `meshproof-sweep` (so a night's run and sweep do not replace each other), and adds one
// result per finding, inconclusive or exempt outcome per namespace/Service/port, with the reason. Server-side
// applied without force, like everything meshproof writes.
import { type KubeConfig, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import type { RunResult } from '../../harness/result.js';
import { InfraError } from '../../harness/errors.js';
import { rowPlace, type SweepRow, sweepRows } from '../../harness/sweep/sweep.js';
import { describeApiError } from './api-errors.js';
import { MESHPROOF_NAMESPACE, policyReportName } from './permissions.js';
import { FIELD_MANAGER, RUN_LABEL } from './render.js';
import { retrying } from './retry.js';

const RESULT = { pass: 'pass', fail: 'fail', error: 'error', 'not-applicable': 'skip' } as const;
/** An exempted finding is skipped, as Kyverno reports a resource its PolicyException exempts. */
const ROW_RESULT = { finding: 'fail', inconclusive: 'error', exempt: 'skip' } as const;
/** Rows a report holds at most: an object must stay well under etcd's 1.5 MiB request limit; sweep.json has all. */
export const REPORT_ROWS = 1000;

function rowResult(row: SweepRow, run: RunResult, seconds: number) {
  return {
    source: 'meshproof',
    policy: row.check,
    rule: rowPlace(row),
    category: 'sweep',
    result: ROW_RESULT[row.outcome],
    message: row.reason,
    scored: true,
    timestamp: { seconds, nanos: 0 },
    properties: { namespace: row.namespace, service: row.service, ...(row.port === undefined ? {} : { port: String(row.port) }), pods: String(row.pods), outcome: row.outcome, runId: run.runId },
  };
}

export function policyReport(run: RunResult) {
  const at = Date.parse(run.finishedAt);
  const seconds = Math.floor(at / 1000);
  const rows = run.sweep ? sweepRows(run.sweep).slice(0, REPORT_ROWS).map((r) => rowResult(r, run, seconds)) : [];
  const count = (v: string) => run.results.filter((r) => RESULT[r.verdict] === v).length + rows.filter((r) => r.result === v).length;
  return {
    apiVersion: 'wgpolicyk8s.io/v1alpha2',
    kind: 'PolicyReport',
    metadata: { name: policyReportName(run), namespace: MESHPROOF_NAMESPACE, labels: { [RUN_LABEL]: run.runId, 'app.kubernetes.io/managed-by': 'meshproof' } },
    summary: { pass: count('pass'), fail: count('fail'), warn: 0, error: count('error'), skip: count('skip') },
    results: [...run.results.map((r) => ({
      source: 'meshproof',
      policy: r.id,
      rule: r.title,
      category: r.suite,
      result: RESULT[r.verdict],
      message: r.verdict === 'pass' ? r.claim : r.reason,
      scored: true,
      timestamp: { seconds, nanos: 0 },
      properties: { controls: r.controls.join(', '), method: r.method, runId: run.runId },
    })), ...rows],
  };
}

export async function writePolicyReport(kc: KubeConfig, run: RunResult): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  try {
    await retrying(() => api.patch(policyReport(run) as never, undefined, undefined, FIELD_MANAGER, false, PatchStrategy.ServerSideApply));
  } catch (e) {
    throw new InfraError(`writing PolicyReport ${MESHPROOF_NAMESPACE}/${policyReportName(run)}: ${describeApiError(e)}`);
  }
}
