// `meshproof run`: the conformance checks against a target, and the evidence bundle.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { z } from 'zod';
import { Listr } from 'listr2';
import type { KubeConfig } from '@kubernetes/client-node';
import { confineWrites, shortRunId } from '../cluster/kube/render.js';
import { DEFAULT_ISTIO_VERSION, installIstio } from '../cluster/istio/install.js';
import { createK3sCluster } from '../cluster/providers/k3s.js';
import { createKindCluster, deleteKindCluster, type Provisioned } from '../cluster/providers/kind.js';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { edgeServicePorts, preflight } from '../cluster/kube/preflight.js';
import { ALL_CHECKS, SUITES } from '../suites/index.js';
import { type Check, DEFAULT_SETTINGS } from '../harness/check.js';
import { parseGoDuration } from '../harness/duration.js';
import { edgeOutsidePosture, parseEdge, requireEdgeService } from './edge.js';
import type { EdgeAuthority } from '../harness/pki.js';
import { ConfigError, messageOf } from '../harness/errors.js';
import { SECURE_POSTURE } from '../harness/paths.js';
import { loadPosture } from '../harness/posture/load.js';
import { writeBundle } from '../harness/report/bundle.js';
import { summaryTable } from '../harness/report/summary.js';
import type { RunResult } from '../harness/result.js';
import { RunSession } from '../harness/run.js';
import type { Target } from '../harness/target.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { claimOut, createOut } from './common.js';
import { withConfig, writeOutputs } from './outputs.js';
import { outputOption, parseOutput, printJson, quietOption, runDocument, verdictLine } from './output.js';
import { checkTarget, clusterOptions, kubeTarget, kubeTimeouts, labTarget, TARGETS } from './targets.js';

export interface RunOptions {
  require?: string;
  allowControlPlaneOutage?: boolean;
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
  edgeCertHorizonDays?: string;
  maxConsecutive5xx?: string;
  maxPool?: string;
  edge?: string;
  edgeHost?: string;
  edgeHttpPort?: string;
  edgeCa?: string;
  edgeUrl?: string;
  /** The upgrade gate's stages share one run's edge CA. */
  edgeAuthority?: { authority?: EdgeAuthority };
  suite?: string;
  posture: string;
  overlay: string[];
  out?: string;
  /** Empty a non-empty --out first (one run, one bundle). */
  force?: boolean;
  signKey?: string;
  verbose?: boolean;
  /** `--check`: these check ids only (instead of --suite). */
  check?: string;
  /** `-o json`: one JSON document on stdout; `text` (default): the table. */
  output?: string;
  /** `-q`: no progress display, only the final one-line verdict. */
  quiet?: boolean;
}

export function readKey(file: string, flag: string, kind: 'private' | 'public' = 'private'): string {
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
  if (missing.length > 0) throw new ConfigError(`--require ${missing.join(', ')}: not selected by --suite or --check, so it could never be judged`);
  return [...new Set(ids)];
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
  edgeCertHorizonDays: z.union([z.string(), z.number()]).optional(),
  maxConsecutive5xx: z.union([z.string(), z.number()]).optional(),
  maxPool: z.union([z.string(), z.number()]).optional(),
  edge: z.string().optional(),
  edgeHost: z.string().optional(),
  edgeHttpPort: z.string().optional(),
  edgeCa: z.string().optional(),
  edgeUrl: z.string().optional(),
  summaryMd: z.string().optional(),
  metrics: z.string().optional(),
  pushgateway: z.string().optional(),
});

/**
 * Suites run when none is named: all of them on the lab and on clusters meshproof provisions (kind, k3s); on an
 * existing cluster all but `chaos`, which takes the whole mesh's control plane down.
 */
export function defaultSuites(target: string): string[] {
  return Object.keys(SUITES).filter((s) => target !== 'kubeconfig' || s !== 'chaos');
}

/**
 * The target whose default suites apply: a cluster handed in by the upgrade gate is one meshproof provisioned
 * (kind, k3s), reached through its kubeconfig, so the chaos suite runs there as on `--target kind` (audit K-M10).
 */
export function suitesTarget(target: string, provided: boolean): string {
  return provided && target === 'kubeconfig' ? 'provisioned' : target;
}

export function selectChecks(suiteList: string | undefined, target = 'lab'): Check[] {
  const names = suiteList ? suiteList.split(',').map((s) => s.trim()).filter(Boolean) : defaultSuites(target);
  const unknown = names.filter((n) => !(n in SUITES));
  if (unknown.length > 0) throw new ConfigError(`unknown suite ${unknown.join(', ')} (known: ${Object.keys(SUITES).join(', ')})`);
  const twice = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
  if (twice.length > 0) throw new ConfigError(`--suite ${suiteList}: ${twice.join(', ')} named more than once`);
  return names.flatMap((n) => SUITES[n]!);
}

