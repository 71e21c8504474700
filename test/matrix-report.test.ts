// The access matrix as evidence (issue 22 items 2 and 3): a MatrixReport made by hand (a few identities and
// Services, every cell state, the canary's cells, a Service with two pods) written into real bundles by the real
// writers, then read as an auditor and a CI would: report.html in headless Chromium (every drawn cell against
// matrix.json, the legend's counts, a glyph per state), JUnit against the Jenkins XSD (one testcase per identity),
// OSCAL against NIST's schema (category h controls with their caveats; a lab run claims none), `meshproof compare`
// on two verified, signed bundles (a new grant and a new hole regress, named identity → ns/service:port), and the
// control catalog as `controls`/`list` show it.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { CATALOG, claimsFor, FORBIDDEN } from '../harness/controls.js';
import { compareBundles, comparisonTable } from '../harness/compare.js';
import type { CheckResult } from '../harness/engine.js';
import { MATRIX_CHECKS } from '../harness/matrix/checks.js';
import { matrixDiff } from '../harness/matrix/diff.js';
import { CELL_STATES, type CellState, type MatrixCell, type MatrixReport } from '../harness/matrix/types.js';
import { writeBundle } from '../harness/report/bundle.js';
import { signManifest, verifyBundle, writeManifest } from '../harness/report/manifest.js';
import { FULL_GRID_LIMIT, MATRIX_STATE } from '../harness/report/matrix-picture.js';
import { readBundle } from '../harness/report/rerender.js';
import type { RunResult } from '../harness/result.js';
import type { SweepReport } from '../harness/sweep/report.js';
import { cli } from './support/cli.js';
import { DRAW_RANK, drawnCells, expectedDrawn, openReport, type Styles } from './support/matrix-picture.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'meshproof-matrix-report-'));
const keys = generateKeyPairSync('ed25519');
const privPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const pubPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const RUN_NS = 'mp-0a1b2c-sweep';

type Spec = { id: string; ns: string; svc: string; port: number; state: CellState; grant?: MatrixCell['grant']['kind']; pod?: string; canary?: boolean; intent?: MatrixCell['intent']['status'] };

/** A cell as the engine would make it: its grant (scope and rule), intent, attack and state agree. */
function cell(s: Spec): MatrixCell {
  const grant = s.grant ?? (s.state === 'granted' || s.state === 'beyond-intent' ? 'partial' : s.state === 'not-judged' ? 'not-judged' : 'none');
  const rule = { namespace: s.ns, name: `allow-${s.id.split('/')[1]}`, rule: 0 };
  const nonce = randomUUID().slice(0, 8);
  const attackOutcome = s.state === 'hole' ? 'hole' : s.state === 'inconclusive' ? 'inconclusive' : 'refused';
  return {
    identity: s.id,
    namespace: s.ns,
    service: s.svc,
    port: s.port,
    targetPort: s.port,
    protocol: s.port === 9000 ? 'tcp' : 'http',
    pod: s.pod ?? `${s.svc}-0`,
    grant: {
      kind: grant,
      scope: grant === 'partial' ? ['GET, HEAD /api/*'] : grant === 'all' ? ['any request'] : [],
      rules: grant === 'partial' || grant === 'all' ? [rule] : [],
      ...(grant === 'not-judged' ? { reason: 'a `when` condition on request.auth.claims[groups]: the model does not judge it' } : {}),
    },
    intent: { status: s.intent ?? 'declared', beyond: s.state === 'beyond-intent' ? [{ rule, witness: 'HEAD /api/x (the intent declares GET only)' }] : [] },
    ...(s.state === 'not-judged'
      ? { notAttacked: 'not judged: the grant depends on a `when` the model does not judge' }
      : {
          attack: {
            request: s.port === 9000 ? { kind: 'tcp' as const, nonce } : { kind: 'http' as const, method: 'GET', path: `/.meshproof/matrix/${nonce}`, nonce },
            outcome: attackOutcome,
            reason: attackOutcome === 'hole' ? 'the app answered 404: the request reached it' : attackOutcome === 'refused' ? 'rbac_access_denied_matched_policy[none] in the destination\'s record' : 'no record of the attempt at the destination',
            ...(attackOutcome === 'refused' ? { record: { layer: 'rbac' as const, detail: 'rbac_access_denied_matched_policy[none]' } } : {}),
          },
        }),
    state: s.state,
    ...(s.canary ? { role: 'canary' as const } : {}),
  };
}

const FRONT = 'shop/frontend';
const CART = 'shop/cart';
const LEDGER = 'pay/ledger';
const CALLER = `${RUN_NS}/canary-caller`;
const CANARY = `${RUN_NS}/canary`;

