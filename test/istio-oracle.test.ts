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

  // R4-M4: agreement is worth something only where the golden side allows too. Per builder file: how many generated
  // requests the golden Envoy chain allows and denies; a file whose golden config enforces an ALLOW policy must see
  // at least one allowed request, or a model that denies everything under an ALLOW policy would agree on all of it.
  const NOTHING_CAN_MATCH: Record<string, string> = {
    'pilot/pkg/security/authz/builder/testdata/http/allow-path-in.yaml': 'its only rule also holds notPaths ["*"]: no path can match',
    'pilot/pkg/security/authz/builder/testdata/http/allow-nil-rule-in.yaml': 'no rules: allow-nothing (golden permission notRule any)',
    'pilot/pkg/security/authz/builder/testdata/http/single-policy-in.yaml':
      'every source ANDs requestPrincipals (a JWT; the oracle\'s requests carry none) with principals and namespaces no one principal holds both of',
  };
  it('R4-M4: every builder golden with an ALLOW rule yields at least one allowed request, and plaintext meets each not* source', () => {
    const builder = files.filter((f) => f.cases.some((c) => c.golden !== undefined));
    expect(builder.length).toBeGreaterThanOrEqual(29);
    const rows = builder.map((f) => ({ file: `${f.source} ${f.test}`, allowed: f.cases.filter((c) => c.golden === 'allowed').length, denied: f.cases.filter((c) => c.golden === 'denied').length, enforcesAllow: f.enforcesAllow === true, source: f.source }));
    console.log(rows.map((x) => `${x.file}: ${x.allowed} allowed, ${x.denied} denied${x.enforcesAllow ? ' (enforces ALLOW)' : ''}`).join('\n'));
    const starved = rows.filter((x) => x.enforcesAllow && x.allowed === 0 && !(x.source in NOTHING_CAN_MATCH)).map((x) => x.file);
    expect(starved).toEqual([]);
    for (const source of Object.keys(NOTHING_CAN_MATCH)) expect(rows.some((x) => x.source === source && x.allowed === 0), source).toBe(true);
    // Plaintext (no principal) is tried against every file, so each not* source meets a request without a peer.
    for (const f of builder) expect(f.cases.some((c) => c.name.includes(': plaintext from ')), f.source).toBe(true);
  });

  it('the totals line counts every case once', () => {
    const t = totals(files);
    expect(t.agree + t.refused + t.disagree).toBe(t.cases);
    expect(summaryLines(files).at(-1)).toBe(`istio oracle: ${t.cases} cases from ${t.files} Istio test files, ${t.agree} agree, ${t.refused} refused, ${t.disagree} disagree`);
  });
});
