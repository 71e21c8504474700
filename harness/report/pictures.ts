// The pictures in report.html, as inline SVG (self-contained, printable, readable in black and white: every
// state has its own symbol and pattern, not only a colour), drawn from the run's own result model:
// - the attack map: attackers × destinations, each cell blocked / got through / inconclusive / a positive
//   control, linked to the check that tried it;
// - the certificate timeline: each workload certificate's validity against the lifetime limit, the rotation
//   seen, the root's horizon;
// - the overload picture (RES-001): answers over time by status, and the backend's in-flight count against the
//   DestinationRule's limit.
// Each drawn mark carries data-* attributes, so a test can count what a browser shows against the bundle.
import type { CaseResult, CheckResult } from '../engine.js';
import type { RunResult } from '../result.js';

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const DEFS = `<defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffd8d3"/><line x1="0" y1="0" x2="0" y2="6" stroke="#a40e26" stroke-width="2"/></pattern>
<pattern id="cross" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="8" height="8" fill="#ffebe9"/><path d="M0 0L8 8M8 0L0 8" stroke="#a40e26" stroke-width="1"/></pattern>
<pattern id="dots" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#fff8c5"/><circle cx="3" cy="3" r="1.2" fill="#9a6700"/></pattern>
</defs>`;

// One state per cell, from the case's own verdict (the verdict the table and checks/*.json give), never re-derived
// from its judgements: a case whose attempts were all blocked can still FAIL (unaudited, §9.11) or be inconclusive
// (no positive control, unproven), and must not be drawn as blocked.
type Outcome = 'got-through' | 'failed' | 'inconclusive' | 'control-failed' | 'blocked' | 'control';
const RANK: Record<Outcome, number> = { 'got-through': 5, failed: 4, inconclusive: 3, 'control-failed': 2, blocked: 1, control: 0 };
export const CELL: Record<Outcome, { fill: string; symbol: string; label: string }> = {
  blocked: { fill: '#dafbe1', symbol: '✓', label: 'blocked (pass)' },
  'got-through': { fill: 'url(#hatch)', symbol: '✗', label: 'got through (FAIL)' },
  failed: { fill: 'url(#cross)', symbol: '!', label: 'blocked but FAILED (e.g. unaudited)' },
  inconclusive: { fill: 'url(#dots)', symbol: '?', label: 'inconclusive' },
  control: { fill: '#ddf4ff', symbol: '●', label: 'positive control succeeded' },
  'control-failed': { fill: 'url(#dots)', symbol: '○', label: 'positive control failed' },
};

const isCase = (c: CheckResult['cases'][number]): c is CaseResult => 'attack' in c && 'control' in c;

/** The attack's state in its cell: the case's verdict; a FAIL is "got through" only when an attempt was allowed. */
export function attackState(c: Pick<CaseResult, 'verdict' | 'attack'>): Outcome {
  if (c.verdict === 'pass') return 'blocked';
  if (c.verdict === 'error') return 'inconclusive';
  return c.attack.judgements.some((j) => j.outcome === 'allowed') ? 'got-through' : 'failed';
}

