// The Istio oracle: Istio's own test tables, ported as data (test/data/istio/), replayed against meshproof's one
// model of Istio's semantics (harness/istio/). A port is a function that reads its data and returns, per Istio
// source file, the outcome of every case. A disagreement is fixed in the model, never in the data.

/** What the model said of one ported case. */
export type Outcome =
  | { kind: 'agree' }
  /** The case uses what the model refuses to judge (named in `reason`, from the model's own refusal). */
  | { kind: 'refused'; reason: string }
  | { kind: 'disagree'; detail: string };

export interface OracleCase {
  name: string;
  outcome: Outcome;
  /** Where the case has one: the Istio side's own answer (the builder goldens: the golden Envoy chain's decision). */
  golden?: 'allowed' | 'denied';
}

/** The cases ported from one Istio source file (a Go test file or one testdata file). */
export interface OracleFile {
  /** Path in istio/istio, e.g. `pkg/config/kube/conversion_test.go`. */
  source: string;
  /** The Go test(s) the cases come from, e.g. `TestConvertProtocol`. */
  test: string;
  /** The istio/istio commit the data was ported from. */
  commit: string;
  cases: OracleCase[];
  /** The builder goldens: the golden Envoy config enforces an ALLOW policy (an RBAC filter whose `rules` allow). */
  enforcesAllow?: boolean;
}

export type OraclePort = () => OracleFile[];

export const agree: Outcome = { kind: 'agree' };

/** `agree` when equal (deep, as JSON), else a disagreement that shows both sides. */
export function compare(name: string, got: unknown, want: unknown): OracleCase {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  return { name, outcome: g === w ? agree : { kind: 'disagree', detail: `model ${g}, Istio ${w}` } };
}

export interface OracleTotals {
  cases: number;
  files: number;
  agree: number;
  refused: number;
  disagree: number;
}

export function totals(files: OracleFile[]): OracleTotals {
  const all = files.flatMap((f) => f.cases);
  const count = (k: Outcome['kind']) => all.filter((c) => c.outcome.kind === k).length;
  return { cases: all.length, files: new Set(files.map((f) => f.source)).size, agree: count('agree'), refused: count('refused'), disagree: count('disagree') };
}

/** One line per source file, then the totals line (the format). */
export function summaryLines(files: OracleFile[]): string[] {
  const bySource = new Map<string, OracleFile[]>();
  for (const f of files) bySource.set(f.source, [...(bySource.get(f.source) ?? []), f]);
  const lines = [...bySource].map(([source, fs]) => {
    const t = totals(fs);
    const tests = [...new Set(fs.map((f) => f.test))].join(', ');
    return `${source} (${tests}): ${t.cases} cases, ${t.agree} agree, ${t.refused} refused, ${t.disagree} disagree`;
  });
  const t = totals(files);
  return [...lines, `istio oracle: ${t.cases} cases from ${t.files} Istio test files, ${t.agree} agree, ${t.refused} refused, ${t.disagree} disagree`];
}
