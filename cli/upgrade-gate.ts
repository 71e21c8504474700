// `meshproof upgrade-gate`: provision, install --from, run; upgrade, run; restart, run; compare.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { shortRunId } from '../cluster/kube/render.js';
import { installIstio } from '../cluster/istio/install.js';
import { createK3sCluster } from '../cluster/providers/k3s.js';
import { createKindCluster, deleteKindCluster, type Provisioned } from '../cluster/providers/kind.js';
import { SUITES } from '../suites/index.js';
import { compareBundles, comparisonTable } from '../harness/compare.js';
import { ConfigError } from '../harness/errors.js';
import { SECURE_POSTURE } from '../harness/paths.js';
import { claimOut } from './common.js';
import { readKey, run, type RunOptions, selectChecks } from './run.js';


export function upgradeGateCommand(cmd: Command): void {
  cmd
    .command('upgrade-gate')
    .description('gate an Istio upgrade: provision, install --from, run; upgrade the control plane, run against the old proxies; restart the workloads, run again; compare all three; exit 1 on any regression')
    .requiredOption('--from <version>', 'Istio version installed first')
    .requiredOption('--to <version>', 'Istio version to upgrade to')
    .addOption(new Option('--target <name>', 'kind or k3s').default('kind'))
    .option('--installer <helm|istioctl>', 'how to install and upgrade Istio', 'helm')
    .option('--istioctl-from <path>', 'with --installer istioctl: the istioctl of --from (istioctl installs its own version)')
    .option('--istioctl-to <path>', 'with --installer istioctl: the istioctl of --to')
    .option('--allow-not-applicable', 'a check that passed and is now not-applicable is a change, not a regression')
    .option('--suite <list>', `comma-separated suites (${Object.keys(SUITES).join(', ')}); default all`)
    .option('--out <dir>', 'bundles go to DIR/from, DIR/upgraded and DIR/to, the diffs to DIR/compare.json; DIR must be absent or empty', 'reports/upgrade-gate')
    .option('--sign-key <pem>', 'sign each stage\'s bundle with this Ed25519 private key; the stages are then compared with its public key')
    .option('--keep', 'keep the cluster')
    .action(async (o: { from: string; to: string; target: string; installer: string; istioctlFrom?: string; istioctlTo?: string; allowNotApplicable?: boolean; suite?: string; out: string; keep?: boolean; signKey?: string }) => {
      if (o.target !== 'kind' && o.target !== 'k3s') throw new ConfigError(`--target ${o.target}: the upgrade gate provisions its own cluster (kind or k3s)`);
      if (o.installer !== 'helm' && o.installer !== 'istioctl') throw new ConfigError(`--installer ${o.installer}: helm or istioctl`);
      selectChecks(o.suite, o.target);
      // With --sign-key the stages are signed and compared by its public key. Without, they are compared on hashes
      // alone, said in each verdict line: they are the bundles this process wrote minutes before, not ones handed in.
      const publicKeyPem = o.signKey ? createPublicKey(createPrivateKey(readKey(o.signKey, '--sign-key'))).export({ type: 'spki', format: 'pem' }).toString() : undefined;
      const trust = publicKeyPem ? { publicKeyPem } : { unsigned: 'the gate\'s own stages, no --sign-key' };
      const outDir = claimOut(o.out); // each stage's run creates its own bundle directory under it
      const runId = crypto.randomUUID();
      const name = `meshproof-gate-${shortRunId(runId)}`;
      // Ctrl-C between the runs (while Istio installs or upgrades) deletes the cluster; inside a run, the run's
      // own handler tears down its namespaces and then the cluster.
      const onSignal = () => {
        process.stderr.write('\nmeshproof: interrupted: deleting the gate\'s cluster…\n');
        const drop = gateCluster ? gateCluster.dispose() : o.target === 'kind' ? deleteKindCluster(name) : Promise.resolve();
        void drop.catch(() => {}).finally(() => process.exit(130));
      };
      let gateCluster: Provisioned | undefined;
      const between = <T>(f: () => Promise<T>) => {
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        return f().finally(() => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        });
      };
      const cluster = await between(() => (o.target === 'kind' ? createKindCluster({ name, istioVersion: o.to, keep: o.keep }) : createK3sCluster({ keep: o.keep })));
      gateCluster = cluster;
      try {
        const base = { runId, target: 'kubeconfig', istioNamespace: 'istio-system', posture: SECURE_POSTURE, overlay: [], suite: o.suite, signKey: o.signKey, istioVersion: o.from, installer: o.installer, maxCertLifetime: '24h', rootHorizonDays: '90', edgeAuthority: {} } as RunOptions;
        const provided = { cluster, deleteOnSignal: true };
        await between(() => installIstio({ version: o.from, installer: o.installer as 'helm' | 'istioctl', kubeconfig: cluster.kubeconfig, istioctl: o.istioctlFrom }));
        // 1. Before: the posture applied under the old control plane, kept for the next stages.
        await run({ ...base, stage: 'apply', keep: true, out: path.join(outDir, 'from') }, ['upgrade-gate', 'from', o.from], provided);
        await between(() => installIstio({ version: o.to, installer: o.installer as 'helm' | 'istioctl', kubeconfig: cluster.kubeconfig, istioctl: o.istioctlTo }, 'upgrade'));
        // 2. The control plane upgraded, the workloads not restarted: old proxies against the new istiod.
        await run({ ...base, stage: 'resume', keep: true, istioVersion: o.to, out: path.join(outDir, 'upgraded') }, ['upgrade-gate', 'upgraded', o.to], provided);
        // 3. The run's workloads restarted onto the new proxies.
        await run({ ...base, stage: 'restart', keep: o.keep, istioVersion: o.to, out: path.join(outDir, 'to') }, ['upgrade-gate', 'to', o.to], provided);
        const upgraded = compareBundles(path.join(outDir, 'from'), path.join(outDir, 'upgraded'), { allowNotApplicable: o.allowNotApplicable, ...trust });
        const restarted = compareBundles(path.join(outDir, 'from'), path.join(outDir, 'to'), { allowNotApplicable: o.allowNotApplicable, ...trust });
        writeFileSync(path.join(outDir, 'compare.json'), `${JSON.stringify({ upgraded, restarted }, null, 2)}\n`);
        process.stdout.write(`\nIstio ${o.from} → ${o.to}, control plane upgraded, old proxies\n${comparisonTable(upgraded)}\n`);
        process.stdout.write(`\nIstio ${o.from} → ${o.to}, workloads restarted\n${comparisonTable(restarted)}\n`);
        process.exitCode = upgraded.regressions + restarted.regressions > 0 ? 1 : 0;
      } finally {
        await cluster.dispose();
      }
    });}
