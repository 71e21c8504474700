// The sweep's figures, measured side by side in one run (bench/run.ts prints them):
//  - a 1,000-endpoint lab estate (250 Services × 2 pods × 2 ports): the lab's memory per estate pod; the sweep's
//    endpoints/s and its probes' peak RSS; against the same endpoints at the same parallelism, (a) one exec per
//    endpoint with the same two attempts (what a loop of `kubectl exec … curl` per endpoint costs; in the lab an
//    exec is a fresh agent process in the probe pod, as LabTarget.exec does) and (b) one `curl` per endpoint from
//    the runner (plaintext only: half the sweep's work), with the verdicts compared endpoint by endpoint;
//  - through the Kubernetes API façade: API calls and execs per 100 endpoints.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Attack } from '../agent/protocol.js';
import { estatePosture } from '../cluster/lab/estate.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { SWEEP_FIXTURES } from '../harness/paths.js';
import { loadPosture } from '../harness/posture/load.js';
import { sweep } from '../harness/sweep/sweep.js';
import { runProcess } from '../test/support/cli.js';
import { startLabCluster } from '../test/support/lab-cluster.js';
import { grantsOf, loadRoles } from '../test/support/rbac.js';

const ESTATE = { services: 250, replicas: 2 };
const PROBES = 2;
const CONCURRENCY = 8;
/** The same number of attempts in flight for every contender. */
const PARALLEL = PROBES * CONCURRENCY;
const ATTEMPT_MS = 3_000;

