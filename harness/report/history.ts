// `meshproof history DIR…`: the evidence that a control held over an audit period. Every bundle's manifest is
// verified first (a bundle that does not verify is left out and named, never counted); then per check its
// verdict every night (UTC date of the run; the last run of a night counts), the nights with no run (gaps), and
// the first night it regressed (a night not `pass` after a `pass`). Written as history.json and a self-contained
// history.html. Runs and sweeps, and runs against different targets, are never mixed in one row: each row is
// one check on one target of one kind, labelled with it; lab runs are marked (the lab is not a mesh).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { verifyBundle } from './manifest.js';

interface RunJson {
  runId: string;
  startedAt: string;
  target?: { kind?: string; summary?: string };
  results: { id: string; title: string; verdict: string; reason: string }[];
}

/** Which series a bundle belongs to: a run or a sweep, against which target. */
interface Series {
  kind: 'run' | 'sweep';
  target: string;
  /** A lab run: a test bed for meshproof itself, evidence about no mesh. */
  lab: boolean;
}

function seriesOf(dir: string, run: RunJson): Series {
  const lab = run.target?.kind === 'lab';
  return { kind: existsSync(path.join(dir, 'sweep.json')) ? 'sweep' : 'run', target: lab ? 'lab (test bed, not a mesh)' : (run.target?.summary ?? 'unknown target'), lab };
}

const seriesKey = (s: Series) => `${s.kind}\u0000${s.target}`;

export interface History {
  from: string;
  to: string;
  nights: string[];
  /** Nights between the first and the last without any verified run. */
  gaps: string[];
  /** Bundles left out, with why. */
  rejected: { dir: string; problems: string[] }[];
  runs: ({ night: string; dir: string; runId: string; signature: string } & Series)[];
  /** One row per check, kind and target: never a lab night next to a cluster night, nor a sweep next to a run. */
  checks: ({ id: string; title: string; verdicts: Record<string, string>; firstRegression?: string; heldEveryNight: boolean } & Series)[];
}

const night = (iso: string) => iso.slice(0, 10);

function nightsBetween(a: string, b: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${a}T00:00:00Z`); t <= Date.parse(`${b}T00:00:00Z`); t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

export function buildHistory(dirs: string[], publicKeyPem?: string): History {
  const rejected: History['rejected'] = [];
  const runs: (History['runs'][number] & { run: RunJson })[] = [];
  for (const dir of dirs) {
    const v = verifyBundle(dir, publicKeyPem);
    if (!v.ok) {
      rejected.push({ dir, problems: v.problems });
      continue;
    }
    const run = JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as RunJson;
    runs.push({ night: night(run.startedAt), dir, runId: run.runId, signature: v.signature, ...seriesOf(dir, run), run });
  }
  runs.sort((a, b) => a.run.startedAt.localeCompare(b.run.startedAt));
  const present = [...new Set(runs.map((r) => r.night))];
  const all = present.length ? nightsBetween(present[0]!, present.at(-1)!) : [];
  const rows = new Map<string, { id: string; title: string; series: Series; verdicts: Record<string, string> }>();
  for (const r of runs) {
    const series: Series = { kind: r.kind, target: r.target, lab: r.lab };
    for (const c of r.run.results) {
      const key = `${seriesKey(series)}\u0000${c.id}`;
      const row = rows.get(key) ?? { id: c.id, title: c.title, series, verdicts: {} };
      row.verdicts[r.night] = c.verdict; // the night's last run of this series wins
      rows.set(key, row);
    }
  }
  const checks = [...rows.keys()].sort().map((key) => {
    const { id, title, series, verdicts: v } = rows.get(key)!;
    let passed = false;
    let firstRegression: string | undefined;
    for (const n of all) {
      if (v[n] === 'pass') passed = true;
      else if (v[n] !== undefined && passed && !firstRegression) firstRegression = n;
    }
    return { id, title, ...series, verdicts: v, firstRegression, heldEveryNight: all.every((n) => v[n] === 'pass') };
  });
  return {
    from: all[0] ?? '',
    to: all.at(-1) ?? '',
    nights: all,
    gaps: all.filter((n) => !present.includes(n)),
    rejected,
    runs: runs.map(({ run: _run, ...r }) => r),
    checks,
  };
}

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const MARK: Record<string, string> = { pass: '✓', fail: '✗', error: '!', 'not-applicable': '–' };

export function historyHtml(h: History): string {
  const head = h.nights.map((n) => `<th class="n${h.gaps.includes(n) ? ' gap' : ''}" title="${esc(n)}">${esc(n.slice(5))}</th>`).join('');
  const rows = h.checks
    .map((c) => {
      const cells = h.nights.map((n) => (c.verdicts[n] ? `<td class="${esc(c.verdicts[n])}" title="${esc(`${c.id} ${n}: ${c.verdicts[n]}`)}">${MARK[c.verdicts[n]!] ?? '?'}</td>` : `<td class="gap" title="no run">·</td>`)).join('');
      const status = c.heldEveryNight ? 'held every night' : c.firstRegression ? `first regressed ${esc(c.firstRegression)}` : 'not held every night';
      return `<tr${c.lab ? ' class="lab"' : ''}><th>${esc(c.id)}</th><td>${esc(c.title)}</td><td>${esc(c.kind)} on ${esc(c.target)}${c.lab ? ' <b>LAB</b>' : ''}</td><td>${status}</td>${cells}</tr>`;
    })
    .join('\n');
  const rejected = h.rejected.length ? `<h2>Left out (did not verify)</h2><ul>${h.rejected.map((r) => `<li><code>${esc(r.dir)}</code>: ${esc(r.problems.join('; '))}</li>`).join('')}</ul>` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>meshproof history ${esc(h.from)} – ${esc(h.to)}</title><style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1b1f23}table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:.2rem .4rem;text-align:center}
td:nth-child(2),td:nth-child(3),td:nth-child(4){text-align:left}tr.lab{background:#fff8c5}.banner{background:#fff8c5;border:1px solid #d4a72c;padding:.5rem .8rem}.pass{color:#116329}.fail{color:#a40e26;font-weight:700}.error{color:#9a6700}.gap{background:#f6f8fa;color:#8c959f}
</style></head><body><h1>meshproof history</h1><p>${esc(h.from)} to ${esc(h.to)}: ${h.runs.length} verified run(s) over ${h.nights.length} night(s), ${h.gaps.length} night(s) without a run${h.gaps.length ? ` (${esc(h.gaps.join(', '))})` : ''}. ✓ pass · ✗ fail · ! inconclusive · – not applicable · · no run.</p>
${h.checks.some((c) => c.lab) ? '<p class="banner"><b>LAB</b> rows come from the built-in lab, a test bed for meshproof itself: they say nothing about any real mesh and hold no control.</p>' : ''}
<table><thead><tr><th>Check</th><th>Title</th><th>Target</th><th>Over the period</th>${head}</tr></thead><tbody>
${rows}
</tbody></table>${rejected}</body></html>
`;
}

export function writeHistory(outDir: string, h: History): void {
  writeFileSync(path.join(outDir, 'history.json'), `${JSON.stringify(h, null, 2)}\n`);
  writeFileSync(path.join(outDir, 'history.html'), historyHtml(h));
}
