// `meshproof history`: the record over an audit period, from many bundles.
import type { Command } from 'commander';
import { buildHistory, writeHistory } from '../harness/report/history.js';
import { prepareOut } from './common.js';
import { readKey } from './run.js';


export function historyCommand(cmd: Command): void {
  cmd
    .command('history')
    .description('the record over an audit period: each check\'s verdict every night from many bundles (each verified first), one row per check and target (runs and sweeps, lab and cluster never mixed), gaps and first regressions')
    .argument('<bundles...>', 'bundle directories (nightly runs)')
    .option('--out <dir>', 'where history.json and history.html go', 'history')
    .option('--public-key <pem>', 'require each bundle\'s signature by this Ed25519 key (required unless --unsigned); an unsigned or other-signed bundle is left out')
    .option('--unsigned', 'verify hashes alone, signatures not checked (said in the output): anyone who edits run.json can regenerate manifest.sha256')
    .addHelpText('after', '\nExit codes: 0 every bundle verified and every check held every night, 1 otherwise, 2 usage error (neither --public-key nor --unsigned).')
    .action((dirs: string[], o: { out: string; publicKey?: string; unsigned?: boolean }) => {
      const h = buildHistory(dirs, o.publicKey ? readKey(o.publicKey, '--public-key', 'public') : undefined, o.unsigned ? '--unsigned' : undefined);
      writeHistory(prepareOut(o.out), h);
      process.stdout.write(`${h.runs.length} verified run(s), ${h.nights.length} night(s) from ${h.from || '-'} to ${h.to || '-'}, ${h.gaps.length} without a run; signatures ${h.signatures}\n`);
      const series = [...new Set(h.runs.map((r) => `${r.kind} on ${r.target}${r.lab ? ' [LAB: evidence about no mesh]' : ''}`))];
      if (series.length > 1) process.stdout.write(`${series.length} series, never mixed in one row: ${series.join('; ')}\n`);
      else if (series.length === 1) process.stdout.write(`${series[0]}\n`);
      for (const c of h.checks.filter((x) => !x.heldEveryNight)) process.stdout.write(`  ${c.id}: ${c.firstRegression ? `first regressed ${c.firstRegression}` : 'not held every night'} (${c.kind} on ${c.target})\n`);
      for (const r of h.rejected) process.stdout.write(`  left out ${r.dir}: ${r.problems.join('; ')}\n`);
      process.exitCode = h.rejected.length > 0 || h.gaps.length > 0 || h.checks.some((c) => !c.heldEveryNight) ? 1 : 0;
    });}
