// `meshproof self-verify`: proves every check can fail. The secure posture passes; every weakened overlay makes
// the checks that name it fail. On the lab, and on a user's cluster (kubeconfig) or a provisioned one (kind,
// k3s), each posture in fresh run namespaces of its own.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { DEFAULT_ISTIO_VERSION, installIstio } from '../cluster/istio/install.js';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { preflight } from '../cluster/kube/preflight.js';
import { shortRunId } from '../cluster/kube/render.js';
import { createK3sCluster } from '../cluster/providers/k3s.js';
import { createKindCluster, type Provisioned } from '../cluster/providers/kind.js';
import { ConfigError } from '../harness/errors.js';
import { SECURE_POSTURE } from '../harness/paths.js';
import { parseManifests } from '../harness/posture/load.js';
import { ROOT_NAMESPACE } from '../harness/posture/view.js';
import { selfVerify } from '../harness/self-verify.js';
import type { Target } from '../harness/target.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { SUITES } from '../suites/index.js';
import { selectChecks } from './run.js';
import { checkTarget, clusterOptions, kubeTarget, kubeTimeouts, labTarget } from './targets.js';

/**
 * Why an overlay cannot be verified on a cluster meshproof did not provision: meshproof never writes the root
 * namespace there (its mesh-wide posture is the user's), and a LabFault is a lab-only emulation of a broken proxy.
 */
export function clusterNotVerifiable(file: string, provisioned: boolean): string | undefined {
  const objects = parseManifests(readFileSync(file, 'utf8'), file).map((o) => o.manifest);
  if (objects.some((m) => m.kind === 'LabFault')) return 'a lab fault (an emulated broken proxy): no real Istio setting produces it';
  if (!provisioned && objects.some((m) => m.metadata.namespace === ROOT_NAMESPACE)) {
    return `it changes the root namespace (${ROOT_NAMESPACE}: mesh-wide policy), which meshproof never writes on a cluster it did not provision`;
  }
  return undefined;
}

interface SelfVerifyFlags {
  target: string;
  suite?: string;
  out: string;
  concurrency: string;
  kubeconfig?: string;
  context?: string;
  istioNamespace: string;
  revision?: string;
  istioVersion: string;
  installer: string;
  image?: string;
  imageRegistry?: string;
}

export function selfVerifyCommand(cmd: Command): void {
  clusterOptions(
    cmd
      .command('self-verify')
      .description('prove every check can fail: the secure posture passes, each weakened posture fails the checks that name it')
      .addOption(new Option('--target <name>', 'lab, kubeconfig (your cluster: overlays in the run\'s own namespaces only), kind or k3s (provisioned, torn down after)').default('lab')),
  )
    .option('--istio-version <v>', 'with --target kind or k3s: Istio to install', DEFAULT_ISTIO_VERSION)
    .option('--installer <helm|istioctl>', 'with --target kind or k3s: how to install Istio', 'helm')
    .option('--suite <list>', `comma-separated suites (${Object.keys(SUITES).join(', ')}); default all`)
    .option('--out <file>', 'where to write the matrix as JSON', 'self-verification.json')
    .option('--concurrency <n>', 'postures run at once (a cluster target runs one at a time)', '2')
    .addHelpText(
      'after',
      '\nOn a cluster, each posture is applied in fresh run namespaces and torn down; overlays that write the root namespace (unless meshproof provisioned the cluster) or are lab faults are listed as not verifiable there, with the reason.\n' +
        '\nExit codes: 0 every check failed under its weakness and the secure posture passed, 1 otherwise, 2 usage error, 3 infrastructure error.',
    )
    .action(async (o: SelfVerifyFlags) => {
      const checks = selectChecks(o.suite, o.target);
      checkTarget(o.target);
      const concurrency = Number(o.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 8) throw new ConfigError(`--concurrency ${o.concurrency}: a whole number from 1 to 8`);
      if (o.installer !== 'helm' && o.installer !== 'istioctl') throw new ConfigError(`--installer ${o.installer}: helm or istioctl`);
      const live = new Set<Target>();
      let cluster: Provisioned | undefined;
      const onSignal = () => {
        process.stderr.write('\nmeshproof: interrupted: tearing down…\n');
        void Promise.allSettled([...live].map((l) => l.dispose()))
          .then(() => cluster?.dispose())
          .finally(() => process.exit(130));
      };
      process.once('SIGINT', onSignal);
      try {
        let makeTarget: () => Target = () => labTarget(false);
        let timeouts = LAB_TIMEOUTS;
        let notVerifiable: ((f: string) => string | undefined) | undefined;
        let parallel = concurrency;
        if (o.target !== 'lab') {
          if (o.target === 'kind' || o.target === 'k3s') {
            const name = `meshproof-verify-${shortRunId(crypto.randomUUID())}`;
            process.stderr.write(`meshproof: provisioning a ${o.target} cluster and installing Istio ${o.istioVersion}…\n`);
            cluster = o.target === 'kind' ? await createKindCluster({ name, istioVersion: o.istioVersion }) : await createK3sCluster({});
            await installIstio({ version: o.istioVersion, installer: o.installer as 'helm' | 'istioctl', kubeconfig: cluster.kubeconfig });
          }
          const { kc } = loadKubeConfig(cluster ? { kubeconfig: cluster.kubeconfig } : o);
          const pre = await preflight(kc, { istioNamespace: o.istioNamespace, revision: o.revision });
          const provisioned = cluster !== undefined;
          timeouts = kubeTimeouts();
          makeTarget = () => kubeTarget(kc, pre, { ...o, runId: crypto.randomUUID(), provisioned });
          notVerifiable = (f) => clusterNotVerifiable(f, provisioned);
          parallel = 1; // one posture's namespaces at a time on a shared cluster
        }
        const rows = await selfVerify({
          checks,
          securePosture: SECURE_POSTURE,
          weakenedDir: path.join(path.dirname(SECURE_POSTURE), 'weakened'),
          timeouts,
          concurrency: parallel,
          notVerifiable,
          makeTarget: () => {
            const t = makeTarget();
            live.add(t);
            return t;
          },
          onStart: (p) => process.stderr.write(`running ${p}…\n`),
          onRow: (r) =>
            process.stdout.write(
              r.notVerifiable
                ? `n/a  ${r.posture.padEnd(34)} not verifiable on this target: ${r.notVerifiable}\n`
                : `${r.problems.length === 0 ? 'ok  ' : 'FAIL'} ${r.posture.padEnd(34)} ${r.targets.length ? `fails ${r.targets.join(', ')}` : 'all pass'}${r.problems.length ? ` — ${r.problems.join('; ')}` : ''}\n`,
            ),
        });
        writeFileSync(o.out, `${JSON.stringify({ target: o.target, checks: checks.map((c) => c.id), rows }, null, 2)}\n`);
        const bad = rows.filter((r) => r.problems.length > 0).length;
        const skipped = rows.filter((r) => r.notVerifiable).length;
        const unproven = checks.filter((c) => c.weakenedBy.every((w) => rows.find((r) => r.posture === w)?.notVerifiable));
        process.stdout.write(
          `${rows.length - bad - skipped} of ${rows.length} postures as expected${skipped ? `, ${skipped} not verifiable here` : ''}; matrix in ${o.out}\n` +
            (unproven.length ? `checks whose every weakness is unverifiable here (proven on the lab and provisioned clusters only): ${unproven.map((c) => c.id).join(', ')}\n` : ''),
        );
        process.exitCode = bad > 0 ? 1 : 0;
      } finally {
        process.off('SIGINT', onSignal);
        await cluster?.dispose();
      }
    });
}
