// `meshproof cleanup`: deletes what meshproof runs left behind (run-labelled mp- namespaces only).
import type { Command } from 'commander';
import { describeApiError } from '../cluster/kube/api-errors.js';
import { leftBehind, sweep } from '../cluster/kube/cleanup.js';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { parseGoDuration } from '../harness/duration.js';
import { ConfigError, InfraError } from '../harness/errors.js';


export function cleanupCommand(cmd: Command): void {
  cmd
    .command('cleanup')
    .description('delete what meshproof runs left behind: namespaces with both the meshproof.dev/run label and an mp- name (nothing else is touched)')
    .option('--run <id>', 'the run whose namespaces to delete')
    .option('--stale', 'every run-labelled namespace older than --older-than')
    .option('--older-than <duration>', 'with --stale', '1h')
    .option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .action(async (o: { run?: string; stale?: boolean; olderThan: string; kubeconfig?: string; context?: string }) => {
      if (!o.run === !o.stale) throw new ConfigError('cleanup needs exactly one of --run <id> or --stale');
      const olderThanMs = parseGoDuration(o.olderThan);
      if (olderThanMs === undefined) throw new ConfigError(`--older-than ${o.olderThan}: not a duration (e.g. 1h, 30m)`);
      const { kc } = loadKubeConfig(o);
      const r = await sweep(kc, { runId: o.run, olderThanMs, timeoutMs: process.env.MESHPROOF_TIMEOUTS === 'lab' ? 5_000 : 120_000 }).catch((e: unknown) => {
        throw new InfraError(`cleanup against ${kc.getCurrentCluster()?.server}: ${describeApiError(e)}`);
      });
      for (const n of r.gone) process.stdout.write(`deleted namespace ${n}\n`);
      for (const n of r.kept) process.stdout.write(`kept namespace ${n} (younger than ${o.olderThan})\n`);
      process.stdout.write(`${r.gone.length} deleted, ${r.kept.length} kept${r.stuck.length + r.errors.length ? `, ${r.stuck.length + r.errors.length} left behind` : ''}\n`);
      const problem = leftBehind(r, 'see `kubectl get namespace <name> -o yaml`');
      if (problem) throw new InfraError(problem);
    });}
