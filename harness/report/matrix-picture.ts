// The access matrix in report.html (issue 22 item 3): identities down, Service ports across, both grouped by
// namespace, each cell ONE state of harness/matrix/types.ts CellState, drawn with a glyph, a colour and its words
// (readable in black and white: the glyphs differ per state), with the grant's scope and rules, the attack, its
// result and why in the cell's title. The canary's cells are drawn as the control they are (dashed, "canary"),
// never counted as findings. A large estate (more than FULL_GRID_LIMIT cells) gets a per-namespace summary grid
// instead of a cell per (identity, Service port); the sortable table of every cell that is not a proven refusal
// is there in both cases. Every drawn mark carries data-* attributes, so a test can hold it against matrix.json.
import { grantRuleText } from '../istio/grants.js';
import { CELL_STATES, type CellState, type GrantRule, type MatrixCell, type MatrixReport } from '../matrix/types.js';
import { FOLD_ORDER, worstState } from '../matrix/worst.js';

/** A granting rule as `ns/name rule[N]`; the no-ALLOW-policy pseudo-rule in words, never `rule[-1]` (M22-L1). */
const ruleWords = (r: GrantRule) => (r.rule < 0 ? grantRuleText(r) : `${r.namespace}/${r.name} rule[${r.rule}]`);

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Identities × Service ports above which the picture is a per-namespace summary, not a cell each (a 20,000-cell DOM is unreadable). */
export const FULL_GRID_LIMIT = 5000;

/** Each state's glyph, colours and words: never told by colour alone. */
export const MATRIX_STATE: Record<CellState, { glyph: string; fill: string; ink: string; text: string }> = {
  hole: { glyph: '✗', fill: '#ffd8d3', ink: '#a40e26', text: 'enforcement hole (the attack outside the grant reached the app)' },
  'beyond-intent': { glyph: '!', fill: '#fff1e5', ink: '#bc4c00', text: 'granted beyond the declared intent' },
  granted: { glyph: '●', fill: '#ddf4ff', ink: '#0550ae', text: 'granted (within the intent, or no intent known)' },
  refused: { glyph: '○', fill: '#dafbe1', ink: '#116329', text: 'refused, proven by the destination\'s record' },
  'not-judged': { glyph: '~', fill: '#eaeef2', ink: '#57606a', text: 'not judged (the model cannot decide it; not attacked)' },
  inconclusive: { glyph: '?', fill: '#fff8c5', ink: '#9a6700', text: 'inconclusive (neither refusal nor hole proven)' },
};

export const MATRIX_CSS = `
table.matrix{width:auto;border-collapse:collapse;font-size:12px}table.matrix th,table.matrix td{padding:.1rem .25rem;text-align:center}
table.matrix th.ident{text-align:right;white-space:nowrap;font-weight:400}table.matrix th.group{text-align:left;background:#eaeef2}
table.matrix td.mx{width:1.6em;height:1.6em;font-weight:700;font-size:14px}table.matrix td.none{background:#fff;color:#8c959f}
table.matrix td.mx.canary{outline:2px dashed #0550ae;outline-offset:-3px}
${CELL_STATES.map((s) => `.mx-${s}{background:${MATRIX_STATE[s].fill};color:${MATRIX_STATE[s].ink}}`).join('')}
ul.matrix-legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3rem 1.2rem}ul.matrix-legend .glyph{display:inline-block;width:1.4em;text-align:center;font-weight:700;border:1px solid #57606a}
`;

/** A column of the picture: one Service port. */
interface Column {
  namespace: string;
  service: string;
  port: number;
}

const colKey = (c: { namespace: string; service: string; port: number }) => `${c.namespace}/${c.service}:${c.port}`;

