// The lab fault the access matrix must catch (issue 22): LabFault `skipAuthorizationPolicy: <ns>/<name>` makes the
// lab's sidecars not enforce that one AuthorizationPolicy, as if istiod never pushed it, while the policy stays in
// the posture and in every model prediction. Over real loopback sockets: the estate's denied identity, holding a
// genuine lab certificate, reaches the app through the skipped DENY; without the fault the same request is refused
// and the destination records that DENY. Every other policy is still enforced.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Observation, TlsAttack } from '../agent/protocol.js';
import { applicable } from '../cluster/lab/authz.js';
import { estateLabFaults, estateMatrixFindings, estateMatrixHole, estatePosture } from '../cluster/lab/estate.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { buildModel, enforced } from '../cluster/lab/model.js';
import { ConfigError } from '../harness/errors.js';
import { parseAccessLog, type AccessLogRecord } from '../harness/access-log.js';
import { evaluate } from '../harness/istio/authz.js';
import { SWEEP_FIXTURES } from '../harness/paths.js';
import { loadPosture, type Posture, type PostureObject } from '../harness/posture/load.js';
import { recordOf } from '../harness/sweep/sweep.js';
import type { DestinationRecord } from '../harness/sweep/judge.js';

const SPEC = { services: 6, replicas: 1 };
const HOLE = estateMatrixHole(SPEC);
const [HOLE_NS, HOLE_SA] = HOLE.identity.split('/') as [string, string];

function posture(withFault: boolean): Posture {
  const objects: PostureObject[] = [...estatePosture(SPEC), ...loadPosture(SWEEP_FIXTURES, []).objects, ...(withFault ? estateLabFaults(SPEC) : [])];
  return { origin: ['lab-matrix-fault'], objects };
}

/** One mTLS request from the sidecar-less sweeper, holding a lab certificate for `namespace/sa`, to the hole's pod. */
async function attempt(lab: LabTarget, namespace: string, sa: string, port = 8080): Promise<{ o: Observation; record?: DestinationRecord }> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cert = await lab.signForIdentity(publicKey.export({ type: 'spki', format: 'der' }), namespace, sa, 600_000);
  const sweeper = await lab.probe({ namespace: 'sweep', name: 'sweeper' });
  const [pod] = await lab.servicePods({ namespace: HOLE.namespace, name: HOLE.service });
  const since = new Date(Date.now() - 1_000);
  const attack: TlsAttack = {
    kind: 'tls',
    id: 'm',
    dial: await lab.podAddress(pod!, port),
    certChainPem: cert.chainPem,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    alpn: port === 8080 ? ['istio-http/1.1'] : ['istio'],
    authority: `${HOLE.service}.${HOLE.namespace}.svc.cluster.local:${port}`,
    path: '/.meshproof/matrix/lab-fault',
    timeoutMs: 3_000,
  };
  const { observations } = await sweeper.run([attack]);
  const o = observations[0]!;
  await new Promise((r) => setTimeout(r, 100)); // the access log is written as the stream closes
  const records = (await lab.accessLog(pod!, since)).map(parseAccessLog).filter((r): r is AccessLogRecord => r !== undefined);
  return { o, record: recordOf(records, o) };
}

