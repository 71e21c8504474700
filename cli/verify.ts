// `meshproof verify`: re-checks a bundle's hashes and, against a key the user gives, its signature.
import type { Command } from 'commander';
import { signatureText, verifyBundle } from '../harness/report/manifest.js';
import { readKey } from './run.js';


export function verifyCommand(cmd: Command): void {
  cmd
    .command('verify')
    .description('re-check every hash of a bundle and, with --public-key, its signature; exit 1 on any mismatch')
    .argument('<dir>', 'a bundle written by meshproof run')
    .option('--public-key <pem>', 'the Ed25519 public key the bundle must be signed with (the key shipped in the bundle is never trusted)')
    .option('--require-signature', 'exit 1 unless the bundle is signed and the signature was checked against --public-key')
    .addHelpText('after', '\nWithout --public-key a signature is reported as "present, not checked": anyone who alters a bundle can re-sign it with a key of their own.')
    .action((dir: string, o: { publicKey?: string; requireSignature?: boolean }) => {
      const report = verifyBundle(dir, o.publicKey ? readKey(o.publicKey, '--public-key', 'public') : undefined, { requireSignature: o.requireSignature });
      for (const p of report.problems) process.stdout.write(`MISMATCH ${p}\n`);
      process.stdout.write(`${report.ok ? 'OK' : 'FAILED'}: ${report.checked} files checked, signature ${signatureText(report.signature)}${report.signature === 'valid' ? ' (the given --public-key)' : ''}\n`);
      process.exitCode = report.ok ? 0 : 1;
    });}