/** The Service ports across, by namespace then Service then port: the report's Services, and any a cell names. */
export function matrixColumns(m: MatrixReport): Column[] {
  const cols = new Map<string, Column>();
  for (const s of m.services) for (const port of s.ports) cols.set(colKey({ namespace: s.namespace, service: s.name, port }), { namespace: s.namespace, service: s.name, port });
  for (const c of m.cells) cols.set(colKey(c), { namespace: c.namespace, service: c.service, port: c.port });
  return [...cols.values()].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service) || a.port - b.port);
}

/** The identities down: the estate's by namespace, meshproof's canary identities last, in their own group. */
export function matrixRows(m: MatrixReport): { identity: string; namespace: string; canary: boolean }[] {
  const rows = new Map<string, { identity: string; namespace: string; canary: boolean }>();
  for (const i of m.identities) rows.set(`${i.namespace}/${i.serviceAccount}`, { identity: `${i.namespace}/${i.serviceAccount}`, namespace: i.namespace, canary: i.role === 'canary' });
  for (const c of m.cells) if (!rows.has(c.identity)) rows.set(c.identity, { identity: c.identity, namespace: c.identity.split('/')[0]!, canary: c.role === 'canary' });
  return [...rows.values()].sort((a, b) => Number(a.canary) - Number(b.canary) || a.identity.localeCompare(b.identity));
}

/**
 * One drawn cell per (identity, Service port): with `--per-pod` the pods of a Service are several MatrixCells, the
 * picture shows the worst of their states (harness/matrix/worst.ts: anything unproven over a proven refusal) and
 * says how many pods.
 */
export interface DrawnCell {
  identity: string;
  column: Column;
  state: CellState;
  canary: boolean;
  cells: MatrixCell[];
}

export function drawnCells(m: MatrixReport): Map<string, DrawnCell> {
  const out = new Map<string, DrawnCell>();
  for (const c of m.cells) {
    const key = `${c.identity} ${colKey(c)}`;
    const had = out.get(key);
    if (had) {
      had.cells.push(c);
      had.state = worstState([had.state, c.state]);
      had.canary ||= c.role === 'canary';
    } else out.set(key, { identity: c.identity, column: { namespace: c.namespace, service: c.service, port: c.port }, state: c.state, canary: c.role === 'canary', cells: [c] });
  }
  return out;
}

/** Every state's count of cells (pods with `--per-pod`), the estate's and the canary's apart. */
export function stateCounts(m: MatrixReport): { estate: Record<CellState, number>; canary: Record<CellState, number> } {
  const zero = () => Object.fromEntries(CELL_STATES.map((s) => [s, 0])) as Record<CellState, number>;
  const estate = zero();
  const canary = zero();
  for (const c of m.cells) (c.role === 'canary' ? canary : estate)[c.state]++;
  return { estate, canary };
}

const rulesText = (c: MatrixCell) => c.grant.rules.map(ruleWords).join(', ');
const requestText = (a: NonNullable<MatrixCell['attack']>) => (a.request.kind === 'http' ? `${a.request.method ?? 'GET'} ${a.request.path ?? ''}` : `TCP nonce ${a.request.nonce}`);

/** A cell's evidence in words: grant, rules, intent, attack and its result, the grant probe, the pod. */
export function cellDetail(c: MatrixCell): string[] {
  return [
    `grant: ${c.grant.kind}${c.grant.scope.length ? ` (${c.grant.scope.join('; ')})` : ''}${c.grant.reason ? ` — ${c.grant.reason}` : ''}`,
    ...(c.grant.rules.length ? [`rules: ${rulesText(c)}`] : []),
    `intent: ${c.intent.status}${c.intent.beyond.length ? `; beyond it: ${c.intent.beyond.map((b) => `${b.witness} by ${ruleWords(b.rule)}`).join('; ')}` : ''}`,
    c.attack ? `attack: ${requestText(c.attack)} → ${c.attack.outcome} (${c.attack.reason})` : `not attacked: ${c.notAttacked ?? 'no reason recorded'}`,
    ...(c.grantProbe ? [`grant probe: ${requestText(c.grantProbe)} → ${c.grantProbe.outcome} (${c.grantProbe.reason})`] : []),
    `pod: ${c.pod} (target port ${c.targetPort}, ${c.protocol})`,
  ];
}

