// The record over an audit period, from nightly bundles: each verified first (a tampered one is left out and
// named), each check's verdict per night, the nights without a run, and the first night a check regressed.
import { generateKeyPairSync } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { loadPosture } from '../harness/posture/load.js';
import { writeBundle } from '../harness/report/bundle.js';
import type { RunResult } from '../harness/result.js';
import { conformanceRun } from '../harness/run.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { ALL_CHECKS, SUITES } from '../suites/index.js';
import { cli } from './support/cli.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'meshproof-history-'));
const posture = loadPosture('fixtures/secure');
const keys = generateKeyPairSync('ed25519');
const privPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const pubFile = path.join(tmp, 'sign.pub.pem');
writeFileSync(pubFile, keys.publicKey.export({ type: 'spki', format: 'pem' }).toString());
let run: RunResult;

/** A real run's result, dated to another night (the bundle is hashed and signed as written, so it verifies). */
function bundleFor(nightIso: string, name: string, change?: (r: RunResult) => void, signed = true): string {
  const r = structuredClone(run);
  r.startedAt = `${nightIso}T02:17:00.000Z`;
  r.finishedAt = `${nightIso}T02:19:00.000Z`;
  change?.(r);
  const dir = path.join(tmp, name);
  writeBundle({ outDir: dir, run: r, posture, allChecks: ALL_CHECKS, signKeyPem: signed ? privPem : undefined });
  return dir;
}

beforeAll(async () => {
  const lab = new LabTarget();
  try {
    run = await conformanceRun({ target: lab, posture, checks: SUITES.mtls!, timeouts: LAB_TIMEOUTS });
  } finally {
    await lab.dispose();
  }
});

describe('meshproof history', () => {
  it('verdicts per night, gaps, the first regression; a tampered bundle is left out and named', async () => {
    const dirs = [
      bundleFor('2026-11-01', 'n1'),
      // 2026-11-02: no run
      bundleFor('2026-11-03', 'n3', (r) => {
        r.results[0]!.verdict = 'fail';
        r.results[0]!.reason = 'plaintext got an HTTP 200';
      }),
      bundleFor('2026-11-04', 'n4'),
    ];
    const tampered = bundleFor('2026-11-05', 'n5');
    appendFileSync(path.join(tampered, 'run.json'), ' ');
    const out = path.join(tmp, 'history');
    const r = await cli(['history', ...dirs, tampered, '--public-key', pubFile, '--out', out]);
    expect(r.code).toBe(1);
    const h = JSON.parse(readFileSync(path.join(out, 'history.json'), 'utf8'));
    expect(h.nights).toEqual(['2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04']);
    expect(h.gaps).toEqual(['2026-11-02']);
    expect(h.rejected).toEqual([{ dir: tampered, problems: ['changed: run.json'] }]);
    const mtls001 = h.checks.find((c: { id: string }) => c.id === 'MTLS-001');
    expect(mtls001.verdicts).toEqual({ '2026-11-01': 'pass', '2026-11-03': 'fail', '2026-11-04': 'pass' });
    expect(mtls001.firstRegression).toBe('2026-11-03');
    expect(h.checks.find((c: { id: string }) => c.id === 'MTLS-002').firstRegression).toBeUndefined();
    expect(r.stdout).toMatch(/MTLS-001: first regressed 2026-11-03/);
    expect(r.stdout).toMatch(/left out .*n5: changed: run\.json/);
    const html = readFileSync(path.join(out, 'history.html'), 'utf8');
    expect(html).not.toMatch(/<script|https?:\/\//);
    // As a person sees it: headless Chromium, no console errors, no request leaving the file.
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('request', (q) => {
        if (!q.url().startsWith('file://')) problems.push(q.url());
      });
      await page.goto(`file://${path.join(out, 'history.html')}`);
      expect(problems).toEqual([]);
      const row = await page.locator('tr', { has: page.locator('th', { hasText: 'MTLS-001' }) }).innerText();
      expect(row).toMatch(/first regressed 2026-11-03\s+✓\s+·\s+✗\s+✓/);
      expect(await page.locator('thead th.gap').innerText()).toBe('11-02');
    } finally {
      await browser.close();
    }
  });

  it('exits 0 when every bundle verifies and every check held every night', async () => {
    const dirs = [bundleFor('2026-10-01', 'a1'), bundleFor('2026-10-02', 'a2')];
    const r = await cli(['history', ...dirs, '--public-key', pubFile, '--out', path.join(tmp, 'held')]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^2 verified run\(s\), 2 night\(s\) from 2026-10-01 to 2026-10-02, 0 without a run; signatures valid\nrun on lab \(test bed, not a mesh\) \[LAB: evidence about no mesh\]\n$/);
  });

  it('21-1/21-4: a lab run and a cluster run never share a row; each row is labelled with its target, lab rows marked', async () => {
    const cluster = 'Kubernetes cluster at https://127.0.0.1:6443 (context prod)';
    const onCluster = (r: RunResult) => {
      r.target = { ...r.target, kind: 'kubernetes', summary: cluster, notes: [] };
    };
    const dirs = [
      bundleFor('2026-09-01', 'mix-lab-1', (r) => {
        r.results[0]!.verdict = 'fail';
      }),
      bundleFor('2026-09-01', 'mix-cluster-1', onCluster),
      bundleFor('2026-09-02', 'mix-lab-2'),
      bundleFor('2026-09-02', 'mix-cluster-2', onCluster),
    ];
    const out = path.join(tmp, 'mixed');
    const r = await cli(['history', ...dirs, '--public-key', pubFile, '--out', out]);
    const h = JSON.parse(readFileSync(path.join(out, 'history.json'), 'utf8'));
    const rows = h.checks.filter((c: { id: string }) => c.id === 'MTLS-001');
    expect(rows).toEqual([
      expect.objectContaining({ kind: 'run', target: cluster, lab: false, verdicts: { '2026-09-01': 'pass', '2026-09-02': 'pass' }, heldEveryNight: true }),
      expect.objectContaining({ kind: 'run', target: 'lab (test bed, not a mesh)', lab: true, verdicts: { '2026-09-01': 'fail', '2026-09-02': 'pass' }, heldEveryNight: false }),
    ]);
    // Mixed, the lab's failure would have been hidden by the cluster's pass of the same night (last run wins).
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^2 series, never mixed in one row: /m);
    expect(r.stdout).toMatch(/^ {2}MTLS-001: not held every night \(run on lab \(test bed, not a mesh\)\)$/m);
    const html = readFileSync(path.join(out, 'history.html'), 'utf8');
    expect(html).toMatch(/<tr class="lab"><th>MTLS-001<\/th><td>[^<]+<\/td><td>run on lab \(test bed, not a mesh\) <b>LAB<\/b><\/td>/);
    expect(html).toContain(`<tr><th>MTLS-001</th>`);
  });
});

