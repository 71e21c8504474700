// Pieces the boundary checks share (issue 12): which edge they attack (the posture's own gateway, or the user's
// with `--edge`), the external client that attacks it, and one judgement for "control, then attacks".
import { rootCertificates } from 'node:tls';
import type { Attack, Observation } from '../../agent/protocol.js';
import type { CheckContext, Examined } from '../../harness/check.js';
import type { Judgement } from '../../harness/classify.js';
import type { Expectation } from '../../harness/expect.js';
import type { EdgeView } from '../../harness/posture/view.js';
import type { ProbeHandle, Ref } from '../../harness/target.js';
import { judgeCase } from '../../harness/verdict.js';
import { messageOf } from '../../harness/errors.js';
import { runAttacks } from '../../agent/probe.js';
import { OUTSIDE } from '../mtls/shared.js';

/** The edge is attacked from outside the mesh: a client without a sidecar, as the internet is. */
export const EDGE_CLIENT: Ref = OUTSIDE;

export interface EdgeTarget extends EdgeView {
  /** `--edge-url`: the edge's address as the runner reaches it (an external vantage point as well). */
  url?: { host: string; port: number; httpPort: number };
  /** `posture`: the run's own gateway (the echo app answers behind it); `user`: `--edge`, read-only. */
  kind: 'posture' | 'user';
}

/** The edge EDGE-001..003 attack: `--edge` when given, else the posture's own gateway. */
export function edgeOf(ctx: CheckContext, own = false): EdgeTarget | { notApplicable: string } {
  if (ctx.settings.edge && !own) {
    // The anchors stay in the settings (edgeAnchors): the edge as evidence names where it is, not a PEM bundle.
    const { trustPem: _anchors, ...edge } = ctx.settings.edge;
    return { ...edge, kind: 'user' };
  }
  const e = ctx.view.edge();
  if (!e) return { notApplicable: 'the posture has no Istio Gateway with an HTTPS server in front of a Service (and no --edge was given)' };
  return { ...e, kind: 'posture' };
}

/** What EDGE-003 verifies the edge's chain against: `--edge-ca`, the run's own edge CA, else the public roots. */
export async function edgeAnchors(ctx: CheckContext, edge: EdgeTarget): Promise<{ pem: string[]; source: string }> {
  if (edge.kind === 'user') {
    const given = ctx.settings.edge?.trustPem;
    return given?.length ? { pem: given, source: `--edge-ca (${given.length} certificate(s))` } : { pem: [...rootCertificates], source: "the runner's Node.js public root store" };
  }
  return { pem: await ctx.target.edgeRoots(), source: 'the edge CA this run generated the gateway certificate with' };
}

/** An HTTPS request to the edge for its host: SNI and Host are the host, ALPN http/1.1, no client certificate. */
export function httpsTo(edge: EdgeTarget, dial: string, id: string, timeoutMs: number, extra: Partial<Extract<Attack, { kind: 'tls' }>> = {}): Attack {
  return { kind: 'tls', id, dial, servername: edge.host, authority: edge.host, alpn: ['http/1.1'], path: '/', timeoutMs, ...extra };
}

/** A positive control at the edge: the posture's edge must return the echo app's nonce; a user's edge any HTTP answer. */
export function edgeAnswered(edge: EdgeTarget): Expectation {
  return (o) => {
    if (!o.tls?.handshake) return `no TLS handshake (${o.failure?.class ?? 'no failure recorded'}${o.failure?.code ? `, ${o.failure.code}` : ''})`;
    if (!o.http) return 'the handshake succeeded but no HTTP answer came back';
    if (edge.kind === 'user') return undefined;
    if (o.http.echo?.nonce !== o.nonce) return `HTTP ${o.http.status} without the echo app's nonce: the edge did not route to echo`;
    return undefined;
  };
}

/** One examined item from a positive control and judged attacks, in the engine's order of judgement. */
export function judged(label: string, control: { ok: boolean; reason?: string; observations: Observation[] }, attacks: { observation: Observation; judgement: Judgement }[], extra: { unaudited?: string; observed?: Record<string, unknown> } = {}): Examined {
  const j = judgeCase({ attacks: attacks.map((a) => a.judgement), control, unaudited: extra.unaudited });
  return {
    label,
    verdict: j.verdict,
    reason: j.reason,
    observed: {
      control: { ok: control.ok, ...(control.reason ? { reason: control.reason } : {}), observations: control.observations },
      attacks,
      ...extra.observed,
    },
  };
}

/**
 * The positive control of a boundary check: `build(round)` makes the round's attempts, all of which must meet `expect`;
 * rounds repeat until they do or convergence time runs out (a gateway's config and certificate arrive by push).
 */
export async function untilControlHolds(ctx: CheckContext, probe: ProbeHandle, build: (round: number) => Promise<Attack[]>, expect: Expectation): Promise<{ ok: boolean; reason?: string; observations: Observation[]; rounds: number }> {
  return untilRoundHolds(ctx, probe, build, (observations) => observations.map(expect).find((r) => r !== undefined));
}