function cellTitle(d: DrawnCell): string {
  const head = `${d.identity} → ${colKey(d.column)}: ${MATRIX_STATE[d.state].text}${d.canary ? ' — canary: meshproof\'s own control, planted, not a finding' : ''}`;
  const pods = d.cells.length > 1 ? [`${d.cells.length} pods; each:`] : [];
  return [head, ...pods, ...d.cells.flatMap((c) => (d.cells.length > 1 ? [`[${c.pod}] ${c.state}`, ...cellDetail(c).map((l) => `  ${l}`)] : cellDetail(c)))].join('\n');
}

function legend(m: MatrixReport): string {
  const { estate, canary } = stateCounts(m);
  const items = CELL_STATES.map((s) => {
    const st = MATRIX_STATE[s];
    return `<li class="legend" data-state="${s}" data-count="${estate[s]}" data-canary-count="${canary[s]}"><span class="glyph mx-${s}">${st.glyph}</span> ${esc(st.text)}: <b class="count">${estate[s]}</b>${canary[s] ? ` <span class="caveat">(+${canary[s]} canary)</span>` : ''}</li>`;
  });
  return `<ul class="matrix-legend" id="matrix-legend">${items.join('')}</ul>`;
}

/** The full grid: a cell per (identity, Service port); blank where the identity was not judged against it (the canary's apart). */
function fullGrid(cols: Column[], rows: ReturnType<typeof matrixRows>, drawn: Map<string, DrawnCell>): string {
  const spans = <T>(xs: T[], key: (x: T) => string) => xs.reduce<{ key: string; n: number }[]>((acc, x) => {
    const k = key(x);
    if (acc.at(-1)?.key === k) acc.at(-1)!.n++;
    else acc.push({ key: k, n: 1 });
    return acc;
  }, []);
  const nsHead = spans(cols, (c) => c.namespace).map((s) => `<th scope="colgroup" colspan="${s.n}">${esc(s.key)}</th>`).join('');
  const svcHead = spans(cols, (c) => `${c.namespace}/${c.service}`).map((s) => `<th scope="colgroup" colspan="${s.n}">${esc(s.key.slice(s.key.indexOf('/') + 1))}</th>`).join('');
  const portHead = cols.map((c) => `<th scope="col" data-column="${esc(colKey(c))}">${c.port}</th>`).join('');
  const body: string[] = [];
  let group = '';
  for (const r of rows) {
    const g = r.canary ? 'canary (the control)' : r.namespace;
    if (g !== group) {
      group = g;
      body.push(`<tr class="identity-group"><th class="group" colspan="${cols.length + 1}" scope="rowgroup">${r.canary ? 'canary identities (meshproof\'s control, in its run namespace)' : `namespace ${esc(g)}`}</th></tr>`);
    }
    const tds = cols.map((c) => {
      const d = drawn.get(`${r.identity} ${colKey(c)}`);
      if (!d) return '<td class="none" title="not judged against this Service (canary identities only against canary targets, estate identities only against the estate)">·</td>';
      const st = MATRIX_STATE[d.state];
      return `<td class="mx mx-${d.state}${d.canary ? ' canary' : ''}" data-identity="${esc(d.identity)}" data-namespace="${esc(c.namespace)}" data-service="${esc(c.service)}" data-port="${c.port}" data-state="${d.state}" data-pods="${d.cells.length}"${d.canary ? ' data-role="canary"' : ''} title="${esc(cellTitle(d))}">${st.glyph}</td>`;
    });
    body.push(`<tr><th class="ident" scope="row">${esc(r.identity.slice(r.identity.indexOf('/') + 1))}</th>${tds.join('')}</tr>`);
  }
  return `<div style="overflow-x:auto"><table class="matrix" id="matrix-grid"><thead><tr><th rowspan="3">identity ↓ · Service port →</th>${nsHead}</tr><tr>${svcHead}</tr><tr>${portHead}</tr></thead><tbody>${body.join('')}</tbody></table></div>`;
}

