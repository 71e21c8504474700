// `meshproof list` and `meshproof controls`: the checks and the control catalog.
import type { Command } from 'commander';
import { SUITES } from '../suites/index.js';
import { CATALOG, claimsFor } from '../harness/controls.js';
import { SWEEP_CHECKS } from '../harness/sweep/sweep.js';

export function listCommand(cmd: Command): void {
  cmd
    .command('list')
    .description('list the checks, their suites and the weakened postures that must make them fail')
    .action(() => {
      for (const [suite, checks] of Object.entries(SUITES)) {
        process.stdout.write(`${suite}\n`);
        for (const c of checks) process.stdout.write(`  ${c.id}  ${c.title}\n          fails under: ${c.weakenedBy.join(', ')}\n`);
      }
      process.stdout.write('sweep (meshproof sweep: your own workloads)\n');
      for (const c of SWEEP_CHECKS) process.stdout.write(`  ${c.id}  ${c.title}\n          fails under: the canary (fixtures/sweep), on every sweep\n`);
    });
  cmd
    .command('controls')
    .description('print the control catalog: the ids checks may claim, with caveats')
    .action(() => {
      for (const c of CATALOG) process.stdout.write(`${c.id.padEnd(28)} ${c.title}${c.caveat ? ` — ${c.caveat}` : ''}\n`);
      process.stdout.write('\nClaims per check:\n');
      for (const check of [...Object.values(SUITES).flat(), ...SWEEP_CHECKS]) {
        const claims = claimsFor(check.categories).map((x) => (x.relation === 'supports' ? `${x.id} (supports)` : x.id));
        process.stdout.write(`  ${check.id}: ${claims.join(', ')}\n`);
      }
    });
}
