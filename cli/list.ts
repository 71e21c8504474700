// `meshproof list` and `meshproof controls`: the checks and the control catalog.
import type { Command } from 'commander';
import { SUITES } from '../suites/index.js';
import { CATALOG, claimsFor } from '../harness/controls.js';
import { ALL_SWEEP_CHECKS } from '../harness/sweep/sweep.js';
import { outputOption, parseOutput, printJson } from './output.js';

/** `list -o json`: every check as an object, the sweep's too (suite `sweep`). */
function checksDocument() {
  return [
    ...Object.entries(SUITES).flatMap(([suite, checks]) => checks.map((c) => ({ id: c.id, suite, title: c.title, command: 'run', claim: c.claim, weakenedBy: c.weakenedBy, controls: claimsFor(c.categories) }))),
    ...ALL_SWEEP_CHECKS.map((c) => ({ id: c.id, suite: 'sweep', title: c.title, command: 'sweep', claim: c.claim, weakenedBy: [c.categories.includes('h') ? 'fixtures/sweep (the matrix canary)' : 'fixtures/sweep (the canary)'], controls: claimsFor(c.categories) })),
  ];
}

/** `controls -o json`: every control of the catalog, with the checks that claim it and how (addresses or supports). */
function controlsDocument() {
  const checks = [...Object.values(SUITES).flat(), ...ALL_SWEEP_CHECKS];
  return CATALOG.map((c) => ({
    id: c.id,
    title: c.title,
    ...(c.caveat ? { caveat: c.caveat } : {}),
    claimedBy: checks.flatMap((k) => claimsFor(k.categories).filter((x) => x.id === c.id).map((x) => ({ check: k.id, relation: x.relation }))),
  }));
}

export function listCommand(cmd: Command): void {
  cmd
    .command('list')
    .description('list the checks, their suites and the weakened postures that must make them fail')
    .addOption(outputOption())
    .addHelpText('after', '\n-o json: an array of checks: id, suite (sweep for the sweep\'s), title, command (run or sweep), claim, weakenedBy, controls (id, relation: addresses or supports).')
    .action((o: { output?: string }) => {
      if (parseOutput(o.output) === 'json') return printJson(checksDocument());
      for (const [suite, checks] of Object.entries(SUITES)) {
        process.stdout.write(`${suite}\n`);
        for (const c of checks) process.stdout.write(`  ${c.id}  ${c.title}\n          fails under: ${c.weakenedBy.join(', ')}\n`);
      }
      process.stdout.write('sweep (meshproof sweep: your own workloads)\n');
      for (const c of ALL_SWEEP_CHECKS) process.stdout.write(`  ${c.id}  ${c.title}${c.categories.includes('h') ? ' (sweep --matrix)' : ''}\n          fails under: ${c.categories.includes('h') ? 'the matrix canary (fixtures/sweep), on every sweep --matrix' : 'the canary (fixtures/sweep), on every sweep'}\n`);
    });
  cmd
    .command('controls')
    .description('print the control catalog: the ids checks may claim, with caveats')
    .addOption(outputOption())
    .addHelpText('after', '\n-o json: an array of controls: id, title, caveat (when there is one), claimedBy (check, relation: addresses or supports).')
    .action((o: { output?: string }) => {
      if (parseOutput(o.output) === 'json') return printJson(controlsDocument());
      for (const c of CATALOG) process.stdout.write(`${c.id.padEnd(28)} ${c.title}${c.caveat ? ` — ${c.caveat}` : ''}\n`);
      process.stdout.write('\nClaims per check:\n');
      for (const check of [...Object.values(SUITES).flat(), ...ALL_SWEEP_CHECKS]) {
        const claims = claimsFor(check.categories).map((x) => (x.relation === 'supports' ? `${x.id} (supports)` : x.id));
        process.stdout.write(`  ${check.id}: ${claims.join(', ')}\n`);
      }
    });
}
