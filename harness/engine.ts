// Runs a check's cases against a Target: verify the attacker, converge the positive control, attack, corroborate
// from the destination's access log and counters, judge. All I/O lives here; all judgement in classify.ts,
// expect.ts and verdict.ts.
import type { Attack, Observation } from '../agent/protocol.js';
import { statPresent, sumStat } from './access-log.js';
import { auditable, type LogSetup } from './mesh-logging.js';
import { clientHops, readRecords } from './records.js';
import type { AtFault, Case, Check, CheckContext, Examined, Step, Verdict } from './check.js';
import type { Judgement } from './classify.js';
import { meshDenialShape } from './expect.js';
import { messageOf } from './errors.js';
import type { PodRef, ProbeHandle } from './target.js';
import { judgeCase, worst } from './verdict.js';

/** The UID Istio's iptables rules exempt from capture (I: tools/istio-iptables/pkg/constants/constants.go). */
const PROXY_UID = 1337;

export interface CaseResult {
  label: string;
  verdict: Exclude<Verdict, 'not-applicable'>;
  reason: string;
  /** From the check's plan: the object the snapshot says governs this path, and the remedy (shown on a failure). */
  atFault?: AtFault;
  attacker: { pod: string; sidecar: boolean; uid: number | null; problem?: string };
  control: {
    from: string;
    to: string;
    proves: string;
    ok: boolean;
    /** `reached-echo`: the nonce (and identity) came back; `mesh-denial`: the path was proven by a corroborated mesh denial. */
    kind?: 'reached-echo' | 'mesh-denial';
    reason?: string;
    attempts: number;
    observations: Observation[];
  };
  attack: { from: string; to: string; via: string; observations: Observation[]; judgements: Judgement[] };
  corroboration: {
    describe: string;
    /** Per destination pod: whether its records can be read back, and why (§10). */
    accessLog: { pod: string; mode: LogSetup['mode']; reason: string }[];
    records: string[];
    unmatched: string[];
    /** How records were tied to attempts: by the attempt's own address, or its client sidecar's hop. */
    keyedBy: string;
    counter: string;
    counterDelta: number | null;
    /** `false`: the destination's proxy does not export the counter at all (absent, not zero; §10). */
    counterExported: boolean | null;
  };
}

export interface CheckResult {
  id: string;
  title: string;
  suite: string;
  claim: string;
  controls: string[];
  categories: Check['categories'];
  method: Check['method'];
  weakenedBy: string[];
  verdict: Verdict;
  reason: string;
  startedAt: string;
  durationMs: number;
  cases: (CaseResult | Examined)[];
}