/** Edit distance, for naming the close matches of a mistyped check id. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length]![b.length]!;
}

/** The known check ids closest to a mistyped one (edit distance ≤ 2, or sharing its prefix), at most four. */
export function closeChecks(id: string, known: string[] = ALL_CHECKS.map((c) => c.id)): string[] {
  const prefix = id.split('-')[0]!;
  return known
    .map((k) => ({ k, d: distance(id, k) }))
    .filter(({ k, d }) => d <= 2 || (prefix.length >= 3 && k.startsWith(`${prefix}-`)))
    .sort((x, y) => x.d - y.d || x.k.localeCompare(y.k))
    .slice(0, 4)
    .map(({ k }) => k);
}

/**
 * `--check ID,…`: exactly these checks, in the suites' run order (each runs with the setup its suite's posture
 * gives it: the whole posture is applied either way). An unknown id is one line, exit 2, with its close matches.
 */
export function selectCheckIds(list: string, suiteList: string | undefined): Check[] {
  if (suiteList) throw new ConfigError('--check and --suite: give one of them (--check names checks of any suite)');
  const ids = list.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  if (ids.length === 0) throw new ConfigError(`--check ${list}: no check id (see meshproof list)`);
  for (const id of ids) {
    if (ALL_CHECKS.some((c) => c.id === id)) continue;
    const near = closeChecks(id);
    throw new ConfigError(`--check ${id}: no such check${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}; see meshproof list`);
  }
  const twice = [...new Set(ids.filter((n, i) => ids.indexOf(n) !== i))];
  if (twice.length > 0) throw new ConfigError(`--check ${list}: ${twice.join(', ')} named more than once`);
  return ALL_CHECKS.filter((c) => ids.includes(c.id));
}

export function makeTarget(name: string, verbose: boolean): Target {
  checkTarget(name);
  if (name !== 'lab') throw new ConfigError(`target ${name} is not available for this command`);
  return labTarget(verbose);
}

