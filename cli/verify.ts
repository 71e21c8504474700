// `meshproof verify`: re-checks a bundle's hashes and its signature.
import type { Command } from 'commander';
import { verifyBundle } from '../harness/report/manifest.js';
import { readKey } from './run.js';


export function verifyCommand(cmd: Command): void {
  cmd
    .command('verify')
    .description('re-check every hash of a bundle and its signature; exit 1 on any mismatch')
    .argument('<dir>', 'a bundle written by meshproof run')
    .option('--public-key <pem>', 'the Ed25519 public key the bundle must be signed with')
    .action((dir: string, o: { publicKey?: string }) => {
      const report = verifyBundle(dir, o.publicKey ? readKey(o.publicKey, '--public-key', 'public') : undefined);
      for (const p of report.problems) process.stdout.write(`MISMATCH ${p}\n`);
      process.stdout.write(
        `${report.ok ? 'OK' : 'FAILED'}: ${report.checked} files checked, signature ${report.signature}${report.signer && report.signature !== 'absent' ? ` (${report.signer})` : ''}\n`,
      );
      process.exitCode = report.ok ? 0 : 1;
    });}
