// `meshproof sweep`: every (pod, port) of the user's estate attacked from meshproof's own run namespace, sharded
// across probe pods (one exec per batch), judged per endpoint with the conformance classifiers, corroborated by the
// destination's own access-log records, and proven able to fail by a canary on every run.
import { createHash, randomUUID } from 'node:crypto';
import type { Attack, Observation, TlsAttack } from '../../agent/protocol.js';
import { MATRIX_CHECKS, type MatrixOptions, type MatrixOutcome, runMatrix } from '../matrix/matrix.js';
import { LOG_LIMIT_BYTES, type RecordReader, readDestinationRecords, recordOf, runSharded, summarize } from './attempts.js';
import { controlsFor, type Category } from '../controls.js';
import type { CheckResult } from '../engine.js';
import { ConfigError, InfraError } from '../errors.js';
import { type AuthzPolicy, customJudge } from '../istio/authz.js';
import { appliesTo, authorizationPolicyFromIstio } from '../istio/authz-policy.js';
import { toolCommit, VERSION } from '../paths.js';
import type { Posture } from '../posture/load.js';
import { canonicalJson } from '../report/canonical.js';
import type { RunResult } from '../result.js';
import type { MintedCert, Ref, Target } from '../target.js';
import { exitCodeOf } from '../verdict.js';
import type { Verdict } from '../check.js';
import type { EndpointResult, Exemption, SweepReport } from './report.js';
import { type Estate, type EstatePod, type EstatePort, effectivePeerAuthentication, type SweepScope, selectingPolicies } from './estate.js';
import { certFacts, type EndpointInputs, type EndpointVerdict, judgeEndpoint, judgeInjection, SWEEP_CHECK_IDS, type SweepCheckId } from './judge.js';

export interface SweepOptions {
  target: Target;
  scope: SweepScope;
  /** meshproof's sidecar-less attacker Deployment in the run namespace (fresh service account, granted nothing). */
  attacker: Ref;
  maxCertLifetimeMs: number;
  attemptTimeoutMs: number;
  /** Attempts in flight per probe. */
  concurrency: number;
  /** Attempts started per second, across all probes. */
  ratePerSec: number;
  /** Endpoints per exec. */
  batchEndpoints: number;
  /** How long after the last attempt the destination access logs are read (Envoy flushes every second, §10). */
  accessLogDelayMs: number;
  exemptions: Exemption[];
  onProgress?: (p: { done: number; total: number }) => void;
  signal?: AbortSignal;
  command?: string[];
  runId?: string;
  /** `--matrix`: the access matrix after the plain sweep, in the same run (harness/matrix/matrix.ts). */
  matrix?: MatrixOptions;
  onMatrixProgress?: (p: { done: number; total: number }) => void;
}

export interface SweepResult {
  run: RunResult;
  report: SweepReport;
  /** The policy snapshot, as a posture for the bundle's policies/ directory. */
  snapshot: Posture;
}

interface CheckMeta {
  id: SweepCheckId;
  title: string;
  claim: string;
  categories: Category[];
}

export const SWEEP_CHECKS: CheckMeta[] = [
  { id: 'SWEEP-MTLS', title: 'Every workload port refuses plaintext', claim: 'Every (pod, port) in scope refuses a plaintext connection (reset or EOF, zero bytes) while answering mTLS with a mesh certificate.', categories: ['a'] },
  // Coverage, not proof: a sidecar's presence shows nothing by itself (SWEEP-MTLS attacks the same pods' ports), so
  // this check claims no control of its own (controls.md: never overclaim).
  { id: 'SWEEP-INJECT', title: 'Every pod in an injected namespace has its sidecar', claim: 'Every pod in a namespace with injection enabled runs an istio-proxy (coverage evidence; it claims no control of its own).', categories: [] },
  { id: 'SWEEP-AUTHZ', title: 'No port is open to any mesh identity', claim: 'A fresh mesh identity that no policy grants is denied on every (pod, port) in scope (403 RBAC: access denied on HTTP, close on TCP), and the destination records the denial.', categories: ['b'] },
  { id: 'SWEEP-CERT', title: 'Every workload certificate is short-lived, exact and chained', claim: 'The certificate each port presents lives no longer than the limit, carries exactly spiffe://<trust domain>/ns/<ns>/sa/<pod service account>, and chains to the mesh root.', categories: ['c'] },
];

