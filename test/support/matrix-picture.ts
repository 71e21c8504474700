// The access matrix picture of report.html as an auditor reads it, in headless Chromium (issue 22 item 3): what is
// drawn per cell, and what matrix.json says should be drawn, for test/matrix-report.test.ts (a hand-made matrix) and
// test/matrix-estate.test.ts (the lab estate's real run).
import { type Page, chromium } from 'playwright-core';
import type { CellState, MatrixReport } from '../../harness/matrix/types.js';

/** report.html opened in Chromium; `problems`: console errors, page errors and any request leaving the file. */
export async function openReport(file: string) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(msg.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('request', (q) => {
    if (!q.url().startsWith('file://')) problems.push(q.url());
  });
  await page.goto(`file://${file}`);
  return { browser, page, problems };
}

/**
 * The state drawn per (identity, Service port), worked out here from matrix.json: the pods' worst, where anything
 * unproven outranks a proven refusal (one pod refused, one inconclusive: inconclusive, never a pass).
 */
export const DRAW_RANK: CellState[] = ['hole', 'beyond-intent', 'inconclusive', 'not-judged', 'granted', 'refused'];
export function expectedDrawn(m: MatrixReport): Map<string, { state: CellState; pods: number; canary: boolean }> {
  const want = new Map<string, { state: CellState; pods: number; canary: boolean }>();
  for (const c of m.cells) {
    const k = `${c.identity}|${c.namespace}|${c.service}|${c.port}`;
    const had = want.get(k);
    if (!had) want.set(k, { state: c.state, pods: 1, canary: c.role === 'canary' });
    else want.set(k, { state: DRAW_RANK.indexOf(c.state) < DRAW_RANK.indexOf(had.state) ? c.state : had.state, pods: had.pods + 1, canary: had.canary });
  }
  return want;
}

/** The browser's getComputedStyle (the test's tsconfig has no DOM lib). */
export type Styles = { getComputedStyle: (e: unknown) => { backgroundColor: string; outlineStyle: string } };

export const drawnCells = (page: Page, sel: string) =>
  page.locator(sel).evaluateAll((els) =>
    els.map((e) => ({
      key: `${e.getAttribute('data-identity')}|${e.getAttribute('data-namespace')}|${e.getAttribute('data-service')}|${e.getAttribute('data-port')}`,
      state: e.getAttribute('data-state'),
      pods: Number(e.getAttribute('data-pods')),
      canary: e.getAttribute('data-role') === 'canary' && e.classList.contains('canary'),
      glyph: e.textContent,
      title: e.getAttribute('title') ?? '',
      color: (globalThis as unknown as Styles).getComputedStyle(e).backgroundColor,
    })),
  );