const refText = (s: Step) => `${s.to.name}.${s.to.namespace}:${s.port}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `stopAtFailedControl`: run no further case once one's positive control failed (CHAOS-001 ends its outage then). */
export interface RunOptions {
  stopAtFailedControl?: boolean;
}

export async function runCheck(check: Check, ctx: CheckContext, opts: RunOptions = {}): Promise<CheckResult> {
  const started = new Date();
  const base = {
    id: check.id,
    title: check.title,
    suite: check.suite,
    claim: check.claim,
    controls: check.controls,
    categories: check.categories,
    method: check.method,
    weakenedBy: check.weakenedBy,
    startedAt: started.toISOString(),
  };
  const cases: (CaseResult | Examined)[] = [];
  try {
    const plan = check.plan ? await check.plan(ctx) : await check.examine!(ctx);
    if ('notApplicable' in plan) {
      return { ...base, verdict: 'not-applicable', reason: plan.notApplicable, durationMs: Date.now() - started.getTime(), cases: [] };
    }
    if (Array.isArray(plan)) cases.push(...plan);
    else
      for (const c of plan.cases) {
        const r = await runCase(c, ctx);
        cases.push(r);
        if (opts.stopAtFailedControl && !r.control.ok) break;
      }
  } catch (e) {
    // The target failed us mid-check: inconclusive, never a pass.
    return { ...base, verdict: 'error', reason: `the check could not be carried out: ${messageOf(e)}`, durationMs: Date.now() - started.getTime(), cases };
  }
  const verdict = worst(cases.map((c) => c.verdict));
  const decisive = cases.find((c) => c.verdict === verdict);
  const reason = verdict === 'pass' ? `${cases.length} case(s) passed` : `${decisive?.label}: ${decisive?.reason}`;
  return { ...base, verdict, reason, durationMs: Date.now() - started.getTime(), cases };
}

function attackOf(s: Step, dial: { dial: string; authority: string }, id: string, timeoutMs: number): Attack {
  return s.kind === 'http'
    ? { kind: 'http', id, dial: dial.dial, authority: dial.authority, method: s.method, path: s.path, timeoutMs }
    : { kind: 'tcp', id, dial: dial.dial, timeoutMs };
}

async function runCase(c: Case, ctx: CheckContext): Promise<CaseResult> {
  const { target, timeouts } = ctx;
  const attacker = await target.probe(c.attack.from);
  const controller = await target.probe(c.control.from);

  // 1. The positive control, through the same destination: N consecutive successes (§9.10).
  const control = await converge(c, controller, ctx);

  // 2. Counters before, so only this attack's effect is counted.
  const destPods = await target.servicePods(c.attack.to);
  const before = await counters(ctx, destPods, c.corroborate.counter);

  // 3. The attack. A deny must hold on every attempt.
  const since = new Date(Date.now() - timeouts.logWindowSkewMs);
  const attacks: Attack[] = [];
  if (c.attack.build) {
    attacks.push(...(await c.attack.build(attacker, 0)));
  } else if (c.attack.via === 'endpoints') {
    const eps = await target.endpoints(c.attack.to, c.attack.port);
    for (const [i, e] of eps.entries()) {
      attacks.push(attackOf(c.attack, { dial: e.dial, authority: e.dial }, `attack-${e.pod.name}-${i}`, timeouts.attackMs));
    }
  } else {
    for (let i = 0; i < timeouts.attackAttempts; i++) {
      attacks.push(attackOf(c.attack, await target.address(c.attack.to, c.attack.port, attacker), `attack-${i}`, timeouts.attackMs));
    }
  }
  let observations: Observation[] = [];
  let uid: number | null = null;
  let execProblem: string | undefined;
  try {
    const report = await attacker.run(attacks);
    observations = report.observations;
    uid = report.agent.uid;
  } catch (e) {
    execProblem = `the attack could not be run: ${messageOf(e)}`;
  }
  const judgements = observations.map(c.attack.classify);

  // 4. Corroboration: the destination's own record of each block (§6, §9.11) and its counter.
  await sleep(timeouts.accessLogDelayMs);
  const after = await counters(ctx, destPods, c.corroborate.counter);
  const setups = await Promise.all(
    destPods.map(async (p) => {
      const s = await target.accessLogSetup(p).catch((e): LogSetup => ({ mode: 'not-verifiable', reason: `the logging setup could not be read: ${messageOf(e)}`, source: '?' }));
      return { pod: `${p.namespace}/${p.name}`, mode: s.mode, reason: s.reason };
    }),
  );
  const readable = setups.length > 0 && setups.every(auditable);
  const records = await readRecords(ctx, destPods, since);
  // Through a client sidecar the destination sees the sidecar's hop, not the probe: the client's own record
  // (downstream = the probe, upstream local = the hop) ties the destination's record to the attempt.
  const byHop = Boolean(c.corroborate.keyByHop && attacker.sidecar);
  const hops = byHop ? await clientHops(ctx, attacker.pod, since) : new Map<string, string>();
  const matched: string[] = [];
  const unmatched: string[] = [];
  observations.forEach((o, i) => {
    if (judgements[i]?.outcome !== 'blocked') return;
    // Each record corroborates one attempt only.
    const hop = o.localAddress ? hops.get(o.localAddress) : undefined;
    const at = records.findIndex((x) => c.corroborate.matches(x.r, o, hop));
    if (at >= 0) matched.push(records.splice(at, 1)[0]!.line);
    else unmatched.push(`${o.id} from ${o.localAddress ?? '?'}`);
  });
  const counterDelta = typeof before === 'number' && typeof after === 'number' ? after - before : null;
  const counterExported = before === 'absent' || after === 'absent' ? false : before === null || after === null ? null : true;
  const blocks = judgements.filter((j) => j.outcome === 'blocked').length;
  const unaudited =
    readable && c.corroborate.expectRecord !== false && unmatched.length > 0
      ? `access logging is on but ${unmatched.length} blocked attempt(s) left no ${c.corroborate.describe} record (${unmatched.join(', ')})`
      : undefined;
  const counterText = counterExported === false ? `${c.corroborate.counter} is not exported by the destination's proxy (add it to proxyStatsMatcher)` : `${c.corroborate.counter} rose by ${counterDelta ?? 'n/a'}`;
  const unproven =
    c.corroborate.require === 'record-or-counter' && matched.length < blocks && (counterDelta ?? 0) < blocks
      ? `${unmatched.length} block(s) without a ${c.corroborate.describe} record, and ${counterText} for ${blocks} block(s)`
      : undefined;

  const problem = attackerProblem(c, attacker, uid);
  const judged = execProblem
    ? { verdict: 'error' as const, reason: execProblem }
    : judgeCase({ attackerProblem: problem, attacks: judgements, control, unaudited, unproven });
  return {
    label: c.label,
    ...judged,
    ...(c.atFault ? { atFault: c.atFault } : {}),
    attacker: { pod: `${attacker.pod.namespace}/${attacker.pod.name}`, sidecar: attacker.sidecar, uid, ...(problem ? { problem } : {}) },
    control: {
      from: `${c.control.from.namespace}/${c.control.from.name}`,
      to: refText(c.control),
      proves: c.control.proves,
      ok: control.ok,
      kind: control.kind,
      reason: control.reason,
      attempts: control.attempts,
      observations: control.observations,
    },
    attack: { from: `${c.attack.from.namespace}/${c.attack.from.name}`, to: refText(c.attack), via: c.attack.via, observations, judgements },
    corroboration: {
      describe: c.corroborate.describe,
      accessLog: setups,
      records: matched,
      unmatched,
      keyedBy: byHop ? `the client sidecar's hop (${hops.size} client record(s))` : 'the attempt itself (its nonce or its own address)',
      counter: c.corroborate.counter,
      counterDelta,
      counterExported,
    },
  };
}