/** Every check a sweep can report: the plain sweep's and, with --matrix, the access matrix's (for list, controls, report). */
export const ALL_SWEEP_CHECKS: { id: string; title: string; claim: string; categories: Category[] }[] = [...SWEEP_CHECKS, ...MATRIX_CHECKS];

/** What the canary workloads (fixtures/sweep) must be flagged for, by their `app` label: `check@port` or `check`. */
const CANARY_EXPECTS: Record<string, string[]> = {
  'canary-bare': ['SWEEP-INJECT', 'SWEEP-MTLS@8080'],
  'canary-permissive': ['SWEEP-MTLS@8080'],
};

interface Endpoint {
  pod: EstatePod;
  port: EstatePort;
  plaintext?: Observation;
  mtls?: Observation;
  /** The destination's record of each attempt (corroborateBatch). */
  records?: EndpointInputs['records'];
  logProblem?: string;
}

/**
 * Reads, right after a batch, the destination log of every sidecar pod the batch attacked (attempts.ts
 * `readDestinationRecords`, shared with the access matrix) and attaches to each attempt its record. Returns the reads.
 */
async function corroborateBatch(o: SweepOptions, batch: Endpoint[], since: Date): Promise<number> {
  const readers: RecordReader[] = batch
    .filter((e) => e.plaintext && e.mtls)
    .map((e) => ({
      pod: e.pod,
      attach: (records) => {
        e.records = { plaintext: recordOf(records, e.plaintext), mtls: recordOf(records, e.mtls) };
      },
      fail: (problem) => {
        e.logProblem = problem;
      },
    }));
  return readDestinationRecords(o.target, o.accessLogDelayMs, readers, since);
}

/** The path every HTTP attempt of the sweep sends (the agent appends `?nonce=…`, which Istio's `paths` never see). */
const SWEEP_PATH = '/';

/**
 * The CUSTOM AuthorizationPolicies that select the pod, through the model's front end (harness/istio/authz-policy.ts);
 * `undefined` when the model refuses one of them (then no answer may be ruled out as the provider's).
 */
function customPolicies(estate: Estate, pod: EstatePod): AuthzPolicy[] | undefined {
  const out: AuthzPolicy[] = [];
  for (const m of estate.snapshot) {
    if (m.kind !== 'AuthorizationPolicy' || (m.spec as { action?: string } | undefined)?.action !== 'CUSTOM') continue;
    // The mesh's bundle, as istiod migrates every policy (builder.go `New`: MigrateTrustDomain): a
    // `cluster.local/…` principal stands for the mesh's own trust domain and its aliases.
    // The mesh config's providers resolve the policy's provider (a bad one: its rules deny, ext_authz is not asked).
    const conv = authorizationPolicyFromIstio(m, { trustDomainBundle: { trustDomain: estate.trustDomain, aliases: estate.trustDomainAliases }, providers: estate.extensionProviders });
    if ('refused' in conv) return undefined;
    if (appliesTo(conv, pod.namespace, pod.labels, estate.rootNamespace)) out.push(conv.policy);
  }
  return out;
}

/**
 * Whether a CUSTOM policy's provider is asked about the sweep's own request to this port (M4): only then may a
 * non-200 answer be the provider's. Istio calls the provider only for requests a CUSTOM rule matches
 * (harness/istio/authz.ts `customJudge`, after I: pilot/pkg/security/authz/builder/builder.go buildHTTP), so a
 * policy for `/admin*` or another port never answers a GET / here. The sweep sends GET / from the minted identity
 * over mTLS and with no identity in plaintext; a provider asked about either may have answered. What the model does
 * not judge (a `when` on a header the sweep does not know, a refused policy…) counts as asked: never ruled out on a
 * guess. A dry-run CUSTOM policy counts as asked too (builder.go still puts it before ext_authz).
 */