/** Every state of CellState, a Service with two pods (the worst drawn), and the three canary cells of the design. */
function baseSpecs(): Spec[] {
  return [
    { id: FRONT, ns: 'shop', svc: 'cart', port: 8080, state: 'beyond-intent' },
    { id: FRONT, ns: 'shop', svc: 'cart', port: 9000, state: 'refused' },
    { id: FRONT, ns: 'pay', svc: 'ledger', port: 8080, state: 'hole' },
    { id: FRONT, ns: 'pay', svc: 'audit', port: 7000, state: 'not-judged' },
    { id: CART, ns: 'shop', svc: 'cart', port: 8080, state: 'granted', grant: 'all' },
    { id: CART, ns: 'shop', svc: 'cart', port: 9000, state: 'refused' },
    { id: CART, ns: 'pay', svc: 'ledger', port: 8080, state: 'granted' },
    { id: CART, ns: 'pay', svc: 'audit', port: 7000, state: 'inconclusive' },
    { id: LEDGER, ns: 'shop', svc: 'cart', port: 8080, state: 'refused' },
    { id: LEDGER, ns: 'shop', svc: 'cart', port: 9000, state: 'refused' },
    { id: LEDGER, ns: 'pay', svc: 'ledger', port: 8080, state: 'refused' },
    { id: LEDGER, ns: 'pay', svc: 'audit', port: 7000, state: 'refused', pod: 'audit-0' },
    { id: LEDGER, ns: 'pay', svc: 'audit', port: 7000, state: 'inconclusive', pod: 'audit-1' },
    { id: CALLER, ns: RUN_NS, svc: 'canary-target', port: 8080, state: 'beyond-intent', canary: true },
    { id: CANARY, ns: RUN_NS, svc: 'canary-target', port: 8080, state: 'refused', canary: true },
    { id: CANARY, ns: RUN_NS, svc: 'canary-bare', port: 8080, state: 'hole', canary: true },
  ];
}

function matrixOf(specs: Spec[], o: { intent?: boolean } = {}): MatrixReport {
  const cells = specs.map(cell);
  const tally = Object.fromEntries(CELL_STATES.map((s) => [s, cells.filter((c) => c.state === s).length])) as Record<CellState, number>;
  const identities = [...new Set(cells.map((c) => c.identity))].map((id) => {
    const [namespace, serviceAccount] = id.split('/') as [string, string];
    return { namespace, serviceAccount, spiffeId: `spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`, pods: [`${namespace}/${serviceAccount}-0`], ...(namespace === RUN_NS ? { role: 'canary' as const } : {}) };
  });
  const services = new Map<string, { namespace: string; name: string; ports: number[] }>();
  for (const c of cells) {
    const s = services.get(`${c.namespace}/${c.service}`) ?? { namespace: c.namespace, name: c.service, ports: [] };
    if (!s.ports.includes(c.port)) s.ports.push(c.port);
    services.set(`${c.namespace}/${c.service}`, s);
  }
  return {
    identities,
    services: [...services.values()],
    cells,
    counts: { ...tally, cells: cells.length, attacks: cells.filter((c) => c.attack).length, grantProbes: 0, certificates: identities.length, execs: 3, logReads: 5 },
    ...(o.intent === false ? {} : { intent: { source: 'intent.yaml', calls: 4, declaredNotGranted: [{ identity: LEDGER, namespace: 'shop', service: 'cart', port: 8080, call: 'GET /orders' }] } }),
    canary: {
      flagged: true,
      expected: [`${CALLER} → ${RUN_NS}/canary-target:8080: beyond-intent`, `${CANARY} → ${RUN_NS}/canary-target:8080: refused`, `${CANARY} → ${RUN_NS}/canary-bare:8080: hole`],
      missing: [],
    },
    settings: { perPod: true, probeGrants: false },
  };
}

/** The two checks as the engine judges them: one case per estate identity. */
function checksOf(m: MatrixReport): CheckResult[] {
  const estate = m.identities.filter((i) => i.role !== 'canary').map((i) => `${i.namespace}/${i.serviceAccount}`);
  const now = new Date().toISOString();
  return MATRIX_CHECKS.map((meta) => {
    const leastpriv = meta.id === 'SWEEP-LEASTPRIV';
    const bad = (id: string) => m.cells.some((c) => c.identity === id && (leastpriv ? c.state === 'beyond-intent' : c.state === 'hole'));
    const unsure = (id: string) => !leastpriv && m.cells.some((c) => c.identity === id && c.state === 'inconclusive');
    const cases = leastpriv && !m.intent ? [] : estate.map((id) => ({ label: id, verdict: bad(id) ? ('fail' as const) : unsure(id) ? ('error' as const) : ('pass' as const), reason: bad(id) ? `${id}: a finding` : 'every cell held', observed: m.cells.filter((c) => c.identity === id).map((c) => ({ cell: `${c.namespace}/${c.service}:${c.port}`, state: c.state })) }));
    const verdict = leastpriv && !m.intent ? 'not-applicable' : cases.some((c) => c.verdict === 'fail') ? 'fail' : cases.some((c) => c.verdict === 'error') ? 'error' : 'pass';
    return { id: meta.id, title: meta.title, suite: 'sweep', claim: meta.claim, controls: claimsFor(meta.categories).map((c) => c.id), categories: meta.categories, method: 'TEST', weakenedBy: ['fixtures/sweep (the matrix canary)'], verdict, reason: verdict === 'not-applicable' ? 'no intent given: least privilege cannot be judged' : `${cases.filter((c) => c.verdict === 'fail').length} identity(ies) with a finding`, startedAt: now, durationMs: 1200, cases };
  });
}

