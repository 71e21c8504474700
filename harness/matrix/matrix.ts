// The access matrix engine (`meshproof sweep --matrix`, issue 22): every identity of the estate against every Service
// port in scope. For each cell, what the AuthorizationPolicies grant that identity (through the Istio model), one mTLS
// attack with the identity's genuine certificate on a request outside that grant (judged as SWEEP-AUTHZ judges its
// attempt: a refusal only with the destination's record), optionally a grant probe inside it, and the grant held
// against the declared intent. Attempts are batched and sharded across the sweep's attacker probes exactly as the
// sweep's are (attempts.ts), with one certificate per identity, re-minted before it runs short. Canary cells prove
// the matrix can fail.
import { randomUUID } from 'node:crypto';
import type { Attack, Observation } from '../../agent/protocol.js';
import type { CheckResult } from '../engine.js';
import type { Verdict } from '../check.js';
import { controlsFor } from '../controls.js';
import { ConfigError, messageOf } from '../errors.js';
import type { AuthzPolicy } from '../istio/authz.js';
import { appliesTo, authorizationPolicyFromIstio, forWorkload } from '../istio/authz-policy.js';
import type { MintedCert, ProbeHandle, Target } from '../target.js';
import { type RecordReader, readDestinationRecords, recordOf, runSharded, summarize } from '../sweep/attempts.js';
import type { Estate, EstatePod, EstatePort, EstateService } from '../sweep/estate.js';
import { type DestinationRecord, judgeIdentityAttempt, meshHandshake, plaintextReachedApp } from '../sweep/judge.js';
import { beyondIntent, cellGrant, type DeclaredCall, type GrantQuery, grantRuleText, requestInsideGrant, requestOutsideGrant } from '../istio/grants.js';
import { CELL_STATES, type CellGrant, type CellIntent, type CellState, type DeclaredNotGranted, type MatrixAttempt, type MatrixCell, type MatrixIdentity, type MatrixReport, type MatrixRequest } from './types.js';

import { MATRIX_CHECKS } from './checks.js';

export { MATRIX_CHECKS, type MatrixCheckId, type MatrixCheckMeta } from './checks.js';

/**
 * The declared calls, resolved to identities and Services (harness/matrix/intent.ts `resolveIntent` produces it).
 * `namespaces`: where some ClientIntents exists, so an identity there that declares nothing has declared nothing (all
 * its grants are beyond); an identity elsewhere has `no-intent`.
 */
export interface MatrixIntent {
  source: string;
  namespaces: string[];
  /** Each entry: one identity's calls to one Service (port: all ports when absent); `calls: []` = the whole Service. */
  calls: { identity: string; namespace: string; service: string; port?: number; calls: DeclaredCall[] }[];
}

export interface MatrixOptions {
  /** `--identities ns/sa,…`: exactly these (the canary identities are always added). */
  identities?: string[];
  /** `--identity-namespaces a,b`: the identities of these namespaces. */
  identityNamespaces?: string[];
  /** `--per-pod`: one cell per pod instead of the first ready pod (by name) of each Service. */
  perPod: boolean;
  /** `--probe-grants`: a nonce request inside each grant too (always on in the lab). */
  probeGrants: boolean;
  intent?: MatrixIntent;
  /**
   * The certificate life to ask istiod for (default `certificateTtlMs`, sized from the run); the lab's tests set a
   * short one to exercise the re-mint (M22-L4).
   */
  certTtlMs?: number;
  /** Resolves the intent against the discovered estate (workloads to service accounts) when `intent` is absent. */
  resolveIntent?: (estate: Estate) => Promise<MatrixIntent | undefined>;
}

/** What the sweep hands the matrix: its discovered estate, its probes, and its settings. */
export interface MatrixContext {
  target: Target;
  estate: Estate;
  probes: ProbeHandle[];
  roots: string[];
  excludePorts: number[];
  attemptTimeoutMs: number;
  concurrency: number;
  ratePerSec: number;
  batchEndpoints: number;
  accessLogDelayMs: number;
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number }) => void;
}

export interface MatrixOutcome {
  report: MatrixReport;
  results: CheckResult[];
  incomplete: boolean;
}

/** The canary's service accounts and workloads in the run namespace (fixtures/sweep/sweep.yaml). */
export const CANARY_CALLER = 'canary-caller';
export const CANARY_TARGET = 'canary-target';
const CANARY_SA = 'canary';
const CANARY_BARE = 'canary-bare';

/** meshproof's built-in canary intent: canary-caller declares only `GET /healthz` on canary-target. */
export function canaryIntent(runNamespace: string): MatrixIntent['calls'] {
  return [{ identity: `${runNamespace}/${CANARY_CALLER}`, namespace: runNamespace, service: CANARY_TARGET, calls: [{ methods: ['GET'], path: '/healthz' }] }];
}

