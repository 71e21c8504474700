// Helpers every command shares.
import { accessSync, constants, existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, messageOf } from '../harness/errors.js';

/** mkdir -p one level at a time: node's recursive mkdir spins forever under /proc (seen on Node 20). Returns the directories it made, outermost first. */
function mkdirs(abs: string, made: string[] = []): string[] {
  if (existsSync(abs)) return made;
  mkdirs(path.dirname(abs), made);
  mkdirSync(abs);
  made.push(abs);
  return made;
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

/**
 * One run, one bundle: a run's `--out` must be absent or an empty directory, because the manifest seals every
 * file in it (an earlier run's files would be sealed into this run's evidence). `force` empties it first, saying
 * so on stderr. Checked before anything starts; the directory itself is only created when the bundle is written
 * (`createOut`), so a refused, failed or interrupted run leaves no empty folder behind for `history reports/*`.
 */
export function claimOut(dir: string, force = false): string {
  const abs = path.resolve(dir);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
    if (!isDir) throw new ConfigError(`--out ${dir}: a file, not a directory`);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`--out ${dir}: not a writable directory (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`);
  }
  if (isDir) {
    const entries = readdirSync(abs);
    if (entries.length > 0 && !force) {
      throw new ConfigError(
        `--out ${dir}: not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, e.g. ${entries.sort()[0]}): one run, one bundle; use a new directory, {run}, or --force to empty it`,
      );
    }
    try {
      accessSync(abs, constants.W_OK);
    } catch (e) {
      throw new ConfigError(`--out ${dir}: not a writable directory (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`);
    }
    if (entries.length > 0) {
      for (const e of entries) rmSync(path.join(abs, e), { recursive: true, force: true });
      process.stderr.write(`meshproof: --force: emptied --out ${dir} (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} removed)\n`);
    }
    return abs;
  }
  // Absent: prove it can be made, then take back what was made.
  const made: string[] = [];
  try {
    mkdirs(abs, made);
    accessSync(abs, constants.W_OK);
  } catch (e) {
    throw new ConfigError(`--out ${dir}: not a writable directory (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`);
  } finally {
    for (const d of made.reverse()) rmdirSync(d);
  }
  return abs;
}

/** Creates the directory `claimOut` checked, when there is a bundle to write into it. */
export function createOut(abs: string): string {
  mkdirs(abs);
  return abs;
}
