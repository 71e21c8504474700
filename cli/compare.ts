// `meshproof compare`: per-check verdict diff of two bundles (the upgrade gate's judgement).
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { compareBundles, comparisonTable } from '../harness/compare.js';
import { ConfigError, messageOf } from '../harness/errors.js';


export function compareCommand(cmd: Command): void {
  cmd
    .command('compare')
    .description('the upgrade gate: per-check verdict diff of two bundles; exit 1 when any check regressed')
    .argument('<baseline>', 'bundle of the run before (e.g. before an Istio upgrade)')
    .argument('<candidate>', 'bundle of the run after')
    .option('--out <file>', 'where to write compare.json', 'compare.json')
    .option('--allow-not-applicable', 'a check that passed and is now not-applicable is a change, not a regression')
    .action((baseline: string, candidate: string, o: { out: string; allowNotApplicable?: boolean }) => {
      const c = compareBundles(baseline, candidate, { allowNotApplicable: o.allowNotApplicable });
      try {
        writeFileSync(o.out, `${JSON.stringify(c, null, 2)}\n`);
      } catch (e) {
        throw new ConfigError(`--out ${o.out}: cannot write (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`);
      }
      process.stdout.write(`${comparisonTable(c)}\n`);
      process.exitCode = c.regressions > 0 ? 1 : 0;
    });}
