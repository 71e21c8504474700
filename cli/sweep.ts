// `meshproof sweep`: the user's own estate, every pod and port, attacked from meshproof's run namespace.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { type Command, Option } from 'commander';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { z } from 'zod';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { preflight, sweepPreflight, whoAmI } from '../cluster/kube/preflight.js';
import type { KubeTarget } from '../cluster/kube/kube-target.js';
import { estateIntentYaml, estateLabFaults, estatePosture, parseEstate } from '../cluster/lab/estate.js';
import { type IntentDoc, intentWarnings, loadIntentFiles, parseIntents, resolveIntent } from '../harness/matrix/intent.js';
import { parseGoDuration } from '../harness/duration.js';
import { ConfigError, messageOf } from '../harness/errors.js';
import { SWEEP_FIXTURES } from '../harness/paths.js';
import { loadPosture, type Posture, type PostureObject } from '../harness/posture/load.js';
import { writeBundle } from '../harness/report/bundle.js';
import { summaryTable } from '../harness/report/summary.js';
import type { RunResult } from '../harness/result.js';
import type { Exemption, SweepReport } from '../harness/sweep/report.js';
import type { MatrixIntent, MatrixOptions } from '../harness/matrix/matrix.js';
import type { Estate } from '../harness/sweep/estate.js';
import { parseExemptions, sweep } from '../harness/sweep/sweep.js';
import type { Target } from '../harness/target.js';
import { LAB_TIMEOUTS } from '../harness/timeouts.js';
import { claimOut, createOut } from './common.js';
import { withConfig, writeOutputs } from './outputs.js';
import { outputOption, parseOutput, printJson, quietOption, sweepDocument, verdictLine } from './output.js';
import { readKey } from './run.js';
import { clusterOptions, kubeTarget, kubeTimeouts, labTarget } from './targets.js';
import { schedulableNodes, sweptNamespaces } from '../cluster/kube/discover.js';

const RUN_NAMESPACE = 'sweep';

interface SweepOptions {
  signKey?: string;
  summaryMd?: string;
  metrics?: string;
  pushgateway?: string;
  policyReport?: boolean;
  target: string;
  kubeconfig?: string;
  context?: string;
  istioNamespace: string;
  revision?: string;
  image?: string;
  imageRegistry?: string;
  keep?: boolean;
  namespaces?: string;
  namespaceSelector?: string;
  excludeNamespaces?: string;
  excludePorts?: string;
  exemptions?: string;
  probes?: string;
  concurrency: string;
  rate: string;
  attemptTimeout: string;
  batch: string;
  maxCertLifetime: string;
  estate: string;
  /** `--no-holes`: the lab estate without its planted holes (commander's negatable option: true unless given). */
  holes?: boolean;
  out?: string;
  force?: boolean;
  verbose?: boolean;
  output?: string;
  quiet?: boolean;
  matrix?: boolean;
  identities?: string;
  identityNamespaces?: string;
  perPod?: boolean;
  probeGrants?: boolean;
  intent?: string;
}

/** The sweep options a `--config` file may set: the same names as the flags, strictly (a typo is an error). */
const SWEEP_CONFIG = z.strictObject({
  target: z.string().optional(),
  namespaces: z.union([z.string(), z.array(z.string())]).optional(),
  namespaceSelector: z.string().optional(),
  excludeNamespaces: z.union([z.string(), z.array(z.string())]).optional(),
  excludePorts: z.union([z.string(), z.number(), z.array(z.union([z.string(), z.number()]))]).optional(),
  exemptions: z.string().optional(),
  probes: z.union([z.string(), z.number()]).optional(),
  concurrency: z.union([z.string(), z.number()]).optional(),
  rate: z.union([z.string(), z.number()]).optional(),
  attemptTimeout: z.string().optional(),
  batch: z.union([z.string(), z.number()]).optional(),
  maxCertLifetime: z.string().optional(),
  estate: z.string().optional(),
  summaryMd: z.string().optional(),
  metrics: z.string().optional(),
  pushgateway: z.string().optional(),
  policyReport: z.boolean().optional(),
  matrix: z.boolean().optional(),
  identities: z.union([z.string(), z.array(z.string())]).optional(),
  identityNamespaces: z.union([z.string(), z.array(z.string())]).optional(),
  perPod: z.boolean().optional(),
  probeGrants: z.boolean().optional(),
  intent: z.string().optional(),
});