/** The same, with one expectation over a whole round's observations (a control met by any one of them). */
export async function untilRoundHolds(
  ctx: CheckContext,
  probe: ProbeHandle,
  build: (round: number) => Promise<Attack[]>,
  expectRound: (observations: Observation[]) => string | undefined,
): Promise<{ ok: boolean; reason?: string; observations: Observation[]; rounds: number }> {
  const deadline = Date.now() + ctx.timeouts.convergenceMs;
  let last: { ok: boolean; reason?: string; observations: Observation[] } = { ok: false, reason: 'not attempted', observations: [] };
  let rounds = 0;
  do {
    rounds++;
    try {
      const { observations } = await probe.run(await build(rounds));
      const why = expectRound(observations);
      last = { ok: why === undefined && observations.length > 0, reason: why, observations };
    } catch (e) {
      last = { ok: false, reason: `the control could not be run: ${(e as Error).message}`, observations: [] };
    }
    if (last.ok) break;
    await new Promise((r) => setTimeout(r, ctx.timeouts.retryIntervalMs));
  } while (Date.now() < deadline);
  return { ...last, rounds };
}

/** The edge's client must be outside the mesh: with a sidecar its traffic would be the mesh's own (§9.1). */
export function clientProblem(probe: ProbeHandle): string | undefined {
  return probe.sidecar ? `${probe.pod.namespace}/${probe.pod.name} has an istio-proxy: it is no external client (docs/istio-behaviours.md §9.1)` : undefined;
}

/** Whether a DNS SAN (RFC 6125: a wildcard covers exactly one leftmost label) covers `host`. */
export function dnsNameCovers(san: string, host: string): boolean {
  const s = san.toLowerCase();
  const h = host.toLowerCase();
  if (!s.startsWith('*.')) return s === h;
  const rest = h.slice(h.indexOf('.') + 1);
  return h.includes('.') && rest === s.slice(2) && !h.startsWith('.');
}

/** Where an edge is attacked from, and how that place dials the edge's HTTPS and plaintext ports. */
export interface Vantage {
  name: string;
  probe: ProbeHandle;
  https(): Promise<string>;
  http(): Promise<string>;
}

/**
 * The vantage points for an edge: the sidecar-less probe pod (inside the cluster, dialling the edge's Service), and
 * with `--edge-url` the runner itself (the path a client outside the cluster takes).
 */
export async function vantagesOf(ctx: CheckContext, edge: EdgeTarget): Promise<Vantage[] | { problem: string }> {
  const probe = await ctx.target.probe(EDGE_CLIENT);
  const problem = clientProblem(probe);
  if (problem) return { problem };
  const out: Vantage[] = [
    {
      name: `${EDGE_CLIENT.namespace}/${EDGE_CLIENT.name}`,
      probe,
      https: async () => (await ctx.target.address(edge.service, edge.httpsPort, probe)).dial,
      http: async () => (await ctx.target.address(edge.service, edge.httpPort ?? 80, probe)).dial,
    },
  ];
  if (edge.url) {
    const { host, port, httpPort } = edge.url;
    const at = (p: number) => (host.includes(':') ? `[${host}]:${p}` : `${host}:${p}`);
    out.push({ name: 'the runner (--edge-url)', probe: runnerProbe(), https: async () => at(port), http: async () => at(httpPort) });
  }
  return out;
}

/** The runner as a probe: the agent's own attack code, run in this process (no sidecar, no cluster hop). */
export function runnerProbe(): ProbeHandle {
  const ref = { namespace: 'runner', name: 'meshproof' };
  return {
    workload: ref,
    pod: { ...ref, workload: ref.name },
    sidecar: false,
    spiffeId: '',
    run: async (attacks, opts) => ({ agent: { version: 'runner', pod: 'runner', uid: process.getuid?.() ?? null }, observations: await runAttacks(attacks, opts) }),
  };
}

/**
 * The shape of EDGE-001..003: the edge they attack (not-applicable without one), a refusal `before` anything runs,
 * then one judged item per vantage point. An exception while attacking from one vantage is that item's `error`.
 */
export async function atEachVantage(
  ctx: CheckContext,
  where: (edge: EdgeTarget) => string,
  one: (edge: EdgeTarget, v: Vantage, label: string) => Promise<Examined>,
  before?: (edge: EdgeTarget) => string | undefined | Promise<string | undefined>,
): Promise<Examined[] | { notApplicable: string }> {
  const edge = edgeOf(ctx);
  if ('notApplicable' in edge) return edge;
  const at = where(edge);
  const refused = await before?.(edge);
  if (refused) return [{ label: at, verdict: 'error', reason: refused, observed: { edge } }];
  const vantages = await vantagesOf(ctx, edge);
  if ('problem' in vantages) return [{ label: at, verdict: 'error', reason: `attacker not valid: ${vantages.problem}`, observed: {} }];
  const items: Examined[] = [];
  for (const v of vantages) {
    const label = `${v.name} → ${at}`;
    try {
      items.push(await one(edge, v, label));
    } catch (e) {
      items.push({ label, verdict: 'error', reason: `the attack could not be run: ${messageOf(e)}`, observed: { edge } });
    }
  }
  return items;
}
