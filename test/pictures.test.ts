// The pictures in report.html, as a person sees them: headless Chromium, no console errors, no request leaving
// the file, and what is drawn matches the bundle (cells per attacker and destination with their outcomes,
// certificate bars, answers and the limit of the overload picture). A screenshot is kept for a person to look at.
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
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
}, 120_000);

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
  }, 120_000);

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
  }, 120_000);

  it('#21-8.1 the allow-all run: every cell of the map matches checks/*.json', async () => {
    const { browser, page } = await openReport(path.join(out, 'report.html'), 900);
    try {
      await expectEveryCellTrue(page, out);
    } finally {
      await browser.close();
    }
  });
});

describe('the sweep heat map in report.html', () => {
  it('draws one cell per namespace and check, with the counts of sweep.json, in Chromium', async () => {
    const sweepOut = path.join(path.dirname(out), 'sweep');
    const r = await cli(['sweep', '--target', 'lab', '--estate', '60x1', '--out', sweepOut]);
    expect(r.code, r.stderr).toBe(1);
    type Sw = { endpoints: { namespace: string; verdicts: { check: string; outcome: string }[] }[]; pods: { namespace: string; verdict: { outcome: string } }[] };
    const sw = JSON.parse(readFileSync(path.join(sweepOut, 'sweep.json'), 'utf8')) as Sw;
    const { browser, page, problems } = await openReport(path.join(sweepOut, 'report.html'), 900);
    try {
      expect(problems).toEqual([]);
      const namespaces = new Set([...sw.endpoints.map((e) => e.namespace), ...sw.pods.map((p) => p.namespace)]);
      expect(namespaces.size).toBe(3); // estate-1, estate-2 and the run namespace with the canary
      expect(await page.locator('svg.sweep-heat-map g.heat').count()).toBe(namespaces.size * 4);
      for (const ns of namespaces) {
        for (const check of ['SWEEP-MTLS', 'SWEEP-AUTHZ', 'SWEEP-CERT']) {
          const want = sw.endpoints.filter((e) => e.namespace === ns && e.verdicts.some((v) => v.check === check && v.outcome === 'finding')).length;
          expect(await page.locator(`g.heat[data-namespace="${ns}"][data-check="${check}"]`).getAttribute('data-findings'), `${ns} ${check}`).toBe(String(want));
        }
        const inject = sw.pods.filter((p) => p.namespace === ns && p.verdict.outcome === 'finding').length;
        expect(await page.locator(`g.heat[data-namespace="${ns}"][data-check="SWEEP-INJECT"]`).getAttribute('data-findings')).toBe(String(inject));
      }
      const shot = path.join(path.dirname(out), 'sweep-heat-map.png');
      await page.locator('svg.sweep-heat-map').screenshot({ path: shot });
      expect(statSync(shot).size).toBeGreaterThan(5_000);
      console.log(`sweep heat map screenshot: ${shot}`);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
