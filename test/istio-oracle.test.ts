// Istio's own test tables (oracle/), replayed against the model (harness/istio/): every case agrees or is refused
// by name; none disagrees. `npm run istio-oracle` prints the same cases.
import { describe, expect, it } from 'vitest';
import { ports } from '../oracle/ports.js';
import { summaryLines, totals } from '../oracle/types.js';

const files = ports.flatMap((p) => p());

describe('istio oracle', () => {
  it.each(files.map((f) => [`${f.source} ${f.test}`, f] as const))('%s: no case disagrees', (_, f) => {
    const disagreements = f.cases.filter((c) => c.outcome.kind === 'disagree').map((c) => `${c.name}: ${c.outcome.kind === 'disagree' ? c.outcome.detail : ''}`);
    expect(disagreements).toEqual([]);
    expect(f.cases.length).toBeGreaterThan(0);
  });

  it('the totals line counts every case once', () => {
    const t = totals(files);
    expect(t.agree + t.refused + t.disagree).toBe(t.cases);
    expect(summaryLines(files).at(-1)).toBe(`istio oracle: ${t.cases} cases from ${t.files} Istio test files, ${t.agree} agree, ${t.refused} refused, ${t.disagree} disagree`);
  });
});