function sweepOf(m: MatrixReport): SweepReport {
  return {
    scope: { inScope: ['pay', 'shop', RUN_NS], left: [], excludePorts: [] },
    counts: { namespaces: 2, services: 3, pods: 4, endpoints: 4, judged: 4, probes: 1, execs: 3, logReads: 5 },
    endpoints: [],
    pods: [{ namespace: RUN_NS, pod: 'canary-bare-0', verdict: { check: 'SWEEP-INJECT', outcome: 'finding', reason: 'no sidecar' }, role: 'canary' }],
    canary: { flagged: true, expected: [], missing: [] },
    exemptions: [],
    incomplete: false,
    listings: [],
    skipped: [],
    information: [],
    settings: { attemptTimeoutMs: 2000, concurrency: 4, ratePerSec: 50, batchEndpoints: 20, maxCertLifetimeHours: 24 },
    matrix: m,
  };
}

function runOf(m: MatrixReport, kind: 'lab' | 'kubernetes' = 'lab'): RunResult {
  const now = new Date().toISOString();
  const results = checksOf(m);
  return {
    runId: randomUUID(),
    tool: { name: 'meshproof', version: '0.0.0-test', commit: '0'.repeat(40) },
    configHash: 'f'.repeat(64),
    startedAt: now,
    finishedAt: now,
    command: ['meshproof', 'sweep', '--matrix'],
    posture: ['cluster (live)'],
    target: kind === 'lab' ? { kind, summary: 'built-in lab (test)', trustDomain: 'cluster.local', versions: {}, namespaces: {}, notes: ['The lab emulates Istio sidecars.'] } : { kind, summary: 'Kubernetes cluster at https://127.0.0.1:6443 (context test)', trustDomain: 'cluster.local', versions: {}, namespaces: {}, notes: [] },
    results,
    requirements: { required: [], unmet: [] },
    exitCode: results.some((r) => r.verdict === 'fail') ? 1 : 0,
    sweep: sweepOf(m),
  };
}

function bundle(name: string, run: RunResult, sign = true): string {
  const outDir = path.join(tmp, name);
  writeBundle({ outDir, run, posture: { origin: run.posture, objects: [] }, allChecks: [], ...(sign ? { signKeyPem: privPem } : {}) });
  return outDir;
}

