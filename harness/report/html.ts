// <out>/report.html: the auditor's report. One self-contained file (inline CSS; for a sweep, a few lines of inline
// script that sort its details table and the access matrix's; no external asset),
// printable: scope, summary by framework and control, every check with its claim, method, result, caveats and
// evidence links, and what was not tested, with reasons.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CATALOG, claimsFor } from '../controls.js';
import type { CheckResult } from '../engine.js';
import type { RunResult } from '../result.js';
import { checkFile } from './checks.js';
import { picturesSection } from './pictures.js';
import { failuresOf } from './failures.js';
import { MATRIX_CHECK_IDS } from '../matrix/checks.js';
import { MATRIX_CSS, matrixSection } from './matrix-picture.js';
import { sweepDetails } from './sweep-table.js';

const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const LABEL = { pass: 'PASS', fail: 'FAIL', error: 'INCONCLUSIVE', 'not-applicable': 'NOT APPLICABLE' } as const;

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1f23;margin:2rem auto;max-width:70rem;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .2rem}h2{font-size:1.2rem;margin:2rem 0 .6rem;border-bottom:2px solid #d0d7de;padding-bottom:.2rem}
h3{font-size:1rem;margin:1.2rem 0 .3rem}table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f6f8fa}
.v{font-weight:700;white-space:nowrap}.pass{color:#116329}.fail{color:#a40e26}.error{color:#9a6700}.not-applicable{color:#57606a}
.caveat{color:#57606a;font-size:.9em}.banner{background:#fff8c5;border:1px solid #d4a72c;padding:.5rem .8rem;margin:1rem 0}
.totals span{display:inline-block;margin-right:1.2rem;font-size:1.1rem}code{font-size:.9em}
.check{border:1px solid #d0d7de;border-radius:6px;padding:.2rem .9rem .6rem;margin:.8rem 0;break-inside:avoid}
table.sortable th{cursor:pointer}table.sortable th[aria-sort=ascending]::after{content:" ▲"}table.sortable th[aria-sort=descending]::after{content:" ▼"}
.row.finding .state{color:#a40e26;font-weight:700}.row.inconclusive .state,.row.canary-not-flagged .state{color:#9a6700;font-weight:700}
.row.exempt .state{color:#57606a;font-style:italic}.row.canary-flagged .state,.row.canary-other .state{color:#0550ae}
figure{margin:1rem 0;overflow-x:auto;break-inside:avoid}svg text{fill:#1b1f23}
${MATRIX_CSS}
@media print{body{margin:0;max-width:none}a{color:inherit;text-decoration:none}.check{page-break-inside:avoid}}
`;

function verdictCell(v: CheckResult['verdict']): string {
  return `<span class="v ${v}">${LABEL[v]}</span>`;
}

/** Every failed case with the object at fault and the fix (issue 21 item 7); nothing for a passing check. */
function failedCases(r: CheckResult): string {
  const fs = failuresOf(r).filter((f) => f.label !== r.id);
  if (fs.length === 0) return '';
  const row = (f: ReturnType<typeof failuresOf>[number]) =>
    `<tr><td>${esc(f.label)}</td><td>${f.verdict === 'fail' ? 'FAIL' : 'INCONCLUSIVE'}</td><td>${esc(f.reason)}</td><td>${f.atFault ? esc(f.atFault.object) : '—'}</td><td>${f.atFault ? esc(f.atFault.remedy) : '—'}</td></tr>`;
  return `\n<table class="failures"><tr><th>Case</th><th>Verdict</th><th>Why</th><th>At fault</th><th>Fix</th></tr>${fs.map(row).join('')}</table>`;
}

/** A run's cases in a line; a sweep's hundreds of Services are in its details table instead, one row each. */
function caseList(r: CheckResult, sweep: boolean): string {
  if (r.cases.length === 0) return '';
  if (sweep && (MATRIX_CHECK_IDS as string[]).includes(r.id)) return ` — ${r.cases.length} identit${r.cases.length === 1 ? 'y' : 'ies'}, each in the <a href="#access-matrix">Access matrix</a>`;
  if (sweep) return ` — ${r.cases.length} Service(s), each in <a href="#sweep-details">Sweep details</a>`;
  return ` — ${r.cases.length} case(s): ${r.cases.map((c) => `${esc(c.label)}: ${esc(c.verdict)}`).join('; ')}`;
}

export function reportHtml(run: RunResult, excluded: { check: string; suite: string; reason: string }[]): string {
  const n = (v: string) => run.results.filter((r) => r.verdict === v).length;
  const controls = [...new Set(run.results.flatMap((r) => r.controls))];
  const frameworks = [...new Set(CATALOG.filter((c) => controls.includes(c.id)).map((c) => c.framework))];
  const controlRow = (id: string) => {
    const entry = CATALOG.find((c) => c.id === id)!;
    const checks = run.results.filter((r) => r.controls.includes(id));
    const decisive = checks.filter((r) => r.verdict !== 'not-applicable');
    const state = decisive.length === 0 ? 'not-applicable' : decisive.every((r) => r.verdict === 'pass') ? 'pass' : decisive.some((r) => r.verdict === 'fail') ? 'fail' : 'error';
    const supports = checks.every((r) => claimsFor(r.categories).find((c) => c.id === id)?.relation === 'supports');
    return `<tr><td><code>${esc(id)}</code></td><td>${esc(entry.title)}${supports ? ' <em>(supported, not addressed)</em>' : ''}${entry.caveat ? `<div class="caveat">Caveat: ${esc(entry.caveat)}</div>` : ''}</td><td>${checks.map((r) => `<a href="#${esc(r.id)}">${esc(r.id)}</a>`).join(' ')}</td><td>${verdictCell(state as CheckResult['verdict'])}</td></tr>`;
  };
  const checkBlock = (r: CheckResult) => `
<div class="check" id="${esc(r.id)}">
<h3>${esc(r.id)} — ${esc(r.title)} ${verdictCell(r.verdict)}</h3>
<p><b>Claim.</b> ${esc(r.claim)}</p>
<p><b>Method.</b> ${r.method === 'TEST' ? 'TEST: attacked the mesh, with a positive control through the same path in the same run.' : 'EXAMINE: read the live state of every sidecar.'}</p>
<p><b>Result.</b> ${esc(r.reason)}</p>${failedCases(r)}
<p><b>Evidence.</b> <a href="${esc(checkFile(r.id))}">${esc(checkFile(r.id))}</a> (hash in <a href="manifest.sha256">manifest.sha256</a>)${caseList(r, Boolean(run.sweep))}</p>
<p class="caveat"><b>Controls.</b> ${claimsFor(r.categories)
    .map((c) => `<code>${esc(c.id)}</code>${c.relation === 'supports' ? ' (supports)' : ''}`)
    .join(', ')}. Fails by design under: ${r.weakenedBy.map(esc).join(', ')}.</p>
</div>`;
  // A lab run claims no control: the lab is a test bed for meshproof, not a mesh (OSCAL marks it not assessed too).
  const labControls = `<p class="banner" id="controls-not-assessed"><b>Not assessed against any framework.</b> This is a lab run: its verdicts test meshproof itself and hold no control of any mesh. Control results are shown only for runs against a cluster. Controls the checks would address: ${controls.map((id) => `<code>${esc(id)}</code>`).join(', ')}.</p>`;
  const notTested = excluded.length
    ? `<table><tr><th>Check</th><th>Suite</th><th>Why not tested</th></tr>${excluded.map((e) => `<tr><td>${esc(e.check)}</td><td>${esc(e.suite)}</td><td>${esc(e.reason)}</td></tr>`).join('')}</table>`
    : '<p>Every check meshproof has was run and applied.</p>';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>meshproof report ${esc(run.runId)}</title><style>${CSS}</style></head>
<body>
<h1>meshproof conformance report</h1>
<p>Run <code>${esc(run.runId)}</code> · ${esc(run.startedAt)} → ${esc(run.finishedAt)} (UTC) · meshproof ${esc(run.tool.version)} (<code>${esc(run.tool.commit)}</code>)</p>
${run.target.kind === 'lab' ? `<div class="banner"><b>Lab run.</b> ${esc(run.target.notes.join(' '))}</div>` : ''}
<h2 id="summary">Summary</h2>
<p class="totals"><span class="pass">${n('pass')} passed</span><span class="fail">${n('fail')} failed</span><span class="error">${n('error')} inconclusive</span><span class="not-applicable">${n('not-applicable')} not applicable</span></p>
<table><tr><th>Check</th><th>Title</th><th>Method</th><th>Result</th></tr>
${run.results.map((r) => `<tr><td><a href="#${esc(r.id)}">${esc(r.id)}</a></td><td>${esc(r.title)}</td><td>${r.method}</td><td>${verdictCell(r.verdict)}</td></tr>`).join('\n')}
</table>
${picturesSection(run)}
<h2 id="scope">Scope</h2>
<table>
<tr><th>Target</th><td>${esc(run.target.summary)}</td></tr>
<tr><th>Versions</th><td>${Object.entries(run.target.versions).map(([k, v]) => `${esc(k)} ${esc(v)}`).join(' · ')}</td></tr>
<tr><th>Namespaces</th><td>${Object.entries(run.target.namespaces).map(([k, v]) => (k === v ? esc(k) : `${esc(k)} → ${esc(v)}`)).join(', ')}</td></tr>
<tr><th>Posture</th><td>${run.posture.map(esc).join(' + ')} (snapshot in <code>policies/</code>)</td></tr>
<tr><th>Configuration hash</th><td><code>${esc(run.configHash)}</code></td></tr>
<tr><th>Repeat with</th><td><code>${esc(run.command.join(' '))}</code></td></tr>
</table>
<h2 id="controls">Summary by framework and control</h2>
${run.target.kind === 'lab' ? labControls : frameworks.map((fw) => `<h3>${esc(fw)}</h3><table><tr><th>Control</th><th>Title and caveat</th><th>Checks</th><th>Result</th></tr>${CATALOG.filter((c) => c.framework === fw && controls.includes(c.id)).map((c) => controlRow(c.id)).join('')}</table>`).join('\n')}
<h2 id="checks">Checks</h2>
${run.results.map(checkBlock).join('\n')}
${matrixSection(run.sweep?.matrix)}
${sweepDetails(run.sweep)}
<h2 id="not-tested">Not tested</h2>
${notTested}
<p class="caveat">Files: <a href="run.json">run.json</a> · <a href="junit.xml">junit.xml</a> · <a href="oscal-assessment-results.json">oscal-assessment-results.json</a> · <a href="manifest.sha256">manifest.sha256</a></p>
</body></html>
`;
}

export function writeHtml(outDir: string, run: RunResult, excluded: { check: string; suite: string; reason: string }[]): void {
  writeFileSync(path.join(outDir, 'report.html'), reportHtml(run, excluded));
}
