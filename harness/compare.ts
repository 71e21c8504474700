// The upgrade gate: compare two bundles' verdicts check by check (and two sweeps finding by finding). It fails
// closed: both bundles are verified first, their signatures by a given key unless the caller opts out by name
// (one that does not verify is EvidenceError, exit 1); a run is never compared with a sweep, nor a lab run with a
// cluster's, nor a candidate whose target, namespaces or sweep scope do not cover the baseline's (ConfigError,
// exit 2: a narrower scope would pass by omission). A regression is any candidate `fail` the baseline did not have
// (pass, error or not-applicable → fail, and a check the candidate adds as fail), pass or not-applicable → error
// (inconclusive proves nothing), pass → not-applicable (a check that quietly stopped applying proves nothing any
// more) unless that is allowed, and a check the baseline judged that the candidate did not run at all (a narrower
// --suite) unless `allowRemoved` names it. Only a move to `pass` is an improvement: fail → error is a change. Two
// access matrices are compared cell by cell too (harness/matrix/diff.ts: a new grant or a new hole regresses).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, EvidenceError } from './errors.js';
import { matrixDiff } from './matrix/diff.js';
import type { MatrixReport } from './matrix/types.js';
import { verifyBundle } from './report/manifest.js';
import { readMatrix } from './report/matrix-json.js';
import type { SweepReport } from './sweep/report.js';
import { outcomeKeys } from './sweep/sweep.js';

interface RunJsonResult {
  id: string;
  title: string;
  verdict: string;
  reason: string;
}

interface RunJson {
  runId: string;
  target?: { kind?: string; summary?: string };
  scope?: { suites?: string[]; namespaces?: Record<string, string>; selectedBy?: '--suite' | '--check'; checks?: string[] };
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
  /** `--check`: the run judged single checks (`checks` of them), not whole suites: a narrower scope than its suites say. */
  selectedBy: '--suite' | '--check';
  /** Under `--check`: the checks it named. */
  selected?: string[];
  namespaces: string[];
  checks: number;
  signature: string;
}

export interface Comparison {
  baseline: CompareSide;
  candidate: CompareSide;
  rows: CompareRow[];
  regressions: number;
  /** Set when signatures were not checked: why (the user's --unsigned, or the caller's reason). */
  unsigned?: string;
  /** Checks judged before and absent after that `--allow-removed` accepted. */
  allowedRemoved: string[];
}

