// `npm run bench`: figures measured side by side in one run on loopback (never a timed unit test).
//  1. the agent's flood generator against autocannon: same echo, same concurrency, same request count → req/s ratio;
//  2. the agent's peak RSS (VmHWM) during a 10,000-request flood;
//  3. the wall time of a full lab run, by phase.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
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
import { ALL_CHECKS, SUITES } from '../suites/index.js';

const REQUESTS = 10_000;
const CONCURRENCY = 16;

async function startEcho(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [AGENT_BUNDLE, 'echo'], { env: { ...process.env, MESHPROOF_LAB: '1', POD_NAME: 'bench' }, stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((r) => createInterface({ input: child.stdout! }).once('line', r));
  return { child, port: (JSON.parse(line) as { ready: Record<string, number> }).ready['8080']! };
}

function vmHwmKb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

async function agentFlood(port: number): Promise<{ rps: number; peakRssMb: number; statuses: Record<string, number> }> {
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
  child.stdin!.end(JSON.stringify({ attacks: [{ kind: 'flood', id: 'bench', dial: `127.0.0.1:${port}`, path: '/', requests: REQUESTS, concurrency: CONCURRENCY, requestTimeoutMs: 10_000, timeoutMs: 120_000 }] }));
  await new Promise((r) => child.once('close', r));
  clearInterval(sampler);
  const report = JSON.parse(out) as ProbeReport;
  const flood = report.observations[0]!;
  return { rps: (flood.flood!.sent / flood.durationMs) * 1000, peakRssMb: peak / 1024, statuses: flood.flood!.statuses };
}

async function autocannonFlood(port: number): Promise<number> {
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: CONCURRENCY, amount: REQUESTS });
  return r.requests.total / (r.duration || 1);
}

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
  // Warm both paths once, then measure each twice, alternating, and keep the better figure of each.
  await autocannonFlood(echo.port);
  const agentRuns = [await agentFlood(echo.port)];
  const acRuns = [await autocannonFlood(echo.port)];
  agentRuns.push(await agentFlood(echo.port));
  acRuns.push(await autocannonFlood(echo.port));
  const agentBest = Math.max(...agentRuns.map((r) => r.rps));
  const acBest = Math.max(...acRuns);
  console.log(`flood generator vs autocannon, ${REQUESTS} requests at concurrency ${CONCURRENCY}, same echo on loopback:`);
  console.log(`  meshproof agent  ${agentBest.toFixed(0)} req/s`);
  console.log(`  autocannon       ${acBest.toFixed(0)} req/s`);
  console.log(`  ratio agent/autocannon = ${(agentBest / acBest).toFixed(2)}`);
  console.log(`agent peak RSS during the ${REQUESTS}-request flood: ${Math.max(...agentRuns.map((r) => r.peakRssMb)).toFixed(1)} MiB (statuses ${JSON.stringify(agentRuns[1]!.statuses)})`);
} finally {
  echo.child.stdin!.end();
}
const p = await phases();
const total = Object.values(p).reduce((a, b) => a + b, 0);
console.log('meshproof run --target lab, by phase:');
for (const [k, v] of Object.entries(p)) console.log(`  ${k.padEnd(22)} ${(v / 1000).toFixed(2)} s  (${((v / total) * 100).toFixed(0)}%)`);
console.log(`  ${'total'.padEnd(22)} ${(total / 1000).toFixed(2)} s`);