/** Attackers × destinations from every attack case (and its positive control). */
export function attackMap(run: RunResult): string {
  const cells = new Map<string, { from: string; to: string; outcome: Outcome; check: string; cases: string[] }>();
  const put = (from: string, to: string, outcome: Outcome, check: string, label: string) => {
    const key = `${from}\u0000${to}`;
    const had = cells.get(key);
    const line = `${check} ${label}: ${CELL[outcome].label}`;
    if (!had) cells.set(key, { from, to, outcome, check, cases: [line] });
    else {
      had.cases.push(line);
      if (RANK[outcome] > RANK[had.outcome]) Object.assign(had, { outcome, check });
    }
  };
  for (const r of run.results) {
    for (const c of r.cases.filter(isCase)) {
      put(c.attack.from, c.attack.to, attackState(c), r.id, c.label);
      put(c.control.from, c.control.to, c.control.ok ? 'control' : 'control-failed', r.id, `${c.label} (positive control)`);
    }
  }
  if (cells.size === 0) return '';
  const rows = [...new Set([...cells.values()].map((c) => c.from))].sort();
  const cols = [...new Set([...cells.values()].map((c) => c.to))].sort();
  const left = 170;
  const top = 120;
  const size = 34;
  const w = left + cols.length * size + 10;
  const h = top + rows.length * size + 56;
  const marks = [...cells.values()]
    .map((c) => {
      const x = left + cols.indexOf(c.to) * size;
      const y = top + rows.indexOf(c.from) * size;
      const s = CELL[c.outcome];
      return `<a href="#${esc(c.check)}"><g class="cell" data-from="${esc(c.from)}" data-to="${esc(c.to)}" data-outcome="${c.outcome}" data-check="${esc(c.check)}" data-cases="${c.cases.length}"><title>${esc(`${c.from} → ${c.to}: ${s.label} (${c.check})\n${c.cases.join('\n')}`)}</title><rect x="${x}" y="${y}" width="${size - 2}" height="${size - 2}" fill="${s.fill}" stroke="#57606a"/><text class="symbol" x="${x + size / 2 - 1}" y="${y + size / 2 + 5}" text-anchor="middle" font-size="15" font-weight="700">${s.symbol}</text></g></a>`;
    })
    .join('');
  const rowLabels = rows.map((r, i) => `<text x="${left - 6}" y="${top + i * size + size / 2 + 4}" text-anchor="end" font-size="11">${esc(r)}</text>`).join('');
  const colLabels = cols.map((c, i) => `<text transform="translate(${left + i * size + size / 2},${top - 6}) rotate(-45)" font-size="11">${esc(c)}</text>`).join('');
  // The legend: each state's swatch (its pattern), symbol and words, so no state is told by colour alone.
  const legend = (Object.keys(CELL) as Outcome[])
    .map((k, i) => {
      const lx = 4 + (i % 3) * 240;
      const ly = h - 30 + Math.floor(i / 3) * 16;
      return `<g class="legend" data-outcome="${k}"><rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${CELL[k].fill}" stroke="#57606a"/><text x="${lx + 16}" y="${ly}" font-size="11">${CELL[k].symbol} ${CELL[k].label}</text></g>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" id="attack-map" role="img" aria-label="Attack map: attackers by destinations" width="${Math.max(w, 730)}" height="${h}" font-family="system-ui,sans-serif"><text x="4" y="14" font-size="12" font-weight="700">attacker ↓ · destination →</text>${rowLabels}${colLabels}${marks}${legend}</svg>`;
}

/** Round tick values from 0 to at least `max`: 1, 2 or 5 times a power of ten, about `count` of them. */
export function ticks(max: number, count = 6): number[] {
  const raw = Math.max(max, Number.EPSILON) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((m) => m >= raw)!;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** A horizontal axis at `y`: a line, tick marks with their values, and the title with its unit. */
function xAxis(o: { id: string; x0: number; width: number; y: number; max: number; title: string; fmt?: (v: number) => string }): string {
  const vs = ticks(o.max);
  const fmt = o.fmt ?? String;
  const marks = vs
    .map((v) => {
      const x = o.x0 + (v / o.max) * o.width;
      return `<g class="tick" data-value="${v}"><line x1="${x}" x2="${x}" y1="${o.y}" y2="${o.y + 4}" stroke="#24292f"/><text x="${x}" y="${o.y + 15}" text-anchor="middle" font-size="10">${esc(fmt(v))}</text></g>`;
    })
    .join('');
  return `<g class="axis x" id="${o.id}"><line x1="${o.x0}" x2="${o.x0 + o.width}" y1="${o.y}" y2="${o.y}" stroke="#24292f"/>${marks}<text class="axis-title" x="${o.x0 + o.width / 2}" y="${o.y + 29}" text-anchor="middle" font-size="11">${esc(o.title)}</text></g>`;
}

/** A vertical axis at `x0` from `y0` (value 0) up `height` (value `max`), with integer ticks and its title. */
function yAxis(o: { id: string; x0: number; y0: number; height: number; max: number; title: string }): string {
  const vs = ticks(o.max, 4).filter((v) => Number.isInteger(v));
  const marks = vs
    .map((v) => {
      const y = o.y0 - (v / o.max) * o.height;
      return `<g class="tick" data-value="${v}"><line x1="${o.x0 - 4}" x2="${o.x0}" y1="${y}" y2="${y}" stroke="#24292f"/><text x="${o.x0 - 6}" y="${y + 3}" text-anchor="end" font-size="10">${v}</text></g>`;
    })
    .join('');
  const mid = o.y0 - o.height / 2;
  return `<g class="axis y" id="${o.id}"><line x1="${o.x0}" x2="${o.x0}" y1="${o.y0}" y2="${o.y0 - o.height}" stroke="#24292f"/>${marks}<text class="axis-title" transform="translate(${o.x0 - 34},${mid}) rotate(-90)" text-anchor="middle" font-size="11">${esc(o.title)}</text></g>`;
}

interface CertObserved {
  serial?: string;
  validFrom?: string;
  expiration?: string;
  lifetimeHours?: number;
  limitHours?: number;
}

/** Workload certificates (CERT-001) against the lifetime limit, the rotation CERT-002 saw, the roots (CERT-005). */
export function certTimeline(run: RunResult): string {
  const c1 = run.results.find((r) => r.id === 'CERT-001');
  const bars = (c1?.cases ?? [])
    // Over the limit as CERT-001 judged it (istiod backdates notBefore, so the raw span is a little longer).
    .map((c) => ({ label: c.label, over: c.verdict === 'fail', o: ('observed' in c ? c.observed : undefined) as CertObserved | undefined }))
    .filter((b): b is { label: string; over: boolean; o: Required<Pick<CertObserved, 'validFrom' | 'expiration'>> & CertObserved } => Boolean(b.o?.validFrom && b.o.expiration));
  if (bars.length === 0) return '';
  const from = Math.min(...bars.map((b) => Date.parse(b.o.validFrom)));
  const limitMs = (bars[0]!.o.limitHours ?? 24) * 3_600_000;
  const to = Math.max(...bars.map((b) => Date.parse(b.o.expiration)), from + limitMs) + 0.05 * limitMs;
  // Time in hours from the earliest notBefore, or in days when the span is longer than three days.
  const unit = to - from > 72 * 3_600_000 ? { ms: 86_400_000, name: 'days' } : { ms: 3_600_000, name: 'hours' };
  const left = 200;
  const width = 520;
  const x = (t: number) => left + ((t - from) / (to - from)) * width;
  const row = 22;
  const top = 30;
  const marks = bars
    .map((b, i) => {
      const y = top + i * row;
      const s = Date.parse(b.o.validFrom);
      const e = Date.parse(b.o.expiration);
      const { over } = b;
      // The state in words beside the bar, not only by its fill: readable in black and white.
      const state = `${b.o.lifetimeHours ?? Math.round((e - s) / 36_000) / 100} h${over ? ' — OVER the limit' : ' — within the limit'}`;
      return `<g class="cert" data-serial="${esc(b.o.serial ?? '')}" data-over-limit="${over}"><title>${esc(`${b.label}: ${b.o.validFrom} → ${b.o.expiration} (${b.o.lifetimeHours}h)`)}</title><text x="${left - 6}" y="${y + 12}" text-anchor="end" font-size="11">${esc(b.label.slice(0, 32))}</text><rect x="${x(s)}" y="${y}" width="${Math.max(2, x(e) - x(s))}" height="14" fill="${over ? 'url(#hatch)' : '#8c959f'}" stroke="#24292f"/><line x1="${x(s + limitMs)}" y1="${y - 2}" x2="${x(s + limitMs)}" y2="${y + 16}" stroke="#a40e26" stroke-width="2" stroke-dasharray="3 2"/><text class="state" x="${Math.max(x(e), x(s + limitMs)) + 6}" y="${y + 12}" font-size="10">${esc(state)}</text></g>`;
    })
    .join('');
  const axisY = top + bars.length * row + 4;
  const axis = xAxis({ id: 'cert-time', x0: left, width, y: axisY, max: (to - from) / unit.ms, title: `${unit.name} since ${new Date(from).toISOString()} (UTC, the earliest notBefore)`, fmt: (v) => `${v}` });
  const rotation = run.results.find((r) => r.id === 'CERT-002')?.cases[0];
  const rot = rotation && 'observed' in rotation ? (rotation.observed as { first?: { serial_number?: string }; next?: { serial_number?: string }; rotatedAt?: string }) : undefined;
  const roots = run.results.find((r) => r.id === 'CERT-005')?.cases[0];
  const bundle = roots && 'observed' in roots ? ((roots.observed as { bundle?: { serial: string; notAfter: string }[] }).bundle ?? []) : [];
  const y = axisY + 50;
  const notes = [
    rot?.next?.serial_number ? `rotation seen: ${rot.first?.serial_number?.slice(0, 8)}… → ${rot.next.serial_number.slice(0, 8)}… at ${rot.rotatedAt}` : 'no rotation observed in this run',
    ...bundle.map((r) => `root ${r.serial.slice(0, 8)}… valid until ${r.notAfter} (${Math.floor((Date.parse(r.notAfter) - Date.parse(run.finishedAt)) / 86_400_000)} days)`),
  ];
  const text = notes.map((n, i) => `<text class="note" x="4" y="${y + i * 16}" font-size="11">${esc(n)}</text>`).join('');
  const h = y + notes.length * 16 + 8;
  return `<svg xmlns="http://www.w3.org/2000/svg" id="cert-timeline" role="img" aria-label="Certificate timeline" width="${left + width + 180}" height="${h}" font-family="system-ui,sans-serif"><text x="4" y="14" font-size="12" font-weight="700">workload certificates: validity (bar) against the ${limitMs / 3_600_000} h limit (dashed line); hatched and marked OVER = longer than the limit</text>${marks}${axis}${text}</svg>`;
}

/** RES-001: the overload's answers over time by status, and what the backend held in flight against the limit. */
export function overloadPicture(run: RunResult): string {
  const res = run.results.find((r) => r.id === 'RES-001')?.cases[0];
  const o = res && 'observed' in res ? (res.observed as { attack?: { timeline?: [number, string][] }; echoInFlight?: [number, number][]; limit?: number | null }) : undefined;
  // Both series are in milliseconds: the answers from the flood's start (agent/flood.ts), the backend's in-flight
  // count from the first request it received (harness/intervals.ts inFlightSeries). Drawn in seconds.
  const timeline = o?.attack?.timeline ?? [];
  const series = o?.echoInFlight ?? [];
  if (timeline.length === 0 && series.length === 0) return '';
  const left = 80;
  const width = 600;
  const maxT = Math.max(1, ...timeline.map(([t]) => t)) / 1000;
  const lanes = [...new Set(timeline.map(([, s]) => s))].sort();
  const laneH = 18;
  const dots = timeline
    .map(([t, s]) => {
      const cx = left + (t / 1000 / maxT) * width;
      const cy = 30 + lanes.indexOf(s) * laneH;
      const shape = s === '200' ? `<circle cx="${cx}" cy="${cy}" r="3" fill="#116329"/>` : s === '503' ? `<path d="M${cx - 4} ${cy + 3}L${cx} ${cy - 4}L${cx + 4} ${cy + 3}Z" fill="#a40e26"/>` : `<rect x="${cx - 3}" y="${cy - 3}" width="6" height="6" fill="#9a6700"/>`;
      return `<g class="answer" data-status="${esc(s)}">${shape}</g>`;
    })
    .join('');
  const laneLabels = lanes.map((s, i) => `<text x="${left - 6}" y="${30 + i * laneH + 4}" text-anchor="end" font-size="11">${esc(s)} ${s === '200' ? '●' : s === '503' ? '▲' : '■'}</text>`).join('');
  const axis1Y = 30 + Math.max(0, lanes.length - 1) * laneH + 12;
  const axis1 = xAxis({ id: 'answers-time', x0: left, width, y: axis1Y, max: maxT, title: 'seconds since the overload began' });
  const statusTitle = `<text class="axis-title" transform="translate(14,${30 + ((lanes.length - 1) * laneH) / 2}) rotate(-90)" text-anchor="middle" font-size="11">status</text>`;
  const top2 = axis1Y + 60;
  const h2 = 110;
  const maxY = Math.max(1, ...series.map(([, n]) => n), o?.limit ?? 0);
  const maxT2 = Math.max(1, ...series.map(([t]) => t)) / 1000;
  const px = (t: number) => left + (t / 1000 / maxT2) * width;
  const py = (n: number) => top2 + h2 - (n / maxY) * h2;
  let d = '';
  for (const [i, [t, n]] of series.entries()) d += i === 0 ? `M${px(t)} ${py(0)}L${px(t)} ${py(n)}` : `H${px(t)}V${py(n)}`;
  const limit = o?.limit ? `<line id="limit" data-limit="${o.limit}" x1="${left}" x2="${left + width}" y1="${py(o.limit)}" y2="${py(o.limit)}" stroke="#a40e26" stroke-dasharray="6 3"/><text x="${left + width + 4}" y="${py(o.limit) + 4}" font-size="11">limit ${o.limit} (dashed)</text>` : '';
  const peak = Math.max(0, ...series.map(([, n]) => n));
  const axis2 = xAxis({ id: 'in-flight-time', x0: left, width, y: py(0), max: maxT2, title: "seconds since the backend's first request" });
  const axis2y = yAxis({ id: 'in-flight-count', x0: left, y0: py(0), height: h2, max: maxY, title: 'requests in flight' });
  const h = top2 + h2 + 40;
  return `<svg xmlns="http://www.w3.org/2000/svg" id="overload" role="img" aria-label="Overload: answers over time and the backend's in-flight requests" width="${left + width + 110}" height="${h}" font-family="system-ui,sans-serif"><text x="4" y="14" font-size="12" font-weight="700">RES-001: answers over time by status (● 200, ▲ 503, ■ other), ${timeline.length} shown</text>${statusTitle}${laneLabels}${dots}${axis1}<text x="4" y="${top2 - 14}" font-size="12" font-weight="700">the backend's requests in flight (all replicas, solid line), peak ${peak}</text><path id="in-flight" data-peak="${peak}" d="${d}" fill="none" stroke="#24292f" stroke-width="1.5"/>${limit}${axis2}${axis2y}</svg>`;
}

/**
 * For sweeps: namespaces × checks, each cell the number of endpoints (pods for SWEEP-INJECT) with a finding,
 * shaded by count and hatched when non-zero, the count written in the cell; exempted and inconclusive counts
 * follow in brackets. The canary is not counted as a finding: it is the control, drawn in its own row as
 * "flagged as expected" (or NOT flagged, which voids the sweep's passes).
 */
export function sweepHeatMap(run: RunResult): string {
  const sw = run.sweep;
  if (!sw) return '';
  const checks = ['SWEEP-MTLS', 'SWEEP-INJECT', 'SWEEP-AUTHZ', 'SWEEP-CERT'];
  const endpoints = sw.endpoints.filter((e) => e.role !== 'canary');
  const pods = sw.pods.filter((p) => p.role !== 'canary');
  const namespaces = [...new Set([...endpoints.map((e) => e.namespace), ...pods.map((p) => p.namespace)])].sort();
  const count = (ns: string, check: string, outcome: string) =>
    check === 'SWEEP-INJECT'
      ? pods.filter((p) => p.namespace === ns && p.verdict.outcome === outcome).length
      : endpoints.filter((e) => e.namespace === ns && e.verdicts.some((v) => v.check === check && v.outcome === outcome)).length;
  const max = Math.max(1, ...namespaces.flatMap((ns) => checks.map((c) => count(ns, c, 'finding'))));
  const cw = 150;
  const ch = 26;
  const left = 190;
  const top = 40;
  const hasCanary = sw.pods.some((p) => p.role === 'canary') || sw.canary.expected.length > 0;
  const width = left + checks.length * cw + 10;
  const height = top + (namespaces.length + (hasCanary ? 1 : 0)) * ch + 10;
  const cells: string[] = [];
  namespaces.forEach((ns, row) => {
    cells.push(`<text x="${left - 8}" y="${top + row * ch + 17}" text-anchor="end" font-size="12">${esc(ns)}</text>`);
    checks.forEach((c, col) => {
      const n = count(ns, c, 'finding');
      const exempt = count(ns, c, 'exempt');
      const inconclusive = count(ns, c, 'inconclusive');
      const x = left + col * cw;
      const y = top + row * ch;
      const shade = n === 0 ? '#ffffff' : `rgb(255,${Math.round(220 - (150 * n) / max)},${Math.round(210 - (150 * n) / max)})`;
      const extra = [exempt ? `${exempt} exempt` : '', inconclusive ? `${inconclusive} ?` : ''].filter(Boolean).join(', ');
      cells.push(
        `<g class="heat" data-namespace="${esc(ns)}" data-check="${c}" data-findings="${n}" data-exempt="${exempt}" data-inconclusive="${inconclusive}">` +
          `<rect x="${x}" y="${y}" width="${cw - 4}" height="${ch - 4}" fill="${shade}" stroke="#57606a"/>` +
          (n > 0 ? `<rect x="${x}" y="${y}" width="${cw - 4}" height="${ch - 4}" fill="url(#hatch)" opacity="0.35"/>` : '') +
          `<text x="${x + (cw - 4) / 2}" y="${y + 16}" text-anchor="middle" font-size="12" font-weight="${n > 0 ? 'bold' : 'normal'}">${n}${extra ? ` (${esc(extra)})` : ''}</text></g>`,
      );
    });
  });
  if (hasCanary) cells.push(canaryRow(sw, checks, { left, top: top + namespaces.length * ch, cw, ch }));
  const heads = checks.map((c, col) => `<text x="${left + col * cw + (cw - 4) / 2}" y="${top - 10}" text-anchor="middle" font-size="12" font-weight="bold">${c}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" class="sweep-heat-map" role="img" aria-label="Sweep findings by namespace and check" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${heads}${cells.join('')}</svg>`;
}

/** The canary's row: per check, flagged as expected (the control worked), NOT flagged, or not planted for it. */
function canaryRow(sw: NonNullable<RunResult['sweep']>, checks: string[], g: { left: number; top: number; cw: number; ch: number }): string {
  const planted = (check: string) => sw.canary.expected.filter((e) => e.split(': ')[1]?.split('@')[0] === check);
  const parts = [`<text x="${g.left - 8}" y="${g.top + 17}" text-anchor="end" font-size="12">canary (the control)</text>`];
  checks.forEach((c, col) => {
    const want = planted(c);
    const missing = want.filter((e) => sw.canary.missing.some((m) => m.startsWith(e)));
    const state = want.length === 0 ? 'not-planted' : missing.length === 0 ? 'flagged-as-expected' : 'not-flagged';
    const look = {
      'flagged-as-expected': { fill: '#ddf4ff', text: '● flagged as expected' },
      'not-flagged': { fill: 'url(#dots)', text: '○ NOT flagged' },
      'not-planted': { fill: '#ffffff', text: '— (none planted)' },
    }[state];
    const x = g.left + col * g.cw;
    parts.push(
      `<g class="canary" data-check="${c}" data-state="${state}"><title>${esc(want.length ? `canary planted for ${want.join(', ')}${missing.length ? `; not flagged: ${missing.join(', ')}` : ''}` : 'no canary planted for this check')}</title><rect x="${x}" y="${g.top}" width="${g.cw - 4}" height="${g.ch - 4}" fill="${look.fill}" stroke="#0550ae" stroke-dasharray="4 2"/><text x="${x + (g.cw - 4) / 2}" y="${g.top + 16}" text-anchor="middle" font-size="11">${look.text}</text></g>`,
    );
  });
  return parts.join('');
}

/** The pictures section, or nothing when the run drew none. */
export function picturesSection(run: RunResult): string {
  const figures = [
    [sweepHeatMap(run), 'Sweep: findings per namespace and check (endpoints; pods for SWEEP-INJECT). Exempted and inconclusive in brackets. The canary is the control, in its own row: flagged as expected, not a finding.'],
    [attackMap(run), 'Attack map: every attacker against every destination it tried, with the check that tried it.'],
    [certTimeline(run), 'Certificate timeline: workload certificates against the lifetime limit, the rotation seen, the roots.'],
    [overloadPicture(run), 'Overload (RES-001): answers over time by status, and what the backend held in flight against the limit.'],
  ].filter(([svg]) => svg);
  if (figures.length === 0) return '';
  // The patterns, once per page (ids must be unique in a document).
  const defs = `<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0" style="position:absolute" aria-hidden="true">${DEFS}</svg>`;
  return `<h2 id="pictures">Pictures</h2>\n${defs}\n${figures.map(([svg, caption]) => `<figure>${svg}<figcaption class="caveat">${caption}</figcaption></figure>`).join('\n')}`;
}
