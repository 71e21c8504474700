// meshproof's command line. Exit codes: 0 all pass (not-applicable allowed), 1 any check failed, 2 usage or
// configuration error, 3 infrastructure error or an inconclusive check. User mistakes get one line, no stack.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { Listr } from 'listr2';
import type { KubeConfig } from '@kubernetes/client-node';
import { describeApiError } from '../cluster/kube/api-errors.js';
import { writePolicyReport } from '../cluster/kube/policy-report.js';
import { leftBehind, sweep } from '../cluster/kube/cleanup.js';
import { KubeTarget } from '../cluster/kube/kube-target.js';
import { shortRunId } from '../cluster/kube/render.js';
import { DEFAULT_ISTIO_VERSION, installIstio } from '../cluster/istio/install.js';
import { createK3sCluster } from '../cluster/providers/k3s.js';
import { createKindCluster, deleteKindCluster, type Provisioned } from '../cluster/providers/kind.js';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { preflight } from '../cluster/kube/preflight.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { ALL_CHECKS, SUITES } from '../suites/index.js';
import type { Check } from '../harness/check.js';
import { compareBundles, comparisonTable } from '../harness/compare.js';
import { CATALOG, claimsFor } from '../harness/controls.js';
import { parseGoDuration } from '../harness/duration.js';
import { ConfigError, InfraError, messageOf } from '../harness/errors.js';
import { AGENT_BUNDLE, SECURE_POSTURE, VERSION } from '../harness/paths.js';
import { loadPosture } from '../harness/posture/load.js';
import { writeBundle } from '../harness/report/bundle.js';
import { verifyBundle } from '../harness/report/manifest.js';
import { githubErrors, markdownSummary } from '../harness/report/ci-summary.js';
import { buildHistory, writeHistory } from '../harness/report/history.js';
import { writeHtml } from '../harness/report/html.js';
import { readBundle } from '../harness/report/rerender.js';
import { pushMetrics, writeMetrics } from '../harness/report/metrics.js';
import { summaryTable } from '../harness/report/summary.js';
import { type RunResult, RunSession } from '../harness/run.js';
import { selfVerify } from '../harness/self-verify.js';
import type { Target } from '../harness/target.js';
import { KUBE_TIMEOUTS, LAB_TIMEOUTS } from '../harness/timeouts.js';
import { prepareOut } from './common.js';
import { sweepCommand } from './sweep.js';

const TARGETS = ['lab', 'kubeconfig', 'kind', 'k3s'] as const;

interface RunOptions {
  require?: string;
  policyReport?: boolean;
  metrics?: string;
  pushgateway?: string;
  summaryMd?: string;
  /** The upgrade gate's stages share one run id and its namespaces. */
  runId?: string;
  stage?: 'apply' | 'resume' | 'restart';
  target: string;
  istioctl?: string;
  istioNamespace: string;
  revision?: string;
  istioVersion: string;
  installer: string;
  kubeconfig?: string;
  context?: string;
  image?: string;
  imageRegistry?: string;
  keep?: boolean;
  maxCertLifetime: string;
  rootHorizonDays: string;
  suite?: string;
  posture: string;
  overlay: string[];
  out?: string;
  signKey?: string;
  verbose?: boolean;
}