/** What the matrix canary must show, every run, or both matrix checks are `error`. */
export function canaryExpectations(runNamespace: string): { identity: string; service: string; port?: number; state: CellState }[] {
  return [
    { identity: `${runNamespace}/${CANARY_CALLER}`, service: CANARY_TARGET, state: 'beyond-intent' },
    { identity: `${runNamespace}/${CANARY_SA}`, service: CANARY_TARGET, state: 'refused' },
    { identity: `${runNamespace}/${CANARY_SA}`, service: CANARY_BARE, port: 8080, state: 'hole' },
  ];
}

const idOf = (i: { namespace: string; serviceAccount: string }) => `${i.namespace}/${i.serviceAccount}`;

/**
 * The identities: every service account that runs a pod in scope (the sweeper excluded), filtered by
 * `--identities`/`--identity-namespaces`; the run namespace's are the canary's and always kept.
 */
export function matrixIdentities(estate: Estate, o: Pick<MatrixOptions, 'identities' | 'identityNamespaces'>): MatrixIdentity[] {
  const byId = new Map<string, MatrixIdentity>();
  const attackers = new Set(estate.pods.filter((p) => p.role === 'attacker').map((p) => idOf({ namespace: p.namespace, serviceAccount: p.serviceAccount })));
  for (const p of [...estate.pods].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))) {
    if (p.role === 'attacker') continue;
    const key = idOf({ namespace: p.namespace, serviceAccount: p.serviceAccount });
    if (attackers.has(key)) continue;
    const canary = p.namespace === estate.runNamespace;
    const had = byId.get(key) ?? { namespace: p.namespace, serviceAccount: p.serviceAccount, spiffeId: `spiffe://${estate.trustDomain}/ns/${p.namespace}/sa/${p.serviceAccount}`, pods: [], ...(canary ? { role: 'canary' as const } : {}) };
    had.pods.push(`${p.namespace}/${p.name}`);
    byId.set(key, had);
  }
  const named = o.identities ? new Set(o.identities) : undefined;
  if (named) {
    for (const n of named) {
      if (!/^[^/\s]+\/[^/\s]+$/.test(n)) throw new ConfigError(`--identities ${n}: expected namespace/serviceaccount`);
      if (!byId.has(n)) throw new ConfigError(`--identities ${n}: no ready pod in scope runs this service account`);
    }
  }
  const namespaces = o.identityNamespaces ? new Set(o.identityNamespaces) : undefined;
  if (namespaces) for (const n of namespaces) if (!estate.namespaces.some((x) => x.name === n)) throw new ConfigError(`--identity-namespaces ${n}: not a namespace in scope`);
  return [...byId.entries()].filter(([key, i]) => i.role === 'canary' || ((!named || named.has(key)) && (!namespaces || namespaces.has(i.namespace)))).map(([, i]) => i);
}

/** One column of the matrix where it is attacked: a Service port, on one pod (`--per-pod`: each pod). */
export interface MatrixTarget {
  namespace: string;
  service: string;
  servicePort: number;
  pod: EstatePod;
  port: EstatePort;
  /** The Host the attempts send: the Service's cluster-local name and port. */
  authority: string;
  role?: 'canary';
}

/**
 * Every Service port in scope, on the first ready pod of the Service by name (`perPod`: every pod). Gateways, the
 * sidecar's own ports, excluded ports and the attackers are skipped, as the sweep skips them.
 */
export function matrixTargets(estate: Estate, o: { perPod: boolean; excludePorts: number[] }): MatrixTarget[] {
  const excluded = new Set(o.excludePorts);
  const out: MatrixTarget[] = [];
  const pods = [...estate.pods].filter((p) => p.role !== 'attacker' && !p.gateway).sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  const seen = new Set<string>();
  for (const pod of pods) {
    for (const port of pod.ports) {
      if (port.istioOwn || excluded.has(port.port)) continue;
      for (const s of port.services) {
        const m = /^([^/]+)\/([^:]+):(\d+)$/.exec(s);
        if (!m) continue;
        const [, namespace, service, sp] = m as unknown as [string, string, string, string];
        const key = `${namespace}/${service}:${sp}`;
        if (!o.perPod && seen.has(key)) continue;
        seen.add(key);
        out.push({ namespace, service, servicePort: Number(sp), pod, port, authority: `${service}.${namespace}.svc.cluster.local:${sp}`, ...(namespace === estate.runNamespace ? { role: 'canary' as const } : {}) });
      }
    }
  }
  return out;
}

/**
 * The AuthorizationPolicies that apply to the pod, through the model's front end (as customPolicies in sweep.ts), or
 * why the model cannot say: a policy it refuses in the pod's namespace or the root namespace may apply.
 */
