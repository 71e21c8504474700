// Which request the access matrix attacks each cell with, and what a cell proves (audit 2026-12-06, M22-H1/H2/L1):
// a non-grant drawn by a DENY on paths or hosts, or by an ALLOW's notPaths, is attacked on that path or Host, so a
// policy the proxy never received (the lab's LabFault skipAuthorizationPolicy) is a hole; a cell never attacked is
// never evidence for SWEEP-ENFORCE; a HEAD refused without the destination's record is inconclusive, not a hole.
// Over real loopback sockets through the lab.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Observation, TlsAttack } from '../agent/protocol.js';
import { estatePosture } from '../cluster/lab/estate.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { type AccessLogRecord, parseAccessLog } from '../harness/access-log.js';
import { judgeMatrix } from '../harness/matrix/matrix.js';
import { matrixSection } from '../harness/report/matrix-picture.js';
import type { MatrixCell, MatrixReport } from '../harness/matrix/types.js';
import { SWEEP_FIXTURES } from '../harness/paths.js';
import { loadPosture, type PostureObject } from '../harness/posture/load.js';
import type { DestinationRecord } from '../harness/sweep/judge.js';
import { judgeIdentityAttempt } from '../harness/sweep/judge.js';
import { recordOf, type SweepOptions, sweep } from '../harness/sweep/sweep.js';
import { matrixSweepOptions } from './support/matrix-sweep.js';

const NS = 'estate-1';
const principal = (sa: string) => `cluster.local/ns/${NS}/sa/${sa}`;
const ap = (name: string, app: string, spec: Record<string, unknown>): PostureObject => ({
  manifest: { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: NS }, spec: { selector: { matchLabels: { app } }, ...spec } },
  source: 'matrix-attack.test',
});

// svc-0000 is granted all of svc-0001 (svc-0001-callers) except /admin/* (a DENY the proxies never receive: LabFault).
// svc-0002 is granted all of svc-0003 except the Host admin.shop.test (a DENY on hosts).
// svc-0005 is granted svc-0004 everywhere but /admin/* (an ALLOW with notPaths).
// svc-0001 is granted GET on svc-0005 (a methods: [GET] grant: HEAD is its only safe non-grant).
const EXTRA: PostureObject[] = [
  ap('svc-0001-admin', 'svc-0001', { action: 'DENY', rules: [{ from: [{ source: { principals: [principal('svc-0000')] } }], to: [{ operation: { paths: ['/admin/*'] } }] }] }),
  ap('svc-0003-admin-host', 'svc-0003', { action: 'DENY', rules: [{ from: [{ source: { principals: [principal('svc-0002')] } }], to: [{ operation: { hosts: ['admin.shop.test'] } }] }] }),
  ap('svc-0004-not-admin', 'svc-0004', { action: 'ALLOW', rules: [{ from: [{ source: { principals: [principal('svc-0005')] } }], to: [{ operation: { notPaths: ['/admin/*'] } }] }] }),
  ap('svc-0005-get', 'svc-0005', { action: 'ALLOW', rules: [{ from: [{ source: { principals: [principal('svc-0001')] } }], to: [{ operation: { methods: ['GET'] } }] }] }),
  {
    manifest: { apiVersion: 'lab.meshproof.dev/v1', kind: 'LabFault', metadata: { name: 'unpushed-admin-deny', namespace: 'istio-system' }, spec: { skipAuthorizationPolicy: `${NS}/svc-0001-admin` } },
    source: 'matrix-attack.test#fault',
  },
];

const options = (target: LabTarget, over: Partial<SweepOptions> = {}): SweepOptions => matrixSweepOptions(target, over);

const cellOf = (cells: MatrixCell[], identity: string, service: string, port = 8080) => {
  const c = cells.find((x) => x.identity === `${NS}/${identity}` && x.namespace === NS && x.service === service && x.port === port);
  if (!c) throw new Error(`no cell ${identity} → ${service}:${port}`);
  return c;
};