function attackerProblem(c: Case, a: ProbeHandle, uid: number | null): string | undefined {
  if (c.attack.attacker === 'no-sidecar') {
    if (a.sidecar) return `${a.pod.namespace}/${a.pod.name} has an istio-proxy, which would upgrade its traffic to mTLS (docs/istio-behaviours.md §9.1)`;
    if (uid === PROXY_UID) return `${a.pod.namespace}/${a.pod.name} runs as UID ${PROXY_UID}, which skips capture (docs/istio-behaviours.md §9.1)`;
  } else if (!a.sidecar) {
    return `${a.pod.namespace}/${a.pod.name} has no istio-proxy`;
  }
  return undefined;
}

async function converge(c: Case, probe: ProbeHandle, ctx: CheckContext) {
  const { target, timeouts } = ctx;
  const deadline = Date.now() + timeouts.convergenceMs;
  const pods = c.control.orMeshDenial ? await target.servicePods(c.control.to) : [];
  let attempts = 0;
  let last: { ok: boolean; kind?: 'reached-echo' | 'mesh-denial'; reason?: string; observations: Observation[] } = {
    ok: false,
    reason: 'not attempted',
    observations: [],
  };
  do {
    attempts++;
    const batch: Attack[] = [];
    if (c.control.build) batch.push(...(await c.control.build(probe, attempts)));
    else {
      for (let i = 0; i < timeouts.controlConsecutive; i++) {
        batch.push(attackOf(c.control, await target.address(c.control.to, c.control.port, probe), `control-${attempts}-${i}`, timeouts.attackMs));
      }
    }
    try {
      const before = c.control.orMeshDenial ? await counters(ctx, pods, 'rbac.denied') : null;
      const num = (v: number | 'absent' | null) => (typeof v === 'number' ? v : null);
      const { observations } = await probe.run(batch);
      const reasons = observations.map(c.control.expect).filter((r): r is string => r !== undefined);
      const complete = observations.length === batch.length;
      if (complete && reasons.length === 0) {
        last = { ok: true, kind: 'reached-echo', observations };
      } else if (complete && c.control.orMeshDenial && observations.every((o) => meshDenialShape(o) === undefined)) {
        await sleep(timeouts.accessLogDelayMs);
        const after = await counters(ctx, pods, 'rbac.denied');
        const delta = num(before) === null || num(after) === null ? null : num(after)! - num(before)!;
        last =
          delta !== null && delta >= observations.length
            ? { ok: true, kind: 'mesh-denial', observations }
            : { ok: false, reason: `mesh denials without a matching rise of rbac.denied (rose by ${delta ?? 'n/a'})`, observations };
      } else {
        last = { ok: false, reason: reasons[0] ?? 'incomplete batch', observations };
      }
    } catch (e) {
      last = { ok: false, reason: `the control could not be run: ${messageOf(e)}`, observations: [] };
    }
    if (last.ok) break;
    await sleep(timeouts.retryIntervalMs);
  } while (Date.now() < deadline);
  return { ...last, attempts };
}

/** Sum of a counter over pods; `absent` when a pod's proxy does not export it at all; null when unreadable. */
async function counters(ctx: CheckContext, pods: PodRef[], suffix: string): Promise<number | 'absent' | null> {
  try {
    let n = 0;
    for (const p of pods) {
      const stats = await ctx.target.stats(p);
      if (!statPresent(stats, suffix)) return 'absent';
      n += sumStat(stats, suffix);
    }
    return n;
  } catch {
    return null; // counters are optional corroboration: a pod without a reachable admin port yields none
  }
}