export function policiesFor(estate: Estate, pod: EstatePod): AuthzPolicy[] | { refused: string } {
  const out: AuthzPolicy[] = [];
  for (const m of estate.snapshot) {
    if (m.kind !== 'AuthorizationPolicy') continue;
    const ns = m.metadata.namespace ?? '';
    if (ns !== pod.namespace && ns !== estate.rootNamespace) continue;
    const conv = authorizationPolicyFromIstio(m, { trustDomainBundle: { trustDomain: estate.trustDomain, aliases: estate.trustDomainAliases }, providers: estate.extensionProviders });
    if ('refused' in conv) return { refused: `AuthorizationPolicy ${ns}/${m.metadata.name}: ${conv.refused}` };
    if (appliesTo(conv, pod.namespace, pod.labels, estate.rootNamespace)) out.push(conv.policy);
  }
  return forWorkload(out);
}

/** A cell's state from its parts (HELPER-ISSUE22.md "Cell state"), worst first. */
export function cellState(c: Pick<MatrixCell, 'grant' | 'intent' | 'attack'>): CellState {
  if (c.attack?.outcome === 'hole') return 'hole';
  if (c.grant.kind === 'not-judged') return 'not-judged';
  if (c.intent.beyond.length > 0) return 'beyond-intent';
  if (c.grant.kind === 'partial' || c.grant.kind === 'all') return 'granted';
  if (c.attack?.outcome === 'refused') return 'refused';
  return 'inconclusive';
}

interface Work {
  cell: MatrixCell;
  target: MatrixTarget;
  identity: MatrixIdentity;
  custom: boolean;
  attackRequest?: MatrixRequest;
  probeRequest?: MatrixRequest;
  attackObs?: Observation;
  probeObs?: Observation;
  attackRecord?: DestinationRecord;
  probeRecord?: DestinationRecord;
  logProblem?: string;
  /** Why this cell's attempts were not sent: its identity has no certificate (M22-M1). */
  noCertificate?: string;
  settled?: boolean;
}

/**
 * Whether a declared call to a Service speaks of this cell. Otterize's generated AuthorizationPolicy selects the
 * declared Service's PODS, by the Service's own selector, and names no ports (otterize/intents-operator
 * src/operator/controllers/istiopolicy/policy_manager.go `generateAuthorizationPolicy`: `Selector.MatchLabels` from
 * src/operator/api/v2alpha1/otterize_labels.go `ServiceIdentityToLabelsForWorkloadSelection`, which returns
 * `maps.Clone(svc.Spec.Selector)` for kind Service; the rule has no `ports`). So "client calls Service S" covers
 * every cell whose attacked pod is one of S's pods, whatever other Service or port names the cell (a headless or
 * metrics Service over the same pods) (M22-M2). A call pinned to a port speaks of that Service port only.
 */
function callSpeaksOf(c: MatrixIntent['calls'][number], t: MatrixTarget, services: EstateService[]): boolean {
  if (c.namespace !== t.namespace) return false;
  if (c.service === t.service) return c.port === undefined || c.port === t.servicePort;
  if (c.port !== undefined) return false;
  const svc = services.find((s) => s.namespace === c.namespace && s.name === c.service);
  return svc !== undefined && svc.namespace === t.pod.namespace && Object.keys(svc.selector).length > 0 && Object.entries(svc.selector).every(([k, v]) => t.pod.labels[k] === v);
}

/** Which declared calls of an identity speak of this Service port: undefined when the identity has no intent. */
function declaredFor(intent: MatrixIntent | undefined, identity: MatrixIdentity, t: MatrixTarget, estate: Pick<Estate, 'runNamespace' | 'services'>): { status: CellIntent['status']; calls?: DeclaredCall[] } {
  const id = idOf(identity);
  const runNamespace = estate.runNamespace;
  const inRun = identity.namespace === runNamespace;
  const calls = [...(inRun ? canaryIntent(runNamespace) : (intent?.calls ?? []))].filter((c) => c.identity === id && callSpeaksOf(c, t, estate.services));
  if (calls.length > 0) return { status: 'declared', calls: calls.flatMap((c) => (c.calls.length === 0 ? [{}] : c.calls)) };
  const covered = inRun || (intent?.namespaces.includes(identity.namespace) ?? false);
  return covered ? { status: 'not-declared', calls: [] } : { status: 'no-intent' };
}

function attackFor(w: Work, req: MatrixRequest, id: string, cert: MintedCert, timeoutMs: number): Attack {
  const t = w.target;
  if (!t.pod.sidecar) {
    // No sidecar at the destination: the caller's sidecar would send plaintext (auto mTLS upgrades only towards a
    // sidecar), and nothing there enforces any policy; the identity cannot be presented, so none is.
    return req.kind === 'tcp' ? { kind: 'tcp', id, dial: t.port.dial, timeoutMs } : { kind: 'http', id, dial: t.port.dial, authority: req.host ?? t.authority, method: req.method ?? 'GET', path: req.path ?? '/', timeoutMs };
  }
  return {
    kind: 'tls',
    id,
    dial: t.port.dial,
    certChainPem: cert.chainPem,
    keyPem: cert.keyPem,
    // An Istio ALPN, so a PERMISSIVE port cannot route the handshake to its passthrough chain (§4b).
    alpn: req.kind === 'tcp' ? ['istio'] : ['istio-http/1.1'],
    // A Host a policy's `hosts`/`notHosts` draws when the attack needs one (grants.ts requestOutsideGrant).
    authority: req.host ?? t.authority,
    path: req.path ?? '/',
    method: req.method ?? 'GET',
    // The server's chain proves a sidecar terminated the handshake (meshHandshake); it stays in memory, never in matrix.json.
    capturePeer: true,
    timeoutMs,
  };
}

