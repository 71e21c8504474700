// `npm run istio-oracle`: every ported Istio test case against the model; one line per Istio source file, the
// totals last. Exit 1 on any disagreement (each printed with its detail).
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
