// The access matrix's figures (issue 22 item 7), measured side by side in one run (bench/run.ts prints them; alone:
// `npx tsx bench/matrix.ts`, after `npm run build` for the façade part):
//  - on the lab: the generated estate (200 Services of one pod, two ports each) swept plainly, then with a matrix of
//    100 of its identities × every Service port (the lab always probes grants too): wall time, attempts/s, execs and
//    destination-log reads per 1,000 cells, certificates minted, the runner's and the probes' peak memory, and the
//    ratio matrix/sweep;
//  - through the Kubernetes API façade: a smaller matrix (10 identities × 20 Services) run by the built CLI under
//    rbac.yaml + rbac-sweep.yaml + rbac-matrix.yaml, with the API calls it makes per 1,000 cells (TokenRequests,
//    execs, pod-log reads, GETs and lists).
// Every loop is bounded: each sweep by its attempt timeout and its finite cells, the façade run by runProcess.
// MESHPROOF_BENCH_MATRIX=<identities>x<services> shrinks the lab part (e.g. 10x20) for a quick look;
// MESHPROOF_BENCH_MATRIX_PARTS=lab or =facade runs one part; MESHPROOF_BENCH_DUMP=<file> keeps the lab's matrix.json.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { estateIntentYaml, estateLabFaults, estatePosture } from '../cluster/lab/estate.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { parseIntents, resolveIntent } from '../harness/matrix/intent.js';
import type { MatrixIntent, MatrixOptions } from '../harness/matrix/matrix.js';
import type { MatrixReport } from '../harness/matrix/types.js';
import { SWEEP_FIXTURES } from '../harness/paths.js';
import { loadPosture } from '../harness/posture/load.js';
import type { Estate } from '../harness/sweep/estate.js';
import { type SweepOptions, sweep } from '../harness/sweep/sweep.js';
import { runProcess } from '../test/support/cli.js';
import { startLabCluster } from '../test/support/lab-cluster.js';
import { grantsOf, loadRoles } from '../test/support/rbac.js';

const [IDENTITIES, SERVICES] = (process.env.MESHPROOF_BENCH_MATRIX ?? '100x200').split('x').map(Number) as [number, number];
const FACADE = { identities: 10, services: 20 };
const CONCURRENCY = 8;
const BATCH = 250;
const ATTEMPT_MS = 3_000;