describe('meshproof history: whose bundles', () => {
  it('A-M1: no --public-key and no --unsigned is a usage error; under --public-key an unsigned bundle is left out, named; --unsigned is said', async () => {
    const signed = bundleFor('2026-08-01', 'm1-signed');
    const plain = bundleFor('2026-08-02', 'm1-plain', undefined, false);
    const none = await cli(['history', signed, plain, '--out', path.join(tmp, 'm1-none')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^meshproof: history needs --public-key \(each bundle's signature checked\) or an explicit --unsigned: hashes alone can be regenerated by whoever edits run\.json\n$/);
    const keyed = await cli(['history', signed, plain, '--public-key', pubFile, '--out', path.join(tmp, 'm1-keyed')]);
    expect(keyed.code).toBe(1);
    expect(keyed.stdout).toMatch(/^1 verified run\(s\), 1 night\(s\) from 2026-08-01 to 2026-08-01, 0 without a run; signatures valid$/m);
    expect(keyed.stdout).toMatch(/^ {2}left out \S*m1-plain: a --public-key was given but the bundle is not signed$/m);
    const opted = await cli(['history', signed, plain, '--unsigned', '--out', path.join(tmp, 'm1-unsigned')]);
    expect(opted.code, opted.stdout).toBe(0);
    expect(opted.stdout).toMatch(/^2 verified run\(s\), 2 night\(s\) from 2026-08-01 to 2026-08-02, 0 without a run; signatures UNSIGNED: not checked \(--unsigned\), hashes only$/m);
    expect(JSON.parse(readFileSync(path.join(tmp, 'm1-unsigned', 'history.json'), 'utf8')).signatures).toBe('UNSIGNED: not checked (--unsigned), hashes only');
  });
});

describe('meshproof report', () => {
  it('renders report.html and the summary again from a verified bundle, the same as the run wrote, without touching it', async () => {
    const dir = bundleFor('2026-11-10', 'r1');
    const out = path.join(tmp, 'r1-pages');
    const r = await cli(['report', dir, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toBe(readFileSync(path.join(dir, 'report.html'), 'utf8'));
    expect(readFileSync(path.join(out, 'summary.md'), 'utf8')).toMatch(/^## meshproof passed\n/);
    expect((await cli(['verify', dir])).code).toBe(0);
  });

  it('refuses a bundle that does not verify (exit 2), naming what changed', async () => {
    const dir = bundleFor('2026-11-11', 'r2');
    appendFileSync(path.join(dir, 'checks', 'MTLS-001.json'), ' ');
    const r = await cli(['report', dir, '--out', path.join(tmp, 'r2-pages')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not verify \(changed: checks\/MTLS-001\.json\): nothing is rendered from it/);
  });
});
