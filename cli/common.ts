// Helpers every command shares.
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { MANIFEST } from '../harness/report/manifest.js';
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
    if (entries.length > 0) refuseToEmpty(dir, abs, entries);
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

/**
 * `--force` empties only a previous bundle (A-L6): never the working directory, the home directory or `/` (nor
 * a parent of the working directory), nor a directory without a manifest.sha256, whatever else it holds.
 */
function refuseToEmpty(dir: string, abs: string, entries: string[]): void {
  const cwd = process.cwd();
  const precious = [cwd, homedir(), path.parse(abs).root].map((p) => path.resolve(p));
  if (precious.includes(abs) || cwd.startsWith(`${abs}${path.sep}`)) {
    throw new ConfigError(`--out ${dir} --force: refusing to empty ${abs} (the working directory, a parent of it, the home directory or /); use a directory of its own`);
  }
  if (!entries.includes(MANIFEST)) {
    throw new ConfigError(`--out ${dir} --force: refusing to empty it: it holds no ${MANIFEST}, so it is not a previous bundle (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, e.g. ${entries.sort()[0]})`);
  }
}

/**
 * Creates the directory `claimOut` checked, when there is a bundle to write into it, and claims it: it must still
 * be empty (another run given the same --out may have written there meanwhile, and the manifest would seal both
 * runs' files), and the claim is an exclusive create of manifest.sha256 (O_EXCL), so of two runs that both find it
 * empty at the same moment exactly one wins; writeManifest fills the file in last (A-L6).
 */
export function createOut(abs: string): string {
  mkdirs(abs);
  const entries = readdirSync(abs);
  const taken = () =>
    new ConfigError(`--out ${abs}: no longer empty when the bundle was to be written (${entries.length ? `e.g. ${entries.sort()[0]}` : 'claimed by another run'}): another run wrote there meanwhile; nothing written, one run, one bundle`);
  if (entries.length > 0) throw taken();
  try {
    closeSync(openSync(path.join(abs, MANIFEST), 'wx'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw taken();
    throw new ConfigError(`--out ${abs}: not a writable directory (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`);
  }
  return abs;
}
