// Issue 22 "done when": `meshproof sweep --matrix` on the generated estate, through the built CLI, finds exactly the
// planted findings and nothing else: on the lab (`--estate 20x2`, exit 1; `--no-holes`, exit 0) and through the
// Kubernetes API façade over the lab, under exactly deploy/rbac.yaml + rbac-sweep.yaml + rbac-matrix.yaml as
// meshproof's own service account (deploy/confine.yaml admitting every write), with no token and no key in any
// output; and the matrix picture of report.html read in Chromium against matrix.json.
//
// What "exactly the planted findings" is, worked out from cluster/lab/estate.ts and never from the run:
// - estateMatrixFindings: the grants beyond the intent (a Service open to `principals: ["*"]`, one granting its whole
//   namespace, one granting all methods where the intent declares `GET /api/*`) and the hole of the DENY the
//   estate's LabFault leaves unpushed (estateMatrixHole);
// - the sweep's own no-sidecar Service (estateHoles): nothing there enforces any policy, so every identity's attack
//   outside its grant reaches the app, a hole, except for the one identity its policy grants everything (its one
//   caller, read from that Service's ALLOW): outside an `all` grant there is no request to send.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estateHoles, estateIdentities, estateIntent, estateIntentYaml, estateLabFaults, estateMatrixFindings, estateMatrixHole, estatePosture, type EstateSpec } from '../cluster/lab/estate.js';
import { CELL_STATES, type CellState, type MatrixCell, type MatrixReport } from '../harness/matrix/types.js';
import { MATRIX_STATE } from '../harness/report/matrix-picture.js';
import { CLI, type CliResult, cli } from './support/cli.js';
import { type LabCluster, startLabCluster } from './support/lab-cluster.js';
import { drawnCells, expectedDrawn, openReport } from './support/matrix-picture.js';
import { loadRoles } from './support/rbac.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'meshproof-matrix-estate-'));
const SPEC: EstateSpec = { services: 20, replicas: 2 };
const CLEAN: EstateSpec = { ...SPEC, holes: false };
const PORTS = [8080, 9000];

type Matrix = MatrixReport & { schema: string };
const readJson = <T>(dir: string, file: string) => JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as T;

