// `npm run istio-oracle`: every ported Istio test case against the model; one line per Istio source file, the
// totals last. Exit 1 on any disagreement (each printed with its detail).
import { readFileSync, writeFileSync } from 'node:fs';
import { LIMITS_BEGIN, LIMITS_END, limitsMarkdown } from '../harness/istio/limits.js';
import { ports } from './ports.js';
import { summaryLines } from './types.js';

const files = ports.flatMap((p) => p());
for (const f of files) {
  for (const c of f.cases) if (c.outcome.kind === 'disagree') console.log(`DISAGREE ${f.source} ${f.test} › ${c.name}: ${c.outcome.detail}`);
}
for (const line of summaryLines(files)) console.log(line);
if (process.argv.includes('--refused')) {
  for (const f of files) for (const c of f.cases) if (c.outcome.kind === 'refused') console.log(`refused ${f.source} › ${c.name}: ${c.outcome.reason}`);
}
process.exitCode = files.some((f) => f.cases.some((c) => c.outcome.kind === 'disagree')) ? 1 : 0;

// `--readme`: rewrite the README's generated block of what the model does not judge (test/istio-limits.test.ts
// holds the README to it).
if (process.argv.includes('--readme')) {
  const readme = readFileSync('README.md', 'utf8');
  const at = readme.indexOf(LIMITS_BEGIN);
  const end = readme.indexOf(LIMITS_END);
  if (at < 0 || end < at) throw new Error(`README.md has no ${LIMITS_BEGIN} … ${LIMITS_END} block`);
  writeFileSync('README.md', readme.slice(0, at) + limitsMarkdown() + readme.slice(end + LIMITS_END.length));
  console.log('README.md: the model limits block rewritten');
}