export function customAsked(estate: Estate, pod: EstatePod, port: EstatePort, spiffeId: string): boolean {
  const policies = customPolicies(estate, pod);
  if (policies === undefined) return true;
  if (policies.length === 0) return false;
  const principal = spiffeId.replace(/^spiffe:\/\//, '');
  const namespace = /\/ns\/([^/]+)\//.exec(principal)?.[1];
  const base = { method: 'GET', path: SWEEP_PATH, host: sweepAuthority(port), port: port.port, http: true };
  return customJudge(policies, { ...base, principal, namespace }) !== undefined || customJudge(policies, base) !== undefined;
}

/** The Host the sweep sends to a port: its first Service's cluster-local name and port, else the address dialled. */
function sweepAuthority(port: EstatePort): string {
  return port.services[0]?.replace(/^([^/]+)\/([^:]+):(\d+)$/, '$2.$1.svc.cluster.local:$3') ?? port.dial;
}

function attacksFor(e: Endpoint, i: number, cert: MintedCert, timeoutMs: number): Attack[] {
  const authority = sweepAuthority(e.port);
  const plain: Attack = e.port.protocol === 'tcp' ? { kind: 'tcp', id: `p${i}`, dial: e.port.dial, timeoutMs } : { kind: 'http', id: `p${i}`, dial: e.port.dial, authority, path: SWEEP_PATH, timeoutMs };
  const mtls: TlsAttack = {
    kind: 'tls',
    id: `m${i}`,
    dial: e.port.dial,
    certChainPem: cert.chainPem,
    keyPem: cert.keyPem,
    // An Istio ALPN, so a PERMISSIVE port cannot route the handshake to its passthrough chain (§4b).
    alpn: e.port.protocol === 'tcp' ? ['istio'] : ['istio-http/1.1'],
    authority,
    path: SWEEP_PATH,
    capturePeer: true,
    timeoutMs,
  };
  return [plain, mtls];
}

function exemptionFor(ex: Exemption[], e: Endpoint): Exemption | undefined {
  return ex.find(
    (x) =>
      x.namespace === e.pod.namespace &&
      (x.pod === undefined || x.pod === e.pod.name) &&
      (x.port === undefined || x.port === e.port.port) &&
      (x.service === undefined || e.port.services.some((s) => s.startsWith(`${e.pod.namespace}/${x.service}:`))),
  );
}

const serviceKey = (r: { namespace: string; pod: string; services: string[] }) => {
  const s = r.services[0];
  return s ? s.replace(/:\d+$/, '') : `${r.namespace}/${r.pod} (no Service)`;
};

export async function sweep(o: SweepOptions): Promise<SweepResult> {
  const started = new Date();
  const runId = o.runId ?? randomUUID();
  const estate = await o.target.discover(o.scope);
  const probes = await o.target.probes(o.attacker);
  if (probes.length === 0) throw new InfraError(`no ready attacker pod ${o.attacker.namespace}/${o.attacker.name}`);
  const withSidecar = probes.find((p) => p.sidecar);
  // §9.1: a plaintext attacker must have no sidecar, or its traffic would be upgraded to mTLS.
  if (withSidecar) throw new InfraError(`attacker pod ${withSidecar.pod.name} runs a sidecar; the sweep needs a sidecar-less attacker`);
  const cert = await o.target.mintCertificate(probes[0]!, Math.max(3_600_000, o.attemptTimeoutMs * 10));
  const roots = await o.target.meshRoots();

  const excludedPorts = new Set(o.scope.excludePorts);
  const skipped = [...estate.skipped];
  const information: SweepReport['information'] = [];
  const endpoints: Endpoint[] = [];
  for (const pod of estate.pods) {
    if (pod.role === 'attacker') continue;
    if (pod.gateway) {
      // A gateway serves plaintext on its server ports by design (I-M7): judged as a gateway, not as a workload.
      information.push({ pod: `${pod.namespace}/${pod.name}`, note: `gateway (${pod.gateway}): its ports accept plaintext and callers by design, so SWEEP-MTLS and SWEEP-AUTHZ do not judge it as a workload; prove its edge with meshproof run --suite boundary --edge` });
      continue;
    }
    if (pod.gatewayClaim) {
      information.push({ pod: `${pod.namespace}/${pod.name}`, note: `carries a gateway's mark (${pod.gatewayClaim}) but runs no istio-proxy \`proxy router\`: judged as a workload (a label makes no gateway)` });
    }
    for (const port of pod.ports) {
      if (excludedPorts.has(port.port)) skipped.push({ pod: `${pod.namespace}/${pod.name}:${port.port}`, reason: '--exclude-ports' });
      else if (port.istioOwn) information.push({ pod: `${pod.namespace}/${pod.name}`, port: port.port, note: `${port.istioOwn}; not attacked` });
      else endpoints.push({ pod, port });
    }
  }
  // An exemption that matches no endpoint in scope is a mistake (a typo, a Service renamed, a namespace outside the
  // scope): refused before any attack, never silently ignored (it would hide the finding it was meant for later).
  const unmatched = o.exemptions.find((x) => !endpoints.some((e) => exemptionFor([x], e)));
  if (unmatched) {
    const what = [unmatched.namespace, unmatched.service && `service ${unmatched.service}`, unmatched.pod && `pod ${unmatched.pod}`, unmatched.port && `port ${unmatched.port}`].filter(Boolean).join(' ');
    throw new ConfigError(`--exemptions: ${unmatched.check} ${what} matches no endpoint in scope`);
  }

  // Batches of endpoints, pulled by one worker per probe: the cluster is the distributed engine.
  const batches: number[][] = [];
  for (let i = 0; i < endpoints.length; i += o.batchEndpoints) batches.push(endpoints.slice(i, i + o.batchEndpoints).map((_, k) => i + k));
  let done = 0;
  let logReads = 0;
  o.onProgress?.({ done: 0, total: endpoints.length });
  const { execs, incomplete } = await runSharded({
    probes,
    batches,
    concurrency: o.concurrency,
    ratePerSec: o.ratePerSec,
    signal: o.signal,
    attacksOf: (batch) => batch.flatMap((i) => attacksFor(endpoints[i]!, i, cert, o.attemptTimeoutMs)),
    onReport: async (batch, report, since) => {
      for (const ob of report.observations) {
        const i = Number(ob.id.slice(1));
        if (ob.id.startsWith('p')) endpoints[i]!.plaintext = ob;
        else endpoints[i]!.mtls = ob;
      }
      // Corroborated now, from this batch's short window (K-M1): a busy pod's log rotates, and a read at the end
      // of a long sweep would find early records gone.
      logReads += await corroborateBatch(
        o,
        batch.map((i) => endpoints[i]!),
        since,
      );
      done += batch.length;
      o.onProgress?.({ done, total: endpoints.length });
    },
  });
  const judged = endpoints.filter((e) => e.plaintext && e.mtls);

  // Judge every endpoint and pod.
  const maxCertLifetimeHours = o.maxCertLifetimeMs / 3_600_000;
  const results: EndpointResult[] = judged.map((e) => {
    let verdicts = judgeEndpoint({
      pod: e.pod,
      port: e.port,
      plaintext: e.plaintext,
      mtls: e.mtls,
      records: e.records ?? {},
      logProblem: e.logProblem,
      customPolicy: customAsked(estate, e.pod, e.port, cert.spiffeId),
      expectedSpiffeId: `spiffe://${estate.trustDomain}/ns/${e.pod.namespace}/sa/${e.pod.serviceAccount}`,
      maxCertLifetimeHours,
      roots,
    });
    const ex = exemptionFor(o.exemptions, e);
    if (ex) verdicts = verdicts.map((v) => (v.check === ex.check && v.outcome === 'finding' ? { ...v, outcome: 'exempt', reason: `${v.reason} — exempted: ${ex.reason}` } : v));
    const finding = verdicts.some((v) => v.outcome === 'finding' || v.outcome === 'exempt');
    const chain = e.mtls?.tls?.peerChainPem;
    return {
      namespace: e.pod.namespace,
      pod: e.pod.name,
      port: e.port.port,
      protocol: e.port.protocol,
      protocolFrom: e.port.protocolFrom,
      services: e.port.services,
      serviceAccount: e.pod.serviceAccount,
      sidecar: e.pod.sidecar,
      ...(e.pod.role ? { role: e.pod.role } : {}),
      verdicts,
      plaintext: e.plaintext ? summarize(e.plaintext) : undefined,
      mtls: e.mtls ? { ...summarize(e.mtls), ...(chain && chain.length > 0 ? { cert: certFacts(chain, roots) } : {}) } : undefined,
      ...(finding
        ? { explanation: { peerAuthentication: effectivePeerAuthentication(estate.snapshot, estate.rootNamespace, e.pod, e.port.port), authorizationPolicies: selectingPolicies(estate.snapshot, estate.rootNamespace, e.pod) } }
        : {}),
    };
  });
  const pods = estate.pods
    .filter((p) => p.role !== 'attacker')
    .map((p) => {
      const service = p.ports.flatMap((x) => x.services)[0]?.replace(/:\d+$/, '');
      return { namespace: p.namespace, pod: p.name, verdict: judgeInjection(p), ...(p.role ? { role: p.role } : {}), ...(service ? { service } : {}) };
    });

  // The canary: meshproof's own weak workloads must be flagged, or nothing this sweep says can be trusted.
  const expected: string[] = [];
  const missing: string[] = [];
  for (const [app, expects] of Object.entries(CANARY_EXPECTS)) {
    const canaryPods = estate.pods.filter((p) => p.role === 'canary' && p.namespace === estate.runNamespace && p.labels.app === app);
    for (const want of expects) {
      expected.push(`${app}: ${want}`);
      const [check, port] = want.split('@') as [SweepCheckId, string | undefined];
      const flagged =
        canaryPods.length > 0 &&
        canaryPods.every((p) =>
          check === 'SWEEP-INJECT'
            ? pods.find((x) => x.namespace === p.namespace && x.pod === p.name)?.verdict.outcome === 'finding'
            : results.some((r) => r.namespace === p.namespace && r.pod === p.name && r.port === Number(port) && r.verdicts.some((v) => v.check === check && v.outcome === 'finding')),
        );
      if (!flagged) missing.push(`${app}: ${want}${canaryPods.length === 0 ? ' (canary pod not found in scope)' : ''}`);
    }
  }
  const canary = { flagged: missing.length === 0, expected, missing };

  const checkResults: CheckResult[] = SWEEP_CHECKS.map((meta) => judgeCheck(meta, results, pods, canary, incomplete, endpoints.length, started));

  // The access matrix (--matrix), in the same run: the same estate, probes, settings and certificate rules.
  let matrix: MatrixOutcome | undefined;
  // The intent is resolved against this estate here, so the run's config hash covers what LEASTPRIV judged (M22-L6).
  const matrixOptions = o.matrix && !o.matrix.intent && o.matrix.resolveIntent ? { ...o.matrix, intent: await o.matrix.resolveIntent(estate) } : o.matrix;
  if (matrixOptions && !o.signal?.aborted) {
    matrix = await runMatrix(
      {
        target: o.target,
        estate,
        probes,
        roots,
        excludePorts: o.scope.excludePorts,
        attemptTimeoutMs: o.attemptTimeoutMs,
        concurrency: o.concurrency,
        ratePerSec: o.ratePerSec,
        batchEndpoints: o.batchEndpoints,
        accessLogDelayMs: o.accessLogDelayMs,
        signal: o.signal,
        onProgress: o.onMatrixProgress,
      },
      matrixOptions,
    );
    checkResults.push(...matrix.results);
  }
  const snapshot: Posture = { origin: ['cluster snapshot (discovery)'], objects: estate.snapshot.map((m, i) => ({ manifest: m, source: `snapshot#${i + 1}` })) };
  const description = await o.target.describe();
  const config = { kind: 'sweep', target: o.target.kind, scope: o.scope, exemptions: o.exemptions, snapshot: estate.snapshot, settings: { maxCertLifetimeHours, attemptTimeoutMs: o.attemptTimeoutMs }, ...(matrixOptions ? { matrix: { identities: matrixOptions.identities, identityNamespaces: matrixOptions.identityNamespaces, perPod: matrixOptions.perPod, probeGrants: matrixOptions.probeGrants, intent: matrixOptions.intent } } : {}) };
  const run: RunResult = {
    runId,
    tool: { name: 'meshproof', version: VERSION, commit: toolCommit() },
    configHash: createHash('sha256').update(canonicalJson(config)).digest('hex'),
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    command: o.command ?? [],
    posture: snapshot.origin,
    target: description,
    results: checkResults,
    requirements: { required: [], unmet: [] },
    exitCode: exitCodeOf(checkResults.map((r) => r.verdict)),
  };
  const report: SweepReport = {
    scope: { inScope: estate.namespaces.map((n) => n.name), left: estate.left, excludePorts: o.scope.excludePorts },
    counts: {
      namespaces: estate.namespaces.length,
      services: estate.services.length,
      pods: pods.length,
      endpoints: endpoints.length,
      judged: judged.length,
      probes: probes.length,
      execs,
      logReads,
    },
    endpoints: results,
    pods,
    canary,
    exemptions: o.exemptions,
    incomplete: incomplete || (matrix?.incomplete ?? false),
    listings: estate.listings,
    skipped,
    information,
    settings: { attemptTimeoutMs: o.attemptTimeoutMs, concurrency: o.concurrency, ratePerSec: o.ratePerSec, batchEndpoints: o.batchEndpoints, maxCertLifetimeHours },
    ...(matrix ? { matrix: matrix.report } : {}),
  };
  run.sweep = report;
  return { run, report, snapshot };
}

function judgeCheck(
  meta: CheckMeta,
  results: EndpointResult[],
  pods: SweepReport['pods'],
  canary: SweepReport['canary'],
  incomplete: boolean,
  total: number,
  started: Date,
): CheckResult {
  // Per Service (or per pod without one): the unit JUnit and the HTML show.
  const groups = new Map<string, { verdicts: { where: string; v: EndpointVerdict }[] }>();
  const add = (key: string, where: string, v: EndpointVerdict) => {
    const g = groups.get(key) ?? { verdicts: [] };
    g.verdicts.push({ where, v });
    groups.set(key, g);
  };
  if (meta.id === 'SWEEP-INJECT') {
    for (const p of pods) if (p.role !== 'canary') add(p.service ?? `${p.namespace}/${p.pod} (no Service)`, p.pod, p.verdict);
  } else {
    for (const r of results) {
      if (r.role === 'canary') continue;
      // A check that does not apply to an endpoint (no sidecar: no certificate to judge) makes no case of it: a
      // Service whose every endpoint is not-applicable must not read as a pass.
      for (const v of r.verdicts) if (v.check === meta.id && v.outcome !== 'not-applicable') add(serviceKey(r), `${r.pod}:${r.port}`, v);
    }
  }
  const cases = [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([label, g]) => {
      const findings = g.verdicts.filter((x) => x.v.outcome === 'finding');
      const inconclusive = g.verdicts.filter((x) => x.v.outcome === 'inconclusive');
      const exempt = g.verdicts.filter((x) => x.v.outcome === 'exempt');
      const verdict: 'pass' | 'fail' | 'error' = findings.length > 0 ? 'fail' : inconclusive.length > 0 ? 'error' : 'pass';
      const pick = findings.length > 0 ? findings : inconclusive.length > 0 ? inconclusive : exempt.length > 0 ? exempt : g.verdicts.slice(0, 1);
      const reason = pick
        .slice(0, 5)
        .map((x) => `${x.where}: ${x.v.reason}`)
        .join('; ')
        .concat(pick.length > 5 ? `; … ${pick.length - 5} more` : '');
      return { label, verdict, reason, observed: g.verdicts.map((x) => ({ where: x.where, outcome: x.v.outcome, reason: x.v.reason })) };
    });
  const fails = cases.filter((c) => c.verdict === 'fail');
  const errors = cases.filter((c) => c.verdict === 'error');
  let verdict: Verdict;
  let reason: string;
  if (!canary.flagged) {
    verdict = 'error';
    reason = `the canary was not flagged (${canary.missing.join('; ')}): this sweep cannot show a failure, so none of its passes count`;
  } else if (fails.length > 0) {
    verdict = 'fail';
    reason = `${fails.length} of ${cases.length} services: ${fails
      .slice(0, 3)
      .map((c) => `${c.label} (${c.reason})`)
      .join('; ')}${fails.length > 3 ? '; …' : ''}`;
  } else if (incomplete) {
    verdict = 'error';
    reason = `incomplete: interrupted with ${results.length} of ${total} endpoints judged`;
  } else if (errors.length > 0) {
    verdict = 'error';
    reason = `${errors.length} of ${cases.length} services inconclusive: ${errors[0]!.label} (${errors[0]!.reason})`;
  } else if (cases.length === 0) {
    verdict = 'not-applicable';
    reason = 'no workload in scope';
  } else {
    verdict = 'pass';
    reason = `${cases.length} services, ${cases.reduce((n, c) => n + c.observed.length, 0)} ${meta.id === 'SWEEP-INJECT' ? 'pods' : 'endpoints'}; canary flagged`;
  }
  return {
    id: meta.id,
    title: meta.title,
    suite: 'sweep',
    claim: meta.claim,
    controls: controlsFor(meta.categories),
    categories: meta.categories,
    method: meta.id === 'SWEEP-INJECT' ? 'EXAMINE' : 'TEST',
    weakenedBy: ['the canary (fixtures/sweep)'],
    verdict,
    reason,
    startedAt: started.toISOString(),
    durationMs: Date.now() - started.getTime(),
    cases,
  };
}

/**
 * A sweep's findings keyed so they compare across runs, where pod names change: `check ns/service:port` (pods
 * without a Service by their name), the canary left out. `compare` counts a key new in the candidate as a regression.
 */
export function findingKeys(report: Pick<SweepReport, 'endpoints' | 'pods'>): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of report.endpoints) {
    if (e.role === 'canary') continue;
    for (const v of e.verdicts) if (v.outcome === 'finding') out.set(`${v.check} ${serviceKey(e)}:${e.port}`, `${e.pod}: ${v.reason}`);
  }
  for (const p of report.pods) {
    if (p.role !== 'canary' && p.verdict.outcome === 'finding') out.set(`SWEEP-INJECT ${p.service ?? `${p.namespace}/${p.pod} (no Service)`}`, `${p.pod}: ${p.verdict.reason}`);
  }
  return out;
}

