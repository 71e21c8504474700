import type { HttpAttack, Observation } from '../../agent/protocol.js';
import { sameAddress } from '../../harness/access-log.js';
import { auditGaps } from '../../harness/audit.js';
import { defineCheck, type Examined } from '../../harness/check.js';
import { plaintextRefused } from '../../harness/classify.js';
import { anyOf, meshDenialShape, reachedEcho } from '../../harness/expect.js';
import { messageOf } from '../../harness/errors.js';
import { auditable } from '../../harness/mesh-logging.js';
import { readRecords } from '../../harness/records.js';
import { loggingOffAtFault, trailGapAtFault } from './at-fault.js';
import type { PodRef } from '../../harness/target.js';
import { AUTHORIZED, AUTHORIZED_SA, missing, OUTSIDE } from '../mtls/shared.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const audit001 = defineCheck({
  id: 'AUDIT-001',
  title: 'Every attempt on an in-mesh workload leaves a complete record at the destination',
  suite: 'audit',
  claim:
    'For every in-mesh Service the run touches, a plaintext attempt (refused, or served where a posture allows it) and an in-mesh call (allowed, or denied by the mesh where nothing is granted) each leave a record in the destination sidecar\'s own access log carrying time, source address, destination address and port, protocol (HTTP) and response code or termination reason; a destination whose access logging is off fails.',
  categories: ['g'],
  weakenedBy: ['logging-off-mesh.yaml'],
  method: 'TEST',
  examine: async ({ view, target, timeouts }) => {
    const absent = missing(view, [
      { kind: 'Deployment', ref: AUTHORIZED },
      { kind: 'Deployment', ref: OUTSIDE },
    ]);
    if (absent) return { notApplicable: absent };
    const services = view.inMeshServices().filter((s) => s.ports.some((p) => p.protocol === 'http'));
    if (services.length === 0) return { notApplicable: 'the posture has no in-mesh Service with an HTTP port' };
    const inMesh = await target.probe(AUTHORIZED);
    const outside = await target.probe(OUTSIDE);
    const id = target.identity(AUTHORIZED.namespace, view.serviceAccountOf(AUTHORIZED) ?? AUTHORIZED_SA);
    const results: Examined[] = [];
    for (const svc of services) {
      const port = svc.ports.find((p) => p.protocol === 'http')!;
      const label = `${svc.namespace}/${svc.name}:${port.port}`;
      try {
        const pods = await target.servicePods(svc);
        if (outside.sidecar) {
          results.push({ label, verdict: 'error', reason: `${OUTSIDE.namespace}/${OUTSIDE.name} has an istio-proxy: it cannot send plaintext (docs/istio-behaviours.md §9.1)`, observed: {} });
          continue;
        }
        const since = new Date(Date.now() - timeouts.logWindowSkewMs);
        // The allowed (or, where nothing is granted, mesh-denied) call, and the refused plaintext, per pod.
        const call = async (): Promise<Observation[]> => {
          const d = await target.address(svc, port.port, inMesh);
          const a: HttpAttack = { kind: 'http', id: 'in-mesh', dial: d.dial, authority: d.authority, timeoutMs: timeouts.attackMs };
          return (await inMesh.run([a])).observations;
        };
        const allowed = await call();
        const expectation = anyOf(reachedEcho(id), meshDenialShape);
        const controlProblem = allowed.length === 1 ? expectation(allowed[0]!) : 'no observation';
        const eps = await target.endpoints(svc, port.port);
        const refused = (await outside.run(eps.map((e, i): HttpAttack => ({ kind: 'http', id: `plaintext-${i}`, dial: e.dial, authority: e.dial, timeoutMs: timeouts.attackMs })))).observations;
        const setups = await Promise.all(pods.map(async (p) => ({ pod: p, setup: await target.accessLogSetup(p) })));
        await sleep(timeouts.accessLogDelayMs);
        const records = await readRecords({ target }, pods, since);
        const observed = { setups: setups.map((s) => ({ pod: `${s.pod.namespace}/${s.pod.name}`, ...s.setup })), allowed, refused, records: records.map((r) => r.line) };
        // The path must work before the trail can be judged (judgement order).
        if (controlProblem) {
          results.push({ label, verdict: 'error', reason: `positive control failed: the in-mesh call was neither served nor denied by the mesh (${controlProblem})`, observed });
          continue;
        }
        // A plaintext attempt is audited whether it was refused (NR record) or served (an HTTP record, under a
        // PERMISSIVE posture the MTLS checks fail): every attempt must leave a record. Only an inconclusive
        // attempt (timeout, refused connection) leaves nothing to look for.
        const inconclusive = refused.filter((o) => plaintextRefused(o).outcome !== 'blocked' && !o.http);
        if (inconclusive.length > 0) {
          results.push({ label, verdict: 'error', reason: `${inconclusive.length} plaintext attempt(s) were inconclusive (${inconclusive[0]!.failure?.class ?? 'no answer'}): nothing to audit`, observed });
          continue;
        }
        const off = setups.filter((s) => s.setup.mode === 'off');
        if (off.length > 0) {
          const atFault = loggingOffAtFault(off);
          results.push({ label, verdict: 'fail', reason: `access logging is off for ${off.map((s) => `${s.pod.namespace}/${s.pod.name}`).join(', ')}: ${off[0]!.setup.reason}`, observed, ...(atFault ? { atFault } : {}) });
          continue;
        }
        const unreadable = setups.find((s) => !auditable(s.setup));
        if (unreadable) {
          results.push({ label, verdict: 'error', reason: `the trail cannot be read back: ${unreadable.setup.reason}`, observed });
          continue;
        }
        const gaps: string[] = [];
        const take = (o: Observation, kind: 'http' | 'connection', match: (r: (typeof records)[number]) => boolean) => {
          const at = records.findIndex(match);
          if (at < 0) {
            gaps.push(`${o.id}: no record at the destination`);
            return;
          }
          const [hit] = records.splice(at, 1);
          const g = auditGaps(hit!.r, kind);
          if (g.length > 0) gaps.push(`${o.id} (${podName(hit!.pod)}): ${g.join(', ')}`);
        };
        for (const o of allowed) take(o, 'http', (x) => x.r.path.includes(o.nonce));
        for (const o of refused) {
          if (o.http) take(o, 'http', (x) => x.r.path.includes(o.nonce));
          else take(o, 'connection', (x) => x.r.responseFlags.split(',').includes('NR') && sameAddress(x.r.downstreamRemoteAddress, o.localAddress));
        }
        results.push(
          gaps.length > 0
            ? { label, verdict: 'fail', reason: `unaudited or incomplete: ${gaps.join('; ')}`, observed, atFault: trailGapAtFault(setups) }
            : { label, verdict: 'pass', reason: `${allowed.length + refused.length} attempt(s), each with a complete destination record (${setups[0]!.setup.mode})`, observed },
        );
      } catch (e) {
        results.push({ label, verdict: 'error', reason: `could not be carried out: ${messageOf(e)}`, observed: {} });
      }
    }
    return results;
  },
});

const podName = (p: PodRef) => `${p.namespace}/${p.name}`;
