// The pictures in report.html, as a person sees them: headless Chromium, no console errors, no request leaving
// the file, and what is drawn matches the bundle (cells per attacker and destination with their outcomes,
// certificate bars, answers and the limit of the overload picture). A screenshot is kept for a person to look at.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Page, chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { loadPosture } from '../harness/posture/load.js';
import { writeBundle } from '../harness/report/bundle.js';
import { RunSession } from '../harness/run.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { ALL_CHECKS } from '../suites/index.js';
import { authz001 } from '../suites/authz/unauthorized-denied.js';
import { mtls001 } from '../suites/mtls/plaintext-refused.js';
import { cli } from './support/cli.js';

const out = path.join(mkdtempSync(path.join(tmpdir(), 'meshproof-pictures-')), 'bundle');

type Case = { label: string; attack?: { from: string; to: string; judgements: { outcome: string }[] }; control?: { from: string; to: string; ok: boolean }; observed?: unknown; verdict: string };
type CheckDoc = { check: { id: string }; verdict: string; cases: Case[] };
const docsOf = (dir: string) => readdirSync(path.join(dir, 'checks')).map((f) => JSON.parse(readFileSync(path.join(dir, 'checks', f), 'utf8')) as CheckDoc);
const checkDocs = () => docsOf(out);

/**
 * Every cell of the attack map against checks/*.json of the same bundle, worked out here from each case's own
 * verdict (not from the code that draws): PASS → blocked, FAIL with an allowed attempt → got through, any other
 * FAIL (unaudited) → failed, inconclusive → inconclusive; a control → succeeded or failed. A cell several cases
 * share shows the worst. Its symbol is its state's, and the table's verdict for the check it links to agrees.
 */
async function expectEveryCellTrue(page: Page, dir: string): Promise<Map<string, string>> {
  const RANK = ['control', 'blocked', 'control-failed', 'inconclusive', 'failed', 'got-through'];
  const SYMBOL: Record<string, string> = { control: '●', blocked: '✓', 'control-failed': '○', inconclusive: '?', failed: '!', 'got-through': '✗' };
  const want = new Map<string, string>();
  const put = (k: string, s: string) => {
    if (RANK.indexOf(s) > RANK.indexOf(want.get(k) ?? 'control')) want.set(k, s);
    else if (!want.has(k)) want.set(k, s);
  };
  for (const d of docsOf(dir))
    for (const c of d.cases) {
      if (!c.attack || !c.control) continue;
      const allowed = c.attack.judgements.some((j) => j.outcome === 'allowed');
      put(`${c.attack.from}>${c.attack.to}`, c.verdict === 'pass' ? 'blocked' : c.verdict === 'error' ? 'inconclusive' : allowed ? 'got-through' : 'failed');
      put(`${c.control.from}>${c.control.to}`, c.control.ok ? 'control' : 'control-failed');
    }
  const drawn = await page.locator('#attack-map g.cell').evaluateAll((els) =>
    els.map((e) => ({ key: `${e.getAttribute('data-from')}>${e.getAttribute('data-to')}`, outcome: e.getAttribute('data-outcome'), check: e.getAttribute('data-check'), symbol: e.querySelector('text')?.textContent })),
  );
  const table = Object.fromEntries(
    await page.locator('#summary ~ table').first().locator('tr').evaluateAll((rows) => rows.slice(1).map((r) => [r.querySelector('a')?.textContent, r.querySelector('.v')?.textContent])),
  ) as Record<string, string>;
  expect(drawn.map((d) => d.key).sort()).toEqual([...want.keys()].sort());
  for (const d of drawn) {
    expect(d.outcome, d.key).toBe(want.get(d.key));
    expect(d.symbol, d.key).toBe(SYMBOL[d.outcome!]);
    if (d.outcome === 'got-through' || d.outcome === 'failed') expect(table[d.check!], d.key).toBe('FAIL');
    if (d.outcome === 'inconclusive') expect(table[d.check!], d.key).not.toBe('PASS');
  }
  return want;
}