/** A large estate: identity namespaces × Service namespaces, each the count of cells per state, drawn as its worst. */
function summaryGrid(m: MatrixReport): string {
  const key = (c: MatrixCell) => `${c.role === 'canary' ? 'canary' : c.identity.split('/')[0]} ${c.namespace}`;
  const groups = new Map<string, Record<CellState, number>>();
  for (const c of m.cells) {
    const g = groups.get(key(c)) ?? (Object.fromEntries(CELL_STATES.map((s) => [s, 0])) as Record<CellState, number>);
    g[c.state]++;
    groups.set(key(c), g);
  }
  const idNs = [...new Set([...groups.keys()].map((k) => k.split(' ')[0]!))].sort((a, b) => Number(a === 'canary') - Number(b === 'canary') || a.localeCompare(b));
  const svcNs = [...new Set([...groups.keys()].map((k) => k.split(' ')[1]!))].sort();
  const td = (i: string, s: string) => {
    const g = groups.get(`${i} ${s}`);
    if (!g) return '<td class="none">·</td>';
    const worst = worstState(CELL_STATES.filter((st) => g[st] > 0));
    const parts = CELL_STATES.filter((st) => g[st] > 0).map((st) => `${MATRIX_STATE[st].glyph} ${g[st]}`);
    return `<td class="mx mx-${worst}${i === 'canary' ? ' canary' : ''}" data-identity-namespace="${esc(i)}" data-namespace="${esc(s)}" data-state="${worst}" ${CELL_STATES.map((st) => `data-${st}="${g[st]}"`).join(' ')} title="${esc(`identities of ${i} → Services of ${s}: ${CELL_STATES.filter((st) => g[st] > 0).map((st) => `${g[st]} ${MATRIX_STATE[st].text}`).join('; ')}`)}">${esc(parts.join(' · '))}</td>`;
  };
  return `<div style="overflow-x:auto"><table class="matrix summary" id="matrix-summary"><thead><tr><th>identities in ↓ · Services in →</th>${svcNs.map((s) => `<th scope="col">${esc(s)}</th>`).join('')}</tr></thead><tbody>${idNs.map((i) => `<tr><th class="ident" scope="row">${i === 'canary' ? 'canary (the control)' : esc(i)}</th>${svcNs.map((s) => td(i, s)).join('')}</tr>`).join('')}</tbody></table></div>`;
}

/** Every cell that is not a proven refusal (holes, grants, not judged, inconclusive), sortable: the evidence in rows. */
function detailsTable(m: MatrixReport): string {
  const rank = (s: CellState) => FOLD_ORDER.indexOf(s);
  const cells = m.cells.filter((c) => c.state !== 'refused').sort((a, b) => Number(a.role === 'canary') - Number(b.role === 'canary') || rank(a.state) - rank(b.state) || a.identity.localeCompare(b.identity) || colKey(a).localeCompare(colKey(b)) || a.pod.localeCompare(b.pod));
  const head = ['State', 'Identity', 'Namespace', 'Service', 'Port', 'Grant', 'Rules', 'Attack', 'Why'].map((h) => `<th scope="col" title="sort by ${h.toLowerCase()}">${h}</th>`).join('');
  const tr = (c: MatrixCell) => {
    const st = MATRIX_STATE[c.state];
    const attack = c.attack ? `${requestText(c.attack)} → ${c.attack.outcome}` : 'not attacked';
    const why = c.attack?.reason ?? c.notAttacked ?? c.grant.reason ?? '';
    const beyond = c.intent.beyond.map((b) => `beyond intent: ${b.witness} (${ruleWords(b.rule)})`);
    return `<tr class="matrix-row" data-state="${c.state}" data-identity="${esc(c.identity)}" data-namespace="${esc(c.namespace)}" data-service="${esc(c.service)}" data-port="${c.port}" data-pod="${esc(c.pod)}"${c.role === 'canary' ? ' data-role="canary"' : ''}><td class="mx-${c.state}">${st.glyph} ${esc(c.role === 'canary' ? `canary: ${c.state}` : c.state)}</td><td>${esc(c.identity)}</td><td>${esc(c.namespace)}</td><td>${esc(c.service)}</td><td>${c.port}</td><td>${esc(`${c.grant.kind}${c.grant.scope.length ? `: ${c.grant.scope.join('; ')}` : ''}`)}</td><td>${esc(rulesText(c))}</td><td>${esc(attack)}</td><td>${esc([why, ...beyond].filter(Boolean).join('; '))}</td></tr>`;
  };
  return `<h3>Every cell not proven refused (${cells.length})</h3>
<table class="sortable" id="matrix-table"><thead><tr>${head}</tr></thead><tbody>${cells.map(tr).join('')}</tbody></table>`;
}