describe('the matrix attacks every non-grant it can express safely (lab)', () => {
  let lab: LabTarget;
  let r: Awaited<ReturnType<typeof sweep>>;
  beforeAll(async () => {
    lab = new LabTarget({ podsPerProcess: 250 });
    await lab.apply({ origin: ['matrix-attack'], objects: [...estatePosture({ services: 6, replicas: 1, holes: false }), ...loadPosture(SWEEP_FIXTURES, []).objects, ...EXTRA] });
    r = await sweep(options(lab));
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('M22-H1: a DENY on /admin/* over a full grant is attacked with GET /admin/.meshproof-<nonce>; unpushed (LabFault), the cell is a hole and SWEEP-ENFORCE fails', () => {
    const m = r.report.matrix!;
    expect(m.canary.flagged, m.canary.missing.join('; ')).toBe(true);
    const c = cellOf(m.cells, 'svc-0000', 'svc-0001');
    expect(c.grant.kind).toBe('partial');
    expect(c.attack?.request).toEqual({ kind: 'http', method: 'GET', path: expect.stringMatching(/^\/admin\/\.meshproof-[0-9a-f]+$/), nonce: expect.any(String) });
    expect(c.state, c.attack?.reason).toBe('hole');
    expect(c.attack?.record?.layer).toBe('upstream');
    const enforce = r.run.results.find((x) => x.id === 'SWEEP-ENFORCE')!;
    expect(enforce.verdict, enforce.reason).toBe('fail');
    expect(enforce.cases.find((x) => x.label === `${NS}/svc-0000`)).toMatchObject({ verdict: 'fail', reason: expect.stringMatching(/enforcement hole: estate-1\/svc-0001:8080/) });
  });

  it('M22-H1: a DENY on hosts is attacked with that Host as the authority, and the destination records that DENY', () => {
    const c = cellOf(r.report.matrix!.cells, 'svc-0002', 'svc-0003');
    expect(c.attack?.request).toMatchObject({ kind: 'http', method: 'GET', host: 'admin.shop.test' });
    expect(c.attack, c.attack?.reason).toMatchObject({ outcome: 'refused', record: { layer: 'rbac', detail: `rbac_access_denied_matched_policy[ns[${NS}]-policy[svc-0003-admin-host]-rule[0]]` } });
  });

  it('M22-H1: an ALLOW with notPaths is attacked on the excluded path, refused with the record', () => {
    const c = cellOf(r.report.matrix!.cells, 'svc-0005', 'svc-0004');
    expect(c.attack?.request).toMatchObject({ method: 'GET', path: expect.stringMatching(/^\/admin\/\.meshproof-[0-9a-f]+$/) });
    expect(c.attack, c.attack?.reason).toMatchObject({ outcome: 'refused', record: { layer: 'rbac' } });
  });

  it('M22-H2: a methods: [GET] grant is attacked with HEAD; with the destination record it is refused, with the log unreadable it is inconclusive (never a hole)', async () => {
    const c = cellOf(r.report.matrix!.cells, 'svc-0001', 'svc-0005');
    expect(c.attack?.request).toMatchObject({ method: 'HEAD' });
    expect(c.attack, c.attack?.reason).toMatchObject({ outcome: 'refused', record: { layer: 'rbac' } });

    // The same HEAD over real sockets, judged with and without the destination's record.
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const cert = await lab.signForIdentity(publicKey.export({ type: 'spki', format: 'der' }), NS, 'svc-0001', 600_000);
    const sweeper = await lab.probe({ namespace: 'sweep', name: 'sweeper' });
    const [pod] = await lab.servicePods({ namespace: NS, name: 'svc-0005' });
    const since = new Date(Date.now() - 1_000);
    const attack: TlsAttack = {
      kind: 'tls',
      id: 'h',
      dial: await lab.podAddress(pod!, 8080),
      certChainPem: cert.chainPem,
      keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      alpn: ['istio-http/1.1'],
      authority: `svc-0005.${NS}.svc.cluster.local:8080`,
      method: 'HEAD',
      path: '/.meshproof/matrix/m22h2',
      timeoutMs: 3_000,
    };
    const o: Observation = (await sweeper.run([attack])).observations[0]!;
    expect(o.http?.status).toBe(403);
    expect(o.http?.body).toBe(''); // a HEAD answer has no body (Envoy's local reply too)
    await new Promise((res) => setTimeout(res, 100));
    const records = (await lab.accessLog(pod!, since)).map(parseAccessLog).filter((x): x is AccessLogRecord => x !== undefined);
    const record: DestinationRecord | undefined = recordOf(records, o);
    expect(record?.layer).toBe('rbac');
    expect(judgeIdentityAttempt(o, record, false, 'unused', 'HEAD')).toMatchObject({ outcome: 'refused' });
    const unread = judgeIdentityAttempt(o, undefined, false, "the destination's log could not be read", 'HEAD');
    expect(unread.outcome).toBe('inconclusive');
    expect(unread.reason).toMatch(/HEAD.*no body.*the destination's log could not be read/);
  });
});

describe('what a cell proves', () => {
  const cell = (identity: string, over: Partial<MatrixCell>): MatrixCell => ({
    identity,
    namespace: 'shop',
    service: 'cart',
    port: 8080,
    targetPort: 8080,
    protocol: 'http',
    pod: 'cart-0',
    grant: { kind: 'none', scope: [], rules: [] },
    intent: { status: 'no-intent', beyond: [] },
    state: 'inconclusive',
    ...over,
  });
  const refused = { request: { kind: 'http' as const, method: 'GET', path: '/.meshproof/matrix/n', nonce: 'n' }, outcome: 'refused' as const, reason: 'denied, recorded' };
  const report = (cells: MatrixCell[]): MatrixReport => {
    const ids = [...new Set(cells.map((c) => c.identity))];
    return {
      identities: ids.map((i) => ({ namespace: i.split('/')[0]!, serviceAccount: i.split('/')[1]!, spiffeId: `spiffe://cluster.local/ns/${i.split('/')[0]}/sa/${i.split('/')[1]}`, pods: [] })),
      services: [{ namespace: 'shop', name: 'cart', ports: [8080, 8081] }],
      cells,
      counts: { hole: 0, 'beyond-intent': 0, granted: 0, refused: 0, 'not-judged': 0, inconclusive: 0, cells: cells.length, attacks: 0, grantProbes: 0, certificates: 0, execs: 0, logReads: 0 },
      canary: { flagged: true, expected: [], missing: [] },
      settings: { perPod: false, probeGrants: false },
    };
  };

  it('M22-H1: an identity none of whose cells was attacked is not a pass (not applicable, with why); the check passes only on attacked cells and counts them', () => {
    const all = { kind: 'all' as const, scope: ['any request'], rules: [{ namespace: 'shop', name: 'open', rule: 0 }] };
    const cells = [
      cell('web/never', { grant: all, state: 'granted', notAttacked: 'every safe request (GET, HEAD, OPTIONS …) is granted' }),
      cell('web/never', { port: 8081, grant: { kind: 'not-judged', scope: [], rules: [], reason: 'a when condition' }, state: 'not-judged', notAttacked: 'not judged: a when condition' }),
      cell('web/some', { attack: refused, state: 'refused' }),
      cell('web/some', { port: 8081, grant: all, state: 'granted', notAttacked: 'every safe request (GET, HEAD, OPTIONS …) is granted' }),
    ];
    const [enforce] = judgeMatrix(report(cells), false, new Date());
    expect(enforce!.id).toBe('SWEEP-ENFORCE');
    const never = enforce!.cases.find((c) => c.label === 'web/never')!;
    expect(never.verdict).toBe('not-applicable');
    expect(never.reason).toMatch(/no cell attacked.*2 cells not attacked: 1 every safe request.*; 1 not judged by the model/);
    const some = enforce!.cases.find((c) => c.label === 'web/some')!;
    expect(some).toMatchObject({ verdict: 'pass', reason: expect.stringMatching(/^1 of 2 cells attacked .*1 refused .*1 cells not attacked: 1 every safe request/) });
    expect(enforce!.verdict).toBe('pass');
    expect(enforce!.reason).toMatch(/1 identities proven \(1 with no cell attacked, not counted\); 4 cells: 1 attacked, 1 refused, 3 cells not attacked/);
    // Nobody attacked at all: not applicable, never a pass.
    const none = judgeMatrix(report(cells.filter((c) => c.identity === 'web/never')), false, new Date())[0]!;
    expect(none.verdict).toBe('not-applicable');
  });
  it('M22-L1: a grant by no ALLOW policy is said as "no ALLOW policy selects the workload", never "rule -1", in the LEASTPRIV reason and the HTML', () => {
    const pseudo = { namespace: 'shop', name: '(no ALLOW policy selects the workload)', rule: -1 };
    const c = cell('web/front', { grant: { kind: 'all', scope: ['no ALLOW policy selects the workload (in shop): any request'], rules: [pseudo] }, intent: { status: 'not-declared', beyond: [{ rule: pseudo, witness: 'POST /.meshproof/matrix/n' }] }, state: 'beyond-intent', notAttacked: 'every safe request is granted' });
    const r = { ...report([c]), intent: { source: 'test', calls: 0, declaredNotGranted: [] } };
    const leastpriv = judgeMatrix(r, false, new Date()).find((x) => x.id === 'SWEEP-LEASTPRIV')!;
    expect(leastpriv.cases[0]!.reason).toMatch(/by no ALLOW policy selects the workload \(in shop\)/);
    const html = matrixSection(r);
    expect(html).toContain('no ALLOW policy selects the workload (in shop)');
    for (const text of [leastpriv.reason, leastpriv.cases[0]!.reason, html]) expect(text).not.toMatch(/rule ?\[?-1/);
  });
  it('M22-L3: SWEEP-LEASTPRIV is EXAMINE (it reads configuration through the model), SWEEP-ENFORCE is TEST, and its title and claim say one attack per cell', () => {
    const [enforce, leastpriv] = judgeMatrix({ ...report([cell('web/a', { attack: refused, state: 'refused' })]), intent: { source: 't', calls: 0, declaredNotGranted: [] } }, false, new Date());
    expect(enforce).toMatchObject({ id: 'SWEEP-ENFORCE', method: 'TEST', title: "One attack per cell outside an identity's grant is refused" });
    expect(enforce!.claim).toMatch(/one sampled request .* not attacked, counted and named in the reason, and never counted as proof/);
    expect(leastpriv).toMatchObject({ id: 'SWEEP-LEASTPRIV', method: 'EXAMINE' });
  });
});
