// Helpers every command shares.
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, messageOf } from '../harness/errors.js';

/** mkdir -p one level at a time: node's recursive mkdir spins forever under /proc (seen on Node 20). */
function mkdirs(abs: string): void {
  if (existsSync(abs)) return;
  mkdirs(path.dirname(abs));
  mkdirSync(abs);
}

/** The report directory, created and checked writable before anything starts. */
export function prepareOut(dir: string): string {
  const abs = path.resolve(dir);
  try {
    mkdirs(abs);
    accessSync(abs, constants.W_OK);
  } catch (e) {
    throw new ConfigError(`--out ${dir}: not a writable directory (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`);
  }
  return abs;
}