const list = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

function positive(v: string, flag: string, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new ConfigError(`${flag} ${v}: a whole number from 1 to ${max}`);
  return n;
}

/**
 * The access matrix's options (`--matrix` and the flags that only mean something with it), checked before anything
 * starts. `--probe-grants` is always on in the lab (its apps are meshproof's own echo servers).
 */
function matrixOptions(o: SweepOptions): MatrixOptions | undefined {
  const given = (['identities', 'identityNamespaces', 'perPod', 'probeGrants', 'intent'] as const).filter((k) => o[k] !== undefined && o[k] !== false);
  if (!o.matrix) {
    if (given.length > 0) throw new ConfigError(`--${given[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --matrix`);
    return undefined;
  }
  const identities = list(o.identities);
  for (const i of identities) if (!/^[^/\s]+\/[^/\s]+$/.test(i)) throw new ConfigError(`--identities ${i}: expected namespace/serviceaccount`);
  return {
    ...(identities.length > 0 ? { identities } : {}),
    ...(o.identityNamespaces ? { identityNamespaces: list(o.identityNamespaces) } : {}),
    perPod: Boolean(o.perPod),
    probeGrants: o.target === 'lab' || Boolean(o.probeGrants),
  };
}

/** Where the declared calls come from: ClientIntents documents read before any work, or listed from the cluster. */
type IntentSource = { docs: IntentDoc[]; yaml: string; source: string } | { cluster: true };

/**
 * `--intent <file|dir|cluster>`: a file or directory is read and validated here, before anything starts (a malformed
 * ClientIntents is one line and exit 2); `cluster` is listed from the swept namespaces once the target is connected.
 */
function readIntent(spec: string, target: string): IntentSource {
  if (spec === 'cluster') {
    if (target === 'lab') throw new ConfigError('--intent cluster lists the ClientIntents of a cluster: use it with --target kubeconfig (the lab estate brings its own intent)');
    return { cluster: true };
  }
  if (!existsSync(spec)) throw new ConfigError(`--intent ${spec}: no such file or directory`);
  const docs = loadIntentFiles(spec);
  const files = statSync(spec).isDirectory() ? readdirSync(spec).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(spec, f)) : [spec];
  return { docs, yaml: files.map((f) => `# ${f}\n${readFileSync(f, 'utf8')}`).join('\n---\n'), source: spec };
}

/** The resolved intent in the matrix's terms (identity → Service → declared calls), its warnings on stderr. */
function matrixIntentOf(docs: IntentDoc[], source: string, estate: Estate, quiet: boolean): MatrixIntent {
  const r = resolveIntent(docs, estate);
  if (!quiet) for (const w of intentWarnings(r)) process.stderr.write(`${w}\n`);
  const calls: MatrixIntent['calls'] = [];
  for (const [identity, services] of r.declared) {
    for (const [service, declared] of services) {
      const [namespace, name] = service.split('/') as [string, string];
      calls.push({ identity, namespace, service: name, calls: declared });
    }
  }
  return { source, namespaces: r.namespaces, calls };
}

function readExemptions(file: string | undefined): Exemption[] {
  if (!file) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--exemptions ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`--exemptions ${file}: malformed YAML: ${messageOf(e).split('\n')[0]}`);
  }
  return parseExemptions(doc, file);
}

/**
 * The run namespace's posture with the attacker scaled to the number of probes and, on a cluster, spread one per
 * node (topology spread on kubernetes.io/hostname; ScheduleAnyway, so a small cluster still gets them all). The
 * lab has one "node" and refuses scheduling fields, so it gets none.
 */
/**
 * The sweep role bound in the sweep's own run namespace to this identity (deploy/rbac-sweep.yaml): that namespace
 * is read like a swept one, but it cannot be bound beforehand. A RoleBinding's ServiceAccount subject names its
 * namespace; any other identity is a User (kubernetes pkg/registry/rbac/validation/rule.go appliesToUser).
 */