function readKey(file: string, flag: string, kind: 'private' | 'public' = 'private'): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${flag} ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`);
  }
  // Refused before anything starts, not after a whole run.
  let type: string | undefined;
  try {
    type = (kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem)).asymmetricKeyType;
  } catch (e) {
    throw new ConfigError(`${flag} ${file}: not a PEM ${kind} key (${messageOf(e).split('\n')[0]})`);
  }
  if (type !== 'ed25519') throw new ConfigError(`${flag} ${file}: an ${type ?? 'unknown'} key; meshproof signs with Ed25519`);
  return pem;
}

/** `--require`: check ids or suite names, each of which must be among the checks this run selects. */
function requiredChecks(list: string | undefined, selected: Check[]): string[] {
  if (!list) return [];
  const ids = list
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .flatMap((x) => {
      if (SUITES[x]) return SUITES[x]!.map((c) => c.id);
      if (ALL_CHECKS.some((c) => c.id === x.toUpperCase())) return [x.toUpperCase()];
      throw new ConfigError(`--require ${x}: no such check or suite (see meshproof list)`);
    });
  const missing = ids.filter((id) => !selected.some((c) => c.id === id));
  if (missing.length > 0) throw new ConfigError(`--require ${missing.join(', ')}: not selected by --suite, so it could never be judged`);
  return [...new Set(ids)];
}

/** The Markdown summary to `--summary-md` and GitHub's step summary, and `::error` lines under GitHub Actions. */
function writeCiSummaries(r: RunResult, file: string | undefined): void {
  const md = markdownSummary(r);
  for (const [target, append] of [
    [file, false],
    [process.env.GITHUB_STEP_SUMMARY, true],
  ] as const) {
    if (!target) continue;
    try {
      if (append) appendFileSync(target, md);
      else writeFileSync(target, md);
    } catch (e) {
      process.stderr.write(`meshproof: cannot write the summary to ${target}: ${messageOf(e)}\n`);
    }
  }
  if (process.env.GITHUB_ACTIONS === 'true') for (const line of githubErrors(r)) process.stdout.write(`${line}\n`);
}

/** The run options a `--config` file may set: the same names as the flags, strictly (a typo is an error). */
const RUN_CONFIG = z.strictObject({
  require: z.union([z.string(), z.array(z.string())]).optional(),
  suite: z.union([z.string(), z.array(z.string())]).optional(),
  posture: z.string().optional(),
  overlay: z.array(z.string()).optional(),
  target: z.string().optional(),
  maxCertLifetime: z.string().optional(),
  rootHorizonDays: z.union([z.string(), z.number()]).optional(),
  summaryMd: z.string().optional(),
  metrics: z.string().optional(),
  pushgateway: z.string().optional(),
});

function withConfig(o: RunOptions, command: Command, file: string): RunOptions {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8')) ?? {};
  } catch (e) {
    throw new ConfigError(`--config ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : messageOf(e).split('\n')[0]}`);
  }
  const r = RUN_CONFIG.safeParse(parsed);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const where = i.code === 'unrecognized_keys' ? `${i.keys[0]}: not a run option` : `${i.path.join('.')}: ${i.message}`;
    throw new ConfigError(`--config ${file}: ${where}`);
  }
  const out: Record<string, unknown> = { ...o };
  for (const [k, v] of Object.entries(r.data)) {
    if (v === undefined || command.getOptionValueSource(k) === 'cli') continue;
    out[k] = Array.isArray(v) && k !== 'overlay' ? v.join(',') : typeof v === 'number' ? String(v) : v;
  }
  return out as unknown as RunOptions;
}

function selectChecks(suiteList: string | undefined): Check[] {
  const names = suiteList ? suiteList.split(',').map((s) => s.trim()).filter(Boolean) : Object.keys(SUITES);
  const unknown = names.filter((n) => !(n in SUITES));
  if (unknown.length > 0) throw new ConfigError(`unknown suite ${unknown.join(', ')} (known: ${Object.keys(SUITES).join(', ')})`);
  return names.flatMap((n) => SUITES[n]!);
}

function makeTarget(name: string, verbose: boolean): Target {
  if (!(TARGETS as readonly string[]).includes(name)) {
    throw new ConfigError(`unknown target ${name} (available: ${TARGETS.join(', ')})`);
  }
  if (name !== 'lab') throw new ConfigError(`target ${name} is not available for this command`);
  return new LabTarget({ onProcessLog: verbose ? (pod, line) => process.stderr.write(`[${pod}] ${line}\n`) : undefined });
}

async function run(o: RunOptions, argv: string[], provided?: { cluster: Provisioned; deleteOnSignal?: boolean }): Promise<number> {
  // Everything a user can get wrong is checked before anything starts.
  const checks = selectChecks(o.suite);
  const required = requiredChecks(o.require, checks);
  const maxCertLifetimeMs = parseGoDuration(o.maxCertLifetime);
  if (maxCertLifetimeMs === undefined) throw new ConfigError(`--max-cert-lifetime ${o.maxCertLifetime}: not a duration (e.g. 24h, 90m)`);
  const rootHorizonDays = Number(o.rootHorizonDays);
  if (!Number.isInteger(rootHorizonDays) || rootHorizonDays < 0) throw new ConfigError(`--root-horizon-days ${o.rootHorizonDays}: not a whole number of days`);
  const posture = loadPosture(o.posture, o.overlay);
  const runId = o.runId ?? crypto.randomUUID();
  const signKeyPem = o.signKey ? readKey(o.signKey, '--sign-key') : undefined;
  // `{run}` in --out stands for the run id: one directory per night under a fixed root (deploy/cronjob.yaml).
  const outDir = prepareOut((o.out ?? path.join('reports', '{run}')).replaceAll('{run}', runId));
  const calls = new Map<string, number>();
  let current = 'apply';
  let timeouts = LAB_TIMEOUTS;
  if (!(TARGETS as readonly string[]).includes(o.target)) throw new ConfigError(`unknown target ${o.target} (available: ${TARGETS.join(', ')})`);
  if (o.installer !== 'helm' && o.installer !== 'istioctl') throw new ConfigError(`--installer ${o.installer}: helm or istioctl`);
  let cluster: Provisioned | undefined = provided?.cluster;
  if (o.policyReport && o.target === 'lab') throw new ConfigError('--policy-report writes into a cluster: use it with --target kubeconfig, kind or k3s');
  /** Where the PolicyReport goes (--policy-report), once preflight has checked its CRD and permissions. */
  let reportTo: KubeConfig | undefined;
  let target: Target | undefined;
  // From here on something may exist to tear down: Ctrl-C removes it whatever stage the run is in.
  const kindName = `meshproof-${shortRunId(runId)}`;
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nmeshproof: ${sig}: tearing down the ${o.target} target…\n`);
    const dropCluster = async () => {
      if (provided && !provided.deleteOnSignal) return;
      if (provided) return provided.cluster.dispose(); // the gate's cluster: its own --keep decides
      if (o.keep) return;
      if (cluster) await cluster.dispose();
      else if (o.target === 'kind') await deleteKindCluster(kindName).catch(() => {}); // interrupted mid-creation
    };
    void Promise.resolve(target?.dispose())
      .catch(() => {})
      .then(dropCluster)
      .finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stopListening = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  try {
    if (!cluster && (o.target === 'kind' || o.target === 'k3s')) {
      // Provision, then install Istio: the root-namespace fixtures are applied because this cluster is ours.
      process.stderr.write(`meshproof: provisioning a ${o.target} cluster and installing Istio ${o.istioVersion} with ${o.installer}…\n`);
      cluster = o.target === 'kind' ? await createKindCluster({ name: kindName, istioVersion: o.istioVersion, keep: o.keep }) : await createK3sCluster({ keep: o.keep });
      try {
        await installIstio({ version: o.istioVersion, installer: o.installer as 'helm' | 'istioctl', kubeconfig: cluster.kubeconfig, istioctl: o.istioctl });
      } catch (e) {
        await cluster.dispose().catch(() => {});
        throw e;
      }
    }
    if (o.target !== 'lab') {
      // Preflight first: nothing is created before it passes.
      const { kc } = loadKubeConfig(cluster ? { kubeconfig: cluster.kubeconfig } : o);
      const pre = await preflight(kc, { istioNamespace: o.istioNamespace, revision: o.revision, policyReport: o.policyReport });
      reportTo = o.policyReport ? kc : undefined;
      timeouts = process.env.MESHPROOF_TIMEOUTS === 'lab' ? LAB_TIMEOUTS : KUBE_TIMEOUTS; // 'lab': the test façade only
      target = new KubeTarget({
        kc,
        runId,
        provisioned: cluster !== undefined,
        trustDomain: pre.trustDomain,
        agentBundle: readFileSync(AGENT_BUNDLE, 'utf8'),
        adminToken: crypto.randomUUID(),
        image: o.image,
        imageRegistry: o.imageRegistry,
        keep: o.keep,
        deleteTimeoutMs: timeouts.namespaceDeleteMs,
        stage: o.stage,
        istio: { namespace: o.istioNamespace, caAddress: pre.caAddress, caServername: pre.caServername, meshConfigName: pre.meshConfigName, rootNamespace: pre.rootNamespace, revision: o.revision },
        versions: { kubernetes: pre.kubernetes, istiod: pre.istiod.image, 'istiod ready': pre.istiod.ready, 'istiod revision': `${pre.istiod.name} (${pre.istiod.revision})`, 'trust domain': pre.trustDomain },
        onCall: () => calls.set(current, (calls.get(current) ?? 0) + 1),
      });
    } else {
      target = makeTarget(o.target, Boolean(o.verbose));
    }
    target.validate(posture);
  } catch (e) {
    stopListening();
    if (!provided) await cluster?.dispose().catch(() => {});
    throw e;
  }
  const theTarget = target;

  const session = new RunSession({
    target: theTarget,
    posture,
    timeouts,
    command: ['meshproof', ...argv],
    runId,
    required,
    settings: { maxCertLifetimeMs, rootHorizonDays },
  });
  let applyError: unknown;
  let result: RunResult;
  /** What failed after the checks (teardown, metrics): reported, and exit 3 unless a check failed. */
  const afterErrors: string[] = [];
  try {
    const tasks = new Listr(
      [
        {
          title: `Applying ${posture.origin.map((p) => path.relative(process.cwd(), p) || p).join(' + ')} to the ${o.target}`,
          task: async (_ctx, task) => {
            try {
              await session.apply();
            } catch (e) {
              applyError = e;
              throw e;
            }
            task.title = `Applied ${posture.objects.length} objects to the ${o.target}`;
          },
          exitOnError: true,
        },
        ...checks.map((c) => ({
          title: `${c.id} ${c.title}`,
          // Decided when the task starts: nothing to run after a failed apply or an interrupt.
          skip: () => (applyError ? `${c.id} not run: the posture was not applied` : interrupted ? `${c.id} not run: interrupted` : false),
          task: async (_ctx: unknown, task: { title: string }) => {
            current = c.id;
            const r = await session.check(c);
            if (r.verdict === 'not-applicable') task.title = `${c.id} not applicable — ${r.reason}`;
            else if (r.verdict !== 'pass') throw new Error(`${c.id} ${r.verdict.toUpperCase()}: ${r.reason}`);
            else task.title = `${c.id} pass — ${c.title}`;
          },
        })),
      ],
      {
        concurrent: false,
        exitOnError: false,
        registerSignalListeners: false,
        collectErrors: false,
        rendererOptions: { collapseErrors: false, collapseSkips: false },
      },
    );
    await tasks.run().catch((e: unknown) => {
      applyError ??= e;
    });
    // Interrupted: the signal handler tears down and exits; write no reports of a partial run.
    if (interrupted) await new Promise(() => {});
    if (applyError) throw applyError;
    result = await session.finish();
  } finally {
    // Each step of the teardown runs whatever the one before did: a provisioned cluster is deleted even when the
    // target's teardown threw.
    if (!interrupted) {
      await theTarget.dispose().catch((e: unknown) => afterErrors.push(`teardown: ${messageOf(e)}`));
      if (!provided) await cluster?.dispose().catch((e: unknown) => afterErrors.push(`teardown: deleting the ${o.target} cluster: ${messageOf(e)}`));
    }
    stopListening();
  }
  const r = result;
  // The checks finished: their bundle is written even when teardown failed.
  const { files } = writeBundle({ outDir, run: r, posture, allChecks: ALL_CHECKS, signKeyPem });
  process.stdout.write(`\n${summaryTable(r, path.relative(process.cwd(), outDir) || '.')}\n`);
  if (o.verbose && calls.size > 0) {
    process.stdout.write(`API calls and execs: ${[...calls].map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  }
  if (o.verbose) process.stdout.write(`bundle: ${files.length} files hashed in ${path.join(outDir, 'manifest.sha256')}${signKeyPem ? ', signed' : ''}\n`);
  for (const u of r.requirements.unmet) process.stdout.write(`required check ${u.id} was not applicable, which fails the run: ${u.reason}\n`);
  writeCiSummaries(r, o.summaryMd);
  if (o.metrics) {
    try {
      writeMetrics(o.metrics, r);
    } catch (e) {
      afterErrors.push(`writing --metrics ${o.metrics}: ${messageOf(e)}`);
    }
  }
  if (o.pushgateway) await pushMetrics(o.pushgateway, r).catch((e: unknown) => afterErrors.push(`pushing to ${o.pushgateway}: ${messageOf(e)}`));
  if (reportTo) await writePolicyReport(reportTo, r).catch((e: unknown) => afterErrors.push(messageOf(e)));
  if (afterErrors.length > 0) {
    process.stderr.write(`meshproof: ${afterErrors.join('; ')}\n`);
    return r.exitCode === 0 ? 3 : r.exitCode;
  }
  return r.exitCode;
}

export function program(): Command {
  const cmd = new Command('meshproof')
    .description('Proves, by attacking it, that an Istio mesh refuses what it must — and writes evidence an auditor can use.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  cmd
    .command('run')
    .description('attack a target with the conformance checks and write the evidence bundle')
    .addOption(
      new Option('--target <name>', 'lab (the built-in test bed; not a mesh), kubeconfig (an existing cluster), kind or k3s (provisioned with Istio, torn down after)').default('lab'),
    )
    .option('--kubeconfig <file>', 'with --target kubeconfig: kubeconfig file (default: KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--context <name>', 'with --target kubeconfig: kubeconfig context')
    .option('--istio-namespace <ns>', 'with --target kubeconfig: where istiod runs', 'istio-system')
    .option('--revision <rev>', 'with --target kubeconfig: the control-plane revision to test (istiod-<rev>; run namespaces get istio.io/rev=<rev>)')
    .option('--istio-version <v>', 'with --target kind or k3s: Istio to install (a Helm chart version or range)', DEFAULT_ISTIO_VERSION)
    .option('--installer <helm|istioctl>', 'with --target kind or k3s: how to install Istio', 'helm')
    .option('--istioctl <path>', 'with --installer istioctl: the istioctl of --istio-version (default: istioctl on PATH)')
    .option('--image <image>', 'Node image for probe and echo pods', 'node:22-alpine')
    .option('--image-registry <prefix>', 'pull images through this registry mirror (air-gapped clusters)')
    .option('--keep', 'keep the run\'s namespaces for debugging (delete later with meshproof cleanup --run <id>)')
    .option('--suite <list>', `comma-separated suites (${Object.keys(SUITES).join(', ')}); default all`)
    .addOption(new Option('--posture <dir|file>', 'fixtures to apply').default(SECURE_POSTURE, 'the bundled fixtures/secure/'))
    .option('--overlay <file>', 'fixtures replacing posture objects of the same kind/namespace/name (repeatable)', (v: string, a: string[]) => [...a, v], [] as string[])
    .option('--out <dir>', 'write this run\'s reports into DIR; {run} stands for the run id (default reports/{run}/)')
    .option('--max-cert-lifetime <duration>', 'CERT-001: longest acceptable workload certificate lifetime', '24h')
    .option('--root-horizon-days <days>', 'CERT-005: the mesh root must stay valid at least this long', '90')
    .option('--sign-key <pem>', 'sign manifest.sha256 with this Ed25519 private key (the key is never written)')
    .option('--policy-report', 'with a cluster target: write the verdicts as a PolicyReport (wgpolicyk8s.io/v1alpha2) named meshproof in the meshproof namespace')
    .option('--metrics <file>', 'write the verdicts as Prometheus metrics (for node_exporter\'s textfile collector)')
    .option('--pushgateway <url>', 'push the verdicts as Prometheus metrics to a Pushgateway (job meshproof)')
    .option('--summary-md <file>', 'write a Markdown summary (verdicts, what broke) for CI job pages; under GitHub Actions it also goes to the step summary')
    .option('--require <list>', 'check ids or suites that must not be not-applicable: one that is fails the run (exit 1)')
    .option('-v, --verbose', 'print lab process output and report paths')
    .addHelpText(
      'after',
      '\nExit codes: 0 all checks pass, 1 a check failed, 2 usage or configuration error, 3 infrastructure error or inconclusive.\n' +
        '\nExamples:\n  meshproof run --target lab\n  meshproof run --target lab --overlay fixtures/weakened/permissive-mtls.yaml --out out/weak',
    )
    .option('--config <file>', 'run options from a YAML file (require, suite, posture, overlay, ...); flags given on the command line win')
    .action(async (o: RunOptions & { config?: string }, command: Command) => {
      process.exitCode = await run(o.config ? withConfig(o, command, o.config) : o, process.argv.slice(2));
    });
  sweepCommand(cmd);
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
    .option('--out <dir>', 'bundles go to DIR/from, DIR/upgraded and DIR/to, the diffs to DIR/compare.json', 'reports/upgrade-gate')
    .option('--keep', 'keep the cluster')
    .action(async (o: { from: string; to: string; target: string; installer: string; istioctlFrom?: string; istioctlTo?: string; allowNotApplicable?: boolean; suite?: string; out: string; keep?: boolean }) => {
      if (o.target !== 'kind' && o.target !== 'k3s') throw new ConfigError(`--target ${o.target}: the upgrade gate provisions its own cluster (kind or k3s)`);
      if (o.installer !== 'helm' && o.installer !== 'istioctl') throw new ConfigError(`--installer ${o.installer}: helm or istioctl`);
      selectChecks(o.suite);
      const outDir = prepareOut(o.out);
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
        const base = { runId, target: 'kubeconfig', istioNamespace: 'istio-system', posture: SECURE_POSTURE, overlay: [], suite: o.suite, istioVersion: o.from, installer: o.installer, maxCertLifetime: '24h', rootHorizonDays: '90' } as RunOptions;
        const provided = { cluster, deleteOnSignal: true };
        await between(() => installIstio({ version: o.from, installer: o.installer as 'helm' | 'istioctl', kubeconfig: cluster.kubeconfig, istioctl: o.istioctlFrom }));
        // 1. Before: the posture applied under the old control plane, kept for the next stages.
        await run({ ...base, stage: 'apply', keep: true, out: path.join(outDir, 'from') }, ['upgrade-gate', 'from', o.from], provided);
        await between(() => installIstio({ version: o.to, installer: o.installer as 'helm' | 'istioctl', kubeconfig: cluster.kubeconfig, istioctl: o.istioctlTo }, 'upgrade'));
        // 2. The control plane upgraded, the workloads not restarted: old proxies against the new istiod.
        await run({ ...base, stage: 'resume', keep: true, istioVersion: o.to, out: path.join(outDir, 'upgraded') }, ['upgrade-gate', 'upgraded', o.to], provided);
        // 3. The run's workloads restarted onto the new proxies.
        await run({ ...base, stage: 'restart', keep: o.keep, istioVersion: o.to, out: path.join(outDir, 'to') }, ['upgrade-gate', 'to', o.to], provided);
        const upgraded = compareBundles(path.join(outDir, 'from'), path.join(outDir, 'upgraded'), { allowNotApplicable: o.allowNotApplicable });
        const restarted = compareBundles(path.join(outDir, 'from'), path.join(outDir, 'to'), { allowNotApplicable: o.allowNotApplicable });
        writeFileSync(path.join(outDir, 'compare.json'), `${JSON.stringify({ upgraded, restarted }, null, 2)}\n`);
        process.stdout.write(`\nIstio ${o.from} → ${o.to}, control plane upgraded, old proxies\n${comparisonTable(upgraded)}\n`);
        process.stdout.write(`\nIstio ${o.from} → ${o.to}, workloads restarted\n${comparisonTable(restarted)}\n`);
        process.exitCode = upgraded.regressions + restarted.regressions > 0 ? 1 : 0;
      } finally {
        await cluster.dispose();
      }
    });
  cmd
    .command('self-verify')
    .description('prove every check can fail: the secure posture passes, each weakened posture fails the checks that name it')
    .addOption(new Option('--target <name>', 'where to run: lab').default('lab'))
    .option('--suite <list>', `comma-separated suites (${Object.keys(SUITES).join(', ')}); default all`)
    .option('--out <file>', 'where to write the matrix as JSON', 'self-verification.json')
    .option('--concurrency <n>', 'postures run at once', '2')
    .addHelpText('after', '\nExit codes: 0 every check failed under its weakness and the secure posture passed, 1 otherwise, 2 usage error.')
    .action(async (o: { target: string; suite?: string; out: string; concurrency: string }) => {
      const checks = selectChecks(o.suite);
      const concurrency = Number(o.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 8) throw new ConfigError(`--concurrency ${o.concurrency}: a whole number from 1 to 8`);
      makeTarget(o.target, false);
      const labs = new Set<Target>();
      const onSignal = () => {
        process.stderr.write('\nmeshproof: interrupted: tearing down…\n');
        void Promise.allSettled([...labs].map((l) => l.dispose())).finally(() => process.exit(130));
      };
      process.once('SIGINT', onSignal);
      const rows = await selfVerify({
        checks,
        securePosture: SECURE_POSTURE,
        weakenedDir: path.join(path.dirname(SECURE_POSTURE), 'weakened'),
        timeouts: LAB_TIMEOUTS,
        concurrency,
        makeTarget: () => {
          const t = makeTarget(o.target, false);
          labs.add(t);
          return t;
        },
        onStart: (p) => process.stderr.write(`running ${p}…\n`),
        onRow: (r) => process.stdout.write(`${r.problems.length === 0 ? 'ok  ' : 'FAIL'} ${r.posture.padEnd(34)} ${r.targets.length ? `fails ${r.targets.join(', ')}` : 'all pass'}${r.problems.length ? ` — ${r.problems.join('; ')}` : ''}\n`),
      });
      process.off('SIGINT', onSignal);
      writeFileSync(o.out, `${JSON.stringify({ checks: checks.map((c) => c.id), rows }, null, 2)}\n`);
      const bad = rows.filter((r) => r.problems.length > 0).length;
      process.stdout.write(`${rows.length - bad} of ${rows.length} postures as expected; matrix in ${o.out}\n`);
      process.exitCode = bad > 0 ? 1 : 0;
    });
  cmd
    .command('verify')
    .description('re-check every hash of a bundle and its signature; exit 1 on any mismatch')
    .argument('<dir>', 'a bundle written by meshproof run')
    .option('--public-key <pem>', 'the Ed25519 public key the bundle must be signed with')
    .action((dir: string, o: { publicKey?: string }) => {
      const report = verifyBundle(dir, o.publicKey ? readKey(o.publicKey, '--public-key', 'public') : undefined);
      for (const p of report.problems) process.stdout.write(`MISMATCH ${p}\n`);
      process.stdout.write(
        `${report.ok ? 'OK' : 'FAILED'}: ${report.checked} files checked, signature ${report.signature}${report.signer && report.signature !== 'absent' ? ` (${report.signer})` : ''}\n`,
      );
      process.exitCode = report.ok ? 0 : 1;
    });
  cmd
    .command('report')
    .description('render report.html and the Markdown summary again from a verified bundle (the bundle itself is not touched)')
    .argument('<bundle>', 'a bundle directory')
    .option('--out <dir>', 'where the pages go (default: <bundle>-report)')
    .option('--public-key <pem>', 'also require the bundle\'s signature by this Ed25519 key')
    .action((bundle: string, o: { out?: string; publicKey?: string }) => {
      const { run: r, excluded } = readBundle(bundle, (id) => ALL_CHECKS.find((c) => c.id === id)?.categories ?? [], o.publicKey ? readKey(o.publicKey, '--public-key', 'public') : undefined);
      const out = prepareOut(o.out ?? `${bundle.replace(/\/+$/, '')}-report`);
      writeHtml(out, r, excluded);
      writeFileSync(path.join(out, 'summary.md'), markdownSummary(r));
      process.stdout.write(`${path.join(out, 'report.html')} and ${path.join(out, 'summary.md')} from run ${r.runId} (verified)\n`);
    });
  cmd
    .command('history')
    .description('the record over an audit period: each check\'s verdict every night from many bundles (each verified first), gaps and first regressions')
    .argument('<bundles...>', 'bundle directories (nightly runs)')
    .option('--out <dir>', 'where history.json and history.html go', 'history')
    .option('--public-key <pem>', 'also require each bundle\'s signature by this Ed25519 key')
    .addHelpText('after', '\nExit codes: 0 every bundle verified and every check held every night, 1 otherwise.')
    .action((dirs: string[], o: { out: string; publicKey?: string }) => {
      const h = buildHistory(dirs, o.publicKey ? readKey(o.publicKey, '--public-key', 'public') : undefined);
      writeHistory(prepareOut(o.out), h);
      process.stdout.write(`${h.runs.length} verified run(s), ${h.nights.length} night(s) from ${h.from || '-'} to ${h.to || '-'}, ${h.gaps.length} without a run\n`);
      for (const c of h.checks.filter((x) => !x.heldEveryNight)) process.stdout.write(`  ${c.id}: ${c.firstRegression ? `first regressed ${c.firstRegression}` : 'not held every night'}\n`);
      for (const r of h.rejected) process.stdout.write(`  left out ${r.dir}: ${r.problems.join('; ')}\n`);
      process.exitCode = h.rejected.length > 0 || h.gaps.length > 0 || h.checks.some((c) => !c.heldEveryNight) ? 1 : 0;
    });
  cmd
    .command('compare')
    .description('the upgrade gate: per-check verdict diff of two bundles; exit 1 when any check regressed')
    .argument('<baseline>', 'bundle of the run before (e.g. before an Istio upgrade)')
    .argument('<candidate>', 'bundle of the run after')
    .option('--out <file>', 'where to write compare.json', 'compare.json')
    .option('--allow-not-applicable', 'a check that passed and is now not-applicable is a change, not a regression')
    .action((baseline: string, candidate: string, o: { out: string; allowNotApplicable?: boolean }) => {
      const c = compareBundles(baseline, candidate, { allowNotApplicable: o.allowNotApplicable });
      try {
        writeFileSync(o.out, `${JSON.stringify(c, null, 2)}\n`);
      } catch (e) {
        throw new ConfigError(`--out ${o.out}: cannot write (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`);
      }
      process.stdout.write(`${comparisonTable(c)}\n`);
      process.exitCode = c.regressions > 0 ? 1 : 0;
    });
  cmd
    .command('preflight')
    .description('check a cluster is ready for meshproof: API, permissions, Istio CRDs, istiod, injection webhook')
    .option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('--istio-namespace <ns>', 'where istiod runs', 'istio-system')
    .option('--revision <rev>', 'the control-plane revision to check (istiod-<rev>, ConfigMap istio-<rev>)')
    .addHelpText('after', '\nExit codes: 0 ready, 2 configuration to fix (permissions, CRDs, webhook), 3 cluster unreachable or unhealthy.')
    .action(async (o: { kubeconfig?: string; context?: string; istioNamespace: string; revision?: string }) => {
      const { kc, source } = loadKubeConfig(o);
      const r = await preflight(kc, { istioNamespace: o.istioNamespace, revision: o.revision });
      process.stdout.write(
        `ready: ${r.server} (${source}), Kubernetes ${r.kubernetes}, trust domain ${r.trustDomain}, istiod ${r.istiod.image} ${r.istiod.ready} ready, webhooks ${r.webhooks.join(', ')}, ${r.permissions} permissions granted\n`,
      );
    });
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
    });
  cmd
    .command('list')
    .description('list the checks, their suites and the weakened postures that must make them fail')
    .action(() => {
      for (const [suite, checks] of Object.entries(SUITES)) {
        process.stdout.write(`${suite}\n`);
        for (const c of checks) process.stdout.write(`  ${c.id}  ${c.title}\n          fails under: ${c.weakenedBy.join(', ')}\n`);
      }
    });
  cmd
    .command('controls')
    .description('print the control catalog: the ids checks may claim, with caveats')
    .action(() => {
      for (const c of CATALOG) process.stdout.write(`${c.id.padEnd(28)} ${c.title}${c.caveat ? ` — ${c.caveat}` : ''}\n`);
      process.stdout.write('\nClaims per check:\n');
      for (const check of Object.values(SUITES).flat()) {
        const claims = claimsFor(check.categories).map((x) => (x.relation === 'supports' ? `${x.id} (supports)` : x.id));
        process.stdout.write(`  ${check.id}: ${claims.join(', ')}\n`);
      }
    });
  return cmd;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof ConfigError || e instanceof InfraError) {
      process.stderr.write(`meshproof: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`meshproof: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 3;
  }
}

// `meshproof list | head`: a closed pipe ends the output quietly, as with any Unix tool.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
});

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