/** A report opened in headless Chromium, with every console error, page error and non-file request collected. */
async function openReport(file: string, height: number) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  const page = await browser.newPage({ viewport: { width: 1100, height } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('request', (q) => {
    if (!q.url().startsWith('file://')) problems.push(q.url());
  });
  await page.goto(`file://${file}`);
  return { browser, page, problems };
}

beforeAll(async () => {
  // allow-all: the authorization attacks get through, so the map has cells of every common kind.
  const r = await cli(['run', '--suite', 'mtls,authz,certificates,resilience', '--overlay', 'fixtures/weakened/allow-all.yaml', '--out', out]);
  expect(r.code, r.stderr).toBe(1);
});

describe('pictures in report.html', () => {
  it('draw what the bundle says, in Chromium, without errors or external requests', async () => {
    const { browser, page, problems } = await openReport(path.join(out, 'report.html'), 1400);
    try {
      expect(problems).toEqual([]);

      // Attack map: one cell per attacker and destination pair in the bundle; authorization got through.
      const cases = checkDocs().flatMap((d) => d.cases.map((c) => ({ id: d.check.id, c })));
      const pairs = new Set(cases.flatMap(({ c }) => (c.attack && c.control ? [`${c.attack.from}>${c.attack.to}`, `${c.control.from}>${c.control.to}`] : [])));
      expect(await page.locator('#attack-map g.cell').count()).toBe(pairs.size);
      const through = await page.locator('#attack-map g.cell[data-outcome="got-through"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-check')));
      expect(through.length).toBeGreaterThan(0);
      expect(through.every((id) => /^AUTHZ-/.test(id ?? ''))).toBe(true);

      // Certificate timeline: a bar per CERT-001 case.
      const cert001 = checkDocs().find((d) => d.check.id === 'CERT-001')!;
      expect(await page.locator('#cert-timeline g.cert').count()).toBe(cert001.cases.length);
      expect(await page.locator('#cert-timeline text.note').first().textContent()).toMatch(/rotation seen|no rotation/);

      // Overload: an answer per recorded response, the limit line at the DestinationRule's limit.
      const res001 = checkDocs().find((d) => d.check.id === 'RES-001')!;
      const obs = res001.cases[0]!.observed as { attack: { timeline: unknown[] }; limit: number; echoMaxInFlight: number };
      expect(await page.locator('#overload g.answer').count()).toBe(obs.attack.timeline.length);
      expect(await page.locator('#overload #limit').getAttribute('data-limit')).toBe(String(obs.limit));
      expect(await page.locator('#overload #in-flight').getAttribute('data-peak')).toBe(String(obs.echoMaxInFlight));

      const shot = path.join(path.dirname(out), 'pictures.png');
      await page.locator('#pictures').scrollIntoViewIfNeeded();
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(20_000);
      console.log(`pictures screenshot: ${shot}`);
    } finally {
      await browser.close();
    }
  });
});

/** An axis as drawn: its title, and its ticks' values with their positions (x for horizontal, y for vertical). */
async function axisOf(page: Page, id: string) {
  return page.locator(`#${id}`).evaluate((g) => ({
    title: g.querySelector('.axis-title')?.textContent ?? '',
    ticks: [...g.querySelectorAll('g.tick')].map((t) => {
      const l = t.querySelector('line')!;
      return { value: Number(t.getAttribute('data-value')), label: t.querySelector('text')?.textContent ?? '', x: Number(l.getAttribute('x1')), y: Number(l.getAttribute('y1')) };
    }),
  }));
}

/** The axis's scale: position of a value, from its first and last ticks. */
function scaleOf(ticks: { value: number; x: number; y: number }[], along: 'x' | 'y') {
  const a = ticks[0]!;
  const b = ticks.at(-1)!;
  return (v: number) => a[along] + ((v - a.value) / (b.value - a.value)) * (b[along] - a[along]);
}