/** How sure an outcome is that the endpoint is held, worst last: a Service's replicas share a key, the worst wins. */
const OUTCOME_RANK: Record<EndpointVerdict['outcome'], number> = { ok: 0, 'not-applicable': 1, exempt: 2, inconclusive: 3, finding: 4 };

/**
 * Every outcome of a sweep, keyed as `findingKeys` keys findings (`check ns/service:port`, the canary left out),
 * so `compare` sees an endpoint that was proven held and is now inconclusive or gone (A-M2), not only new findings.
 */
export function outcomeKeys(report: Pick<SweepReport, 'endpoints' | 'pods'>): Map<string, { outcome: EndpointVerdict['outcome']; why: string }> {
  const out = new Map<string, { outcome: EndpointVerdict['outcome']; why: string }>();
  const put = (key: string, v: EndpointVerdict, pod: string) => {
    const had = out.get(key);
    if (!had || OUTCOME_RANK[v.outcome] > OUTCOME_RANK[had.outcome]) out.set(key, { outcome: v.outcome, why: `${pod}: ${v.reason}` });
  };
  for (const e of report.endpoints) {
    if (e.role === 'canary') continue;
    for (const v of e.verdicts) put(`${v.check} ${serviceKey(e)}:${e.port}`, v, e.pod);
  }
  for (const p of report.pods) if (p.role !== 'canary') put(`SWEEP-INJECT ${p.service ?? `${p.namespace}/${p.pod} (no Service)`}`, p.verdict, p.pod);
  return out;
}