export interface CompareOptions {
  allowNotApplicable?: boolean;
  /** Check ids the candidate may lack (each must be one it lacks). */
  allowRemoved?: string[];
  /** Require each bundle's signature by this Ed25519 key. */
  publicKeyPem?: string;
  /** No key: compare on hashes alone, and say so with this reason in the verdict line. One of the two is required. */
  unsigned?: string;
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

type SweepRecord = Pick<SweepReport, 'endpoints' | 'pods'> & { inScope: string[] };

function readSweep(dir: string): SweepRecord | undefined {
  const file = path.join(dir, 'sweep.json');
  if (!existsSync(file)) return undefined;
  const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<SweepReport>;
  if (!Array.isArray(v.endpoints) || !Array.isArray(v.pods) || !Array.isArray(v.scope?.inScope)) throw new ConfigError(`${file}: not a meshproof sweep record`);
  // The sweep's own namespace (where its canary pods run) is named per run on a cluster (cluster/kube/kube-target.ts
  // ns()): it is no part of the estate a candidate must cover.
  const own = new Set(v.pods.filter((p) => p.role === 'canary').map((p) => p.namespace));
  return { endpoints: v.endpoints, pods: v.pods, inScope: v.scope.inScope.filter((n) => !own.has(n)) };
}

/** A bundle that verifies (every hash; the signature when a key is given), read; otherwise the gate fails. */
function readSide(dir: string, publicKeyPem: string | undefined): { side: CompareSide; run: RunJson; sweep?: SweepRecord; matrix?: MatrixReport } {
  const v = verifyBundle(dir, publicKeyPem);
  if (!v.ok) throw new EvidenceError(`${dir} does not verify (${v.problems.join('; ')}): nothing is compared`);
  const run = readRun(dir);
  const sweep = readSweep(dir);
  // matrix.json is read only after the manifest (which lists it) verified.
  const matrix = sweep ? readMatrix(dir) : undefined;
  return {
    run,
    sweep,
    matrix,
    side: {
      dir,
      runId: run.runId,
      kind: sweep ? 'sweep' : 'run',
      target: run.target?.summary ?? 'unknown target',
      targetKind: run.target?.kind ?? 'unknown',
      suites: run.scope?.suites ?? [],
      selectedBy: run.scope?.selectedBy ?? '--suite',
      ...(run.scope?.selectedBy === '--check' ? { selected: run.scope.checks ?? run.results.map((r) => r.id) } : {}),
      // A sweep's namespaces are the ones it swept; a run's are its roles (mesh, bare…: their names are per run).
      namespaces: sweep ? sweep.inScope : Object.keys(run.scope?.namespaces ?? {}),
      checks: run.results.length,
      signature: v.signature,
    },
  };
}

/** Whether baseline → candidate verdict (`-`: not judged) is a regression (A-H3). */
function regressedVerdict(x: string, y: string, allowNotApplicable: boolean): boolean {
  if (y === 'fail') return x !== 'fail';
  if (y === 'error') return x === 'pass' || x === 'not-applicable';
  if (y === 'not-applicable') return x === 'pass' && !allowNotApplicable;
  return false;
}

/** The candidate must cover what the baseline covered: same target, every namespace (a run's roles; a sweep's scope). */
function requireCoverage(a: CompareSide, b: CompareSide): void {
  if (a.target !== b.target) throw new ConfigError(`cannot compare ${a.dir} (${a.target}) with ${b.dir} (${b.target}): another target proves nothing about this one`);
  const missing = a.namespaces.filter((n) => !b.namespaces.includes(n));
  if (missing.length > 0) {
    throw new ConfigError(`${b.dir} does not cover ${a.dir}'s namespaces (${missing.join(', ')} missing): a narrower scope would pass the gate by omission`);
  }
}

/** Two sweeps, endpoint by endpoint: only rows that differ (A-M2). */
function sweepRows(a: SweepRecord, b: SweepRecord, allowNotApplicable: boolean): CompareRow[] {
  const before = outcomeKeys(a);
  const after = outcomeKeys(b);
  const rows: CompareRow[] = [];
  for (const key of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const x = before.get(key)?.outcome ?? '-';
    const y = after.get(key);
    if (x === (y?.outcome ?? '-')) continue;
    const row = { id: key, baseline: x, candidate: y?.outcome ?? '-' };
    if (y?.outcome === 'finding') rows.push({ ...row, title: 'new finding', change: 'regressed', reason: y.why });
    else if (x === 'ok' && (!y || y.outcome === 'inconclusive' || (y.outcome === 'not-applicable' && !allowNotApplicable))) {
      rows.push({ ...row, title: 'held before, not proven now', change: 'regressed', reason: y ? y.why : 'not tested by the candidate' });
    } else if (x === 'finding' && !y) rows.push({ ...row, title: 'finding not re-tested', change: 'changed', reason: 'not tested by the candidate: not resolved' });
    else if (x === 'finding' && y?.outcome === 'ok') rows.push({ ...row, title: 'finding resolved', change: 'improved' });
    else rows.push({ ...row, title: 'outcome changed', change: y || x === '-' ? 'changed' : 'removed', reason: y?.why ?? 'not tested by the candidate' });
  }
  return rows;
}

export function compareBundles(baselineDir: string, candidateDir: string, o: CompareOptions = {}): Comparison {
  if (!o.publicKeyPem && !o.unsigned) throw new ConfigError('compare needs --public-key (each bundle\'s signature checked) or an explicit --unsigned: hashes alone can be regenerated by whoever edits run.json');
  if (o.publicKeyPem && o.unsigned) throw new ConfigError('--public-key and --unsigned: choose one');
  const a = readSide(baselineDir, o.publicKeyPem);
  const b = readSide(candidateDir, o.publicKeyPem);
  if (a.side.kind !== b.side.kind) {
    throw new ConfigError(`cannot compare a ${a.side.kind} (${baselineDir}) with a ${b.side.kind} (${candidateDir}): their checks and populations differ`);
  }
  if (a.side.targetKind !== b.side.targetKind) {
    throw new ConfigError(`cannot compare a ${a.side.targetKind} target (${baselineDir}) with a ${b.side.targetKind} target (${candidateDir})`);
  }
  requireCoverage(a.side, b.side);
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
    if (!x) return { id, title, baseline: '-', candidate: y!.verdict, change: regressedVerdict('-', y!.verdict, false) ? 'regressed' : 'added', reason: y!.reason };
    if (!y) {
      // Not judged any more proves nothing any more: a regression unless the user accepted it by name.
      if (allowRemoved.includes(id)) return { id, title, baseline: x.verdict, candidate: '-', change: 'removed', reason: 'not run by the candidate (allowed by --allow-removed)' };
      return { id, title, baseline: x.verdict, candidate: '-', change: 'regressed', reason: `not run by the candidate (${b.side.selectedBy === '--check' ? scopeOf(b.side) : `its suites: ${b.side.suites.join(', ') || 'none'}`}); name it in --allow-removed to accept` };
    }
    if (x.verdict === y.verdict) return { id, title, baseline: x.verdict, candidate: y.verdict, change: 'same' };
    // Only a pass improves: fail → error is inconclusive, no better than the fail it replaced.
    const change = regressedVerdict(x.verdict, y.verdict, !!o.allowNotApplicable) ? 'regressed' : y.verdict === 'pass' ? 'improved' : 'changed';
    return { id, title, baseline: x.verdict, candidate: y.verdict, change, reason: y.reason };
  });
  // Two sweeps: endpoint by endpoint, so a new hole is a regression even when the check was already failing, and
  // an endpoint proven held before and inconclusive or untested now is one too.
  if (a.sweep && b.sweep) rows.push(...sweepRows(a.sweep, b.sweep, !!o.allowNotApplicable));
  // Two access matrices (`sweep --matrix`): cell by cell, `identity → ns/service:port`; a new grant or a new hole
  // regresses even when SWEEP-ENFORCE was already failing. A matrix the candidate lacks is SWEEP-ENFORCE not run
  // (a regression above, unless --allow-removed names it).
  if (a.matrix && b.matrix) rows.push(...matrixDiff(a.matrix, b.matrix));
  return {
    baseline: a.side,
    candidate: b.side,
    rows,
    regressions: rows.filter((r) => r.change === 'regressed').length,
    allowedRemoved: allowRemoved,
    ...(o.publicKeyPem ? {} : { unsigned: o.unsigned }),
  };
}