function canaryLine(m: MatrixReport): string {
  const c = m.canary;
  const state = c.flagged ? 'flagged-as-expected' : 'not-flagged';
  const text = c.flagged ? `flagged as expected: ${c.expected.join('; ')}` : `NOT flagged, so this matrix cannot show a failure: missing ${c.missing.join('; ')}`;
  return `<p class="canary-status" id="matrix-canary" data-state="${state}"><b>Canary (the control).</b> ${esc(text)}</p>`;
}

function intentLine(m: MatrixReport): string {
  if (!m.intent) return '<p class="caveat">No intent given: no least-privilege findings, only enforcement holes and the grants themselves (SWEEP-LEASTPRIV not applicable).</p>';
  const dng = m.intent.declaredNotGranted;
  const list = dng.length ? `<details><summary>Declared but not granted (${dng.length}; not findings: the policy may be stricter than the intent)</summary><ul>${dng.map((d) => `<li>${esc(`${d.identity} → ${d.namespace}/${d.service}${d.port ? `:${d.port}` : ''}: ${d.call}`)}</li>`).join('')}</ul></details>` : '';
  return `<p class="caveat">Intent: ${esc(m.intent.source)}, ${m.intent.calls} declared call(s).</p>${list}`;
}

/** The "Access matrix" section of report.html, or nothing when the sweep made no matrix. */
export function matrixSection(m: MatrixReport | undefined): string {
  if (!m) return '';
  const cols = matrixColumns(m);
  const rows = matrixRows(m);
  const size = cols.length * rows.length;
  const full = size <= FULL_GRID_LIMIT;
  const grid = full ? fullGrid(cols, rows, drawnCells(m)) : summaryGrid(m);
  const how = full
    ? 'One cell per identity and Service port; hover a cell for its grant, rules, attack and why. Dashed: the canary, meshproof\'s own control, planted to be flagged.'
    : `${rows.length} identities × ${cols.length} Service ports (${size} cells) is more than ${FULL_GRID_LIMIT}: per namespace of identities and of Services, the cells of each state (glyph and count), drawn as the worst. Every cell not proven refused is in the table below.`;
  return `<h2 id="access-matrix">Access matrix</h2>
<p class="caveat">What each identity of the estate is granted by the AuthorizationPolicies (the Istio model), every request outside the grants attacked with that identity's own mesh certificate, and the grants compared with the declared intent. ${m.cells.length} cells (${m.counts.attacks} attacks, ${m.counts.grantProbes} grant probes, ${m.identities.length} identities, ${m.services.length} Services)${m.settings.perPod ? '; --per-pod: one cell per pod, the worst drawn' : ''}. Evidence: <a href="matrix.json">matrix.json</a>.</p>
${legend(m)}
${canaryLine(m)}
${intentLine(m)}
<figure class="matrix-figure" data-mode="${full ? 'full' : 'summary'}">${grid}<figcaption class="caveat">${esc(how)}</figcaption></figure>
${detailsTable(m)}`;
}
