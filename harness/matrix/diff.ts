// `meshproof compare` on two access matrices (issue 22 item 3): cell by cell, keyed `identity → ns/service:port`
// (never a pod name: pods are renamed on every rollout; with --per-pod a key's pods are folded, its widest grant and
// worst state kept, harness/matrix/worst.ts). The canary's cells are left out: they are meshproof's control, in a namespace named per run.
// A regression is a NEW grant (none, or no cell at all, → partial or all; partial → all widens it; a granting rule or
// scope the baseline did not have), a NEW hole, a
// new grant beyond the intent, and a refusal proven before that is not proven now (inconclusive, not judged, or
// not attacked any more while identity and Service are both still there). An identity or a Service port the
// candidate no longer has is reported as removed, once, not as a hole closed.
import { grantRuleText } from '../istio/grants.js';
import type { CellGrant, CellState, GrantRule, MatrixReport } from './types.js';
import { worstState } from './worst.js';

/** A granting rule as `ns/name rule[N]`; the no-ALLOW-policy pseudo-rule in words, never `rule[-1]` (M22-L1). */
const ruleWords = (r: GrantRule) => (r.rule < 0 ? grantRuleText(r) : `${r.namespace}/${r.name} rule[${r.rule}]`);

export interface MatrixDiffRow {
  id: string;
  title: string;
  baseline: string;
  candidate: string;
  change: 'regressed' | 'improved' | 'changed' | 'added' | 'removed';
  reason?: string;
}

interface Folded {
  state: CellState;
  grant: CellGrant['kind'];
  scope: string[];
  why: string;
}

const GRANT_WIDTH: Record<CellGrant['kind'], number> = { none: 0, 'not-judged': 1, partial: 2, all: 3 };
const granted = (k: CellGrant['kind'] | undefined) => k === 'partial' || k === 'all';

export const cellKey = (c: { identity: string; namespace: string; service: string; port: number }) => `${c.identity} → ${c.namespace}/${c.service}:${c.port}`;
const portKey = (ns: string, svc: string, port: number) => `${ns}/${svc}:${port}`;

/** The estate's cells by stable key, pods folded: the widest grant, the worst state. */
export function foldCells(m: MatrixReport): Map<string, Folded> {
  const out = new Map<string, Folded>();
  for (const c of m.cells) {
    if (c.role === 'canary') continue;
    const k = cellKey(c);
    const why = `${c.pod}: ${c.attack ? `${c.attack.outcome} (${c.attack.reason})` : (c.notAttacked ?? c.grant.reason ?? c.state)}${c.grant.rules.length ? `; granted by ${c.grant.rules.map(ruleWords).join(', ')}` : ''}`;
    const had = out.get(k);
    if (!had) {
      out.set(k, { state: c.state, grant: c.grant.kind, scope: [...c.grant.scope], why });
      continue;
    }
    if (worstState([had.state, c.state]) !== had.state) Object.assign(had, { state: c.state, why });
    if (GRANT_WIDTH[c.grant.kind] > GRANT_WIDTH[had.grant]) had.grant = c.grant.kind;
    for (const s of c.grant.scope) if (!had.scope.includes(s)) had.scope.push(s);
  }
  return out;
}

const identitiesOf = (m: MatrixReport) => new Set(m.identities.filter((i) => i.role !== 'canary').map((i) => `${i.namespace}/${i.serviceAccount}`));
const portsOf = (m: MatrixReport) => {
  const canary = new Set(m.cells.filter((c) => c.role === 'canary').map((c) => portKey(c.namespace, c.service, c.port)));
  return new Set(m.services.flatMap((s) => s.ports.map((p) => portKey(s.namespace, s.name, p))).filter((k) => !canary.has(k)));
};
const show = (f: Folded | undefined) => (f ? `${f.state} (${f.grant})` : '-');

/** One cell present before, after, or both: what changed, and whether it is a regression. */
function cellRow(id: string, x: Folded | undefined, y: Folded | undefined): MatrixDiffRow | undefined {
  const row = { id, baseline: show(x), candidate: show(y) };
  if (!y) return x?.state === 'refused' ? { ...row, title: 'refusal not re-tested', change: 'regressed', reason: 'identity and Service port are both still in scope, but the candidate has no cell for them' } : { ...row, title: 'cell not judged by the candidate', change: 'changed' };
  if (y.state === 'hole' && x?.state !== 'hole') return { ...row, title: 'new hole', change: 'regressed', reason: y.why };
  if (granted(y.grant) && !granted(x?.grant)) return { ...row, title: 'new grant', change: 'regressed', reason: `${y.scope.join('; ') || y.grant}; ${y.why}` };
  if (x?.grant === 'partial' && y.grant === 'all') return { ...row, title: 'grant widened', change: 'regressed', reason: `${y.scope.join('; ') || 'any request'}; ${y.why}` };
  // A grant whose rules now grant something the baseline's did not (M22-M5: GET → GET, POST, DELETE keeps `partial`):
  // the scope words name each granting rule and its operations, and cannot be ordered by width, so any new one is a
  // regression for a reviewer to accept, never a silent change (fail closed).
  const added = x && granted(x.grant) && granted(y.grant) ? y.scope.filter((s) => !x.scope.includes(s)) : [];
  if (added.length > 0) return { ...row, title: 'grant changed', change: 'regressed', reason: `now granted by ${added.join('; ')}; before: ${x!.scope.join('; ') || x!.grant}` };
  if (y.state === 'beyond-intent' && x?.state !== 'beyond-intent') return { ...row, title: 'new grant beyond the intent', change: 'regressed', reason: y.why };
  if (x?.state === 'refused' && (y.state === 'inconclusive' || y.state === 'not-judged')) return { ...row, title: 'refusal proven before, not now', change: 'regressed', reason: y.why };
  if (!x) return { ...row, title: 'new cell', change: 'added' };
  if (x.state === y.state && x.grant === y.grant && x.scope.join('\n') === y.scope.join('\n')) return undefined;
  if (x.state === 'hole') return { ...row, title: 'hole closed', change: 'improved', reason: y.why };
  if (granted(x.grant) && y.grant === 'none') return { ...row, title: 'grant removed', change: 'improved' };
  return { ...row, title: x.state === y.state && x.grant === y.grant ? 'grant scope changed' : 'cell changed', change: 'changed', reason: y.why };
}

/** Two matrices, cell by cell: only the rows that differ, sorted by key; removed identities and Service ports once each. */
export function matrixDiff(a: MatrixReport, b: MatrixReport): MatrixDiffRow[] {
  const before = foldCells(a);
  const after = foldCells(b);
  const idsB = identitiesOf(b);
  const portsB = portsOf(b);
  const rows: MatrixDiffRow[] = [];
  for (const id of [...identitiesOf(a)].filter((i) => !idsB.has(i)).sort()) rows.push({ id, title: 'identity removed', baseline: 'in scope', candidate: '-', change: 'removed', reason: 'no pod in scope runs this service account in the candidate' });
  for (const p of [...portsOf(a)].filter((k) => !portsB.has(k)).sort()) rows.push({ id: p, title: 'Service port removed', baseline: 'in scope', candidate: '-', change: 'removed', reason: 'the candidate has no such Service port in scope' });
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const k of keys) {
    const x = before.get(k);
    const y = after.get(k);
    // A cell gone because its identity or its Service port is gone is said once, above.
    if (!y && x) {
      const [identity, place] = k.split(' → ') as [string, string];
      if (!idsB.has(identity) || !portsB.has(place)) continue;
    }
    const row = cellRow(k, x, y);
    if (row) rows.push(row);
  }
  return rows;
}