describe('LabFault skipAuthorizationPolicy (issue 22: the enforcement hole the matrix must find)', () => {
  let faulted: LabTarget;
  let clean: LabTarget;
  beforeAll(async () => {
    faulted = new LabTarget({ podsPerProcess: 250 });
    clean = new LabTarget({ podsPerProcess: 250 });
    await Promise.all([faulted.apply(posture(true)), clean.apply(posture(false))]);
  });
  afterAll(async () => {
    await Promise.all([faulted?.dispose(), clean?.dispose()]);
  });

  it('the model denies the identity by the skipped DENY; only the sidecars lack it', () => {
    const model = buildModel(posture(true));
    expect(model.faults.skipAuthorizationPolicies).toEqual([HOLE.policy]);
    const labels = { app: HOLE.service };
    const req = { principal: `cluster.local/ns/${HOLE_NS}/sa/${HOLE_SA}`, namespace: HOLE_NS, method: 'GET', path: '/.meshproof/matrix/x', port: 8080, http: true };
    const [ns, name] = HOLE.policy.split('/');
    expect(evaluate(applicable(model.authorizationPolicies, HOLE.namespace, labels), req)).toMatchObject({ allowed: false, policy: `ns[${ns}]-policy[${name}]-rule[0]` });
    expect(evaluate(applicable(enforced(model), HOLE.namespace, labels), req).allowed).toBe(true); // the namespace-wide ALLOW
    expect(estateMatrixFindings(SPEC).filter((f) => f.state === 'hole' && f.kind === 'skipped-policy')).toEqual([
      { kind: 'skipped-policy', state: 'hole', identity: HOLE.identity, namespace: HOLE.namespace, service: HOLE.service, ports: [8080, 9000], why: `AuthorizationPolicy ${HOLE.policy} not pushed (LabFault)` },
    ]);
  });

  it('with the fault, a request the model denies reaches the app over real sockets (HTTP and TCP), and the destination records it passed upstream', async () => {
    const { o, record } = await attempt(faulted, HOLE_NS, HOLE_SA);
    expect(o.tls?.handshake).toBe(true);
    expect(o.http?.status).not.toBe(403);
    expect(o.http?.echo, JSON.stringify(o.http)).toBeDefined(); // the echo app answered: a hole
    expect(record?.layer).toBe('upstream');
    const tcp = await attempt(faulted, HOLE_NS, HOLE_SA, 9000);
    expect(tcp.record?.layer).toBe('upstream');
    expect(tcp.o.bytesReceived).toBeGreaterThan(0);
  });

  it('with the fault, every other policy is still enforced: an identity outside the namespace is refused by the ALLOW', async () => {
    const { o, record } = await attempt(faulted, 'sweep', 'sweeper');
    expect(o.http?.status).toBe(403);
    expect(record).toEqual({ layer: 'rbac', detail: 'rbac_access_denied_matched_policy[none]' });
  });

  it('without the fault, the same request is refused and the destination records the DENY rule', async () => {
    const { o, record } = await attempt(clean, HOLE_NS, HOLE_SA);
    expect(o.http?.status).toBe(403);
    const [ns, name] = HOLE.policy.split('/');
    expect(record).toEqual({ layer: 'rbac', detail: `rbac_access_denied_matched_policy[ns[${ns}]-policy[${name}]-rule[0]]` });
    const tcp = await attempt(clean, HOLE_NS, HOLE_SA, 9000);
    expect(tcp.record?.layer).toBe('rbac');
  });

  it('the planted over-grants are grants by the model, and only with holes (without them each policy is exactly the intent)', () => {
    const findings = estateMatrixFindings(SPEC);
    const decide = (holes: boolean, f: { identity: string; namespace: string; service: string }, method: string, port = 8080) => {
      const [ns, sa] = f.identity.split('/') as [string, string];
      const model = buildModel({ origin: ['t'], objects: estatePosture({ ...SPEC, holes }) });
      const req = { principal: `cluster.local/ns/${ns}/sa/${sa}`, namespace: ns, method, path: '/.meshproof/matrix/x', port, http: port === 8080 };
      return evaluate(applicable(model.authorizationPolicies, f.namespace, { app: f.service }), req);
    };
    for (const kind of ['namespace-wide', 'open-to-any-identity', 'all-methods'] as const) {
      const mine = findings.filter((f) => f.kind === kind);
      expect(mine.length, kind).toBeGreaterThan(0);
      for (const f of mine) {
        for (const port of f.ports) expect(decide(true, f, 'POST', port), `${kind} ${f.identity} ${port}`).toMatchObject({ allowed: true, grantedBy: [f.rule] });
        expect(decide(false, f, 'POST').allowed, `${kind} ${f.identity} without holes`).toBe(false);
      }
    }
    // Without holes the all-methods service grants its caller exactly the declared GET /api/*.
    const m = findings.find((f) => f.kind === 'all-methods')!;
    const [ns, sa] = m.identity.split('/') as [string, string];
    const clean = buildModel({ origin: ['t'], objects: estatePosture({ ...SPEC, holes: false }) });
    const req = { principal: `cluster.local/ns/${ns}/sa/${sa}`, namespace: ns, method: 'GET', path: '/api/x', port: 8080, http: true };
    expect(evaluate(applicable(clean.authorizationPolicies, m.namespace, { app: m.service }), req).allowed).toBe(true);
    expect(estateMatrixFindings({ ...SPEC, holes: false })).toEqual([]);
    expect(estateLabFaults({ ...SPEC, holes: false })).toEqual([]);
  });

  it('refuses a fault naming no AuthorizationPolicy (a fault that skips nothing would prove nothing)', () => {
    const bad: PostureObject = { manifest: { apiVersion: 'lab.meshproof.dev/v1', kind: 'LabFault', metadata: { name: 'x', namespace: 'istio-system' }, spec: { skipAuthorizationPolicy: 'estate-1/no-such-policy' } }, source: 'test#1' };
    expect(() => buildModel({ origin: ['t'], objects: [...estatePosture(SPEC), bad] })).toThrow(ConfigError);
    expect(() => buildModel({ origin: ['t'], objects: [...estatePosture(SPEC), bad] })).toThrow(/LabFault skipAuthorizationPolicy estate-1\/no-such-policy: no such AuthorizationPolicy/);
  });
});