/** One line of what a sweep found, per namespace/Service/port: what the summary, the annotations and the PolicyReport list. */
export interface SweepRow {
  check: SweepCheckId;
  namespace: string;
  /** The Service (or `pod (no Service)`), without its namespace. */
  service: string;
  /** Absent for SWEEP-INJECT, which judges pods, not ports. */
  port?: number;
  outcome: 'finding' | 'inconclusive' | 'exempt';
  /** The first pod's reason (replicas of a Service share it) and how many pods had this outcome. */
  reason: string;
  pods: number;
}

/** Where a row is: `namespace/service:port` (no port for SWEEP-INJECT, which judges pods). */
export const rowPlace = (r: SweepRow) => `${r.namespace}/${r.service}${r.port === undefined ? '' : `:${r.port}`}`;

const ROW_RANK: Record<SweepRow['outcome'], number> = { finding: 0, inconclusive: 1, exempt: 2 };

/**
 * Every finding, inconclusive and exempt outcome of a sweep, one row per check and namespace/Service/port (the
 * canary left out: it is the control, not a finding), findings first. Keyed as `findingKeys` keys them.
 */
export function sweepRows(report: Pick<SweepReport, 'endpoints' | 'pods'>): SweepRow[] {
  const rows = new Map<string, SweepRow>();
  const put = (check: SweepCheckId, key: string, port: number | undefined, pod: string, v: EndpointVerdict) => {
    if (v.outcome !== 'finding' && v.outcome !== 'inconclusive' && v.outcome !== 'exempt') return;
    const id = `${check} ${key}${port === undefined ? '' : `:${port}`} ${v.outcome}`;
    const had = rows.get(id);
    if (had) {
      had.pods++;
      return;
    }
    const slash = key.indexOf('/');
    rows.set(id, { check, namespace: key.slice(0, slash), service: key.slice(slash + 1), ...(port === undefined ? {} : { port }), outcome: v.outcome, reason: `${pod}: ${v.reason}`, pods: 1 });
  };
  for (const e of report.endpoints) {
    if (e.role === 'canary') continue;
    for (const v of e.verdicts) put(v.check, serviceKey(e), e.port, e.pod, v);
  }
  for (const p of report.pods) if (p.role !== 'canary') put('SWEEP-INJECT', p.service ?? `${p.namespace}/${p.pod} (no Service)`, undefined, p.pod, p.verdict);
  const order = (r: SweepRow) => `${r.namespace}/${r.service}:${String(r.port ?? 0).padStart(5, '0')} ${r.check}`;
  return [...rows.values()].sort((a, b) => ROW_RANK[a.outcome] - ROW_RANK[b.outcome] || order(a).localeCompare(order(b)));
}

