// The pictures in report.html, as a person sees them: headless Chromium, no console errors, no request leaving
// the file, and what is drawn matches the bundle (cells per attacker and destination with their outcomes,
// certificate bars, answers and the limit of the overload picture). A screenshot is kept for a person to look at.
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';

const out = path.join(mkdtempSync(path.join(tmpdir(), 'meshproof-pictures-')), 'bundle');

type Case = { attack?: { from: string; to: string; judgements: { outcome: string }[] }; control?: { from: string; to: string; ok: boolean }; observed?: unknown; verdict: string };
const checkDocs = () => readdirSync(path.join(out, 'checks')).map((f) => JSON.parse(readFileSync(path.join(out, 'checks', f), 'utf8')) as { check: { id: string }; cases: Case[] });

beforeAll(async () => {
  // allow-all: the authorization attacks get through, so the map has cells of every common kind.
  const r = await cli(['run', '--suite', 'mtls,authz,certificates,resilience', '--overlay', 'fixtures/weakened/allow-all.yaml', '--out', out]);
  expect(r.code, r.stderr).toBe(1);
}, 120_000);

describe('pictures in report.html', () => {
  it('draw what the bundle says, in Chromium, without errors or external requests', async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('request', (q) => {
        if (!q.url().startsWith('file://')) problems.push(q.url());
      });
      await page.goto(`file://${path.join(out, 'report.html')}`);
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
