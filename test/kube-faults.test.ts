// Transient API failures do not fail a night: with 429s (Retry-After), 503s, reset connections and answers lost
// after a create took effect injected into the API façade, a run through KubeTarget and client-node gives the
// same verdicts as without them, and nothing is created twice.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { KubeTarget } from '../cluster/kube/kube-target.js';
import { preflight } from '../cluster/kube/preflight.js';
import { retrying, transient } from '../cluster/kube/retry.js';
import { AGENT_BUNDLE } from '../harness/paths.js';
import { loadPosture } from '../harness/posture/load.js';
import { conformanceRun } from '../harness/run.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { SUITES } from '../suites/index.js';
import { startLabCluster } from './support/lab-cluster.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-faults-'));

describe('what counts as transient', () => {
  it.each([
    { name: '429 with Retry-After', e: { code: 429, body: { reason: 'TooManyRequests' }, headers: { 'retry-after': '2' } }, want: { retryAfterMs: 2_000 } },
    { name: '503 while the API server restarts', e: { code: 503, body: {} }, want: {} },
    { name: 'a reset connection', e: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), want: {} },
    { name: 'a throttled exec upgrade', e: new Error('Unexpected server response: 429'), want: {} },
    { name: '403 Forbidden', e: { code: 403, body: {} }, want: undefined },
    { name: '409 AlreadyExists', e: { code: 409, body: {} }, want: undefined },
    { name: '422 Invalid', e: { code: 422, body: {} }, want: undefined },
  ])('$name', ({ e, want }) => {
    const t = transient(e);
    if (want === undefined) expect(t).toBeUndefined();
    else expect(t).toMatchObject(want.retryAfterMs ? want : {});
  });

  // client-node's exec rejects with the websocket's ErrorEvent, not an Error; p-retry refuses non-Errors.
  it('retries an error-like object that is not an Error, and fails with its message when it is not transient', async () => {
    let calls = 0;
    const ok = await retrying(async () => {
      if (++calls < 2) throw { type: 'error', message: 'Unexpected server response: 503' };
      return 'done';
    });
    expect([ok, calls]).toEqual(['done', 2]);
    await expect(retrying(() => Promise.reject({ type: 'error', message: 'Unexpected server response: 403' }))).rejects.toThrow('Unexpected server response: 403');
  });
});

describe('a run against an API that throttles, restarts and drops answers', () => {
  it('gives the verdicts of a quiet API, and every kind of fault was met', async () => {
    const cluster = await startLabCluster();
    // provisioned: true, as on a kind cluster driven with its admin's kubeconfig, which deploy/confine.yaml does not confine.
    cluster.api.state.user = 'kubernetes-admin';
    cluster.api.state.faults = { every: 9, kinds: ['429', '503', 'reset', 'lost'], injected: [] };
    const { kc } = loadKubeConfig({ kubeconfig: cluster.api.kubeconfig(dir), env: {} });
    try {
      const pre = await preflight(kc);
      const target = new KubeTarget({ kc, runId: crypto.randomUUID(), agentBundle: readFileSync(AGENT_BUNDLE, 'utf8'), adminToken: 't', provisioned: true, trustDomain: pre.trustDomain, readyTimeoutMs: 30_000, deleteTimeoutMs: 10_000 });
      let r: Awaited<ReturnType<typeof conformanceRun>>;
      try {
        r = await conformanceRun({ target, posture: loadPosture('fixtures/secure'), checks: [...SUITES.mtls!, ...SUITES.authz!, SUITES.certificates!.find((c) => c.id === 'CERT-003')!], timeouts: LAB_TIMEOUTS });
      } finally {
        await target.dispose();
      }
      expect(Object.fromEntries(r.results.map((x) => [x.id, x.verdict])), JSON.stringify(r.results.filter((x) => x.verdict !== 'pass').map((x) => x.reason))).toEqual(Object.fromEntries(r.results.map((x) => [x.id, 'pass'])));
      const kinds = new Set(cluster.api.state.faults.injected.map((f) => f.split(' ')[0]));
      expect([...kinds].sort()).toEqual(['429', '503', 'lost', 'reset']);
      expect(cluster.api.state.faults.injected.some((f) => f.startsWith('lost POST /api/v1/namespaces') || f.startsWith('lost PATCH'))).toBe(true);
      // Teardown went through the faults too.
      expect([...cluster.api.state.namespaces.keys()].filter((n) => n.startsWith('mp-'))).toEqual([]);
    } finally {
      await cluster.close();
    }
  });
});
