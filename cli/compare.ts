// `meshproof compare`: per-check verdict diff of two bundles (the upgrade gate's judgement). Fails closed: both
// bundles verified first, a run never compared with a sweep, a check the candidate no longer runs a regression.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { compareBundles, comparisonTable } from '../harness/compare.js';
import { ConfigError, messageOf } from '../harness/errors.js';
import { compareDocument, outputOption, parseOutput, printJson } from './output.js';
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
    .option('--public-key <pem>', 'require both bundles\' signatures by this Ed25519 key (required unless --unsigned)')
    .addOption(outputOption())
    .option('--unsigned', 'compare on hashes alone, signatures not checked (said in the verdict line): anyone who edits run.json can regenerate manifest.sha256')
    .addHelpText(
      'after',
      '\nExit codes: 0 nothing regressed, 1 a check regressed (any new fail, including a check added as fail; pass or not-applicable → inconclusive; pass → not-applicable; judged before and not run after; for sweeps, a new finding or an endpoint held before and inconclusive or untested now; for two access matrices (sweep --matrix), per cell `identity → ns/service:port`: a new grant (none → partial or all, partial → all), a new hole, a new grant beyond the intent, a refusal proven before and not now; a removed identity or Service port is listed as removed) or a bundle does not verify (a hash, or its signature under --public-key, or no signature), 2 usage error (neither --public-key nor --unsigned, a run compared with a sweep, a lab run with a cluster run, another target, a candidate that does not cover the baseline\'s namespaces, an --allow-removed id that is not removed).\n' +
        '\n-o json: one document (schema meshproof.dev/cli-compare/v1): baseline and candidate (kind, target, suites, selectedBy, checks, signature), rows (id, baseline, candidate, change, reason), regressions, regressed (ids), exitCode, exitReason; a bundle that does not verify or a usage error prints no document, only its line on stderr.',
    )
    .action((baseline: string, candidate: string, o: { out: string; allowNotApplicable?: boolean; allowRemoved?: string; publicKey?: string; unsigned?: boolean; output?: string }) => {
      const json = parseOutput(o.output) === 'json';
      const c = compareBundles(baseline, candidate, {
        allowNotApplicable: o.allowNotApplicable,
        allowRemoved: o.allowRemoved?.split(','),
        publicKeyPem: o.publicKey ? readKey(o.publicKey, '--public-key', 'public') : undefined,
        unsigned: o.unsigned ? '--unsigned' : undefined,
      });
      try {
        writeFileSync(o.out, `${JSON.stringify(c, null, 2)}\n`);
      } catch (e) {
        throw new ConfigError(`--out ${o.out}: cannot write (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`);
      }
      if (json) printJson(compareDocument(c));
      else process.stdout.write(`${comparisonTable(c)}\n`);
      process.exitCode = c.regressions > 0 ? 1 : 0;
    });}