/** One attempt judged: the attack expects a refusal (a reach is a hole), the grant probe expects to reach the app. */
function judgeAttempt(w: Work, kind: 'attack' | 'probe', roots: string[]): MatrixAttempt | undefined {
  const req = kind === 'attack' ? w.attackRequest : w.probeRequest;
  const o = kind === 'attack' ? w.attackObs : w.probeObs;
  if (!req) return undefined;
  if (w.noCertificate) return { request: req, outcome: 'inconclusive', reason: w.noCertificate };
  const rec = kind === 'attack' ? w.attackRecord : w.probeRecord;
  const base = { request: req, ...(rec ? { record: rec } : {}), ...(o ? { attempt: summarize(o) } : {}) };
  if (!o) return { ...base, outcome: 'inconclusive', reason: 'no attempt was made (interrupted)' };
  const reachedAs = kind === 'attack' ? ('hole' as const) : ('reached' as const);
  if (!w.target.pod.sidecar) {
    if (plaintextReachedApp(o, rec, false)) return { ...base, outcome: reachedAs, reason: 'no sidecar at the destination: the app answered, and nothing there enforces any policy' };
    return { ...base, outcome: 'inconclusive', reason: 'no sidecar at the destination: no answer from the app, and no record of any refusal exists' };
  }
  const hs = meshHandshake(o, roots);
  if (!hs.ok) return { ...base, outcome: 'inconclusive', reason: `the identity could not reach the port: ${hs.reason}` };
  const j = judgeIdentityAttempt(o, rec, w.custom, w.logProblem ?? 'the destination has no record of this attempt', req.method);
  return { ...base, outcome: j.outcome === 'reached' ? reachedAs : j.outcome, reason: j.reason };
}

/** A cell's attempts judged, its state set, its observations released. */
function settle(w: Work, roots: string[]): void {
  const attack = judgeAttempt(w, 'attack', roots);
  const probe = judgeAttempt(w, 'probe', roots);
  if (attack) w.cell.attack = attack;
  if (probe) w.cell.grantProbe = probe;
  if (w.noCertificate && !attack) w.cell.notAttacked = `${w.cell.notAttacked ?? 'not attacked'}; grant probe not sent: ${w.noCertificate}`;
  // No certificate: nothing was sent, so nothing about this cell's enforcement is known (never a pass).
  w.cell.state = w.noCertificate ? 'inconclusive' : cellState(w.cell);
  w.attackObs = undefined;
  w.probeObs = undefined;
  w.settled = true;
}