function ownNamespaceBinding(username: string, role: 'meshproof-sweep' | 'meshproof-matrix'): PostureObject {
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  const subject = sa ? { kind: 'ServiceAccount', name: sa[2]!, namespace: sa[1]! } : { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: username };
  const manifest = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: role, namespace: RUN_NAMESPACE },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [subject],
  };
  return { manifest: manifest as unknown as PostureObject['manifest'], source: `meshproof sweep: ${role} in its own namespace` };
}

function sweepPosture(probes: number, spread: boolean): Posture {
  const p = loadPosture(SWEEP_FIXTURES, []);
  for (const o of p.objects) {
    if (o.manifest.kind !== 'Deployment' || o.manifest.metadata.name !== 'sweeper') continue;
    const spec = o.manifest.spec as { replicas: number; template: { spec: Record<string, unknown> } };
    spec.replicas = probes;
    if (spread) {
      spec.template.spec.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'sweeper' } } }];
    }
  }
  return p;
}

async function runSweep(o: SweepOptions, argv: string[]): Promise<number> {
  // Everything a user can get wrong is checked before anything starts.
  if (!['lab', 'kubeconfig', 'kind', 'k3s'].includes(o.target)) throw new ConfigError(`unknown target ${o.target} (available: lab, kubeconfig, kind, k3s)`);
  if (o.target === 'kind' || o.target === 'k3s') {
    throw new ConfigError(`--target ${o.target}: a cluster meshproof provisions holds no estate of yours; sweep an existing cluster with --target kubeconfig, or the lab's generated estate with --target lab --estate 200x3`);
  }
  const json = parseOutput(o.output) === 'json';
  /** --quiet and -o json: no progress lines (stdout is then the verdict line or the one document). */
  const quiet = Boolean(o.quiet) || json;
  if (o.namespaces && o.namespaceSelector) throw new ConfigError('--namespaces and --namespace-selector: give one of them');
  if (o.policyReport && o.target === 'lab') throw new ConfigError('--policy-report writes into a cluster: use it with --target kubeconfig');
  const maxCertLifetimeMs = parseGoDuration(o.maxCertLifetime);
  if (maxCertLifetimeMs === undefined) throw new ConfigError(`--max-cert-lifetime ${o.maxCertLifetime}: not a duration (e.g. 24h, 90m)`);
  const attemptTimeoutMs = parseGoDuration(o.attemptTimeout);
  if (attemptTimeoutMs === undefined || attemptTimeoutMs < 100 || attemptTimeoutMs > 60_000) throw new ConfigError(`--attempt-timeout ${o.attemptTimeout}: a duration from 100ms to 60s`);
  const excludePorts = list(o.excludePorts).map((p) => positive(p, '--exclude-ports', 65_535));
  const concurrency = positive(o.concurrency, '--concurrency', 256);
  const rate = positive(o.rate, '--rate', 10_000);
  const batch = positive(o.batch, '--batch', 2_000);
  let probes = o.probes ? positive(o.probes, '--probes', 64) : 2;
  const exemptions = readExemptions(o.exemptions);
  const matrix = matrixOptions(o);
  const intentSource = matrix && o.intent ? readIntent(o.intent, o.target) : undefined;
  const signKeyPem = o.signKey ? readKey(o.signKey, '--sign-key') : undefined;
  if (o.holes === false && o.target !== 'lab') throw new ConfigError('--no-holes shapes the lab\'s generated estate: use it with --target lab');
  const estate = o.target === 'lab' ? { ...parseEstate(o.estate), holes: o.holes !== false } : undefined;
  const runId = crypto.randomUUID();
  // Absent or empty (or emptied by --force); created only when the bundle is written (cli/common.ts claimOut).
  const outDir = claimOut((o.out ?? path.join('reports', '{run}')).replaceAll('{run}', runId), o.force);

  let target: Target;
  let identity: string | undefined;
  let timeouts = LAB_TIMEOUTS;
  let calls = 0;
  /** Where the PolicyReport goes (--policy-report), once preflight has checked its CRD and permissions. */
  let reportTo: KubeConfig | undefined;
  if (o.target === 'lab') {
    target = labTarget(Boolean(o.verbose), 250);
  } else {
    const { kc } = loadKubeConfig(o);
    const pre = await preflight(kc, { istioNamespace: o.istioNamespace, revision: o.revision, policyReport: o.policyReport ? 'sweep' : undefined });
    reportTo = o.policyReport ? kc : undefined;
    // The sweep role, asked in each namespace the sweep will read (RoleBindings per namespace pass); nodes only
    // when one attacker per node is wanted (M7).
    const swept = await sweptNamespaces(kc, { namespaces: o.namespaces ? list(o.namespaces) : undefined, selector: o.namespaceSelector, exclude: list(o.excludeNamespaces), excludePorts: [] }, pre.rootNamespace);
    await sweepPreflight(kc, { namespaces: swept, rootNamespace: pre.rootNamespace, nodes: !o.probes, istioNamespace: o.istioNamespace, matrix: Boolean(matrix), intentCluster: intentSource !== undefined && 'cluster' in intentSource });
    identity = await whoAmI(kc);
    // One attacker per schedulable node unless told otherwise, spread across them.
    if (!o.probes) probes = Math.max(1, Math.min(64, await schedulableNodes(kc)));
    timeouts = kubeTimeouts();
    target = kubeTarget(kc, pre, {
      ...o,
      runId,
      provisioned: false,
      onCall: () => {
        calls++;
      },
    });
  }
  const posture = sweepPosture(probes, o.target !== 'lab');
  if (identity) posture.objects.push(ownNamespaceBinding(identity, 'meshproof-sweep'));
  // The matrix mints certificates for the run namespace's canary identities too: its token grant there, bound as the
  // sweep's own role is (deploy/rbac-matrix.yaml, meshproof-matrix-binder).
  if (identity && matrix) posture.objects.push(ownNamespaceBinding(identity, 'meshproof-matrix'));
  // The lab estate: its objects, its lab fault (an AuthorizationPolicy its sidecars never received: the planted
  // enforcement hole), then meshproof's own namespace.
  const applied: Posture = estate ? { origin: [`generated estate ${o.estate}${estate.holes ? '' : ' (no planted holes)'}`, SWEEP_FIXTURES], objects: [...estatePosture(estate), ...estateLabFaults(estate), ...posture.objects] } : posture;
  // The declared calls: --intent, else (lab) the generated estate's own; `intent.yaml` in the bundle either way.
  let intentYaml: string | undefined;
  if (matrix) {
    if (intentSource && 'docs' in intentSource) {
      intentYaml = intentSource.yaml;
      matrix.resolveIntent = async (e) => matrixIntentOf(intentSource.docs, intentSource.source, e, quiet);
    } else if (intentSource) {
      const kube = target as unknown as KubeTarget;
      matrix.resolveIntent = async (e) => {
        // The swept namespaces, which preflight checked the list grant in; never the run namespace: meshproof made it
        // this run (no RoleBinding of meshproof-matrix-intents can be there) and its canary's intent is built in.
        const objects = await kube.clientIntents(e.namespaces.map((n) => n.name).filter((n) => n !== e.runNamespace));
        intentYaml = objects.map((x) => `---\n${toYaml(x)}`).join('');
        return matrixIntentOf(parseIntents(intentYaml, '--intent cluster'), 'cluster (ClientIntents)', e, quiet);
      };
    } else if (estate) {
      intentYaml = estateIntentYaml(estate);
      const docs = parseIntents(intentYaml, 'intent.yaml');
      matrix.resolveIntent = async (e) => matrixIntentOf(docs, `the generated estate's intent (intent.yaml)`, e, quiet);
    }
  }
  target.validate(applied);

  // Ctrl-C: the first stops new batches, judges what came back, writes it marked incomplete, and tears down.
  const abort = new AbortController();
  let signals = 0;
  let signalSeen: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    signalSeen ??= sig;
    if (signals === 1) {
      process.stderr.write(`\nmeshproof: ${sig}: stopping the sweep; writing what was judged and tearing down…\n`);
      abort.abort();
      return;
    }
    process.stderr.write('meshproof: tearing down now\n');
    void Promise.resolve(target.dispose())
      .catch(() => {})
      .finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = Date.now();
  const progress = (p: { done: number; total: number }) => {
    if (quiet) return;
    const elapsed = (Date.now() - started) / 1000;
    const eta = p.done > 0 ? Math.round((elapsed / p.done) * (p.total - p.done)) : undefined;
    process.stderr.write(`meshproof: swept ${p.done}/${p.total} endpoints${eta !== undefined && p.done < p.total ? `, about ${eta}s left` : ''}\n`);
  };
  const matrixProgress = (p: { done: number; total: number }) => {
    if (!quiet && (p.done === 0 || p.done === p.total || p.done % 500 < 200)) process.stderr.write(`meshproof: matrix ${p.done}/${p.total} cells attacked\n`);
  };
  let exitCode: number;
  let teardownError: unknown;
  let judged: RunResult | undefined;
  let judgedReport: SweepReport | undefined;
  let shownOut = '.';
  try {
    if (!quiet) process.stderr.write(o.target === 'lab' ? `meshproof: starting the lab estate ${o.estate} and meshproof's sweep namespace…\n` : `meshproof: creating the run namespace (attackers and canary)…\n`);
    await target.apply(applied);
    const result = await sweep({
      target,
      scope: { namespaces: o.namespaces ? list(o.namespaces) : undefined, selector: o.namespaceSelector, exclude: list(o.excludeNamespaces), excludePorts, runNamespace: RUN_NAMESPACE },
      attacker: { namespace: RUN_NAMESPACE, name: 'sweeper' },
      maxCertLifetimeMs,
      attemptTimeoutMs,
      concurrency,
      ratePerSec: rate,
      batchEndpoints: batch,
      accessLogDelayMs: timeouts.accessLogDelayMs,
      exemptions,
      onProgress: progress,
      signal: abort.signal,
      command: ['meshproof', ...argv],
      runId,
      ...(matrix ? { matrix, onMatrixProgress: matrixProgress } : {}),
    });
    writeBundle({ outDir: createOut(outDir), run: result.run, posture: result.snapshot, allChecks: [], signKeyPem, ...(result.report.matrix && intentYaml !== undefined ? { intentYaml } : {}) });
    judged = result.run;
    judgedReport = result.report;
    shownOut = path.relative(process.cwd(), outDir) || '.';
    const c = result.report.counts;
    if (!quiet) {
      process.stdout.write(`\n${summaryTable(result.run, shownOut)}\n`);
      process.stdout.write(
        `swept ${c.judged}/${c.endpoints} endpoints (${c.pods} pods, ${c.namespaces} namespaces) with ${c.probes} probes in ${c.execs} execs; canary ${result.report.canary.flagged ? 'flagged' : 'NOT flagged'}${result.report.incomplete ? '; INCOMPLETE (interrupted)' : ''}\n`,
      );
      const m = result.report.matrix;
      if (m) {
        process.stdout.write(
          `matrix: ${m.identities.filter((i) => i.role !== 'canary').length} identities × ${new Set(m.cells.filter((c) => c.role !== 'canary').map((c) => `${c.namespace}/${c.service}`)).size} Services, ${m.counts.cells} cells: ${m.counts.hole} holes, ${m.counts['beyond-intent']} beyond intent, ${m.counts.granted} granted, ${m.counts.refused} refused (proven), ${m.counts['not-judged']} not judged, ${m.counts.inconclusive} inconclusive; ${m.counts.certificates} certificates, ${m.counts.execs} execs; matrix canary ${m.canary.flagged ? 'flagged' : 'NOT flagged'}\n`,
        );
      }
      if (o.target !== 'lab') process.stdout.write(`API calls and execs: ${calls}\n`);
      process.stdout.write(`reports: ${outDir}\n`);
    }
    const code = abort.signal.aborted ? (signalSeen === 'SIGTERM' ? 143 : 130) : result.run.exitCode;
    // Interrupted: what was judged is written (marked incomplete), and the exit code is Ctrl-C's, as for `run`.
    exitCode = code;
  } finally {
    try {
      await target.dispose();
    } catch (e) {
      teardownError = e;
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  // Beside the bundle, as `run` writes them: the job page, the metrics, the PolicyReport (cli/outputs.ts).
  const afterErrors = teardownError ? [`teardown: ${messageOf(teardownError)}`] : [];
  afterErrors.push(...(await writeOutputs(judged, { summaryMd: o.summaryMd, metrics: o.metrics, pushgateway: o.pushgateway, policyReportTo: reportTo, json })));
  if (afterErrors.length > 0) {
    process.stderr.write(`meshproof: ${afterErrors.join('; ')}\n`);
    if (exitCode === 0) exitCode = 3;
  }
  // Last, with the final exit code: the one JSON document (-o json) or the one verdict line (--quiet).
  if (json) printJson(sweepDocument(judged, judgedReport!, { out: shownOut, exitCode }));
  else if (o.quiet) process.stdout.write(`${verdictLine({ ...judged, exitCode: exitCode as RunResult['exitCode'] }, shownOut)}${judgedReport!.incomplete ? ' (INCOMPLETE: interrupted)' : ''}\n`);
  return exitCode;
}

export function sweepCommand(cmd: Command): void {
  clusterOptions(
    cmd
      .command('sweep')
      .description("attack every pod and port of your own estate (read-only towards it) from meshproof's run namespace")
      .addOption(new Option('--target <name>', 'lab (a generated estate on the built-in test bed; not a mesh) or kubeconfig (an existing cluster)').default('lab')),
  )
    .option('--keep', "keep the run namespace for debugging (delete later with meshproof cleanup --run <id>)")
    .option('--namespaces <list>', 'sweep exactly these namespaces (system namespaces only when named here)')
    .option('--namespace-selector <query>', 'sweep namespaces matching this label query (e.g. team=payments,env!=dev)')
    .option('--exclude-namespaces <list>', 'leave these namespaces out')
    .option('--exclude-ports <list>', 'leave these container ports out (e.g. 15020,9090)')
    .option('--exemptions <file>', 'YAML list of SWEEP-AUTHZ findings you accept, each with namespace, optional service/pod/port, and a reason')
    .option('--probes <n>', 'attacker pods to shard across (default: one per schedulable node, spread across them; 2 on the lab)')
    .option('--concurrency <n>', 'attempts in flight per probe', '32')
    .option('--rate <n>', 'attempts started per second across all probes', '500')
    .option('--attempt-timeout <duration>', 'per attempt, connect to last byte', '5s')
    .option('--batch <n>', 'endpoints per exec', '200')
    .option('--max-cert-lifetime <duration>', 'SWEEP-CERT: longest acceptable workload certificate lifetime', '24h')
    .option('--estate <SxR>', 'with --target lab: generate S services of R pods each, with planted holes', '200x3')
    .option('--no-holes', 'with --target lab: the same estate without its planted holes (every check must pass)')
    .option('--out <dir>', "write the sweep's reports into DIR, which must be absent or empty; {run} stands for the run id (default reports/{run}/)")
    .option('--force', 'empty a non-empty --out first; only a previous bundle (one holding manifest.sha256), never the working directory, home or /')
    .option('--sign-key <pem>', 'sign manifest.sha256 with this Ed25519 private key (the key is never written); `compare` and `history` check it with --public-key')
    .option('--summary-md <file>', 'write a Markdown summary (counts, findings per namespace/Service/port with the reason) for CI job pages; under GitHub Actions it also goes to the step summary, and each finding is an ::error annotation')
    .option('--metrics <file>', "write the verdicts and counts as Prometheus metrics (for node_exporter's textfile collector; sweep families are meshproof_sweep_*)")
    .option('--pushgateway <url>', 'push the same metrics to a Pushgateway (job meshproof-sweep)')
    .option('--policy-report', 'with --target kubeconfig: write the verdicts and each finding as a PolicyReport (wgpolicyk8s.io/v1alpha2) named meshproof-sweep in the meshproof namespace')
    .option('--matrix', 'also build the access matrix: every identity of the estate against every Service port, one request outside the grant attacked per cell (SWEEP-ENFORCE), grants held against the intent (SWEEP-LEASTPRIV)')
    .option('--identities <list>', 'with --matrix: only these identities (namespace/serviceaccount, comma-separated)')
    .option('--identity-namespaces <list>', 'with --matrix: only the identities of these namespaces')
    .option('--per-pod', 'with --matrix: attack every pod of each Service, not only the first ready one')
    .option('--probe-grants', 'with --matrix: also send a nonce request inside each grant and expect it to reach the app (always on in the lab)')
    .option('--intent <file|dir|cluster>', 'with --matrix: the declared calls (Otterize ClientIntents YAML, a directory of them, or `cluster` to list them)')
    .option('--config <file>', 'sweep options from a YAML file (namespaces, exemptions, probes, summaryMd, ...; the flags\' names in camelCase); flags given on the command line win')
    .addOption(outputOption())
    .addOption(quietOption())
    .option('-v, --verbose', 'print lab process output')
    .addHelpText(
      'after',
      '\nScope: --namespaces, or --namespace-selector, or (default) every namespace with istio-injection=enabled or istio.io/rev.\n' +
        'Each (pod, port) gets two attempts: plaintext, and mTLS with a genuine certificate for a fresh identity no policy grants.\n' +
        "A denial counts only with the destination's own access-log record of it (RBAC or ext_authz); without one it is inconclusive.\n" +
        "Gateway pods and the sidecar's own ports (15090, 15021, the status port) are listed as information, not attacked.\n" +
        'A canary (a pod without a sidecar and a PERMISSIVE port, in the run namespace) must be flagged, or the sweep is an error.\n' +
        "\n--matrix: for each identity (a service account running a ready pod in scope, minus meshproof's attacker) and each Service port\n" +
        "(the first ready pod by name; --per-pod every pod), what the AuthorizationPolicies grant it (by the Istio model), then one mTLS\n" +
        'attempt with a genuine certificate for that identity on a request outside the grant: GET/HEAD/OPTIONS on /.meshproof/matrix/<nonce>\n' +
        "or on a nonce path the policies' own paths/notPaths draw, with a Host their hosts name when that is the non-grant (never an app's\n" +
        "real path, never a method with side effects), or a nonce on a TCP port; a cell with no such request is not attacked and never\n" +
        "counted as proof. A refusal counts only with the destination's\n" +
        'record; an answer from the app is an enforcement hole (SWEEP-ENFORCE). With --intent, a grant wider than the declared calls is a\n' +
        'least-privilege finding (SWEEP-LEASTPRIV; not-applicable without an intent). A matrix canary (canary-caller granted beyond its\n' +
        'intent, canary refused on canary-target, canary-bare a hole) must be flagged, or both checks are an error. Bundle: matrix.json.\n' +
        '\nExit codes: 0 no finding, 1 a finding, 2 usage or configuration error, 3 infrastructure error, inconclusive or interrupted.\n' +
        '\n-o json: one document (schema meshproof.dev/cli-sweep/v1): runId, target, out, status, exitCode, incomplete, counts (namespaces, services, pods, endpoints, judged, probes, execs), canary (flagged, missing), checks (id, status, reason), findings (check, namespace, pod, port, services, reason), exempt (the same, with the exemption\'s reason); with --matrix, matrix (counts, canary).\n' +
        '\nExamples:\n  meshproof sweep --target lab --estate 200x3\n  meshproof sweep --target lab --estate 20x2 --matrix\n  meshproof sweep --target kubeconfig --namespace-selector team=payments --exemptions exemptions.yaml\n' +
          '  meshproof sweep --target kubeconfig --config sweep.yaml --summary-md sweep.md --metrics sweep.prom --policy-report',
    )
    .action(async (o: SweepOptions & { config?: string }, command: Command) => {
      process.exitCode = await runSweep(o.config ? withConfig(o, command, o.config, SWEEP_CONFIG) : o, process.argv.slice(2));
    });
}
