// The upgrade gate: compare two bundles' verdicts check by check (and two sweeps finding by finding). It fails
// closed: both bundles are verified first (one that does not verify is EvidenceError, exit 1); a run is never
// compared with a sweep, nor a lab run with a cluster's (ConfigError, exit 2); a regression is pass → fail,
// pass → error, pass → not-applicable (a check that quietly stopped applying proves nothing any more) unless that
// is allowed, and a check the baseline judged that the candidate did not run at all (a narrower --suite) unless
// `allowRemoved` names it.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, EvidenceError } from './errors.js';
import { verifyBundle } from './report/manifest.js';
import { findingKeys, type SweepReport } from './sweep/sweep.js';

interface RunJsonResult {
  id: string;
  title: string;
  verdict: string;
  reason: string;
}

interface RunJson {
  runId: string;
  target?: { kind?: string; summary?: string };
  scope?: { suites?: string[]; namespaces?: Record<string, string> };
  results: RunJsonResult[];
}

export interface CompareRow {
  id: string;
  title: string;
  baseline: string;
  candidate: string;
  change: 'same' | 'regressed' | 'improved' | 'changed' | 'added' | 'removed';
  reason?: string;
}

/** What one side of the comparison was: its kind, target, suites and namespaces, and its signature. */
export interface CompareSide {
  dir: string;
  runId: string;
  kind: 'run' | 'sweep';
  target: string;
  targetKind: string;
  suites: string[];
  namespaces: string[];
  checks: number;
  signature: string;
}

export interface Comparison {
  baseline: CompareSide;
  candidate: CompareSide;
  rows: CompareRow[];
  regressions: number;
  /** Checks judged before and absent after that `--allow-removed` accepted. */
  allowedRemoved: string[];
}

export interface CompareOptions {
  allowNotApplicable?: boolean;
  /** Check ids the candidate may lack (each must be one it lacks). */
  allowRemoved?: string[];
  /** Also require each bundle's signature by this Ed25519 key. */
  publicKeyPem?: string;
}

