// Files that ship with meshproof, found from wherever this module runs (the bundled CLI in dist/ or the sources
// under vitest), so `npx meshproof` works from any directory.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'meshproof') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the meshproof package root');
    dir = up;
  }
}

export const PACKAGE_ROOT = findRoot();
export const AGENT_BUNDLE = path.join(PACKAGE_ROOT, 'dist', 'agent.mjs');
export const SECURE_POSTURE = path.join(PACKAGE_ROOT, 'fixtures', 'secure');
/** meshproof's own namespace for a sweep: the attacker and the canary. */
export const SWEEP_FIXTURES = path.join(PACKAGE_ROOT, 'fixtures', 'sweep');
export const VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The git commit meshproof runs from (`-dirty` with local changes), or `unknown` outside a checkout. */
export function toolCommit(): string {
  try {
    const opts = { cwd: PACKAGE_ROOT, encoding: 'utf8' as const, stdio: ['ignore', 'pipe', 'ignore'] as ['ignore', 'pipe', 'ignore'] };
    const head = execFileSync('git', ['rev-parse', 'HEAD'], opts).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], opts).trim() !== '';
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}
