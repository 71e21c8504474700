// `meshproof compare`: per-check verdict diff of two bundles (the upgrade gate's judgement). Fails closed: both
// bundles verified first, a run never compared with a sweep, a check the candidate no longer runs a regression.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { compareBundles, comparisonTable } from '../harness/compare.js';
import { ConfigError, messageOf } from '../harness/errors.js';
import { readKey } from './run.js';


export function compareCommand(cmd: Command): void {
  cmd
    .command('compare')
    .description('the upgrade gate: per-check verdict diff of two bundles, each verified first; exit 1 when any check regressed or a bundle does not verify')
    .argument('<baseline>', 'bundle of the run before (e.g. before an Istio upgrade)')
    .argument('<candidate>', 'bundle of the run after')
    .option('--out <file>', 'where to write compare.json', 'compare.json')
    .option('--allow-not-applicable', 'a check that passed and is now not-applicable is a change, not a regression')
    .option('--allow-removed <ids>', 'comma-separated check ids the candidate may lack (each must be one it lacks); any other check the baseline judged and the candidate did not run is a regression')
    .option('--public-key <pem>', 'also require both bundles\' signatures by this Ed25519 key')
    .addHelpText(
      'after',
      '\nExit codes: 0 nothing regressed, 1 a check regressed (pass → fail/inconclusive/not-applicable, or judged before and not run after) or a bundle does not verify, 2 usage error (a run compared with a sweep, a lab run with a cluster run, an --allow-removed id that is not removed).',
    )
    .action((baseline: string, candidate: string, o: { out: string; allowNotApplicable?: boolean; allowRemoved?: string; publicKey?: string }) => {
      const c = compareBundles(baseline, candidate, {
        allowNotApplicable: o.allowNotApplicable,
        allowRemoved: o.allowRemoved?.split(','),
        publicKeyPem: o.publicKey ? readKey(o.publicKey, '--public-key', 'public') : undefined,
      });
      try {
        writeFileSync(o.out, `${JSON.stringify(c, null, 2)}\n`);
      } catch (e) {
        throw new ConfigError(`--out ${o.out}: cannot write (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`);
      }
      process.stdout.write(`${comparisonTable(c)}\n`);
      process.exitCode = c.regressions > 0 ? 1 : 0;
    });}