/** What a side judged: its suites, or under --check only the checks it named (a narrower scope than those suites). */
function scopeOf(s: CompareSide): string {
  if (s.selectedBy === '--check') return `--check ${s.selected?.join(',') ?? '-'} only (single checks, not whole suites)`;
  return `suites ${s.suites.join(', ') || 'none'}`;
}

function sideLine(label: string, s: CompareSide): string {
  const ns = s.namespaces.length ? `, namespaces ${s.namespaces.join(', ')}` : '';
  return `${label} ${s.dir}: ${s.kind} ${s.runId} on ${s.target}; ${s.selectedBy === '--check' ? scopeOf(s) : `${scopeOf(s)} (${s.checks} checks)`}${ns}; signature ${s.signature}`;
}

export function comparisonTable(c: Comparison): string {
  const head = ['CHECK', 'BASELINE', 'CANDIDATE', 'CHANGE'];
  const rows = c.rows.map((r) => [r.id, r.baseline, r.candidate, r.change === 'regressed' ? 'REGRESSED' : r.change]);
  const w = head.map((_, i) => Math.max(...[head, ...rows].map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((x, i) => x.padEnd(w[i]!)).join('  ').trimEnd();
  const detail = c.rows.filter((r) => r.change === 'regressed').map((r) => `  ${r.id}: ${r.reason ?? ''}`);
  const trust = c.unsigned ? `; UNSIGNED: signatures not checked (${c.unsigned}), hashes only` : '; both signatures valid';
  return [sideLine('baseline: ', c.baseline), sideLine('candidate:', c.candidate), '', line(head), ...rows.map(line), '', `${c.regressions} regression(s)${trust}`, ...detail].join('\n');
}