function readRun(dir: string): RunJson {
  const file = path.join(dir, 'run.json');
  if (!existsSync(file)) throw new ConfigError(`${dir}: no run.json: not a meshproof bundle`);
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as RunJson;
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

/** A bundle that verifies (every hash; the signature when a key is given), read; otherwise the gate fails. */
function readSide(dir: string, publicKeyPem: string | undefined): { side: CompareSide; run: RunJson; sweep?: Pick<SweepReport, 'endpoints' | 'pods'> } {
  const v = verifyBundle(dir, publicKeyPem);
  if (!v.ok) throw new EvidenceError(`${dir} does not verify (${v.problems.join('; ')}): nothing is compared`);
  const run = readRun(dir);
  const sweep = readSweep(dir);
  return {
    run,
    sweep,
    side: {
      dir,
      runId: run.runId,
      kind: sweep ? 'sweep' : 'run',
      target: run.target?.summary ?? 'unknown target',
      targetKind: run.target?.kind ?? 'unknown',
      suites: run.scope?.suites ?? [],
      namespaces: Object.values(run.scope?.namespaces ?? {}),
      checks: run.results.length,
      signature: v.signature,
    },
  };
}

const RANK: Record<string, number> = { pass: 0, 'not-applicable': 0, error: 1, fail: 2 };

export function compareBundles(baselineDir: string, candidateDir: string, o: CompareOptions = {}): Comparison {
  const a = readSide(baselineDir, o.publicKeyPem);
  const b = readSide(candidateDir, o.publicKeyPem);
  if (a.side.kind !== b.side.kind) {
    throw new ConfigError(`cannot compare a ${a.side.kind} (${baselineDir}) with a ${b.side.kind} (${candidateDir}): their checks and populations differ`);
  }
  if (a.side.targetKind !== b.side.targetKind) {
    throw new ConfigError(`cannot compare a ${a.side.targetKind} target (${baselineDir}) with a ${b.side.targetKind} target (${candidateDir})`);
  }
  const before = new Map(a.run.results.map((r) => [r.id, r]));
  const after = new Map(b.run.results.map((r) => [r.id, r]));
  const removed = [...before.keys()].filter((id) => !after.has(id));
  const allowRemoved = [...new Set((o.allowRemoved ?? []).map((id) => id.trim().toUpperCase()).filter(Boolean))];
  const stale = allowRemoved.filter((id) => !removed.includes(id));
  if (stale.length > 0) throw new ConfigError(`--allow-removed ${stale.join(', ')}: not a check ${baselineDir} judged and ${candidateDir} lacks`);
  const ids = [...new Set([...before.keys(), ...after.keys()])].sort();
  const rows = ids.map((id): CompareRow => {
    const x = before.get(id);
    const y = after.get(id);
    const title = (y ?? x)!.title;
    if (!x) return { id, title, baseline: '-', candidate: y!.verdict, change: 'added' };
    if (!y) {
      // Not judged any more proves nothing any more: a regression unless the user accepted it by name.
      if (allowRemoved.includes(id)) return { id, title, baseline: x.verdict, candidate: '-', change: 'removed', reason: 'not run by the candidate (allowed by --allow-removed)' };
      return { id, title, baseline: x.verdict, candidate: '-', change: 'regressed', reason: `not run by the candidate (its suites: ${b.side.suites.join(', ') || 'none'}); name it in --allow-removed to accept` };
    }
    if (x.verdict === y.verdict) return { id, title, baseline: x.verdict, candidate: y.verdict, change: 'same' };
    const regressed = x.verdict === 'pass' && (y.verdict === 'fail' || y.verdict === 'error' || (y.verdict === 'not-applicable' && !o.allowNotApplicable));
    const change = regressed ? 'regressed' : (RANK[y.verdict] ?? 0) < (RANK[x.verdict] ?? 0) ? 'improved' : 'changed';
    return { id, title, baseline: x.verdict, candidate: y.verdict, change, reason: y.reason };
  });
  // Two sweeps: finding by finding, so a new hole is a regression even when the check was already failing.
  if (a.sweep && b.sweep) {
    const before = findingKeys(a.sweep);
    const after = findingKeys(b.sweep);
    for (const [key, why] of after) if (!before.has(key)) rows.push({ id: key, title: 'new finding', baseline: 'ok', candidate: 'finding', change: 'regressed', reason: why });
    for (const [key] of before) if (!after.has(key)) rows.push({ id: key, title: 'finding resolved', baseline: 'finding', candidate: 'ok', change: 'improved' });
  }
  return {
    baseline: a.side,
    candidate: b.side,
    rows,
    regressions: rows.filter((r) => r.change === 'regressed').length,
    allowedRemoved: allowRemoved,
  };
}

function sideLine(label: string, s: CompareSide): string {
  const ns = s.namespaces.length ? `, namespaces ${s.namespaces.join(', ')}` : '';
  return `${label} ${s.dir}: ${s.kind} ${s.runId} on ${s.target}; suites ${s.suites.join(', ') || '-'} (${s.checks} checks)${ns}; signature ${s.signature}`;
}

export function comparisonTable(c: Comparison): string {
  const head = ['CHECK', 'BASELINE', 'CANDIDATE', 'CHANGE'];
  const rows = c.rows.map((r) => [r.id, r.baseline, r.candidate, r.change === 'regressed' ? 'REGRESSED' : r.change]);
  const w = head.map((_, i) => Math.max(...[head, ...rows].map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((x, i) => x.padEnd(w[i]!)).join('  ').trimEnd();
  const detail = c.rows.filter((r) => r.change === 'regressed').map((r) => `  ${r.id}: ${r.reason ?? ''}`);
  return [sideLine('baseline: ', c.baseline), sideLine('candidate:', c.candidate), '', line(head), ...rows.map(line), '', `${c.regressions} regression(s)`, ...detail].join('\n');
}