/** Builds the cells and the work for them: grant, intent and the attempts each cell sends. */
function planCells(ctx: MatrixContext, o: MatrixOptions, identities: MatrixIdentity[], targets: MatrixTarget[]): Work[] {
  const { estate } = ctx;
  const policyCache = new Map<string, AuthzPolicy[] | { refused: string }>();
  const work: Work[] = [];
  for (const identity of identities) {
    for (const t of targets) {
      // Canary identities attack only canary targets; estate identities only estate targets.
      if ((identity.role === 'canary') !== (t.role === 'canary')) continue;
      const podKey = `${t.pod.namespace}/${t.pod.name}`;
      let policies = policyCache.get(podKey);
      if (!policies) {
        policies = policiesFor(estate, t.pod);
        policyCache.set(podKey, policies);
      }
      const nonce = randomUUID().replaceAll('-', '');
      const q: GrantQuery | undefined = Array.isArray(policies)
        ? { policies, principal: identity.spiffeId.replace(/^spiffe:\/\//, ''), namespace: identity.namespace, workloadNamespace: t.pod.namespace, port: t.port.port, http: t.port.protocol !== 'tcp', host: t.authority }
        : undefined;
      const declared = declaredFor(o.intent, identity, t, estate);
      const grant: CellGrant = q ? cellGrant(q, nonce, declared.calls ?? []) : { kind: 'not-judged', scope: [], rules: [], reason: (policies as { refused: string }).refused };
      const intent: CellIntent = { status: declared.status, beyond: q && declared.calls && grant.kind !== 'not-judged' ? beyondIntent(q, nonce, declared.calls) : [] };
      const cell: MatrixCell = {
        identity: idOf(identity),
        namespace: t.namespace,
        service: t.service,
        port: t.servicePort,
        targetPort: t.port.port,
        protocol: t.port.protocol,
        pod: t.pod.name,
        grant,
        intent,
        state: 'inconclusive',
        ...(identity.role === 'canary' ? { role: 'canary' as const } : {}),
      };
      const w: Work = { cell, target: t, identity, custom: Array.isArray(policies) && policies.some((p) => p.action === 'CUSTOM') };
      if (grant.kind === 'not-judged' || !q) cell.notAttacked = `not judged: ${grant.reason ?? 'the model cannot say'}`;
      else {
        const out = requestOutsideGrant(q, nonce);
        if ('none' in out) cell.notAttacked = out.none;
        else w.attackRequest = out;
        if (o.probeGrants && grant.kind !== 'none') {
          const inside = requestInsideGrant(q, `${nonce}g`);
          if (!('none' in inside)) w.probeRequest = inside;
        }
      }
      work.push(w);
    }
  }
  return work;
}

/** istio security/pkg/cmd/constants.go `DefaultWorkloadCertTTL = 24 * time.Hour`: well under the default maximum (90 d). */
const DEFAULT_WORKLOAD_CERT_TTL_MS = 24 * 3_600_000;

/**
 * How much life a certificate must have left before a batch is sent with it (M22-L4): the batch's own sending time
 * (up to two attempts per cell at this probe's share of the rate), its slowest attempt twice over (a handshake and a
 * retry of the read), and the wait for the destination's record.
 */
export function certificateMarginMs(ctx: Pick<MatrixContext, 'attemptTimeoutMs' | 'batchEndpoints' | 'ratePerSec' | 'accessLogDelayMs'> & { probes: number }): number {
  const sendMs = Math.ceil(((2 * ctx.batchEndpoints * Math.max(1, ctx.probes)) / Math.max(1, ctx.ratePerSec)) * 1000);
  return 2 * ctx.attemptTimeoutMs + sendMs + ctx.accessLogDelayMs;
}

/**
 * The certificate life to ask for: the whole matrix's planned work (every batch, one probe after another, each
 * within its margin) plus one margin, at least 10 minutes (so small runs mint once), at most istiod's default
 * workload TTL (24 h), which a default istiod grants (its maximum is 90 d; security/pkg/pki/ca/ca.go `IstioCA.sign`
 * refuses, never caps, a TTL over MAX_WORKLOAD_CERT_TTL). A longer matrix re-mints (Certificates.for).
 */
export function certificateTtlMs(marginMs: number, batches: number, probes: number): number {
  const workMs = Math.ceil(batches / Math.max(1, probes)) * marginMs + marginMs;
  return Math.min(DEFAULT_WORKLOAD_CERT_TTL_MS, Math.max(600_000, workMs));
}

/** Why a mint failed, for the cells' reason; istiod's TTL refusal says so (M22-M1). Targets put no token or key in errors. */
function mintFailure(id: string, e: unknown, ttlMs: number): string {
  const m = messageOf(e);
  const ttl = /greater than the max allowed TTL (\S+)/.exec(m);
  const why = ttl
    ? `istiod refuses a certificate TTL over its maximum (MAX_WORKLOAD_CERT_TTL ${ttl[1]?.replace(/\)$/, '')}; meshproof asked ${Math.ceil(ttlMs / 1000)} s): ${m}`
    : m;
  return `no certificate for ${id}, so none of its attempts was sent: ${why}`;
}

/**
 * Each identity's certificate, minted through the Target when its first batch is sent and re-minted when less than
 * the margin of its life remains (M22-L4): the planned margin, or twice the slowest batch seen so far if longer. A failure is kept on that identity (M22-M1): its cells are inconclusive
 * with the reason, the rest of the matrix goes on. Never written anywhere.
 */
class Certificates {
  private readonly held = new Map<string, Promise<MintedCert | { failed: string }>>();
  minted = 0;
  /** The slowest batch so far, from exec to judged (process start, a loaded machine): the margin is at least twice it. */
  private slowestBatchMs = 0;
  constructor(
    private readonly ctx: MatrixContext,
    private readonly ttlMs: number,
    private readonly planned: number,
  ) {}

  get marginMs(): number {
    return Math.max(this.planned, 2 * this.slowestBatchMs);
  }

  batchTook(ms: number): void {
    this.slowestBatchMs = Math.max(this.slowestBatchMs, ms);
  }

  async for(identity: MatrixIdentity): Promise<MintedCert | { failed: string }> {
    const id = idOf(identity);
    const had = this.held.get(id);
    if (had) {
      const c = await had;
      if ('failed' in c || c.notAfter.getTime() - Date.now() >= this.marginMs) return c;
      if (this.held.get(id) !== had) return this.for(identity);
    }
    const next = this.mint(identity);
    this.held.set(id, next);
    return next;
  }

  private async mint(identity: MatrixIdentity): Promise<MintedCert | { failed: string }> {
    try {
      const c = await this.ctx.target.mintIdentityCertificate(this.ctx.probes[0]!, { namespace: identity.namespace, serviceAccount: identity.serviceAccount }, this.ttlMs);
      this.minted++;
      return c;
    } catch (e) {
      return { failed: mintFailure(idOf(identity), e, this.ttlMs) };
    }
  }
}

/** The cells grouped by the pod they attack (pods in the targets' order, cells in planning order within a pod). */
function destinationOrder(work: Work[]): Work[] {
  const byPod = new Map<string, Work[]>();
  for (const w of work) {
    const key = `${w.target.pod.namespace}/${w.target.pod.name}`;
    const had = byPod.get(key);
    if (had) had.push(w);
    else byPod.set(key, [w]);
  }
  return [...byPod.values()].flat();
}

export async function runMatrix(ctx: MatrixContext, o: MatrixOptions): Promise<MatrixOutcome> {
  const started = new Date();
  if (!o.intent && o.resolveIntent) {
    const intent = await o.resolveIntent(ctx.estate);
    o = intent ? { ...o, intent } : o;
  }
  const identities = matrixIdentities(ctx.estate, o);
  const targets = matrixTargets(ctx.estate, { perPod: o.perPod, excludePorts: ctx.excludePorts });
  const work = planCells(ctx, o, identities, targets);
  // Batched by destination pod (the cells stay in their order in the report): each batch's records are read once
  // per pod it attacked, so a batch of one pod's cells costs one pod-log read, where the planning order (identity by
  // identity) spread every batch over as many pods as it had cells (a pod-log read is an API call on a cluster).
  const sending = destinationOrder(work.filter((w) => w.attackRequest || w.probeRequest));
  const batches: Work[][] = [];
  for (let i = 0; i < sending.length; i += ctx.batchEndpoints) batches.push(sending.slice(i, i + ctx.batchEndpoints));
  const marginMs = certificateMarginMs({ ...ctx, probes: ctx.probes.length });
  const certs = new Certificates(ctx, o.certTtlMs ?? certificateTtlMs(marginMs, batches.length, ctx.probes.length), marginMs);
  const index = new Map(sending.map((w, i) => [w, i]));
  const sentAt = new Map<Work[], number>();
  let done = 0;
  let logReads = 0;
  ctx.onProgress?.({ done: 0, total: sending.length });
  const { execs, incomplete } = await runSharded({
    probes: ctx.probes,
    batches,
    concurrency: ctx.concurrency,
    ratePerSec: ctx.ratePerSec,
    signal: ctx.signal,
    attacksOf: async (batch) => {
      const attacks: Attack[] = [];
      for (const w of batch) {
        // Checked before each batch: a certificate with less than the margin of life left is re-minted first.
        const cert = await certs.for(w.identity);
        if ('failed' in cert) {
          w.noCertificate = cert.failed;
          continue;
        }
        const i = index.get(w)!;
        if (w.attackRequest) attacks.push(attackFor(w, w.attackRequest, `a${i}`, cert, ctx.attemptTimeoutMs));
        if (w.probeRequest) attacks.push(attackFor(w, w.probeRequest, `g${i}`, cert, ctx.attemptTimeoutMs));
      }
      sentAt.set(batch, Date.now());
      return attacks;
    },
    onReport: async (batch, report, since) => {
      for (const ob of report.observations) {
        const w = sending[Number(ob.id.slice(1))]!;
        if (ob.id.startsWith('a')) w.attackObs = ob;
        else w.probeObs = ob;
      }
      const readers: RecordReader[] = batch.filter((w) => !w.noCertificate).map((w) => ({
        pod: w.target.pod,
        attach: (records) => {
          w.attackRecord = recordOf(records, w.attackObs);
          w.probeRecord = recordOf(records, w.probeObs);
        },
        fail: (problem) => {
          w.logProblem = problem;
        },
      }));
      logReads += await readDestinationRecords(ctx.target, ctx.accessLogDelayMs, readers, since);
      // Judged per batch, and the observations (with the server's chain) dropped: a large matrix keeps summaries only.
      for (const w of batch) settle(w, ctx.roots);
      certs.batchTook(Date.now() - (sentAt.get(batch) ?? Date.now()));
      sentAt.delete(batch);
      done += batch.length;
      ctx.onProgress?.({ done, total: sending.length });
    },
  });
  // Cells not attacked (not judged, or interrupted before their batch) are settled here.
  for (const w of work) if (!w.settled) settle(w, ctx.roots);
  const cells = work.map((w) => w.cell);
  const report = matrixReport(ctx, o, identities, targets, cells, { certificates: certs.minted, execs, logReads });
  return { report, results: judgeMatrix(report, incomplete, started), incomplete };
}

function matrixReport(ctx: MatrixContext, o: MatrixOptions, identities: MatrixIdentity[], targets: MatrixTarget[], cells: MatrixCell[], n: { certificates: number; execs: number; logReads: number }): MatrixReport {
  const counts = Object.fromEntries(CELL_STATES.map((s) => [s, 0])) as Record<CellState, number>;
  for (const c of cells) if (c.role !== 'canary') counts[c.state]++;
  const services = new Map<string, { namespace: string; name: string; ports: number[] }>();
  for (const t of targets) {
    const key = `${t.namespace}/${t.service}`;
    const s = services.get(key) ?? { namespace: t.namespace, name: t.service, ports: [] };
    if (!s.ports.includes(t.servicePort)) s.ports.push(t.servicePort);
    services.set(key, s);
  }
  const runNs = ctx.estate.runNamespace;
  const expected: string[] = [];
  const missing: string[] = [];
  for (const x of canaryExpectations(runNs)) {
    const label = `${x.identity} → ${runNs}/${x.service}${x.port ? `:${x.port}` : ''}: ${x.state}`;
    expected.push(label);
    const mine = cells.filter((c) => c.role === 'canary' && c.identity === x.identity && c.namespace === runNs && c.service === x.service && (x.port === undefined || c.port === x.port));
    if (mine.length === 0) missing.push(`${label} (no such cell: canary identity or workload not found in scope)`);
    else if (mine.some((c) => c.state !== x.state)) missing.push(`${label} (was ${mine.map((c) => `${c.port}: ${c.state}`).join(', ')})`);
  }
  const declaredNotGranted: DeclaredNotGranted[] = [];
  for (const call of o.intent?.calls ?? []) {
    const mine = cells.filter((c) => c.identity === call.identity && c.namespace === call.namespace && c.service === call.service && (call.port === undefined || c.port === call.port));
    if (mine.length > 0 && mine.every((c) => c.grant.kind === 'none')) {
      declaredNotGranted.push({ identity: call.identity, namespace: call.namespace, service: call.service, ...(call.port ? { port: call.port } : {}), call: call.calls.map((c) => `${c.methods?.join(',') ?? 'any method'} ${c.path ?? 'any path'}`).join('; ') || 'the whole Service' });
    }
  }
  return {
    identities,
    services: [...services.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)),
    cells,
    counts: { ...counts, cells: cells.filter((c) => c.role !== 'canary').length, attacks: cells.filter((c) => c.attack).length, grantProbes: cells.filter((c) => c.grantProbe).length, ...n },
    ...(o.intent ? { intent: { source: o.intent.source, calls: o.intent.calls.length, declaredNotGranted } } : {}),
    canary: { flagged: missing.length === 0, expected, missing },
    settings: { perPod: o.perPod, probeGrants: o.probeGrants },
  };
}

const where = (c: MatrixCell) => `${c.namespace}/${c.service}:${c.port}${c.pod ? ` (${c.pod})` : ''}`;

function summarizeReasons(xs: string[]): string {
  return xs.slice(0, 5).join('; ') + (xs.length > 5 ? `; … ${xs.length - 5} more` : '');
}

/**
 * What the grant probes showed (`--probe-grants`): a grant the model sees that the mesh refused is noted, not a
 * finding (the mesh is stricter than the model there; the attacks are judged on their own exact requests).
 */
function grantProbeNote(cells: MatrixCell[]): string {
  const probes = cells.filter((c) => c.grantProbe);
  if (probes.length === 0) return '';
  const reached = probes.filter((c) => c.grantProbe!.outcome === 'reached').length;
  const not = probes.filter((c) => c.grantProbe!.outcome !== 'reached');
  return `; grant probes: ${reached} of ${probes.length} reached the app${not.length > 0 ? ` (not: ${summarizeReasons(not.map((c) => `${where(c)}: ${c.grantProbe!.outcome}, ${c.grantProbe!.reason}`))})` : ''}`;
}

/** Why cells were not attacked, grouped: "3 cells not attacked: 2 grant every safe request, 1 not judged (…)". */
function notAttackedText(cells: MatrixCell[]): string {
  const groups = new Map<string, number>();
  for (const c of cells) {
    const why = c.grant.kind === 'not-judged' || c.notAttacked?.startsWith('not judged') ? 'not judged by the model' : (c.notAttacked ?? 'no attack was made');
    groups.set(why, (groups.get(why) ?? 0) + 1);
  }
  return `${cells.length} cells not attacked: ${[...groups.entries()].map(([why, n]) => `${n} ${why}`).join('; ')}`;
}

/** SWEEP-ENFORCE and SWEEP-LEASTPRIV, one case per (non-canary) identity; either is `error` when the canary is missed. */
export function judgeMatrix(report: MatrixReport, incomplete: boolean, started: Date): CheckResult[] {
  return MATRIX_CHECKS.map((meta) => {
    const cases: CheckResult['cases'] = [];
    for (const identity of report.identities.filter((i) => i.role !== 'canary')) {
      const id = idOf(identity);
      const cells = report.cells.filter((c) => c.identity === id);
      if (meta.id === 'SWEEP-ENFORCE') {
        const holes = cells.filter((c) => c.state === 'hole');
        const unsure = cells.filter((c) => c.attack?.outcome === 'inconclusive' || (c.state === 'inconclusive' && !c.attack));
        const attacked = cells.filter((c) => c.attack);
        const refused = cells.filter((c) => c.attack?.outcome === 'refused');
        const unattacked = cells.filter((c) => !c.attack && c.state !== 'inconclusive');
        // A cell never attacked proves nothing about enforcement (M22-H1): an identity with no attacked cell is not a pass.
        const verdict = holes.length > 0 ? 'fail' : unsure.length > 0 ? 'error' : attacked.length === 0 ? 'not-applicable' : 'pass';
        const reason =
          holes.length > 0
            ? `enforcement hole: ${summarizeReasons(holes.map((c) => `${where(c)}: ${c.attack!.reason}`))}`
            : unsure.length > 0
              ? `not proven: ${summarizeReasons(unsure.map((c) => `${where(c)}: ${c.attack?.reason ?? c.notAttacked ?? 'not attacked'}`))}`
              : attacked.length === 0
                ? `no cell attacked, so nothing proven: ${notAttackedText(unattacked)}`
                : `${attacked.length} of ${cells.length} cells attacked (one request outside the grant each), ${refused.length} refused (proven by the destination's record)${unattacked.length > 0 ? `; ${notAttackedText(unattacked)}` : ''}${grantProbeNote(cells)}`;
        cases.push({ label: id, verdict, reason, observed: cells.map((c) => ({ where: where(c), state: c.state, attack: c.attack ? { outcome: c.attack.outcome, reason: c.attack.reason } : undefined, notAttacked: c.notAttacked })) });
      } else {
        if (!report.intent) continue;
        const beyond = cells.filter((c) => c.intent.beyond.length > 0);
        const known = cells.filter((c) => c.intent.status !== 'no-intent');
        if (known.length === 0) continue;
        const verdict = beyond.length > 0 ? 'fail' : 'pass';
        const reason =
          beyond.length > 0
            ? `granted beyond the declared intent: ${summarizeReasons(beyond.map((c) => `${where(c)}: ${c.intent.beyond.map((b) => `${b.witness} by ${grantRuleText(b.rule)}`).join(', ')}`))}`
            : `every grant on ${known.length} Service ports is within the declared intent`;
        cases.push({ label: id, verdict, reason, observed: cells.map((c) => ({ where: where(c), intent: c.intent.status, beyond: c.intent.beyond })) });
      }
    }
    const fails = cases.filter((c) => c.verdict === 'fail');
    const errors = cases.filter((c) => c.verdict === 'error');
    let verdict: Verdict;
    let reason: string;
    if (!report.canary.flagged) {
      verdict = 'error';
      reason = `the matrix canary was not flagged (${report.canary.missing.join('; ')}): this matrix cannot show a failure, so none of its passes count`;
    } else if (fails.length > 0) {
      verdict = 'fail';
      reason = `${fails.length} of ${cases.length} identities: ${fails
        .slice(0, 3)
        .map((c) => `${c.label} (${c.reason})`)
        .join('; ')}${fails.length > 3 ? '; …' : ''}`;
    } else if (incomplete) {
      verdict = 'error';
      reason = 'incomplete: interrupted before every cell was attacked';
    } else if (errors.length > 0) {
      verdict = 'error';
      reason = `${errors.length} of ${cases.length} identities not proven: ${errors[0]!.label} (${errors[0]!.reason})`;
    } else if (meta.id === 'SWEEP-ENFORCE' && cases.length > 0 && cases.every((c) => c.verdict === 'not-applicable')) {
      verdict = 'not-applicable';
      reason = `no identity had a cell attacked: ${cases[0]!.label} (${cases[0]!.reason})`;
    } else if (meta.id === 'SWEEP-LEASTPRIV' && !report.intent) {
      verdict = 'not-applicable';
      reason = 'no intent given (--intent): grants cannot be compared with declared calls';
    } else if (cases.length === 0) {
      verdict = 'not-applicable';
      reason = meta.id === 'SWEEP-LEASTPRIV' ? 'no identity in scope has a declared intent' : 'no identity in scope';
    } else {
      verdict = 'pass';
      const estate = report.cells.filter((c) => c.role !== 'canary');
      const attacked = estate.filter((c) => c.attack);
      const skipped = cases.filter((c) => c.verdict === 'not-applicable').length;
      reason =
        meta.id === 'SWEEP-ENFORCE'
          ? `${cases.length - skipped} identities proven${skipped > 0 ? ` (${skipped} with no cell attacked, not counted)` : ''}; ${report.counts.cells} cells: ${attacked.length} attacked, ${attacked.filter((c) => c.attack!.outcome === 'refused').length} refused, ${notAttackedText(estate.filter((c) => !c.attack))}; matrix canary flagged`
          : `${cases.length} identities, ${report.counts.cells} cells; matrix canary flagged`;
    }
    return {
      id: meta.id,
      title: meta.title,
      suite: 'sweep',
      claim: meta.claim,
      controls: controlsFor(meta.categories),
      categories: meta.categories,
      method: meta.method,
      weakenedBy: ['the matrix canary (fixtures/sweep)'],
      verdict,
      reason,
      startedAt: started.toISOString(),
      durationMs: Date.now() - started.getTime(),
      cases,
    };
  });
}