export async function run(o: RunOptions, argv: string[], provided?: { cluster: Provisioned; deleteOnSignal?: boolean }): Promise<number> {
  // Everything a user can get wrong is checked before anything starts.
  const format = parseOutput(o.output);
  const json = format === 'json';
  /** Progress and human lines: none under --quiet; on stderr under -o json (stdout holds the one document). */
  const quiet = Boolean(o.quiet) || json;
  const human = (line: string) => (json ? process.stderr : process.stdout).write(line);
  const checks = o.check !== undefined ? selectCheckIds(o.check, o.suite) : selectChecks(o.suite, suitesTarget(o.target, provided !== undefined));
  if (o.target === 'kubeconfig' && !provided && checks.some((c) => c.suite === 'chaos') && !o.allowControlPlaneOutage) {
    throw new ConfigError('the chaos suite scales istiod to 0, disturbing the whole mesh: on an existing cluster pass --allow-control-plane-outage');
  }
  const required = requiredChecks(o.require, checks);
  const maxCertLifetimeMs = parseGoDuration(o.maxCertLifetime);
  if (maxCertLifetimeMs === undefined) throw new ConfigError(`--max-cert-lifetime ${o.maxCertLifetime}: not a duration (e.g. 24h, 90m)`);
  const rootHorizonDays = Number(o.rootHorizonDays);
  if (!Number.isInteger(rootHorizonDays) || rootHorizonDays < 0) throw new ConfigError(`--root-horizon-days ${o.rootHorizonDays}: not a whole number of days`);
  const edgeCertHorizonDays = Number(o.edgeCertHorizonDays ?? 30);
  if (!Number.isInteger(edgeCertHorizonDays) || edgeCertHorizonDays < 0) throw new ConfigError(`--edge-cert-horizon-days ${o.edgeCertHorizonDays}: not a whole number of days`);
  const maxConsecutive5xx = Number(o.maxConsecutive5xx ?? DEFAULT_SETTINGS.maxConsecutive5xx);
  if (!Number.isInteger(maxConsecutive5xx) || maxConsecutive5xx < 1) throw new ConfigError(`--max-consecutive-5xx ${o.maxConsecutive5xx}: not a whole number ≥ 1`);
  const maxPool = Number(o.maxPool ?? DEFAULT_SETTINGS.maxPool);
  if (!Number.isInteger(maxPool) || maxPool < 1) throw new ConfigError(`--max-pool ${o.maxPool}: not a whole number ≥ 1`);
  const edge = parseEdge(o);
  const posture = loadPosture(o.posture, o.overlay);
  const runId = o.runId ?? crypto.randomUUID();
  const signKeyPem = o.signKey ? readKey(o.signKey, '--sign-key') : undefined;
  const calls = new Map<string, number>();
  let current = 'apply';
  let timeouts = LAB_TIMEOUTS;
  if (!(TARGETS as readonly string[]).includes(o.target)) throw new ConfigError(`unknown target ${o.target} (available: ${TARGETS.join(', ')})`);
  if (o.installer !== 'helm' && o.installer !== 'istioctl') throw new ConfigError(`--installer ${o.installer}: helm or istioctl`);
  let cluster: Provisioned | undefined = provided?.cluster;
  if (o.policyReport && o.target === 'lab') throw new ConfigError('--policy-report writes into a cluster: use it with --target kubeconfig, kind or k3s');
  // `{run}` in --out stands for the run id: one directory per night under a fixed root (deploy/cronjob.yaml).
  // Claimed now (absent or empty, or emptied by --force), created only when the bundle is written.
  const outDir = claimOut((o.out ?? path.join('reports', '{run}')).replaceAll('{run}', runId), o.force);
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
    // A posture that would write outside the run's own namespaces is refused before any cluster is contacted (or
    // provisioned): one line, exit 2, nothing created.
    if (o.target !== 'lab') confineWrites(posture);
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
      const chaos = checks.some((c) => c.suite === 'chaos');
      const edgeNamespace = edgeOutsidePosture(edge, posture)?.namespace;
      const pre = await preflight(kc, { istioNamespace: o.istioNamespace, revision: o.revision, policyReport: o.policyReport, chaos, ...(edgeNamespace ? { edgeNamespace } : {}) });
      // 21-6: the --edge Service is read right after preflight, before anything is created or attacked.
      await requireEdgeService(edge, posture, (ref) => edgeServicePorts(kc, ref));
      // On a cluster meshproof provisioned, its identity is the cluster's admin anyway: nothing to confine.
      if (!cluster) for (const w of pre.warnings) process.stderr.write(`meshproof: warning: ${w}\n`);
      reportTo = o.policyReport ? kc : undefined;
      timeouts = kubeTimeouts();
      target = kubeTarget(kc, pre, { ...o, runId, provisioned: cluster !== undefined, onCall: () => calls.set(current, (calls.get(current) ?? 0) + 1) });
    } else {
      await requireEdgeService(edge, posture);
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
    settings: { maxCertLifetimeMs, rootHorizonDays, edgeCertHorizonDays, maxConsecutive5xx, maxPool, ...(edge ? { edge } : {}) },
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
        // --quiet and -o json: no progress display (stdout is the verdict line or the JSON document).
        silentRendererCondition: () => quiet,
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
  const selectedBy = o.check !== undefined ? 'check' : 'suite';
  const { files } = writeBundle({ outDir: createOut(outDir), run: r, posture, allChecks: ALL_CHECKS, signKeyPem, selectedBy: selectedBy === 'check' ? '--check' : '--suite' });
  const shownOut = path.relative(process.cwd(), outDir) || '.';
  if (!quiet) process.stdout.write(`\n${summaryTable(r, shownOut)}\n`);
  if (o.verbose && calls.size > 0) {
    human(`API calls and execs: ${[...calls].map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  }
  if (o.verbose) human(`bundle: ${files.length} files hashed in ${path.join(outDir, 'manifest.sha256')}${signKeyPem ? ', signed' : ''}\n`);
  for (const u of r.requirements.unmet) human(`required check ${u.id} was not applicable, which fails the run: ${u.reason}\n`);
  afterErrors.push(...(await writeOutputs(r, { summaryMd: o.summaryMd, metrics: o.metrics, pushgateway: o.pushgateway, policyReportTo: reportTo, json })));
  const exitCode = afterErrors.length > 0 && r.exitCode === 0 ? 3 : r.exitCode;
  if (afterErrors.length > 0) process.stderr.write(`meshproof: ${afterErrors.join('; ')}\n`);
  if (json) printJson(runDocument(r, { out: shownOut, exitCode, selectedBy, errors: afterErrors }));
  else if (o.quiet) process.stdout.write(`${verdictLine({ ...r, exitCode: exitCode as RunResult['exitCode'] }, shownOut)}\n`);
  return exitCode;
}


export function runCommand(cmd: Command): void {
  clusterOptions(
    cmd
      .command('run')
      .description('attack a target with the conformance checks and write the evidence bundle')
      .addOption(
        new Option('--target <name>', 'lab (the built-in test bed; not a mesh), kubeconfig (an existing cluster), kind or k3s (provisioned with Istio, torn down after)').default('lab'),
      ),
  )
    .option('--istio-version <v>', 'with --target kind or k3s: Istio to install (a Helm chart version or range)', DEFAULT_ISTIO_VERSION)
    .option('--installer <helm|istioctl>', 'with --target kind or k3s: how to install Istio', 'helm')
    .option('--istioctl <path>', 'with --installer istioctl: the istioctl of --istio-version (default: istioctl on PATH)')
    .option('--keep', 'keep the run\'s namespaces for debugging (delete later with meshproof cleanup --run <id>)')
    .option('--suite <list>', `comma-separated suites (${Object.keys(SUITES).join(', ')}); default all, but chaos only on the lab, kind and k3s`)
    .option(
      '--allow-control-plane-outage',
      'with --target kubeconfig and the chaos suite: scale istiod to 0 during the run (every workload of the mesh loses its control plane; meshproof restores the previous replica count on exit, Ctrl-C or failure)',
    )
    .addOption(new Option('--posture <dir|file>', 'fixtures to apply').default(SECURE_POSTURE, 'the bundled fixtures/secure/'))
    .option('--overlay <file>', 'fixtures replacing posture objects of the same kind/namespace/name (repeatable)', (v: string, a: string[]) => [...a, v], [] as string[])
    .option('--out <dir>', 'write this run\'s reports into DIR, which must be absent or empty; {run} stands for the run id (default reports/{run}/)')
    .option('--force', 'empty a non-empty --out first; only a previous bundle (one holding manifest.sha256), never the working directory, home or /')
    .option('--max-cert-lifetime <duration>', 'CERT-001: longest acceptable workload certificate lifetime', '24h')
    .option('--root-horizon-days <days>', 'CERT-005: the mesh root must stay valid at least this long', '90')
    .option('--edge-cert-horizon-days <days>', 'EDGE-003: every certificate the edge serves must stay valid at least this long', '30')
    .option('--max-consecutive-5xx <n>', "RES-002: most consecutive 5xx echo's DestinationRule may need before ejecting a host (Istio's default is 5)", String(DEFAULT_SETTINGS.maxConsecutive5xx))
    .option('--max-pool <n>', "RES-001: most requests (connections + pending) echo's connection pool may admit before tripping (default: what RES-001's flood can exceed)", String(DEFAULT_SETTINGS.maxPool))
    .option('--edge <namespace/service>', "EDGE-001..003 attack your own ingress gateway's Service (read-only) instead of the run's own gateway; on a cluster the Service is read first (deploy/rbac-edge.yaml)")
    .option('--edge-host <host[:port]>', 'with --edge: the host your gateway serves (SNI and Host) and its HTTPS Service port (default 443)')
    .option('--edge-http-port <port>', 'with --edge: the plaintext port EDGE-001 attacks (default 80)')
    .option('--edge-ca <file>', "with --edge: PEM trust anchors EDGE-003 verifies the edge's chain against (default: Node.js's public roots)")
    .option('--edge-url <url>', 'with --edge: https://address[:port] where the runner reaches the edge; EDGE-001..003 then also attack from the runner')
    .option('--sign-key <pem>', 'sign manifest.sha256 with this Ed25519 private key (the key is never written)')
    .option('--policy-report', 'with a cluster target: write the verdicts as a PolicyReport (wgpolicyk8s.io/v1alpha2) named meshproof in the meshproof namespace')
    .option('--metrics <file>', 'write the verdicts as Prometheus metrics (for node_exporter\'s textfile collector)')
    .option('--pushgateway <url>', 'push the verdicts as Prometheus metrics to a Pushgateway (job meshproof)')
    .option('--summary-md <file>', 'write a Markdown summary (verdicts, what broke) for CI job pages; under GitHub Actions it also goes to the step summary')
    .option('--check <ids>', 'comma-separated check ids to run instead of whole suites (e.g. MTLS-001,AUTHZ-002; see meshproof list); the bundle records the narrower scope')
    .addOption(outputOption())
    .addOption(quietOption())
    .option('--require <list>', 'check ids or suites that must not be not-applicable: one that is fails the run (exit 1)')
    .option('-v, --verbose', 'print lab process output and report paths')
    .addHelpText(
      'after',
      '\nExit codes: 0 all checks pass, 1 a check failed, 2 usage or configuration error, 3 infrastructure error or inconclusive.\n' +
        '\n-o json: one document on stdout (schema meshproof.dev/cli-run/v1): runId, target, out, scope (selectedBy, suites, checks), status, exitCode, counts, checks (id, suite, title, status, reason, evidence, cases: label, status, reason), requirements, errors; progress is not shown, other lines go to stderr. A usage error prints no document.\n' +
        '\nExamples:\n  meshproof run --target lab\n  meshproof run --check MTLS-001 -o json | jq .checks\n  meshproof run --target lab --overlay fixtures/weakened/permissive-mtls.yaml --out out/weak',
    )
    .option('--config <file>', 'run options from a YAML file (require, suite, posture, overlay, ...); flags given on the command line win')
    .action(async (o: RunOptions & { config?: string }, command: Command) => {
      process.exitCode = await run(o.config ? withConfig(o, command, o.config, RUN_CONFIG, ['overlay']) : o, process.argv.slice(2));
    });}