describe('issue 21 item 8: axes, units and time on the charts', () => {
  it('#21-8.2 the certificate timeline and the overload chart have titled axes with units and tick values, states in words', async () => {
    const { browser, page } = await openReport(path.join(out, 'report.html'), 1400);
    try {
      // Certificate timeline: time in hours (or days) from a stated UTC instant; each bar's length is its lifetime on that axis.
      const cert = await axisOf(page, 'cert-timeline #cert-time');
      expect(cert.title).toMatch(/^(hours|days) since \d{4}-\d\d-\d\dT[\d:.]+Z \(UTC/);
      expect(cert.ticks.length).toBeGreaterThanOrEqual(3);
      for (const t of cert.ticks) expect(t.label).toBe(String(t.value));
      expect(cert.ticks.map((t) => t.value)).toEqual([...cert.ticks.map((t) => t.value)].sort((a, b) => a - b));
      const perUnit = scaleOf(cert.ticks, 'x');
      const hours = /^hours/.test(cert.title) ? 1 : 24;
      const cert001 = checkDocs().find((d) => d.check.id === 'CERT-001')!;
      const bars = await page.locator('#cert-timeline g.cert').evaluateAll((gs) =>
        gs.map((g) => ({ serial: g.getAttribute('data-serial'), over: g.getAttribute('data-over-limit'), w: Number(g.querySelector('rect')!.getAttribute('width')), state: g.querySelector('text.state')?.textContent ?? '' })),
      );
      for (const c of cert001.cases) {
        const o = c.observed as { serial: string; validFrom: string; expiration: string };
        const bar = bars.find((b) => b.serial === o.serial)!;
        const lifetime = (Date.parse(o.expiration) - Date.parse(o.validFrom)) / 3_600_000 / hours;
        expect(bar.w).toBeCloseTo(Math.max(2, perUnit(lifetime) - perUnit(0)), 0); // a bar is at least 2 px wide (the rotating workload's lives minutes)
        expect(bar.state).toMatch(c.verdict === 'fail' ? /OVER the limit/ : /within the limit/);
      }

      // Overload: answers against seconds; the backend's in-flight count against seconds and requests in flight.
      const res001 = checkDocs().find((d) => d.check.id === 'RES-001')!;
      const obs = res001.cases[0]!.observed as { attack: { timeline: [number, string][] }; limit: number; echoInFlight: [number, number][] };
      const answersT = await axisOf(page, 'overload #answers-time');
      expect(answersT.title).toBe('seconds since the overload began');
      const inFlightT = await axisOf(page, 'overload #in-flight-time');
      expect(inFlightT.title).toBe("seconds since the backend's first request");
      const inFlightN = await axisOf(page, 'overload #in-flight-count');
      expect(inFlightN.title).toBe('requests in flight');
      for (const a of [answersT, inFlightT, inFlightN]) {
        expect(a.ticks.length).toBeGreaterThanOrEqual(2);
        for (const t of a.ticks) expect(Number(t.label)).toBe(t.value);
      }
      // The last answer sits at its time (ms in the bundle) on the seconds axis; the limit line at its count.
      const lastX = await page.locator('#overload g.answer').last().evaluate((g) => {
        const m = g.firstElementChild!;
        return m.tagName === 'circle' ? Number(m.getAttribute('cx')) : m.tagName === 'rect' ? Number(m.getAttribute('x')) + 3 : Number(/M([\d.]+)/.exec(m.getAttribute('d')!)![1]) + 4;
      });
      expect(lastX).toBeCloseTo(scaleOf(answersT.ticks, 'x')(obs.attack.timeline.at(-1)![0] / 1000), 0);
      const limitY = Number(await page.locator('#overload #limit').getAttribute('y1'));
      expect(limitY).toBeCloseTo(scaleOf(inFlightN.ticks, 'y')(obs.limit), 0);
    } finally {
      await browser.close();
    }
  });
});

describe('issue 21 item 8: one state per cell, from the verdict of checks/*.json', () => {
  it('#21-8.1 an unaudited FAIL (every attempt blocked, no record) is drawn as failed, never ✓; every cell matches its bundle', async () => {
    // A real lab run: access logging on (meshConfig.accessLogFile), but the echo sidecars write nothing, so the
    // blocks are unaudited and MTLS-001 and AUTHZ-001 FAIL with every attempt blocked (docs/istio-behaviours.md §9.11).
    const dir = path.join(path.dirname(out), 'unaudited');
    const lab = new LabTarget();
    try {
      const posture = loadPosture('fixtures/secure', ['test/fixtures/logging/mesh-config-file.yaml']);
      await lab.apply(posture);
      for (const p of await lab.servicePods({ namespace: 'mesh', name: 'echo' })) lab.sidecarOf(p)!.muted = true;
      const s = new RunSession({ target: lab, posture, timeouts: LAB_TIMEOUTS });
      for (const c of [mtls001, authz001]) await s.check(c);
      writeBundle({ outDir: dir, run: await s.finish(), posture, allChecks: ALL_CHECKS });
    } finally {
      await lab.dispose();
    }
    const docs = docsOf(dir);
    expect(docs.map((d) => d.verdict)).toEqual(['fail', 'fail']);
    const { browser, page, problems } = await openReport(path.join(dir, 'report.html'), 900);
    try {
      expect(problems).toEqual([]);
      const want = await expectEveryCellTrue(page, dir);
      expect([...want.values()].filter((v) => v === 'failed').length).toBe(2);
      expect(await page.locator('#attack-map g.cell[data-outcome="blocked"]').count()).toBe(0);
    } finally {
      await browser.close();
    }
  });

  it('#21-8.1 a weakened posture (permissive-mtls, --suite mtls): every cell of the map matches checks/*.json', async () => {
    const dir = path.join(path.dirname(out), 'permissive');
    const r = await cli(['run', '--suite', 'mtls', '--overlay', 'fixtures/weakened/permissive-mtls.yaml', '--out', dir]);
    expect(r.code, r.stderr).toBe(1);
    const { browser, page, problems } = await openReport(path.join(dir, 'report.html'), 900);
    try {
      expect(problems).toEqual([]);
      const want = await expectEveryCellTrue(page, dir);
      expect([...want.values()]).toContain('got-through');
    } finally {
      await browser.close();
    }
  });

  it('#21-8.1 the allow-all run: every cell of the map matches checks/*.json', async () => {
    const { browser, page } = await openReport(path.join(out, 'report.html'), 900);
    try {
      await expectEveryCellTrue(page, out);
    } finally {
      await browser.close();
    }
  });
});

type SwVerdict = { check: string; outcome: string; reason: string };
type Sw = {
  endpoints: { namespace: string; pod: string; port: number; services: string[]; role?: string; verdicts: SwVerdict[] }[];
  pods: { namespace: string; pod: string; role?: string; service?: string; verdict: SwVerdict }[];
  canary: { expected: string[]; missing: string[] };
};
const sweepOut = path.join(path.dirname(out), 'sweep');
const EXEMPT_REASON = 'estate-2 is served only through the audited gateway (ticket SEC-1234)';
let sw: Sw;

describe('the sweep in report.html', () => {
  beforeAll(async () => {
    // An exemption for estate-2's authorization findings, so the page has exempted rows to show.
    const exemptions = path.join(path.dirname(out), 'exemptions.yaml');
    writeFileSync(exemptions, `exemptions:\n  - namespace: estate-2\n    reason: ${EXEMPT_REASON}\n`);
    const r = await cli(['sweep', '--target', 'lab', '--estate', '60x1', '--exemptions', exemptions, '--out', sweepOut]);
    expect(r.code, r.stderr).toBe(1);
    sw = JSON.parse(readFileSync(path.join(sweepOut, 'sweep.json'), 'utf8')) as Sw;
  });

  it('draws one cell per namespace and check, with the counts of sweep.json (the canary apart), in Chromium', async () => {
    const { browser, page, problems } = await openReport(path.join(sweepOut, 'report.html'), 900);
    try {
      expect(problems).toEqual([]);
      const endpoints = sw.endpoints.filter((e) => e.role !== 'canary');
      const pods = sw.pods.filter((p) => p.role !== 'canary');
      const namespaces = new Set([...endpoints.map((e) => e.namespace), ...pods.map((p) => p.namespace)]);
      expect(namespaces.size).toBe(2); // estate-1, estate-2; the run namespace holds only the canary
      expect(await page.locator('svg.sweep-heat-map g.heat').count()).toBe(namespaces.size * 4);
      for (const ns of namespaces) {
        for (const check of ['SWEEP-MTLS', 'SWEEP-AUTHZ', 'SWEEP-CERT']) {
          const count = (o: string) => String(endpoints.filter((e) => e.namespace === ns && e.verdicts.some((v) => v.check === check && v.outcome === o)).length);
          const cell = page.locator(`g.heat[data-namespace="${ns}"][data-check="${check}"]`);
          expect(await cell.getAttribute('data-findings'), `${ns} ${check}`).toBe(count('finding'));
          expect(await cell.getAttribute('data-exempt'), `${ns} ${check}`).toBe(count('exempt'));
        }
        const inject = pods.filter((p) => p.namespace === ns && p.verdict.outcome === 'finding').length;
        expect(await page.locator(`g.heat[data-namespace="${ns}"][data-check="SWEEP-INJECT"]`).getAttribute('data-findings')).toBe(String(inject));
      }
      const shot = path.join(path.dirname(out), 'sweep-heat-map.png');
      await page.locator('svg.sweep-heat-map').screenshot({ path: shot });
      expect(statSync(shot).size).toBeGreaterThan(5_000);
      console.log(`sweep heat map screenshot: ${shot}`);
    } finally {
      await browser.close();
    }
  });

  it('#21-8.3 the details are a table (namespace, Service, port, check, finding, why) that sorts on a header click, in Chromium', async () => {
    const { browser, page, problems } = await openReport(path.join(sweepOut, 'report.html'), 900);
    try {
      const table = page.locator('#sweep-table');
      expect(await table.locator('thead th').allTextContents()).toEqual(['Namespace', 'Service', 'Port', 'Check', 'Finding', 'Why']);
      const rows = () => table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
      const before = await rows();
      // Every judged (endpoint, check) of sweep.json has its row: namespace, Service, port, check.
      const have = new Set(before.map((r) => `${r[0]} ${r[1]} ${r[2]} ${r[3]}`));
      for (const e of sw.endpoints)
        for (const v of e.verdicts) {
          const svc = e.services[0] ? e.services[0].replace(/:\d+$/, '').split('/')[1] : `${e.pod} (no Service)`;
          expect(have.has(`${e.namespace} ${svc} ${e.port} ${v.check}`), `${e.namespace}/${svc}:${e.port} ${v.check}`).toBe(true);
        }
      // The details are no longer one paragraph of Service: verdict pairs.
      expect(await page.locator('.check p', { hasText: 'case(s):' }).count()).toBe(0);

      await table.locator('thead th', { hasText: 'Service' }).click();
      const byService = (await rows()).map((r) => r[1]!);
      expect(byService).toEqual([...byService].sort((a, b) => a.localeCompare(b)));
      expect(byService).not.toEqual(before.map((r) => r[1]));
      await table.locator('thead th', { hasText: 'Service' }).click();
      const reversed = (await rows()).map((r) => r[1]!);
      expect(reversed).toEqual([...byService].sort((a, b) => b.localeCompare(a)));
      await table.locator('thead th', { hasText: 'Port' }).click();
      const ports = (await rows()).map((r) => r[2]!).filter((p) => p !== '').map(Number);
      expect(ports).toEqual([...ports].sort((a, b) => a - b));
      expect(await table.locator('thead th', { hasText: 'Port' }).getAttribute('aria-sort')).toBe('ascending');
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('#21-8.4 an exempted finding is shown as "exempt" with its reason, never as pass', async () => {
    const exempted = sw.endpoints.filter((e) => e.verdicts.some((v) => v.outcome === 'exempt'));
    expect(exempted.length).toBeGreaterThan(0);
    const { browser, page } = await openReport(path.join(sweepOut, 'report.html'), 900);
    try {
      const rows = await page.locator('#sweep-table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
      for (const e of exempted) {
        const svc = e.services[0]!.replace(/:\d+$/, '').split('/')[1];
        const mine = rows.filter((r) => r[0] === e.namespace && r[1] === svc && r[2] === String(e.port) && r[3] === 'SWEEP-AUTHZ');
        expect(mine.map((r) => r[4]), `${e.namespace}/${svc}:${e.port}`).toEqual(['exempt']);
        expect(mine[0]![5]).toContain(`exempted: ${EXEMPT_REASON}`);
      }
      // The evidence paragraphs no longer read "estate-2/…: pass" for an exempted Service.
      const text = await page.locator('#checks').evaluate((h) => {
        let s = '';
        for (let n = h.nextElementSibling; n && n.id !== 'sweep-details'; n = n.nextElementSibling) s += n.textContent;
        return s;
      });
      for (const e of exempted) expect(text).not.toContain(`${e.services[0]!.replace(/:\d+$/, '')}: pass`);
    } finally {
      await browser.close();
    }
  });

  it('#21-8.5 the canary is drawn as the control: "flagged as expected", never a red finding', async () => {
    const { browser, page } = await openReport(path.join(sweepOut, 'report.html'), 900);
    try {
      const rows = await page.locator('#sweep-table tbody tr').evaluateAll((trs) =>
        trs.map((tr) => ({ cells: [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''), colour: (globalThis as unknown as { getComputedStyle: (e: unknown) => { color: string } }).getComputedStyle(tr.querySelector('td.state')!).color })),
      );
      const findingColour = rows.find((r) => r.cells[4] === 'finding')!.colour;
      const canaryPods = new Set([...sw.endpoints.filter((e) => e.role === 'canary').map((e) => e.pod), ...sw.pods.filter((p) => p.role === 'canary').map((p) => p.pod)]);
      expect(canaryPods.size).toBeGreaterThan(0);
      const canaryRows = rows.filter((r) => [...canaryPods].some((p) => r.cells[5]!.includes(`${p}:`)));
      expect(canaryRows.length).toBeGreaterThan(0);
      for (const r of canaryRows) {
        expect(r.cells[4]).toMatch(/^canary: /);
        expect(r.colour, r.cells.join(' | ')).not.toBe(findingColour);
      }
      // Each planted expectation (app: CHECK[@port]) has its row saying it was flagged as expected.
      for (const want of sw.canary.expected) {
        const [app, what] = want.split(': ') as [string, string];
        const [check, port] = what.split('@');
        expect(
          canaryRows.some((r) => r.cells[3] === check && (port === undefined || r.cells[2] === port) && r.cells[5]!.startsWith(app) && r.cells[4] === 'canary: flagged as expected'),
          want,
        ).toBe(true);
      }
      // The heat map: the canary has its own row, flagged as expected for what it was planted for; no namespace row counts it.
      for (const check of ['SWEEP-MTLS', 'SWEEP-INJECT']) {
        const cell = page.locator(`svg.sweep-heat-map g.canary[data-check="${check}"]`);
        expect(await cell.getAttribute('data-state')).toBe('flagged-as-expected');
        expect(await cell.locator('text').textContent()).toMatch(/flagged as expected/);
      }
      const canaryNs = sw.endpoints.find((e) => e.role === 'canary')!.namespace;
      expect(await page.locator(`svg.sweep-heat-map g.heat[data-namespace="${canaryNs}"]`).count()).toBe(0);
    } finally {
      await browser.close();
    }
  });
});