describe('issue 22: the access matrix in report.html, in Chromium', () => {
  const m = matrixOf(baseSpecs());
  const dir = bundle('picture', runOf(m));

  it('#22-3 every cell drawn matches matrix.json (identity, Service, port, state; the worst of a Service\'s pods), with its glyph, colour and words', async () => {
    const written = JSON.parse(readFileSync(path.join(dir, 'matrix.json'), 'utf8')) as MatrixReport & { schema: string };
    expect(written.schema).toBe('meshproof.dev/matrix/v1');
    expect(written.cells).toHaveLength(m.cells.length);
    // matrix.json is in the manifest: the bundle verifies, and a changed cell does not.
    expect(readFileSync(path.join(dir, 'manifest.sha256'), 'utf8')).toMatch(/^[0-9a-f]{64} {2}matrix\.json$/m);
    expect(JSON.parse(readFileSync(path.join(dir, 'sweep.json'), 'utf8')).matrix).toBeUndefined();
    const { browser, page, problems } = await openReport(path.join(dir, 'report.html'));
    try {
      expect(await page.locator('#access-matrix').textContent()).toBe('Access matrix');
      expect(await page.locator('figure.matrix-figure').getAttribute('data-mode')).toBe('full');
      const want = expectedDrawn(written);
      const drawn = await drawnCells(page, '#matrix-grid td.mx');
      expect(drawn.map((d) => d.key).sort()).toEqual([...want.keys()].sort());
      const colourOf = new Map<string, string>();
      for (const d of drawn) {
        const w = want.get(d.key)!;
        expect(d.state, d.key).toBe(w.state);
        expect(d.pods, d.key).toBe(w.pods);
        expect(d.canary, d.key).toBe(w.canary);
        expect(d.glyph, d.key).toBe(MATRIX_STATE[w.state].glyph);
        expect(d.title, d.key).toContain(MATRIX_STATE[w.state].text);
        // One colour per state, whatever the cell.
        expect(colourOf.get(w.state) ?? d.color, d.key).toBe(d.color);
        colourOf.set(w.state, d.color);
      }
      // Black and white: six states, six different glyphs (and six colours for those who see them).
      expect(new Set(drawn.map((d) => d.glyph)).size).toBe(CELL_STATES.length);
      expect(new Set(colourOf.values()).size).toBe(CELL_STATES.length);
      // A cell's title carries its grant's scope and rule, the attack, its result and why.
      const beyond = drawn.find((d) => d.key === `${FRONT}|shop|cart|8080`)!;
      expect(beyond.title).toMatch(/grant: partial \(GET, HEAD \/api\/\*\)/);
      expect(beyond.title).toMatch(/rules: shop\/allow-frontend rule\[0\]/);
      expect(beyond.title).toMatch(/beyond it: HEAD \/api\/x \(the intent declares GET only\) by shop\/allow-frontend rule\[0\]/);
      expect(beyond.title).toMatch(/attack: GET \/\.meshproof\/matrix\/\w+ → refused \(rbac_access_denied_matched_policy\[none\]/);
      const hole = drawn.find((d) => d.key === `${FRONT}|pay|ledger|8080`)!;
      expect(hole.title).toMatch(/→ hole \(the app answered 404: the request reached it\)/);
      expect(drawn.find((d) => d.key === `${FRONT}|pay|audit|7000`)!.title).toMatch(/not attacked: not judged/);
      // Two pods of pay/audit: the worst (inconclusive) drawn, both pods in the title.
      expect(drawn.find((d) => d.key === `${LEDGER}|pay|audit|7000`)!.state).toBe('inconclusive');
      expect(drawn.find((d) => d.key === `${LEDGER}|pay|audit|7000`)!.title).toMatch(/2 pods; each:\n\[audit-0\] refused[\s\S]*\[audit-1\] inconclusive/);
      // Estate identities against canary targets (and the reverse) were not judged: blank, never a state.
      const rows = await page.locator('#matrix-grid tbody tr:not(.identity-group)').count();
      const cols = await page.locator('#matrix-grid thead tr:nth-child(3) th').count();
      expect(rows * cols).toBe(drawn.length + (await page.locator('#matrix-grid td.none').count()));
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('#22-3 the legend counts each state\'s cells as matrix.json has them, the canary apart, each with its glyph', async () => {
    const { browser, page } = await openReport(path.join(dir, 'report.html'));
    try {
      const items = await page.locator('#matrix-legend li.legend').evaluateAll((els) => els.map((e) => ({ state: e.getAttribute('data-state'), count: Number(e.getAttribute('data-count')), shown: e.querySelector('.count')?.textContent, canary: Number(e.getAttribute('data-canary-count')), glyph: e.querySelector('.glyph')?.textContent, text: e.textContent })));
      expect(items.map((i) => i.state)).toEqual(CELL_STATES);
      for (const i of items) {
        const s = i.state as CellState;
        const estate = m.cells.filter((c) => c.role !== 'canary' && c.state === s).length;
        const canary = m.cells.filter((c) => c.role === 'canary' && c.state === s).length;
        expect(i.count, s).toBe(estate);
        expect(i.shown, s).toBe(String(estate));
        expect(i.canary, s).toBe(canary);
        expect(i.glyph, s).toBe(MATRIX_STATE[s].glyph);
        expect(i.text, s).toContain(MATRIX_STATE[s].text);
      }
      expect(new Set(items.map((i) => i.glyph)).size).toBe(CELL_STATES.length);
    } finally {
      await browser.close();
    }
  });

  it('#22-3 the canary\'s cells are drawn as the control (dashed, "canary", not a finding), and its status is said', async () => {
    const { browser, page } = await openReport(path.join(dir, 'report.html'));
    try {
      const canary = await drawnCells(page, '#matrix-grid td.mx[data-role="canary"]');
      expect(canary.map((c) => `${c.key}=${c.state}`).sort()).toEqual([`${CALLER}|${RUN_NS}|canary-target|8080=beyond-intent`, `${CANARY}|${RUN_NS}|canary-bare|8080=hole`, `${CANARY}|${RUN_NS}|canary-target|8080=refused`].sort());
      for (const c of canary) expect(c.title).toMatch(/canary: meshproof's own control, planted, not a finding/);
      const outline = await page.locator('#matrix-grid td.mx.canary').first().evaluate((e) => (globalThis as unknown as Styles).getComputedStyle(e).outlineStyle);
      expect(outline).toBe('dashed');
      expect(await page.locator('#matrix-canary').getAttribute('data-state')).toBe('flagged-as-expected');
      // In the details table the canary's hole says "canary: hole", apart from the estate's holes.
      const canaryRows = await page.locator('#matrix-table tr[data-role="canary"] td:first-child').allTextContents();
      expect(canaryRows.sort()).toEqual(['! canary: beyond-intent', '✗ canary: hole']);
    } finally {
      await browser.close();
    }
  });

  it('#22-3 the details table holds every cell not proven refused, and sorts on a header click', async () => {
    const { browser, page } = await openReport(path.join(dir, 'report.html'));
    try {
      const rows = await page.locator('#matrix-table tbody tr').evaluateAll((trs) => trs.map((tr) => `${tr.getAttribute('data-identity')}|${tr.getAttribute('data-namespace')}|${tr.getAttribute('data-service')}|${tr.getAttribute('data-port')}|${tr.getAttribute('data-pod')}=${tr.getAttribute('data-state')}`));
      const want = m.cells.filter((c) => c.state !== 'refused').map((c) => `${c.identity}|${c.namespace}|${c.service}|${c.port}|${c.pod}=${c.state}`);
      expect(rows.sort()).toEqual(want.sort());
      await page.locator('#matrix-table th', { hasText: 'Identity' }).click();
      const ids = await page.locator('#matrix-table tbody tr td:nth-child(2)').allTextContents();
      expect(ids).toEqual([...ids].sort((a, b) => a.localeCompare(b)));
    } finally {
      await browser.close();
    }
  });

  it(`#22-3 a large estate (more than ${FULL_GRID_LIMIT} cells) is a per-namespace summary grid plus the table, not a cell each`, async () => {
    const specs: Spec[] = [];
    const states: CellState[] = ['refused', 'refused', 'refused', 'granted', 'refused', 'beyond-intent', 'refused', 'hole', 'not-judged', 'inconclusive', 'refused'];
    for (let i = 0; i < 80; i++) for (let s = 0; s < 70; s++) specs.push({ id: `team-${i % 4}/sa-${i}`, ns: `svc-ns-${s % 3}`, svc: `svc-${s}`, port: 8080, state: states[(i * 7 + s) % states.length]! });
    specs.push(...baseSpecs().filter((s) => s.canary));
    const big = matrixOf(specs);
    const bigDir = bundle('large', runOf(big), false);
    const { browser, page, problems } = await openReport(path.join(bigDir, 'report.html'));
    try {
      expect(await page.locator('figure.matrix-figure').getAttribute('data-mode')).toBe('summary');
      expect(await page.locator('#matrix-grid').count()).toBe(0);
      const cells = await page.locator('#matrix-summary td.mx').evaluateAll((els) => els.map((e) => ({ i: e.getAttribute('data-identity-namespace'), s: e.getAttribute('data-namespace'), state: e.getAttribute('data-state'), counts: Object.fromEntries(['hole', 'beyond-intent', 'granted', 'refused', 'not-judged', 'inconclusive'].map((k) => [k, Number(e.getAttribute(`data-${k}`))])) })));
      const group = (c: MatrixCell) => `${c.role === 'canary' ? 'canary' : c.identity.split('/')[0]} ${c.namespace}`;
      expect(cells.map((c) => `${c.i} ${c.s}`).sort()).toEqual([...new Set(big.cells.map(group))].sort());
      for (const c of cells) {
        const mine = big.cells.filter((x) => group(x) === `${c.i} ${c.s}`);
        for (const st of CELL_STATES) expect(c.counts[st], `${c.i} ${c.s} ${st}`).toBe(mine.filter((x) => x.state === st).length);
        expect(c.state).toBe(DRAW_RANK.find((st) => mine.some((x) => x.state === st)));
      }
      expect(await page.locator('#matrix-table tbody tr').count()).toBe(big.cells.filter((c) => c.state !== 'refused').length);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe('issue 22: the matrix checks in JUnit, OSCAL and the control catalog', () => {
  const schema = JSON.parse(readFileSync('test/data/oscal-complete-1.1.2.schema.json', 'utf8'));
  const ajv = new Ajv({ strict: false, unicodeRegExp: true, allErrors: true });
  (addFormatsModule as unknown as { default: (a: Ajv) => void }).default(ajv);
  const validate = ajv.compile(schema);
  const H = ['PCI-DSS-4.0.1:7.2.5.1', 'SOC2:CC6.1', 'SOC2:CC6.3', 'RTS-2024/1774:Art.21', 'NIST-800-53r5:AC-3', 'NIST-800-53r5:AC-4', 'NIST-800-53r5:AC-6', 'NIST-800-53r5:AC-6(7)'];
  const ALL_ROWS = ['SOC2:CC7.1', 'DORA:Art.25', 'NIST-800-53r5:CA-2', 'NIST-800-53r5:CA-7', 'NIST-800-53r5:SI-6', 'FFIEC-IS:IV.A'];

  it('#22-2 category h claims exactly controls.md\'s (h) rows and its "all" rows, supports where the catalog says input to a review, with the caveats', () => {
    const claims = claimsFor(['h']);
    expect(claims.map((c) => c.id).sort()).toEqual([...H, ...ALL_ROWS].sort());
    const supports = claims.filter((c) => c.relation === 'supports').map((c) => c.id);
    expect(supports.sort()).toEqual(['NIST-800-53r5:AC-6(7)', 'PCI-DSS-4.0.1:7.2.5.1', 'SOC2:CC6.3']);
    const entry = (id: string) => CATALOG.find((c) => c.id === id)!;
    expect(entry('SOC2:CC6.3').caveat).toMatch(/the matrix shows current grants, it does not approve them/);
    expect(entry('PCI-DSS-4.0.1:7.2.5.1').caveat).toMatch(/not the review itself.*"system account" is an interpretation/);
    expect(entry('NIST-800-53r5:AC-6(7)').caveat).toBe('Input to the review.');
    // b keeps what it had: the new rows are (h)'s alone.
    for (const id of ['PCI-DSS-4.0.1:7.2.5.1', 'SOC2:CC6.3', 'NIST-800-53r5:AC-6(7)']) expect(claimsFor(['a', 'b', 'c', 'd', 'e', 'f', 'g']).map((c) => c.id)).not.toContain(id);
    for (const c of claims) expect(FORBIDDEN).not.toContain(c.id);
  });

  it('#22-2 JUnit: one testcase per identity for each matrix check (the canary\'s apart), valid against the Jenkins XSD; LEASTPRIV without an intent is one skipped testcase', () => {
    const dir = path.join(tmp, 'picture');
    const xml = readFileSync(path.join(dir, 'junit.xml'), 'utf8');
    expect(execFileSync('xmllint', ['--noout', '--schema', 'test/data/junit-10.xsd', path.join(dir, 'junit.xml')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })).toBe('');
    for (const check of ['SWEEP-ENFORCE', 'SWEEP-LEASTPRIV']) {
      const names = [...xml.matchAll(new RegExp(`<testcase classname="sweep\\.${check}" name="([^"]+)"`, 'g'))].map((x) => x[1]);
      expect(names.sort(), check).toEqual([CART, FRONT, LEDGER].sort());
    }
    expect(xml).toMatch(new RegExp(`<testcase classname="sweep\\.SWEEP-ENFORCE" name="${FRONT}"[^>]*>\\s*<failure`));
    expect(xml).toMatch(new RegExp(`<testcase classname="sweep\\.SWEEP-LEASTPRIV" name="${FRONT}"[^>]*>\\s*<failure[^>]*>[^<]*evidence: checks/SWEEP-LEASTPRIV.json, matrix.json`));
    expect(xml).toMatch(/<property name="SWEEP-ENFORCE\.controls" value="[^"]*SOC2:CC6\.3[^"]*NIST-800-53r5:AC-6\(7\)/);
    const noIntent = bundle('no-intent', runOf(matrixOf(baseSpecs(), { intent: false })), false);
    const x2 = readFileSync(path.join(noIntent, 'junit.xml'), 'utf8');
    expect(execFileSync('xmllint', ['--noout', '--schema', 'test/data/junit-10.xsd', path.join(noIntent, 'junit.xml')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })).toBe('');
    expect(x2).toMatch(/<testcase classname="sweep\.SWEEP-LEASTPRIV" name="SWEEP-LEASTPRIV sweep"[^>]*>\s*<skipped message="not applicable: no intent given/);
    expect(x2).toMatch(/<testsuite name="sweep" tests="4" failures="1" errors="2" time="[\d.]+" skipped="1"/);
  });

  it('#22-2 / 21-4 OSCAL: a lab matrix run claims no control (every finding not assessed); on a cluster the (h) controls are findings with their caveats, supports where the catalog says so', () => {
    const dir = path.join(tmp, 'picture');
    const lab = JSON.parse(readFileSync(path.join(dir, 'oscal-assessment-results.json'), 'utf8'));
    expect(validate(lab), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    type Finding = { target: { 'target-id': string; remarks?: string; status: { state: string; reason?: string } }; props: { name: string; value: string }[] };
    const labFindings = lab['assessment-results'].results[0].findings as Finding[];
    expect(labFindings.map((f) => f.target['target-id'])).toContain('ac-6.7');
    for (const f of labFindings) {
      expect(f.target.status.state).not.toBe('satisfied');
      expect(f.target.status.reason).toBe('not-assessed');
      expect(f.props).toContainEqual(expect.objectContaining({ name: 'assessed', value: 'false' }));
    }
    expect(readFileSync(path.join(dir, 'report.html'), 'utf8')).toMatch(/id="controls-not-assessed"/);
    const cluster = bundle('cluster', runOf(m2(), 'kubernetes'), false);
    const doc = JSON.parse(readFileSync(path.join(cluster, 'oscal-assessment-results.json'), 'utf8'));
    expect(validate(doc), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    const fs = doc['assessment-results'].results[0].findings as Finding[];
    const by = (id: string) => fs.find((f) => f.target['target-id'] === id)!;
    expect(by('ac-3').target.status).toEqual({ state: 'not-satisfied' });
    expect(by('ac-6.7').props).toContainEqual(expect.objectContaining({ name: 'relation', value: 'supports' }));
    expect(by('ac-6.7').target.remarks).toBe('Caveat: Input to the review.');
    expect(by('soc2_cc6.3').props).toContainEqual(expect.objectContaining({ name: 'relation', value: 'supports' }));
    expect(by('soc2_cc6.3').target.remarks).toMatch(/does not approve them/);
    expect(by('pci-dss-4.0.1_7.2.5.1').target.remarks).toMatch(/not the review itself/);
    expect(by('ac-3').props).toContainEqual(expect.objectContaining({ name: 'relation', value: 'addresses' }));
    const html = readFileSync(path.join(cluster, 'report.html'), 'utf8');
    expect(html).toMatch(/<td><code>SOC2:CC6\.3<\/code><\/td><td>[^<]* <em>\(supported, not addressed\)<\/em><div class="caveat">Caveat: [^<]*does not approve them/);
  });

  const m2 = () => matrixOf(baseSpecs());

  it('#22-2 `meshproof controls` and `list` show SWEEP-ENFORCE and SWEEP-LEASTPRIV with the (h) claims and caveats (needs npm run build)', async () => {
    const text = await cli(['controls']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^SOC2:CC6\.3\s+Access removed or modified per least privilege \(role-based\) — .*it does not approve them\.$/m);
    expect(text.stdout).toMatch(/^NIST-800-53r5:AC-6\(7\)\s+Review of user privileges — Input to the review\.$/m);
    expect(text.stdout).toMatch(/^ {2}SWEEP-ENFORCE: .*PCI-DSS-4\.0\.1:7\.2\.5\.1 \(supports\).*SOC2:CC6\.1,.*SOC2:CC6\.3 \(supports\).*NIST-800-53r5:AC-3,.*NIST-800-53r5:AC-6\(7\) \(supports\)/m);
    const json = JSON.parse((await cli(['controls', '-o', 'json'])).stdout) as { id: string; caveat?: string; claimedBy: { check: string; relation: string }[] }[];
    const cc63 = json.find((c) => c.id === 'SOC2:CC6.3')!;
    expect(cc63.claimedBy).toEqual([{ check: 'SWEEP-ENFORCE', relation: 'supports' }, { check: 'SWEEP-LEASTPRIV', relation: 'supports' }]);
    // (b) checks keep their claims; the (h)-only rows are claimed by the matrix checks alone.
    expect(json.find((c) => c.id === 'NIST-800-53r5:AC-6(7)')!.claimedBy.map((x) => x.check)).toEqual(['SWEEP-ENFORCE', 'SWEEP-LEASTPRIV']);
    expect(json.find((c) => c.id === 'NIST-800-53r5:AC-3')!.claimedBy.map((x) => x.check)).toEqual(expect.arrayContaining(['AUTHZ-001', 'SWEEP-AUTHZ', 'SWEEP-ENFORCE']));
    const list = JSON.parse((await cli(['list', '-o', 'json'])).stdout) as { id: string; suite: string; command: string; controls: { id: string }[] }[];
    for (const id of ['SWEEP-ENFORCE', 'SWEEP-LEASTPRIV']) expect(list.find((c) => c.id === id)).toMatchObject({ suite: 'sweep', command: 'sweep', controls: claimsFor(['h']) });
    expect((await cli(['list'])).stdout).toMatch(/^ {2}SWEEP-LEASTPRIV {2}Every grant is within the declared intent \(sweep --matrix\)$/m);
  });

  it('#22-3 `meshproof report` re-renders the matrix from a verified bundle (matrix.json read back into the run)', () => {
    const { run } = readBundle(path.join(tmp, 'picture'), (id) => MATRIX_CHECKS.find((c) => c.id === id)?.categories ?? []);
    expect(run.sweep?.matrix?.cells).toHaveLength(m2().cells.length);
  });
});

describe('issue 22: meshproof compare on two matrices', () => {
  /** A baseline and a candidate where cells changed: named by identity → ns/service:port, never a pod. */
  const edit = (specs: Spec[], f: (s: Spec) => Spec | undefined) => specs.map(f).filter((s): s is Spec => Boolean(s));
  const base = bundle('cmp-base', runOf(matrixOf(baseSpecs())));
  const candSpecs = edit(baseSpecs(), (s) => {
    const k = `${s.id} ${s.ns}/${s.svc}:${s.port}`;
    // A new grant (refused/none → granted/partial), a new hole, a hole closed, the ledger identity gone, pods renamed.
    if (k === `${LEDGER} shop/cart:8080`) return undefined;
    if (s.id === LEDGER) return undefined;
    if (k === `${CART} shop/cart:9000`) return { ...s, state: 'granted', grant: 'partial' };
    if (k === `${CART} pay/ledger:8080`) return { ...s, state: 'hole', grant: 'partial' };
    if (k === `${FRONT} pay/ledger:8080`) return { ...s, state: 'refused' };
    // The canary's cells change every run (its namespace is per run): never compared.
    if (s.canary) return { ...s, state: 'refused' };
    return { ...s, pod: `${s.svc}-7f9c-${s.port}` };
  });
  // A second pod of shop/cart whose attack proved nothing: the Service's refusal is not proven any more.
  candSpecs.push({ id: FRONT, ns: 'shop', svc: 'cart', port: 9000, state: 'inconclusive', pod: 'cart-7f9c-b' });
  const cand = bundle('cmp-cand', runOf(matrixOf(candSpecs)));

  it('#22-5 a new grant and a new hole regress, named identity → ns/service:port; a removed identity is said once; pods and the canary are not keys', () => {
    expect(verifyBundle(cand, pubPem).ok).toBe(true);
    const c = compareBundles(base, cand, { publicKeyPem: pubPem });
    const row = (id: string) => c.rows.find((r) => r.id === id);
    expect(row(`${CART} → shop/cart:9000`)).toMatchObject({ title: 'new grant', change: 'regressed', baseline: 'refused (none)', candidate: 'granted (partial)' });
    expect(row(`${CART} → pay/ledger:8080`)).toMatchObject({ title: 'new hole', change: 'regressed', baseline: 'granted (partial)', candidate: 'hole (partial)' });
    expect(row(`${FRONT} → pay/ledger:8080`)).toMatchObject({ title: 'hole closed', change: 'improved' });
    expect(row(LEDGER)).toMatchObject({ title: 'identity removed', change: 'removed' });
    // Its cells are not listed one by one, and no key names a pod or the canary's namespace.
    expect(c.rows.filter((r) => r.id.startsWith(`${LEDGER} →`))).toEqual([]);
    expect(c.rows.filter((r) => r.id.includes(RUN_NS) || /-7f9c-|-0\b/.test(r.id))).toEqual([]);
    const matrixRegressions = c.rows.filter((r) => r.change === 'regressed' && r.id.includes(' → '));
    expect(row(`${FRONT} → shop/cart:9000`)).toMatchObject({ title: 'refusal proven before, not now', change: 'regressed', baseline: 'refused (none)', candidate: 'inconclusive (none)' });
    expect(matrixRegressions.map((r) => r.id).sort()).toEqual([`${CART} → pay/ledger:8080`, `${CART} → shop/cart:9000`, `${FRONT} → shop/cart:9000`]);
    const table = comparisonTable(c);
    expect(table).toMatch(new RegExp(`^${CART} → shop/cart:9000\\s+refused \\(none\\)\\s+granted \\(partial\\)\\s+REGRESSED$`, 'm'));
    expect(table).toMatch(new RegExp(`^${CART} → pay/ledger:8080\\s+granted \\(partial\\)\\s+hole \\(partial\\)\\s+REGRESSED$`, 'm'));
    // The same bundle against itself: nothing changed, pods renamed or not.
    expect(compareBundles(base, base, { publicKeyPem: pubPem }).rows.filter((r) => r.id.includes(' → '))).toEqual([]);
  });

  it('M22-M5: a partial grant that grants more (GET → GET, POST, DELETE, still partial) is a regression; the same scope is not', () => {
    const before = matrixOf(baseSpecs());
    const after = structuredClone(before);
    const c = after.cells.find((x) => x.identity === FRONT && x.service === 'cart' && x.port === 8080)!;
    expect(c.grant.kind).toBe('partial');
    c.grant.scope = ['shop/allow-frontend rule 0: methods GET,POST,DELETE paths /api/*'];
    const row = matrixDiff(before, after).find((r) => r.id === `${FRONT} → shop/cart:8080`);
    expect(row).toMatchObject({ title: 'grant changed', change: 'regressed', reason: expect.stringContaining('methods GET,POST,DELETE') });
    expect(matrixDiff(before, structuredClone(before))).toEqual([]);
  });

  it('#22-5 a removed Service port is said once; a matrix whose matrix.json was changed is not compared', () => {
    const gone = bundle('cmp-gone', runOf(matrixOf(baseSpecs().filter((s) => !(s.svc === 'audit')))));
    const c = compareBundles(base, gone, { publicKeyPem: pubPem });
    expect(c.rows.find((r) => r.id === 'pay/audit:7000')).toMatchObject({ title: 'Service port removed', change: 'removed' });
    expect(c.rows.filter((r) => r.id.endsWith('pay/audit:7000') && r.id.includes(' → '))).toEqual([]);
    // Tampering with matrix.json (a hole rewritten as refused) breaks the manifest: nothing is compared.
    const file = path.join(cand, 'matrix.json');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as MatrixReport;
    for (const x of doc.cells) if (x.state === 'hole') x.state = 'refused';
    writeFileSync(file, JSON.stringify(doc));
    expect(() => compareBundles(base, cand, { publicKeyPem: pubPem })).toThrow(/cmp-cand does not verify \(changed: matrix\.json\)/);
    // Re-hashed and re-signed by someone else's key: still not compared.
    writeManifest(cand);
    signManifest(cand, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    expect(() => compareBundles(base, cand, { publicKeyPem: pubPem })).toThrow(/signature does not verify/);
  });
});