/** Every file under `root`, read whole. */
function filesUnder(root: string): { file: string; text: string }[] {
  return readdirSync(root).flatMap((f) => {
    const p = path.join(root, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [{ file: p, text: readFileSync(p, 'latin1') }];
  });
}

/** A cell as the findings are named: `identity → ns/service:port state`. */
const key = (identity: string, namespace: string, service: string, port: number, state: string) => `${identity} → ${namespace}/${service}:${port} ${state}`;
const cellKey = (c: MatrixCell) => key(c.identity, c.namespace, c.service, c.port, c.state);

/** The one identity the no-sidecar Service's ALLOW admits (`principals: [cluster.local/ns/<ns>/sa/<sa>]`, no `to`). */
function soleCallerOf(spec: EstateSpec, namespace: string, service: string): string {
  const ap = estatePosture(spec).find((o) => o.manifest.kind === 'AuthorizationPolicy' && o.manifest.metadata.namespace === namespace && o.manifest.metadata.name === `${service}-callers`);
  const rules = (ap?.manifest as { spec?: { rules?: { from?: { source: { principals?: string[] } }[]; to?: unknown }[] } } | undefined)?.spec?.rules ?? [];
  expect(rules).toHaveLength(1);
  expect(rules[0]!.to).toBeUndefined();
  const principals = rules[0]!.from!.flatMap((f) => f.source.principals ?? []);
  expect(principals).toHaveLength(1);
  const m = /^cluster\.local\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(principals[0]!);
  return `${m![1]}/${m![2]}`;
}

/** The planted findings of the estate (holes on), as `identity → ns/service:port state`, from estate.ts alone. */
function plantedFindings(spec: EstateSpec): string[] {
  const identities = estateIdentities(spec);
  const out = estateMatrixFindings(spec, identities).flatMap((f) => f.ports.map((p) => key(f.identity, f.namespace, f.service, p, f.state)));
  const bare = estateHoles(spec).find((h) => h.kind === 'no-sidecar')!;
  const caller = soleCallerOf(spec, bare.namespace, bare.service);
  for (const who of identities) if (who !== caller) for (const p of PORTS) out.push(key(who, bare.namespace, bare.service, p, 'hole'));
  return out.sort();
}

/** The matrix's findings: every estate cell (the canary's apart) that is a hole or a grant beyond the intent. */
const foundFindings = (m: MatrixReport) =>
  m.cells
    .filter((c) => c.role !== 'canary' && (c.state === 'hole' || c.state === 'beyond-intent'))
    .map(cellKey)
    .sort();

const checkOf = (dir: string, id: string) => readJson<{ verdict: string; cases: { label: string; verdict: string; reason: string; observed: { where: string; state?: CellState; beyond?: unknown[] }[] }[] }>(dir, `checks/${id}.json`);

/**
 * The check's failing testcases are exactly the identities with findings of `state` (one testcase per identity), each
 * observing exactly those Service ports in that state, and its reason naming them (the first few, then "… N more").
 */
function expectCasesName(dir: string, id: string, planted: string[], state: CellState): void {
  const check = checkOf(dir, id);
  expect(check.verdict, id).toBe('fail');
  const want = new Map<string, string[]>();
  for (const f of planted.filter((x) => x.endsWith(` ${state}`))) {
    const [identity, rest] = f.split(' → ') as [string, string];
    want.set(identity, [...(want.get(identity) ?? []), rest.replace(/ \S+$/, '')]);
  }
  const failing = check.cases.filter((c) => c.verdict === 'fail');
  expect(failing.map((c) => c.label).sort(), id).toEqual([...want.keys()].sort());
  for (const c of failing) {
    const where = want.get(c.label)!.sort();
    // SWEEP-ENFORCE observes each cell's state; SWEEP-LEASTPRIV each cell's grants beyond the intent.
    const flagged = c.observed.filter((o) => (state === 'hole' ? o.state === 'hole' : (o.beyond?.length ?? 0) > 0));
    expect(flagged.map((o) => o.where.replace(/ \(.*\)$/, '')).sort(), `${id} ${c.label}`).toEqual(where);
    const named = where.filter((w) => c.reason.includes(`${w} (`));
    const more = Number(/… (\d+) more$/.exec(c.reason)?.[1] ?? 0);
    expect(named.length + more, `${id} ${c.label}: ${c.reason}`).toBe(where.length);
    expect(named.length).toBeGreaterThan(0);
  }
  expect(check.cases.filter((c) => c.verdict !== 'fail' && c.verdict !== 'pass'), id).toEqual([]);
}

/** The cells no finding may be: every estate cell is one of `allowed`; not-judged only where a CUSTOM provider decides. */
function expectOnlyJudged(m: MatrixReport, allowed: CellState[]): void {
  const estate = m.cells.filter((c) => c.role !== 'canary');
  expect(estate.filter((c) => !allowed.includes(c.state)).map(cellKey)).toEqual([]);
  // A refusal is proven by the destination's record, never by the caller's view alone.
  for (const c of estate.filter((x) => x.state === 'refused')) expect(c.attack?.reason, cellKey(c)).toMatch(/recorded by the destination as .*rbac_access_denied_matched_policy\[/);
  const notJudged = estate.filter((c) => c.state === 'not-judged');
  expect(new Set(notJudged.map((c) => `${c.namespace}/${c.service}:${c.port}`))).toEqual(new Set(['estate-1/ext-authz-protected:8080']));
  expect(notJudged.map((c) => c.identity).sort()).toEqual(estateIdentities(SPEC).sort());
  for (const c of notJudged) {
    expect(c.grant.kind).toBe('not-judged');
    expect(c.grant.reason ?? c.notAttacked, cellKey(c)).toMatch(/a CUSTOM provider \(lab-ext-authz, ns\[estate-1\]-policy\[ext-authz-protected-custom\]-rule\[0\]\) decides this request/);
    expect(c.attack).toBeUndefined();
  }
}

/** The matrix canary flagged: each expectation met, nothing missing. */
function expectCanaryFlagged(m: MatrixReport): void {
  expect(m.canary.missing).toEqual([]);
  expect(m.canary.flagged).toBe(true);
  expect(m.canary.expected).toHaveLength(3);
}

/** The bundle verifies (intent.yaml among its hashed files) and a changed intent.yaml does not. */
function expectIntentVerified(dir: string, spec: EstateSpec): void {
  expect(readFileSync(path.join(dir, 'intent.yaml'), 'utf8')).toBe(estateIntentYaml(spec));
  expect(readFileSync(path.join(dir, 'manifest.sha256'), 'utf8')).toMatch(/^[0-9a-f]{64} {2}intent\.yaml$/m);
  expect(execFileSync(process.execPath, [CLI, 'verify', dir], { encoding: 'utf8' })).toMatch(/^OK: \d+ files checked/);
  const copy = path.join(mkdtempSync(path.join(tmp, 'tampered-')), 'bundle');
  cpSync(dir, copy, { recursive: true });
  writeFileSync(path.join(copy, 'intent.yaml'), readFileSync(path.join(dir, 'intent.yaml'), 'utf8').replace('name: svc-0001\n', 'name: svc-0019\n'));
  let code = 0;
  let printed = '';
  try {
    execFileSync(process.execPath, [CLI, 'verify', copy], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    code = (e as { status: number }).status;
    printed = `${(e as { stdout: string }).stdout}${(e as { stderr: string }).stderr}`;
  }
  expect(code).toBe(1);
  expect(printed).toMatch(/intent\.yaml/);
}

/** No private key in any bundle file or in what the run printed. */
function expectNoKey(dir: string, r: CliResult): void {
  for (const f of filesUnder(dir)) expect(f.text.includes('PRIVATE KEY'), f.file).toBe(false);
  expect(`${r.stdout}${r.stderr}`).not.toContain('PRIVATE KEY');
}

describe('issue 22 done when: sweep --target lab --estate 20x2 --matrix (the built CLI)', () => {
  const out = path.join(tmp, 'lab');
  let r: CliResult;
  let m: Matrix;
  beforeAll(async () => {
    r = await cli(['sweep', '--target', 'lab', '--estate', '20x2', '--matrix', '--out', out]);
    m = readJson<Matrix>(out, 'matrix.json');
  });

  it('exits 1 with exactly the planted findings: the holes (no-sidecar Service, the unpushed DENY) and the grants beyond the intent, each with the rule that grants too much', () => {
    expect(r.code, r.stderr).toBe(1);
    expect(m.schema).toBe('meshproof.dev/matrix/v1');
    expect(m.identities.filter((i) => i.role !== 'canary').map((i) => `${i.namespace}/${i.serviceAccount}`).sort()).toEqual(estateIdentities(SPEC).sort());
    const planted = plantedFindings(SPEC);
    // 20x2: 22 identities into the no-sidecar Service and one through the unpushed DENY, two ports each; 21 + 22
    // identities beyond the intent on the namespace-wide and the open Service, and the all-methods caller.
    expect(planted.filter((f) => f.endsWith(' hole'))).toHaveLength(46);
    expect(planted.filter((f) => f.endsWith(' beyond-intent'))).toHaveLength(88);
    expect(foundFindings(m)).toEqual(planted);
    // The counts are the estate's (the canary's cells apart), as the picture's legend shows them.
    expect([m.counts.hole, m.counts['beyond-intent'], m.counts.inconclusive]).toEqual([46, 88, 0]);
    // Each grant beyond the intent names the ALLOW rule that grants it, as estate.ts planted it.
    for (const f of estateMatrixFindings(SPEC)) {
      for (const port of f.ports) {
        const c = m.cells.find((x) => x.identity === f.identity && x.namespace === f.namespace && x.service === f.service && x.port === port)!;
        if (f.state === 'beyond-intent') expect(c.intent.beyond.map((b) => b.rule), cellKey(c)).toContainEqual(f.rule);
        // The unpushed DENY: the attack the model says is refused reached the app, shown by the app's answer.
        else expect(c.attack?.outcome, cellKey(c)).toBe('hole');
      }
    }
    const hole = estateMatrixHole(SPEC);
    const unpushed = m.cells.filter((c) => c.identity === hole.identity && c.service === hole.service);
    expect(unpushed.map((c) => c.grant.kind)).toEqual(['none', 'none']);
    expect(unpushed.map((c) => c.attack?.reason)).toEqual([expect.stringMatching(/HTTP 200 from the app/), expect.stringMatching(/the nonce came back over TCP/)]);
    // Everything else is proven refused, granted within the intent, or not judged (the CUSTOM provider), never inconclusive.
    expectOnlyJudged(m, ['hole', 'beyond-intent', 'granted', 'refused', 'not-judged']);
  });

  it('flags the matrix canary; SWEEP-ENFORCE and SWEEP-LEASTPRIV fail, one testcase per identity naming each of its findings', () => {
    expectCanaryFlagged(m);
    const run = readJson<{ results: { id: string; verdict: string }[] }>(out, 'run.json');
    expect(run.results.filter((c) => c.id === 'SWEEP-ENFORCE' || c.id === 'SWEEP-LEASTPRIV').map((c) => `${c.id} ${c.verdict}`)).toEqual(['SWEEP-ENFORCE fail', 'SWEEP-LEASTPRIV fail']);
    const planted = plantedFindings(SPEC);
    expectCasesName(out, 'SWEEP-ENFORCE', planted, 'hole');
    expectCasesName(out, 'SWEEP-LEASTPRIV', planted, 'beyond-intent');
  });

  it('writes the estate\'s intent as intent.yaml, verified by the manifest; no key in any file or output', () => {
    expectIntentVerified(out, SPEC);
    expectNoKey(out, r);
  });

  it('draws the matrix in report.html as matrix.json has it: every cell (identity, Service, port, state, glyph), the legend\'s counts, the canary as the control (Chromium)', async () => {
    const { browser, page, problems } = await openReport(path.join(out, 'report.html'));
    try {
      expect(await page.locator('figure.matrix-figure').getAttribute('data-mode')).toBe('full');
      const want = expectedDrawn(m);
      const drawn = await drawnCells(page, '#matrix-grid td.mx');
      expect(drawn.map((d) => d.key).sort()).toEqual([...want.keys()].sort());
      for (const d of drawn) {
        const w = want.get(d.key)!;
        expect([d.state, d.pods, d.canary, d.glyph], d.key).toEqual([w.state, w.pods, w.canary, MATRIX_STATE[w.state].glyph]);
        expect(d.title, d.key).toContain(MATRIX_STATE[w.state].text);
      }
      // The planted findings are drawn where they are (one pod per Service attacked: the cell is that pod's).
      const drawnFindings = drawn.filter((d) => !d.canary && (d.state === 'hole' || d.state === 'beyond-intent')).map((d) => {
        const [identity, namespace, service, port] = d.key.split('|') as [string, string, string, string];
        return key(identity, namespace, service, Number(port), d.state!);
      });
      expect(drawnFindings.sort()).toEqual(plantedFindings(SPEC));
      const legend = await page.locator('#matrix-legend li.legend').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-state')} ${e.getAttribute('data-count')} +${e.getAttribute('data-canary-count')}`));
      const count = (s: CellState, canary: boolean) => m.cells.filter((c) => c.state === s && (c.role === 'canary') === canary).length;
      expect(legend).toEqual(CELL_STATES.map((s) => `${s} ${count(s, false)} +${count(s, true)}`));
      expect(await page.locator('#matrix-canary').getAttribute('data-state')).toBe('flagged-as-expected');
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('without the planted holes (--no-holes) exits 0: every cell refused (proven), granted within the intent, or not judged (only the CUSTOM-protected workload)', async () => {
    const clean = path.join(tmp, 'lab-clean');
    const c = await cli(['sweep', '--target', 'lab', '--estate', '20x2', '--no-holes', '--matrix', '--out', clean, '--quiet']);
    expect(c.code, c.stderr).toBe(0);
    const cm = readJson<Matrix>(clean, 'matrix.json');
    expect(foundFindings(cm)).toEqual([]);
    expectOnlyJudged(cm, ['granted', 'refused', 'not-judged']);
    expectCanaryFlagged(cm);
    for (const id of ['SWEEP-ENFORCE', 'SWEEP-LEASTPRIV']) expect(checkOf(clean, id).verdict, id).toBe('pass');
    expectIntentVerified(clean, CLEAN);
  });
});

/** The estate's namespaces (each gets its own RoleBindings of the sweep and matrix roles). */
const estateNamespaces = (spec: EstateSpec) =>
  estatePosture(spec)
    .filter((o) => o.manifest.kind === 'Namespace')
    .map((o) => o.manifest.metadata.name)
    .sort();

describe('issue 22 done when: sweep --target kubeconfig --matrix through the API façade, as meshproof\'s service account', () => {
  let c: LabCluster;
  const issued: { token: string; namespace: string; serviceAccount: string; audiences: string[]; expirationSeconds: number }[] = [];
  let before: Map<string, unknown>;
  beforeAll(async () => {
    // The estate its owners applied; the unpushed DENY is the lab's (a cluster has no LabFault kind): the same holes as the lab's.
    c = await startLabCluster({ existing: estatePosture(SPEC), labOnly: estateLabFaults(SPEC), podsPerProcess: 100 });
    const swept = estateNamespaces(SPEC);
    c.api.state.rbac = [...loadRoles('deploy/rbac.yaml'), ...loadRoles('deploy/rbac-sweep.yaml', { rolebindingsIn: swept }), ...loadRoles('deploy/rbac-matrix.yaml', { rolebindingsIn: swept })];
    const issue = c.api.state.issueToken!;
    c.api.state.issueToken = (namespace, serviceAccount, audiences, expirationSeconds) => {
      const token = issue(namespace, serviceAccount, audiences, expirationSeconds);
      issued.push({ token, namespace, serviceAccount, audiences, expirationSeconds });
      return token;
    };
    // The team's ClientIntents, as the Otterize operator's CRD serves them (for --intent cluster).
    c.api.state.crds.add('clientintents.k8s.otterize.com');
    for (const x of estateIntent(SPEC)) c.api.state.objects.set(`/apis/k8s.otterize.com/v2beta1/namespaces/${x.metadata.namespace}/clientintents/${x.metadata.name}`, x as unknown as Record<string, unknown>);
    before = new Map([...c.api.state.objects].filter(([k]) => k.includes('/estate-')).map(([k, v]) => [k, structuredClone(v)]));
  });
  afterAll(async () => {
    await c?.close();
  });

  it('exits 1 with the same planted findings as the lab, nothing refused, every token grant used, the estate untouched, and no token or key in any file or output', async () => {
    const intent = path.join(tmp, 'intent.yaml');
    writeFileSync(intent, estateIntentYaml(SPEC));
    const out = path.join(tmp, 'kube');
    const r = await cli(['sweep', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(tmp), '--matrix', '--intent', intent, '--out', out], { env: { ...process.env, MESHPROOF_TIMEOUTS: 'lab' } });
    expect(r.code, r.stderr).toBe(1);
    const m = readJson<Matrix>(out, 'matrix.json');
    expect(m.identities.filter((i) => i.role !== 'canary').map((i) => `${i.namespace}/${i.serviceAccount}`).sort()).toEqual(estateIdentities(SPEC).sort());
    expect(foundFindings(m)).toEqual(plantedFindings(SPEC));
    expectOnlyJudged(m, ['hole', 'beyond-intent', 'granted', 'refused', 'not-judged']);
    expectCanaryFlagged(m);
    expectCasesName(out, 'SWEEP-ENFORCE', plantedFindings(SPEC), 'hole');
    expectCasesName(out, 'SWEEP-LEASTPRIV', plantedFindings(SPEC), 'beyond-intent');
    // The intent used, as given (headed by the file it came from), in the bundle and its manifest.
    expect(readFileSync(path.join(out, 'intent.yaml'), 'utf8')).toBe(`# ${intent}\n${estateIntentYaml(SPEC)}`);
    expect(readFileSync(path.join(out, 'manifest.sha256'), 'utf8')).toMatch(/^[0-9a-f]{64} {2}intent\.yaml$/m);
    // Under exactly the shipped roles and confine.yaml: nothing refused, nothing denied at admission.
    expect(c.api.state.forbidden).toEqual([]);
    expect(c.api.state.admissionDenied).toEqual([]);
    // One TokenRequest per identity, as confine.yaml admits them (istio-ca only, 600 s); the only other token is the
    // kubelet's projected one of the sweeper pod (its own fresh identity), which meshproof never requests.
    const identities = m.identities.map((i) => `${i.namespace}/${i.serviceAccount}`);
    const requested = c.api.calls.flatMap((x) => /^POST \/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)\/token$/.exec(x)?.slice(1, 3).join('/') ?? []);
    expect(requested.sort()).toEqual([...identities].sort());
    const byRequest = issued.filter((t) => identities.includes(`${t.namespace}/${t.serviceAccount}`));
    expect(byRequest.map((t) => `${t.namespace}/${t.serviceAccount} ${t.audiences} ${t.expirationSeconds}`).sort()).toEqual(identities.map((i) => `${i} istio-ca 600`).sort());
    const runNs = m.identities.find((i) => i.role === 'canary')!.namespace;
    expect(issued.filter((t) => !byRequest.includes(t)).map((t) => `${t.namespace}/${t.serviceAccount}`)).toEqual([`${runNs}/sweeper`]);
    // The token grant used in every namespace that has identities (the estate's, and the run namespace's canary).
    for (const ns of new Set(m.identities.map((i) => i.namespace))) expect([...c.api.state.rbacUsed], ns).toContain(`create core/serviceaccounts/token in ${ns}`);
    // Read-only towards the estate: every object its owners applied is exactly as it was, none managed by meshproof.
    for (const [k, v] of before) expect(c.api.state.objects.get(k), k).toEqual(v);
    expect([...c.api.state.objects.keys()].filter((k) => k.includes('/estate-') && !before.has(k))).toEqual([]);
    expect([...c.api.state.managers.keys()].filter((k) => k.includes('/estate-'))).toEqual([]);
    // The secrets: no token and no key in any bundle file, stdout or stderr.
    expect(issued.length).toBeGreaterThan(0);
    const everywhere = [...filesUnder(out).map((f) => ({ where: f.file, text: f.text })), { where: 'stdout', text: r.stdout }, { where: 'stderr', text: r.stderr }];
    for (const e of everywhere) {
      expect(e.text.includes('PRIVATE KEY'), e.where).toBe(false);
      for (const t of issued) expect(e.text.includes(t.token), `a token in ${e.where}`).toBe(false);
    }
  });

  it('--intent cluster: the same findings from the ClientIntents in the cluster, listed read-only in the swept namespaces under the intents grant (never the run namespace, which no RoleBinding can reach), written into the bundle', async () => {
    const calls = c.api.calls.length;
    const tokens = issued.length;
    const out = path.join(tmp, 'kube-cluster-intent');
    const r = await cli(['sweep', '--target', 'kubeconfig', '--kubeconfig', c.api.kubeconfig(tmp), '--matrix', '--intent', 'cluster', '--out', out, '--quiet'], { env: { ...process.env, MESHPROOF_TIMEOUTS: 'lab' } });
    expect(r.code, r.stderr).toBe(1);
    const m = readJson<Matrix>(out, 'matrix.json');
    expect(foundFindings(m)).toEqual(plantedFindings(SPEC));
    expectOnlyJudged(m, ['hole', 'beyond-intent', 'granted', 'refused', 'not-judged']);
    expectCanaryFlagged(m);
    expect(m.intent?.source).toMatch(/cluster/);
    // What was listed is what the bundle holds: the estate's ClientIntents, one per caller.
    const listed = readFileSync(path.join(out, 'intent.yaml'), 'utf8');
    for (const x of estateIntent(SPEC)) expect(listed).toContain(`name: ${x.metadata.name}\n  namespace: ${x.metadata.namespace}`);
    expect(listed.match(/^kind: ClientIntents$/gm)).toHaveLength(SPEC.services);
    const mine = c.api.calls.slice(calls);
    expect(mine.filter((x) => x.includes('clientintents') && !x.startsWith('GET '))).toEqual([]);
    expect([...c.api.state.rbacUsed]).toContain('list k8s.otterize.com/clientintents in estate-1');
    expect(mine.filter((x) => x.includes('clientintents') && x.includes('/namespaces/mp-'))).toEqual([]);
    expect(c.api.state.forbidden).toEqual([]);
    expect(c.api.state.admissionDenied).toEqual([]);
    for (const [k, v] of before) expect(c.api.state.objects.get(k), k).toEqual(v);
    const fresh = issued.slice(tokens);
    expect(fresh.length).toBeGreaterThan(0);
    for (const e of [...filesUnder(out).map((f) => ({ where: f.file, text: f.text })), { where: 'output', text: `${r.stdout}${r.stderr}` }]) {
      expect(e.text.includes('PRIVATE KEY'), e.where).toBe(false);
      for (const t of fresh) expect(e.text.includes(t.token), `a token in ${e.where}`).toBe(false);
    }
  });
});
