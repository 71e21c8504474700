// meshproof's command line: one module per command (cli/*.ts); this file assembles them. Exit codes: 0 all pass
// (not-applicable allowed), 1 any check failed, 2 usage or configuration error, 3 infrastructure error or an
// inconclusive check. User mistakes get one line, no stack.
import { Command, CommanderError } from 'commander';
import { ConfigError, EvidenceError, InfraError } from '../harness/errors.js';
import { VERSION } from '../harness/paths.js';
import { cleanupCommand } from './cleanup.js';
import { compareCommand } from './compare.js';
import { historyCommand } from './history.js';
import { listCommand } from './list.js';
import { preflightCommand } from './preflight.js';
import { reportCommand } from './report.js';
import { runCommand } from './run.js';
import { selfVerifyCommand } from './self-verify.js';
import { sweepCommand } from './sweep.js';
import { upgradeGateCommand } from './upgrade-gate.js';
import { verifyCommand } from './verify.js';

export function program(): Command {
  const cmd = new Command('meshproof')
    .description('Proves, by attacking it, that an Istio mesh refuses what it must — and writes evidence an auditor can use.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const add of [runCommand, sweepCommand, upgradeGateCommand, selfVerifyCommand, verifyCommand, reportCommand, historyCommand, compareCommand, preflightCommand, cleanupCommand, listCommand]) add(cmd);
  return cmd;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof ConfigError || e instanceof InfraError || e instanceof EvidenceError) {
      process.stderr.write(`meshproof: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`meshproof: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 3;
  }
}

// `meshproof list | head`: a closed pipe ends the output quietly, as with any Unix tool.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
});

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
