// The lab spawns the bundled agent and the CLI tests run dist/cli.js: build both once before any test.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
}