const kb = (pid: number, field: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

/** This process's lab children (they carry its pid), with whether each is a probe exec. */
function labChildren(): { pid: number; probe: boolean }[] {
  const out: { pid: number; probe: boolean }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/environ`, 'latin1').includes(`MESHPROOF_LAB_OWNER=${process.pid}\0`)) continue;
      out.push({ pid: Number(d), probe: readFileSync(`/proc/${d}/cmdline`, 'latin1').split('\0').includes('probe') });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

async function pool<T>(items: T[], n: number, f: (item: T, worker: number) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async (_, w) => {
    while (i < items.length) await f(items[i++]!, w);
  }));
}

export async function sweepBench(): Promise<void> {
  const rssBefore = kb(process.pid, 'VmRSS');
  const lab = new LabTarget({ podsPerProcess: 250 });
  try {
    await lab.apply({ origin: ['bench estate'], objects: [...estatePosture(ESTATE), ...loadPosture(SWEEP_FIXTURES, []).objects] });
    const pods = ESTATE.services * ESTATE.replicas;
    const labKb = kb(process.pid, 'VmRSS') - rssBefore + labChildren().reduce((n, c) => n + kb(c.pid, 'VmRSS'), 0);
    console.log(`lab estate ${ESTATE.services}x${ESTATE.replicas}: ${pods} pods (each with its own ports, identity and sidecar) in ${(labKb / 1024).toFixed(0)} MiB = ${(labKb / 1024 / pods).toFixed(2)} MiB per estate pod (goal ≤ 2)`);

    let probePeakKb = 0;
    const sampler = setInterval(() => {
      for (const c of labChildren().filter((x) => x.probe)) {
        try {
          probePeakKb = Math.max(probePeakKb, kb(c.pid, 'VmHWM'));
        } catch {
          // exited
        }
      }
    }, 25);
    let t = Date.now();
    const r = await sweep({
      target: lab,
      scope: { exclude: [], excludePorts: [], runNamespace: 'sweep' },
      attacker: { namespace: 'sweep', name: 'sweeper' },
      maxCertLifetimeMs: 24 * 3_600_000,
      attemptTimeoutMs: ATTEMPT_MS,
      concurrency: CONCURRENCY,
      ratePerSec: 100_000,
      batchEndpoints: 250,
      accessLogDelayMs: 0,
      exemptions: [],
    });
    const sweepMs = Date.now() - t;
    clearInterval(sampler);
    const n = r.report.counts.endpoints;
    const served = new Map(r.report.endpoints.map((e) => [e.plaintext!.dial, e.verdicts.find((v) => v.check === 'SWEEP-MTLS')!.outcome === 'finding']));
    console.log(`sweep of ${n} endpoints (2 attempts each), ${PROBES} probes × concurrency ${CONCURRENCY}, one exec per batch (${r.report.counts.execs} execs):`);
    console.log(`  meshproof sweep             ${(sweepMs / 1000).toFixed(2)} s  ${((n / sweepMs) * 1000).toFixed(0)} endpoints/s, probes' peak RSS ${(probePeakKb / 1024).toFixed(1)} MiB, canary ${r.report.canary.flagged ? 'flagged' : 'NOT flagged'}`);

    // (a) One exec per endpoint, the same two attempts.
    const probes = await lab.probes({ namespace: 'sweep', name: 'sweeper' });
    const cert = await lab.mintCertificate(probes[0]!, 3_600_000);
    let sameA = 0;
    t = Date.now();
    await pool(r.report.endpoints, PARALLEL, async (e, w) => {
      const attacks: Attack[] = [
        { kind: 'http', id: 'p', dial: e.plaintext!.dial, timeoutMs: ATTEMPT_MS },
        { kind: 'tls', id: 'm', dial: e.plaintext!.dial, certChainPem: cert.chainPem, keyPem: cert.keyPem, alpn: ['istio-http/1.1'], capturePeer: true, timeoutMs: ATTEMPT_MS },
      ];
      const rep = await probes[w % probes.length]!.run(attacks);
      if ((rep.observations[0]!.bytesReceived > 0) === served.get(e.plaintext!.dial)) sameA++;
    });
    const execMs = Date.now() - t;
    console.log(`  one exec per endpoint       ${(execMs / 1000).toFixed(2)} s  ${((n / execMs) * 1000).toFixed(0)} endpoints/s, same plaintext verdict on ${sameA}/${n}; sweep is ${(execMs / sweepMs).toFixed(1)}× faster`);

    // (b) One curl per endpoint from the runner, plaintext only (curl cannot send Istio's ALPN).
    let sameB = 0;
    t = Date.now();
    await pool([...served.keys()], PARALLEL, async (dial) => {
      const code = await new Promise<number>((res) => spawn('curl', ['-sS', '-o', '/dev/null', '-m', String(ATTEMPT_MS / 1000), `http://${dial}/`], { stdio: 'ignore' }).once('exit', (c) => res(c ?? -1)));
      // 0: an answer; 1 or 8: bytes that were not HTTP (a TCP echo); 52/56: empty reply or reset (refused).
      if ((code === 0 || code === 1 || code === 8) === served.get(dial)) sameB++;
    });
    const curlMs = Date.now() - t;
    console.log(`  one curl per endpoint (1/2 the work, no exec) ${(curlMs / 1000).toFixed(2)} s  ${((n / curlMs) * 1000).toFixed(0)} endpoints/s, same verdict on ${sameB}/${n}; ratio curl/sweep ${(curlMs / sweepMs).toFixed(2)}`);
    console.log('  (on this machine the lab itself bounds both: one Node thread emulates every sidecar\'s TLS and RBAC)');
  } finally {
    await lab.dispose();
  }

  // Through the façade: what the sweep asks of the API server, per 100 endpoints.
  const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-bench-sweep-'));
  const c = await startLabCluster({ existing: estatePosture({ services: 50, replicas: 2 }), podsPerProcess: 250 });
  try {
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml')];
    const before = c.api.calls.length;
    const out = path.join(dir, 'bundle');
    const r = await runProcess(process.execPath, ['dist/cli.js', 'sweep', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(dir), '--batch', '100', '--out', out], { env: { ...process.env, MESHPROOF_TIMEOUTS: 'lab' } });
    if (r.code !== 1) throw new Error(`façade sweep exited ${r.code}: ${r.stderr}`);
    const calls = c.api.calls.slice(before);
    const sw = JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8')) as { counts: { endpoints: number; execs: number; logReads: number } };
    const per100 = (k: number) => ((k / sw.counts.endpoints) * 100).toFixed(1);
    const execs = calls.filter((x) => x.startsWith('EXEC')).length;
    const logs = calls.filter((x) => x.endsWith('/log')).length;
    const lists = calls.filter((x) => x.startsWith('GET') && !x.endsWith('/log')).length;
    console.log(`through the Kubernetes API façade, ${sw.counts.endpoints} endpoints (100 per batch), per 100 endpoints:`);
    console.log(`  ${per100(calls.length)} requests in all: ${per100(execs)} execs (attack batches and the mint), ${per100(logs)} pod-log reads (one per pod that denied: the §9.4 corroboration), ${per100(lists)} GETs (discovery, readiness, preflight)`);
    console.log(`  sweep role grants used: ${grantsOf(loadRoles('deploy/rbac-sweep.yaml')).filter((g) => c.api.state.rbacUsed.has(g)).length}/${grantsOf(loadRoles('deploy/rbac-sweep.yaml')).length}`);
  } finally {
    await c.close();
  }
}
