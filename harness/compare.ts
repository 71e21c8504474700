// The upgrade gate: compare two bundles' verdicts check by check (and two sweeps finding by finding). A regression is pass → fail, pass → error, and
// pass → not-applicable (a check that quietly stopped applying proves nothing any more) unless that is allowed.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './errors.js';
import { findingKeys, type SweepReport } from './sweep/sweep.js';

interface RunJsonResult {
  id: string;
  title: string;
  verdict: string;
  reason: string;
}

export interface CompareRow {
  id: string;
  title: string;
  baseline: string;
  candidate: string;
  change: 'same' | 'regressed' | 'improved' | 'changed' | 'added' | 'removed';
  reason?: string;
}

export interface Comparison {
  baseline: { dir: string; runId: string };
  candidate: { dir: string; runId: string };
  rows: CompareRow[];
  regressions: number;
}

function readRun(dir: string): { runId: string; results: RunJsonResult[] } {
  const file = path.join(dir, 'run.json');
  if (!existsSync(file)) throw new ConfigError(`${dir}: no run.json: not a meshproof bundle`);
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { runId: string; results: RunJsonResult[] };
    if (!Array.isArray(v.results)) throw new Error('no results');
    return v;
  } catch (e) {
    throw new ConfigError(`${file}: not a meshproof run record (${(e as Error).message})`);
  }
}

function readSweep(dir: string): Pick<SweepReport, 'endpoints' | 'pods'> | undefined {
  const file = path.join(dir, 'sweep.json');
  if (!existsSync(file)) return undefined;
  const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<SweepReport>;
  if (!Array.isArray(v.endpoints) || !Array.isArray(v.pods)) throw new ConfigError(`${file}: not a meshproof sweep record`);
  return { endpoints: v.endpoints, pods: v.pods };
}

const RANK: Record<string, number> = { pass: 0, 'not-applicable': 0, error: 1, fail: 2 };

export function compareBundles(baselineDir: string, candidateDir: string, o: { allowNotApplicable?: boolean } = {}): Comparison {
  const a = readRun(baselineDir);
  const b = readRun(candidateDir);
  const before = new Map(a.results.map((r) => [r.id, r]));
  const after = new Map(b.results.map((r) => [r.id, r]));
  const ids = [...new Set([...before.keys(), ...after.keys()])].sort();
  const rows = ids.map((id): CompareRow => {
    const x = before.get(id);
    const y = after.get(id);
    const title = (y ?? x)!.title;
    if (!x) return { id, title, baseline: '-', candidate: y!.verdict, change: 'added' };
    if (!y) return { id, title, baseline: x.verdict, candidate: '-', change: 'removed' };
    if (x.verdict === y.verdict) return { id, title, baseline: x.verdict, candidate: y.verdict, change: 'same' };
    const regressed = x.verdict === 'pass' && (y.verdict === 'fail' || y.verdict === 'error' || (y.verdict === 'not-applicable' && !o.allowNotApplicable));
    const change = regressed ? 'regressed' : (RANK[y.verdict] ?? 0) < (RANK[x.verdict] ?? 0) ? 'improved' : 'changed';
    return { id, title, baseline: x.verdict, candidate: y.verdict, change, reason: y.reason };
  });
  // Two sweeps: finding by finding, so a new hole is a regression even when the check was already failing.
  const sa = readSweep(baselineDir);
  const sb = readSweep(candidateDir);
  if (sa && sb) {
    const before = findingKeys(sa);
    const after = findingKeys(sb);
    for (const [key, why] of after) if (!before.has(key)) rows.push({ id: key, title: 'new finding', baseline: 'ok', candidate: 'finding', change: 'regressed', reason: why });
    for (const [key] of before) if (!after.has(key)) rows.push({ id: key, title: 'finding resolved', baseline: 'finding', candidate: 'ok', change: 'improved' });
  }
  return {
    baseline: { dir: baselineDir, runId: a.runId },
    candidate: { dir: candidateDir, runId: b.runId },
    rows,
    regressions: rows.filter((r) => r.change === 'regressed').length,
  };
}

export function comparisonTable(c: Comparison): string {
  const head = ['CHECK', 'BASELINE', 'CANDIDATE', 'CHANGE'];
  const rows = c.rows.map((r) => [r.id, r.baseline, r.candidate, r.change === 'regressed' ? 'REGRESSED' : r.change]);
  const w = head.map((_, i) => Math.max(...[head, ...rows].map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((x, i) => x.padEnd(w[i]!)).join('  ').trimEnd();
  const detail = c.rows.filter((r) => r.change === 'regressed').map((r) => `  ${r.id}: ${r.reason ?? ''}`);
  return [line(head), ...rows.map(line), '', `${c.regressions} regression(s)`, ...detail].join('\n');
}
