// Before any test: build the bundled agent and CLI once (the lab spawns the agent, the CLI tests run
// dist/cli.js), and make sure the browser the report tests drive is there. The README's `npm test` then passes
// on a fresh Debian machine with nothing else typed: Chromium comes from Debian (`chromium`, /usr/bin/chromium),
// installed here when missing and we are root; skipped when present.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${CHROMIUM} is missing and the tests are not running as root: install it with \`sudo apt-get update && sudo apt-get install -y chromium\``);
  }
  process.stderr.write(`global setup: ${CHROMIUM} is missing; installing Debian's chromium (apt-get)…\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env });
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium but ${CHROMIUM} is still missing`);
}

export default function setup(): void {
  ensureChromium();
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
}