/** A sweep's counts as its summaries give them: endpoints in scope and judged, and outcomes per (endpoint, check) and (pod, SWEEP-INJECT), the canary left out. */
export function sweepTally(report: Pick<SweepReport, 'endpoints' | 'pods' | 'counts'>): { endpoints: number; judged: number; findings: number; exempt: number; inconclusive: number } {
  const t = { endpoints: report.counts.endpoints, judged: report.counts.judged, findings: 0, exempt: 0, inconclusive: 0 };
  const count = (v: EndpointVerdict) => {
    if (v.outcome === 'finding') t.findings++;
    else if (v.outcome === 'exempt') t.exempt++;
    else if (v.outcome === 'inconclusive') t.inconclusive++;
  };
  for (const e of report.endpoints) if (e.role !== 'canary') e.verdicts.forEach(count);
  for (const p of report.pods) if (p.role !== 'canary') count(p.verdict);
  return t;
}

export function parseExemptions(doc: unknown, file: string): Exemption[] {
  const list = (doc as { exemptions?: unknown } | null)?.exemptions;
  if (!Array.isArray(list)) throw new ConfigError(`${file}: expected a mapping with a list under \`exemptions\``);
  return list.map((x, i) => {
    const e = x as Partial<Exemption>;
    const where = `${file}: exemptions[${i}]`;
    if (typeof e !== 'object' || e === null) throw new ConfigError(`${where}: must be a mapping`);
    for (const k of Object.keys(e)) if (!['check', 'namespace', 'service', 'pod', 'port', 'reason'].includes(k)) throw new ConfigError(`${where}: unknown field ${k}`);
    if ((e.check ?? 'SWEEP-AUTHZ') !== 'SWEEP-AUTHZ') throw new ConfigError(`${where}: only SWEEP-AUTHZ findings can be exempted (plaintext, missing sidecars and bad certificates cannot)`);
    if (typeof e.namespace !== 'string' || e.namespace === '') throw new ConfigError(`${where}: namespace is required`);
    if (typeof e.reason !== 'string' || e.reason.trim().length < 10) throw new ConfigError(`${where}: a reason of at least 10 characters is required (it goes into the evidence)`);
    if (e.port !== undefined && (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535)) throw new ConfigError(`${where}: port must be a port number`);
    if (e.service !== undefined && typeof e.service !== 'string') throw new ConfigError(`${where}: service must be a name`);
    if (e.pod !== undefined && typeof e.pod !== 'string') throw new ConfigError(`${where}: pod must be a name`);
    return { check: 'SWEEP-AUTHZ', namespace: e.namespace, reason: e.reason.trim(), ...(e.service ? { service: e.service } : {}), ...(e.pod ? { pod: e.pod } : {}), ...(e.port ? { port: e.port } : {}) };
  });
}

export { LOG_LIMIT_BYTES, recordOf, SWEEP_CHECK_IDS };
