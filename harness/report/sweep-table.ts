// A sweep's details in report.html: one row per check and namespace/Service/port and outcome (replicas that agree
// share a row, with their count), sortable by clicking a header. Every outcome has its own words: a finding, an
// inconclusive, a pass, "exempt" with the exemption's reason (never "pass"), and the canary as the control it is
// ("canary: flagged as expected"), not a finding.
import type { EndpointVerdict } from '../sweep/judge.js';
import type { SweepReport } from '../sweep/report.js';

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export type RowState = 'finding' | 'inconclusive' | 'exempt' | 'pass' | 'not-applicable' | 'canary-flagged' | 'canary-not-flagged' | 'canary-other';

/** The words a row's state is shown with: the state is never told by colour alone. */
export const STATE_TEXT: Record<RowState, string> = {
  finding: 'finding',
  inconclusive: 'inconclusive',
  exempt: 'exempt',
  pass: 'pass',
  'not-applicable': 'not applicable',
  'canary-flagged': 'canary: flagged as expected',
  'canary-not-flagged': 'canary: NOT flagged (this sweep cannot show a failure)',
  'canary-other': 'canary',
};

interface DetailRow {
  namespace: string;
  service: string;
  port: number | undefined;
  check: string;
  state: RowState;
  /** The words shown: the state's, or for a canary outcome it was not planted for, that outcome's. */
  text: string;
  why: string;
  pods: number;
}

/** `namespace/service` of an endpoint's first Service, or its pod when it has none (as sweep.ts keys them). */
const serviceOf = (pod: string, services: string[]) => {
  const s = services[0]?.replace(/:\d+$/, '');
  return s ? s.slice(s.indexOf('/') + 1) : `${pod} (no Service)`;
};

/**
 * A canary's outcome: a finding it was planted for is the control working; an expected one missing is the
 * control failing (sweep.ts lists it in canary.missing by `app: CHECK[@port]`).
 */
function canaryState(v: EndpointVerdict, expected: boolean): RowState {
  if (v.outcome === 'finding') return expected ? 'canary-flagged' : 'canary-other';
  return expected ? 'canary-not-flagged' : 'canary-other';
}

function stateOf(v: EndpointVerdict): RowState {
  return v.outcome === 'ok' ? 'pass' : v.outcome;
}

/** Whether the canary pod was planted to be flagged by this check (on this port): `app: CHECK` or `app: CHECK@port`. */
function plantedFor(sw: SweepReport, pod: string, check: string, port?: number): boolean {
  return sw.canary.expected.some((e) => {
    const [app, want] = e.split(': ');
    const [c, p] = (want ?? '').split('@');
    return (pod === app || pod.startsWith(`${app}-`)) && c === check && (p === undefined || Number(p) === port);
  });
}

export function detailRows(sw: SweepReport): DetailRow[] {
  const rows = new Map<string, DetailRow>();
  const put = (r: Omit<DetailRow, 'pods' | 'text'>, v: EndpointVerdict) => {
    const text = r.state === 'canary-other' ? `canary: ${v.outcome === 'finding' ? 'flagged (not what it is planted for)' : STATE_TEXT[stateOf(v)]}` : STATE_TEXT[r.state];
    const key = `${r.check} ${r.namespace}/${r.service}:${r.port ?? ''} ${text}`;
    const had = rows.get(key);
    if (had) had.pods++;
    else rows.set(key, { ...r, text, pods: 1 });
  };
  for (const e of sw.endpoints) {
    const service = serviceOf(e.pod, e.services);
    for (const v of e.verdicts) {
      const state = e.role === 'canary' ? canaryState(v, plantedFor(sw, e.pod, v.check, e.port)) : stateOf(v);
      put({ namespace: e.namespace, service, port: e.port, check: v.check, state, why: `${e.pod}: ${v.reason}` }, v);
    }
  }
  for (const p of sw.pods) {
    const service = p.service ? p.service.slice(p.service.indexOf('/') + 1) : `${p.pod} (no Service)`;
    const state = p.role === 'canary' ? canaryState(p.verdict, plantedFor(sw, p.pod, 'SWEEP-INJECT')) : stateOf(p.verdict);
    put({ namespace: p.namespace, service, port: undefined, check: 'SWEEP-INJECT', state, why: `${p.pod}: ${p.verdict.reason}` }, p.verdict);
  }
  const rank: Record<RowState, number> = { finding: 0, inconclusive: 1, 'canary-not-flagged': 2, exempt: 3, 'canary-flagged': 4, 'canary-other': 5, pass: 6, 'not-applicable': 7 };
  return [...rows.values()].sort((a, b) => rank[a.state] - rank[b.state] || `${a.namespace}/${a.service}`.localeCompare(`${b.namespace}/${b.service}`) || (a.port ?? 0) - (b.port ?? 0) || a.check.localeCompare(b.check));
}

// Sorts a table.sortable by the clicked header's column, numbers as numbers, again to reverse. Inline, no asset.
const SORT_SCRIPT = `<script>
for (const th of document.querySelectorAll('table.sortable th')) th.addEventListener('click', () => {
  const table = th.closest('table'), body = table.tBodies[0], col = th.cellIndex;
  const up = th.getAttribute('aria-sort') !== 'ascending';
  for (const h of table.querySelectorAll('th')) h.removeAttribute('aria-sort');
  th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
  const key = (r) => r.cells[col].textContent.trim();
  const cmp = (a, b) => { const x = key(a), y = key(b), m = Number(x), n = Number(y); return x !== '' && y !== '' && !isNaN(m) && !isNaN(n) ? m - n : x.localeCompare(y); };
  body.append(...[...body.rows].sort((a, b) => (up ? cmp(a, b) : cmp(b, a))));
});
</script>`;

/** The sweep's details section: the sortable table, or nothing for a run. */
export function sweepDetails(sw: SweepReport | undefined): string {
  if (!sw) return '';
  const rows = detailRows(sw);
  const tr = (r: DetailRow) =>
    `<tr class="row ${r.state}" data-state="${r.state}"><td>${esc(r.namespace)}</td><td>${esc(r.service)}</td><td>${r.port ?? ''}</td><td>${esc(r.check)}</td><td class="state">${esc(r.text)}</td><td>${r.pods > 1 ? `${r.pods} pods; ` : ''}${esc(r.why)}</td></tr>`;
  const head = ['Namespace', 'Service', 'Port', 'Check', 'Finding', 'Why'].map((h) => `<th scope="col" title="sort by ${h.toLowerCase()}">${h}</th>`).join('');
  return `<h2 id="sweep-details">Sweep details</h2>
<p class="caveat">Every check on every Service port (pods for SWEEP-INJECT), ${rows.length} rows; click a header to sort. Exempted findings say "exempt" with the exemption's reason; the canary rows are meshproof's own control, planted to be flagged.</p>
<table class="sortable" id="sweep-table"><thead><tr>${head}</tr></thead><tbody>${rows.map(tr).join('')}</tbody></table>
${SORT_SCRIPT}`;
}
