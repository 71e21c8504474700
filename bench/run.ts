// `npm run bench`: figures measured side by side in one run on loopback (never a timed unit test).
//  1. the agent's flood generator against autocannon: same echo, same concurrency, each run at least 5 s, both
//     timed by the machine's wall clock (autocannon's own report is in whole seconds: a 10,000-request run would
//     read 10,000 req/s whatever it took), alternating, median of 3 → req/s ratio;
//  2. the largest concurrency the agent holds (requests held open by echo) with its peak RSS at each level, up to
//     the most RES-001 ever asks of it (MAX_FLOOD_CONCURRENCY);
//  3. the wall time of a full lab run, by phase;
//  4. the sweep (bench/sweep.ts): lab memory per estate pod, a 1,000-endpoint sweep against one exec and one curl
//     per endpoint, and API calls and execs per 100 endpoints through the Kubernetes API façade.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import type { ProbeReport } from '../agent/protocol.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { AGENT_BUNDLE } from '../harness/paths.js';
import { loadPosture } from '../harness/posture/load.js';
import { writeBundle } from '../harness/report/bundle.js';
import { RunSession } from '../harness/run.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { MAX_FLOOD_CONCURRENCY } from '../suites/resilience/shared.js';
import { ALL_CHECKS, SUITES } from '../suites/index.js';
import { matrixBench } from './matrix.js';
import { sweepBench } from './sweep.js';

const RUN_SECONDS = 5;
const CONCURRENCY = 16;
const REPEATS = 3;
/** Each request is held this long by echo, so the concurrency levels are really held at once. */
const HOLD_MS = 1_000;

async function startEcho(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [AGENT_BUNDLE, 'echo'], { env: { ...process.env, MESHPROOF_LAB: '1', POD_NAME: 'bench' }, stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((r) => createInterface({ input: child.stdout! }).once('line', r));
  return { child, port: (JSON.parse(line) as { ready: Record<string, number> }).ready['8080']! };
}

function vmHwmKb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** One agent flood, bounded by time (and by a request count it never reaches). */
async function agentFlood(port: number, o: { concurrency: number; seconds: number; path: string; requests: number }): Promise<{ rps: number; sent: number; peakRssMb: number; statuses: Record<string, number> }> {
  const child = spawn(process.execPath, [AGENT_BUNDLE, 'probe'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, vmHwmKb(child.pid!));
    } catch {
      // exited
    }
  }, 20);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const attack = { kind: 'flood', id: 'bench', dial: `127.0.0.1:${port}`, path: o.path, requests: o.requests, concurrency: o.concurrency, requestTimeoutMs: 30_000, timeoutMs: o.seconds * 1000 };
  child.stdin!.end(JSON.stringify({ attacks: [attack] }));
  await new Promise((r) => child.once('close', r));
  clearInterval(sampler);
  const flood = (JSON.parse(out) as ProbeReport).observations[0]!;
  // startedAt and durationMs come from the system clock, the same clock that times autocannon below.
  return { rps: (flood.flood!.sent / flood.durationMs) * 1000, sent: flood.flood!.sent, peakRssMb: peak / 1024, statuses: flood.flood!.statuses };
}

async function autocannonFlood(port: number): Promise<number> {
  const t0 = Date.now();
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: CONCURRENCY, duration: RUN_SECONDS });
  return (r.requests.total / (Date.now() - t0)) * 1000;
}

async function echoPeak(port: number): Promise<number> {
  const body = await new Promise<string>((resolve, reject) =>
    http.get({ host: '127.0.0.1', port, path: '/stats' }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => {
        b += d.toString();
      });
      res.on('end', () => resolve(b));
    }).on('error', reject),
  );
  return (JSON.parse(body) as { stats: { peakInFlight: number } }).stats.peakInFlight;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function phases(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const lab = new LabTarget();
  const posture = loadPosture('fixtures/secure');
  const session = new RunSession({ target: lab, posture, timeouts: LAB_TIMEOUTS });
  try {
    let t = Date.now();
    await session.apply();
    out['lab start + fixtures'] = Date.now() - t;
    for (const [suite, checks] of Object.entries(SUITES)) {
      t = Date.now();
      for (const c of checks) await session.check(c);
      out[`suite ${suite}`] = Date.now() - t;
    }
    const run = await session.finish();
    t = Date.now();
    writeBundle({ outDir: mkdtempSync(path.join(tmpdir(), 'meshproof-bench-')), run, posture, allChecks: ALL_CHECKS });
    out.reports = Date.now() - t;
  } finally {
    const t = Date.now();
    await lab.dispose();
    out['lab teardown'] = Date.now() - t;
  }
  return out;
}

const echo = await startEcho();
try {
  // Warm both paths once, then alternate, REPEATS runs each, and keep the median of each.
  await autocannonFlood(echo.port);
  const agentRuns: number[] = [];
  const acRuns: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    agentRuns.push((await agentFlood(echo.port, { concurrency: CONCURRENCY, seconds: RUN_SECONDS, path: '/', requests: 100_000_000 })).rps);
    acRuns.push(await autocannonFlood(echo.port));
  }
  console.log(`flood generator vs autocannon, ${RUN_SECONDS} s runs at concurrency ${CONCURRENCY}, same echo on loopback, median of ${REPEATS}:`);
  console.log(`  meshproof agent  ${median(agentRuns).toFixed(0)} req/s   (runs: ${agentRuns.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`  autocannon       ${median(acRuns).toFixed(0)} req/s   (runs: ${acRuns.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`  ratio agent/autocannon = ${(median(agentRuns) / median(acRuns)).toFixed(2)}`);
} finally {
  echo.child.stdin!.end();
}
// The concurrency the agent really holds: each level against a fresh echo that holds every request HOLD_MS.
console.log(`concurrency the agent holds (each request held ${HOLD_MS} ms by echo), with the agent's peak RSS:`);
for (const level of [16, 64, 256, MAX_FLOOD_CONCURRENCY]) {
  const e = await startEcho();
  try {
    const f = await agentFlood(e.port, { concurrency: level, seconds: 30, path: `/delay/${HOLD_MS}`, requests: level * 2 });
    console.log(`  ${String(level).padStart(4)} asked → ${String(await echoPeak(e.port)).padStart(4)} held at once by echo, peak RSS ${f.peakRssMb.toFixed(1)} MiB, ${JSON.stringify(f.statuses)}`);
  } finally {
    e.child.stdin!.end();
  }
}
const p = await phases();
const total = Object.values(p).reduce((a, b) => a + b, 0);
console.log('meshproof run --target lab, by phase:');
for (const [k, v] of Object.entries(p)) console.log(`  ${k.padEnd(22)} ${(v / 1000).toFixed(2)} s  (${((v / total) * 100).toFixed(0)}%)`);
console.log(`  ${'total'.padEnd(22)} ${(total / 1000).toFixed(2)} s`);
await sweepBench();
await matrixBench();