const kb = (pid: number, field: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

/**
 * This process's probe execs: its children (every thread's, /proc/<pid>/task/<tid>/children) that run the agent's
 * `probe`. Read from the children lists, not by scanning every process of the machine (which, every 50 ms on a shared
 * machine, cost more CPU than the lab it measured).
 */
function probePids(): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    let children: string[];
    try {
      children = readFileSync(`/proc/${process.pid}/task/${tid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean);
    } catch {
      continue; // the thread ended
    }
    for (const c of children) {
      try {
        if (readFileSync(`/proc/${c}/cmdline`, 'latin1').split('\0').includes('probe')) out.push(Number(c));
      } catch {
        // exited meanwhile
      }
    }
  }
  return out;
}

/** Peak memory while `f` runs: the runner's RSS (the lab's in-process sidecars included) and the probes' VmHWM. */
async function peaks<T>(f: () => Promise<T>): Promise<{ value: T; runnerMb: number; probeMb: number }> {
  let runner = 0;
  let probe = 0;
  const sample = () => {
    runner = Math.max(runner, kb(process.pid, 'VmRSS'));
    for (const pid of probePids()) {
      try {
        probe = Math.max(probe, kb(pid, 'VmHWM'));
      } catch {
        // exited
      }
    }
  };
  const timer = setInterval(sample, 200);
  try {
    const value = await f();
    sample();
    return { value, runnerMb: runner / 1024, probeMb: probe / 1024 };
  } finally {
    clearInterval(timer);
  }
}

/** The generated estate's own intent in the matrix's terms, as the CLI resolves it (cli/sweep.ts matrixIntentOf). */
function estateIntent(spec: { services: number; replicas: number }, estate: Estate): MatrixIntent {
  const r = resolveIntent(parseIntents(estateIntentYaml(spec), 'intent.yaml'), estate);
  const calls: MatrixIntent['calls'] = [];
  for (const [identity, services] of r.declared) {
    for (const [service, declared] of services) {
      const [namespace, name] = service.split('/') as [string, string];
      calls.push({ identity, namespace, service: name, calls: declared });
    }
  }
  return { source: 'intent.yaml', namespaces: r.namespaces, calls };
}

/** `n` of the estate's identities, spread over its namespaces: every (services/n)-th service's account. */
function spreadIdentities(services: number, n: number): string[] {
  const step = Math.max(1, Math.floor(services / n));
  const out: string[] = [];
  for (let i = 0; i < services && out.length < n; i += step) out.push(`estate-${Math.floor(i / 50) + 1}/svc-${String(i).padStart(4, '0')}`);
  return out;
}

const per1000 = (k: number, cells: number) => ((k / cells) * 1000).toFixed(1);
const mb = (x: number) => `${x.toFixed(0)} MiB`;

async function labMatrix(): Promise<void> {
  const spec = { services: SERVICES, replicas: 1 };
  const lab = new LabTarget({ podsPerProcess: 250 });
  try {
    await lab.apply({ origin: ['bench matrix estate'], objects: [...estatePosture(spec), ...estateLabFaults(spec), ...loadPosture(SWEEP_FIXTURES, []).objects] });
    const options = (matrix?: MatrixOptions, onMatrixProgress?: SweepOptions['onMatrixProgress']): SweepOptions => ({
      target: lab,
      scope: { exclude: [], excludePorts: [], runNamespace: 'sweep' },
      attacker: { namespace: 'sweep', name: 'sweeper' },
      maxCertLifetimeMs: 24 * 3_600_000,
      attemptTimeoutMs: ATTEMPT_MS,
      concurrency: CONCURRENCY,
      ratePerSec: 100_000,
      batchEndpoints: BATCH,
      accessLogDelayMs: 0,
      exemptions: [],
      ...(matrix ? { matrix, onMatrixProgress } : {}),
    });
    // The plain sweep of the estate, alone.
    let t = Date.now();
    const plain = await peaks(() => sweep(options()));
    const sweepMs = Date.now() - t;
    const s = plain.value.report.counts;

    // The same sweep with the matrix: its own phase timed from its first progress report to the end.
    let matrixStart = 0;
    let shown = 0;
    t = Date.now();
    const withMatrix = await peaks(() =>
      sweep(
        options({ perPod: false, probeGrants: true, identities: spreadIdentities(SERVICES, IDENTITIES), resolveIntent: async (e) => estateIntent(spec, e) }, (p) => {
          if (p.done === 0 && matrixStart === 0) matrixStart = Date.now();
          if (p.total > 0 && Math.floor((p.done * 10) / p.total) > shown) {
            shown = Math.floor((p.done * 10) / p.total);
            process.stderr.write(`  matrix: ${p.done}/${p.total} cells attacked, ${((Date.now() - matrixStart) / 1000).toFixed(0)} s\n`);
          }
        }),
      ),
    );
    const end = Date.now();
    const m = withMatrix.value.report.matrix as MatrixReport;
    if (process.env.MESHPROOF_BENCH_DUMP) writeFileSync(process.env.MESHPROOF_BENCH_DUMP, JSON.stringify(m));
    const matrixMs = end - matrixStart;
    const planMs = matrixStart - t; // the sweep again, then discovery-to-plan: identities, targets, grants, intent, mints
    const cells = m.cells.length;
    const attempts = m.counts.attacks + m.counts.grantProbes;
    const services = new Set(m.cells.filter((c) => c.role !== 'canary').map((c) => `${c.namespace}/${c.service}`)).size;
    console.log(`access matrix on the lab: estate ${SERVICES}x1 (${s.endpoints} endpoints), ${m.identities.filter((i) => i.role !== 'canary').length} identities × ${services} Services (${m.counts.cells} cells, ${cells} with the canary's), ${CONCURRENCY} attempts in flight per probe, ${BATCH} cells per exec:`);
    console.log(`  plain sweep        ${(sweepMs / 1000).toFixed(1)} s, ${s.endpoints} endpoints (${((s.endpoints / sweepMs) * 1000).toFixed(0)}/s), ${s.execs} execs; runner peak RSS ${mb(plain.runnerMb)}, probes' peak ${mb(plain.probeMb)}`);
    console.log(
      `  sweep --matrix     ${((end - t) / 1000).toFixed(1)} s in all: sweep + grants and mints ${(planMs / 1000).toFixed(1)} s, matrix attempts ${(matrixMs / 1000).toFixed(1)} s; ${attempts} attempts (${m.counts.attacks} attacks, ${m.counts.grantProbes} grant probes) = ${((attempts / matrixMs) * 1000).toFixed(0)} attempts/s`,
    );
    console.log(`                     per 1,000 cells: ${per1000(m.counts.execs, cells)} execs, ${per1000(m.counts.logReads, cells)} destination-log reads; ${m.counts.certificates} certificates minted (one per identity); runner peak RSS ${mb(withMatrix.runnerMb)}, probes' peak ${mb(withMatrix.probeMb)}`);
    console.log(`                     cells: ${m.counts.hole} holes, ${m.counts['beyond-intent']} beyond intent, ${m.counts.granted} granted, ${m.counts.refused} refused (proven), ${m.counts['not-judged']} not judged, ${m.counts.inconclusive} inconclusive; matrix canary ${m.canary.flagged ? 'flagged' : 'NOT flagged'}`);
    console.log(`  ratio (sweep --matrix)/(plain sweep) wall time = ${((end - t) / sweepMs).toFixed(1)}; matrix attempts per sweep attempt = ${(attempts / (s.endpoints * 2)).toFixed(1)}`);
  } finally {
    await lab.dispose();
  }
}

/** The façade: the built CLI's `sweep --matrix` under the three roles, counting what it asks of the API server. */
async function facadeMatrix(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-bench-matrix-'));
  const spec = { services: FACADE.services, replicas: 1 };
  const c = await startLabCluster({ existing: estatePosture(spec), podsPerProcess: 250 });
  try {
    // Exactly what an administrator installs: each RoleBinding copied into the swept namespace (≤ 50 Services: one).
    const swept = ['estate-1'];
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml', { rolebindingsIn: swept }), ...loadRoles('deploy/rbac-matrix.yaml', { rolebindingsIn: swept })];
    const intentFile = path.join(dir, 'intent.yaml');
    writeFileSync(intentFile, estateIntentYaml(spec));
    const before = c.api.calls.length;
    const out = path.join(dir, 'bundle');
    const args = ['dist/cli.js', 'sweep', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(dir), '--matrix', '--intent', intentFile, '--identities', spreadIdentities(FACADE.services, FACADE.identities).join(','), '--batch', '100', '--out', out];
    const t = Date.now();
    const r = await runProcess(process.execPath, args, { env: { ...process.env, MESHPROOF_TIMEOUTS: 'lab' } });
    const ms = Date.now() - t;
    if (r.code !== 1) throw new Error(`façade sweep --matrix exited ${r.code}: ${r.stderr}`);
    const calls = c.api.calls.slice(before);
    const m = JSON.parse(readFileSync(path.join(out, 'matrix.json'), 'utf8')) as MatrixReport;
    const cells = m.cells.length;
    const n = (f: (x: string) => boolean) => per1000(calls.filter(f).length, cells);
    const tokens = (x: string) => x.startsWith('POST') && x.endsWith('/token');
    const execs = (x: string) => x.startsWith('EXEC');
    const logs = (x: string) => x.endsWith('/log');
    const gets = (x: string) => x.startsWith('GET') && !x.endsWith('/log');
    console.log(`access matrix through the Kubernetes API façade (built CLI, rbac.yaml + rbac-sweep.yaml + rbac-matrix.yaml): ${m.identities.filter((i) => i.role !== 'canary').length} identities × ${new Set(m.cells.filter((x) => x.role !== 'canary').map((x) => `${x.namespace}/${x.service}`)).size} Services, ${cells} cells (the canary's included), plain sweep included, ${(ms / 1000).toFixed(1)} s:`);
    console.log(`  per 1,000 cells: ${per1000(calls.length, cells)} requests in all: ${n(tokens)} TokenRequests (${calls.filter(tokens).length}, one per identity), ${n(execs)} execs (${calls.filter(execs).length}: mints, attack batches), ${n(logs)} pod-log reads (${calls.filter(logs).length}), ${n(gets)} GETs and lists`);
    const used = (f: string) => grantsOf(loadRoles(f)).filter((g) => c.api.state.rbacUsed.has(g)).length;
    console.log(`  matrix role grants used: ${used('deploy/rbac-matrix.yaml')}/${grantsOf(loadRoles('deploy/rbac-matrix.yaml')).length}; counts in matrix.json: ${m.counts.execs} execs, ${m.counts.logReads} log reads, ${m.counts.certificates} certificates`);
  } finally {
    await c.close();
  }
}

export async function matrixBench(): Promise<void> {
  const parts = (process.env.MESHPROOF_BENCH_MATRIX_PARTS ?? 'lab,facade').split(',');
  if (parts.includes('lab')) await labMatrix();
  if (parts.includes('facade')) await facadeMatrix();
}

if (import.meta.url === `file://${process.argv[1]}`) await matrixBench();
