// `meshproof report`: re-renders report.html and the summary from a verified bundle.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ALL_CHECKS } from '../suites/index.js';
import { ALL_SWEEP_CHECKS } from '../harness/sweep/sweep.js';
import { markdownSummary } from '../harness/report/ci-summary.js';
import { writeHtml } from '../harness/report/html.js';
import { readBundle } from '../harness/report/rerender.js';
import { prepareOut } from './common.js';
import { readKey } from './run.js';


export function reportCommand(cmd: Command): void {
  cmd
    .command('report')
    .description('render report.html and the Markdown summary again from a verified bundle (the bundle itself is not touched)')
    .argument('<bundle>', 'a bundle directory')
    .option('--out <dir>', 'where the pages go (default: <bundle>-report)')
    .option('--public-key <pem>', 'also require the bundle\'s signature by this Ed25519 key')
    .action((bundle: string, o: { out?: string; publicKey?: string }) => {
      const { run: r, excluded } = readBundle(bundle, (id) => ALL_CHECKS.find((c) => c.id === id)?.categories ?? ALL_SWEEP_CHECKS.find((c) => c.id === id)?.categories ?? [], o.publicKey ? readKey(o.publicKey, '--public-key', 'public') : undefined);
      const out = prepareOut(o.out ?? `${bundle.replace(/\/+$/, '')}-report`);
      writeHtml(out, r, excluded);
      writeFileSync(path.join(out, 'summary.md'), markdownSummary(r));
      process.stdout.write(`${path.join(out, 'report.html')} and ${path.join(out, 'summary.md')} from run ${r.runId} (verified)\n`);
    });}
