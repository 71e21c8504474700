import type { Attack, Observation } from '../../agent/protocol.js';
import { type AccessLogRecord, sameAddress } from '../../harness/access-log.js';
import { defineCheck } from '../../harness/check.js';
import { egressBlocked } from '../../harness/classify.js';
import { messageOf } from '../../harness/errors.js';
import { nonceBack } from '../../harness/expect.js';
import { auditable } from '../../harness/mesh-logging.js';
import { readRecords } from '../../harness/records.js';
import type { Ref } from '../../harness/target.js';
import { AUTHORIZED, missing, OUTSIDE } from '../mtls/shared.js';
import { egressAtFault } from './at-fault.js';
import { untilControlHolds, judged } from './shared.js';

/** The "external" servers of the fixtures: sidecar-less pods without a Service, one registered by a ServiceEntry. */
export const EXT_ALLOWED: Ref = { namespace: 'outside', name: 'ext-allowed' };
export const EXT_BLOCKED: Ref = { namespace: 'outside', name: 'ext-blocked' };
const PORTS = [
  { port: 8080, kind: 'http' as const },
  { port: 9000, kind: 'tcp' as const },
];

/**
 * The client sidecar's own record of a block (§7): HTTP → 502 on route `block_all`; TCP → tcp_proxy to
 * `BlackHoleCluster`. Both name the probe's own address as the downstream remote.
 */
export function egressRecord(r: AccessLogRecord, o: Observation): boolean {
  if (!sameAddress(r.downstreamRemoteAddress, o.localAddress)) return false;
  return o.kind === 'http' ? r.routeName === 'block_all' && r.responseCode === 502 : r.upstreamCluster === 'BlackHoleCluster';
}

export const egress001 = defineCheck({
  id: 'EGRESS-001',
  title: 'Egress from the mesh reaches only registered destinations',
  suite: 'boundary',
  claim:
    "From an in-mesh client whose namespace is locked to the registry, HTTP and TCP to an unregistered address are blocked by its own sidecar (502 from block_all, a closed BlackHoleCluster connection) and recorded in its access log, while the registered destination is reached on the same ports and the unregistered one answers a client outside the mesh.",
  categories: ['e'],
  weakenedBy: ['egress-allow-any.yaml', 'egress-wildcard-serviceentry.yaml'],
  method: 'TEST',
  examine: async (ctx) => {
    const absent = missing(ctx.view, [
      { kind: 'Deployment', ref: AUTHORIZED },
      { kind: 'Deployment', ref: EXT_ALLOWED },
      { kind: 'Deployment', ref: EXT_BLOCKED },
      { kind: 'Deployment', ref: OUTSIDE },
    ]);
    if (absent) return { notApplicable: absent };
    const { target, timeouts } = ctx;
    const probe = await target.probe(AUTHORIZED);
    const label = (port: number, kind: string) => `${AUTHORIZED.namespace}/${AUTHORIZED.name} → unregistered ${EXT_BLOCKED.name}:${port} (${kind}), registered ${EXT_ALLOWED.name}:${port}`;
    if (!probe.sidecar) return PORTS.map((p) => ({ label: label(p.port, p.kind), verdict: 'error' as const, reason: `attacker not valid: ${probe.pod.namespace}/${probe.pod.name} has no istio-proxy; REGISTRY_ONLY constrains sidecar pods only (docs/istio-behaviours.md §7)`, observed: {} }));
    // Without a sidecar the registry constrains nothing: from there the unregistered server must answer, so a close
    // from the attacker's own sidecar is the lock, not a dead destination (§9.8).
    const outside = await target.probe(OUTSIDE);
    const setup = await target.accessLogSetup(probe.pod, 'client').catch((e) => ({ mode: 'not-verifiable' as const, reason: messageOf(e), source: '?' }));
    const items = [];
    for (const p of PORTS) {
      let dialed: { ip?: string; authority?: string } = {};
      const attack = (to: Ref, id: string, from = probe) => async (): Promise<Attack> => {
        const d = await target.external(to, p.port, from);
        if (to === EXT_BLOCKED && from === probe) dialed = { ip: d.dial.replace(/^\[?(.*?)\]?:\d+$/, '$1'), authority: d.authority };
        return p.kind === 'http' ? { kind: 'http', id, dial: d.dial, authority: d.authority, path: '/', timeoutMs: timeouts.attackMs } : { kind: 'tcp', id, dial: d.dial, timeoutMs: timeouts.attackMs };
      };
      // Two positive controls: the registered server through the same sidecar and port, and the unregistered one
      // itself, alive, from outside the mesh.
      const registered = await untilControlHolds(ctx, probe, async (round) => Promise.all(Array.from({ length: timeouts.controlConsecutive }, (_, i) => attack(EXT_ALLOWED, `registered-${round}-${i}`)())), nonceBack);
      const alive = await untilControlHolds(ctx, outside, async (round) => [await attack(EXT_BLOCKED, `alive-${round}`, outside)()], nonceBack);
      const control = {
        ok: registered.ok && alive.ok,
        reason: registered.ok ? (alive.ok ? undefined : `${EXT_BLOCKED.name} does not answer even from outside the mesh: ${alive.reason}`) : registered.reason,
        observations: [...registered.observations, ...alive.observations],
      };
      try {
        const since = new Date(Date.now() - timeouts.logWindowSkewMs);
        const batch = await Promise.all(Array.from({ length: timeouts.attackAttempts }, (_, i) => attack(EXT_BLOCKED, `unregistered-${i}`)()));
        const { observations } = await probe.run(batch);
        const judgements = observations.map((o) => ({ observation: o, judgement: egressBlocked(o) }));
        await new Promise((r) => setTimeout(r, timeouts.accessLogDelayMs));
        const records = await readRecords(ctx, [probe.pod], since);
        const blocked = judgements.filter((j) => j.judgement.outcome === 'blocked').map((j) => j.observation);
        const matched = blocked.map((o) => records.find((x) => egressRecord(x.r, o))?.line);
        const missingRecords = blocked.filter((_, i) => matched[i] === undefined).map((o) => `${o.id} from ${o.localAddress ?? '?'}`);
        const unaudited = auditable(setup) && missingRecords.length > 0 ? `client access logging is on but ${missingRecords.length} blocked attempt(s) left no ${p.kind === 'http' ? 'block_all 502' : 'BlackHoleCluster'} record (${missingRecords.join(', ')})` : undefined;
        const item = judged(label(p.port, p.kind), control, judgements, { unaudited, observed: { accessLog: { mode: setup.mode, reason: setup.reason }, records: matched.filter(Boolean) } });
        items.push(item.verdict === 'fail' ? { ...item, atFault: egressAtFault(ctx.view, AUTHORIZED, p.port, p.kind, dialed) } : item);
      } catch (e) {
        items.push({ label: label(p.port, p.kind), verdict: 'error' as const, reason: `the attack could not be run: ${messageOf(e)}`, observed: {} });
      }
    }
    return items;
  },
});
