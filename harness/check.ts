// A check is one conformance claim, declared as data (STYLE.md 1, after gateway-api conformance): which probe
// attacks what, which positive control must succeed through the same path, how to classify, how to corroborate.
// Adding an attack is adding a check; the engine (engine.ts) runs them all the same way.
import type { Attack, Observation } from '../agent/protocol.js';
import type { AccessLogRecord } from './access-log.js';
import { type Category, controlsFor } from './controls.js';
import type { Classifier } from './classify.js';
import type { Expectation } from './expect.js';
import type { EdgeView, PostureView } from './posture/view.js';
import type { ProbeHandle, Ref, Target } from './target.js';
import type { Timeouts } from './timeouts.js';

export type Verdict = 'pass' | 'fail' | 'error' | 'not-applicable';

export interface Step {
  from: Ref;
  to: Ref;
  port: number;
  kind: 'http' | 'tcp';
  path?: string;
  method?: string;
}

/** Builds a step's attacks itself (direct TLS with crafted certificates, waits for expiry, …). */
export type BuildAttacks = (probe: ProbeHandle, attempt: number) => Promise<Attack[]>;

export interface ControlStep extends Step {
  expect: Expectation;
  /**
   * Where every call is denied by design (mesh-wide allow-nothing), a mesh denial also proves the path: the
   * destination's sidecar accepted mTLS and its RBAC answered, corroborated by its `rbac.denied` counter.
   */
  orMeshDenial?: boolean;
  build?: BuildAttacks;
  /** What a success proves, for the evidence (e.g. "reached echo; last XFCC URI = …"). */
  proves: string;
}

export interface AttackStep extends Step {
  /** `service`: dial the Service like any client; `endpoints`: dial every ready pod directly. */
  via: 'service' | 'endpoints';
  classify: Classifier;
  /** The attacker must not have a sidecar (§9.1): a sidecar would upgrade its traffic to mTLS. */
  attacker: 'no-sidecar' | 'sidecar';
  build?: BuildAttacks;
}

export interface Corroboration {
  /** What record proves the block, in words for the evidence. */
  describe: string;
  /**
   * Does this destination access-log record belong to this blocked attempt? `hop` is the address the attempt
   * left its client sidecar from (from the client's own record), when the attacker has a sidecar.
   */
  matches(r: AccessLogRecord, o: Observation, hop?: string): boolean;
  /**
   * Records are tied to attempts through the client sidecar's hop (TCP denials, where neither a nonce nor the
   * probe's address reaches the destination): only then is the client's own log read.
   */
  keyByHop?: boolean;
  /** Counter (suffix) at the destination whose rise corroborates the blocks. */
  counter: string;
  /**
   * `record-or-counter`: a block counts only with a matching record or a counter rise of at least the number
   * of blocks (§9.4, §9.5: only those are outside the app's control). Otherwise the block is unproven (error).
   */
  require?: 'record-or-counter';
  /**
   * Whether the destination writes an access-log record for this kind of block. Failed TLS handshakes leave
   * none in Istio's default format, so certificate checks set false and rely on the counter.
   */
  expectRecord?: boolean;
}

/**
 * What the posture snapshot says governs a case's path, shown when the case fails: the object at fault (kind,
 * namespace/name, and what it sets) and a one-line remedy. Decided from the snapshot by the Istio model
 * (harness/istio/), never guessed from the outcome.
 */
export interface AtFault {
  object: string;
  remedy: string;
}

export interface Case {
  label: string;
  /** The objects that govern this path and the remedy should the attack get through. */
  atFault?: AtFault;
  control: ControlStep;
  attack: AttackStep;
  corroborate: Corroboration;
}

/** Thresholds a user may tighten or loosen (`meshproof run --max-cert-lifetime …`). */
export interface Settings {
  /** CERT-001: longest acceptable workload certificate lifetime (istiod's default SECRET_TTL is 24h). */
  maxCertLifetimeMs: number;
  /** CERT-005: the mesh root must stay valid at least this many days. */
  rootHorizonDays: number;
  /** EDGE-003: every certificate the edge serves must stay valid at least this many days. */
  edgeCertHorizonDays: number;
  /**
   * RES-002: most consecutive 5xx a DestinationRule may need before ejecting a host (Istio's default
   * consecutive5xxErrors is 5; a breaker that needs 1000 protects nothing).
   */
  maxConsecutive5xx: number;
  /**
   * RES-001: most requests (connections + pending queue) the echo pool may admit before tripping. Default: what
   * RES-001's bounded flood can exceed (its 512 concurrent requests less its overload margin of 8).
   */
  maxPool: number;
  /**
   * The user's own edge (`--edge ns/svc --edge-host host[:port]`), attacked read-only by EDGE-001..003 instead of
   * the posture's gateway; its trust anchors (`--edge-ca`, else the runner's public roots).
   */
  edge?: EdgeView & { trustPem?: string[] };
}

export const DEFAULT_SETTINGS: Settings = { maxCertLifetimeMs: 24 * 3_600_000, rootHorizonDays: 90, edgeCertHorizonDays: 30, maxConsecutive5xx: 20, maxPool: 504 };

export interface CheckContext {
  view: PostureView;
  target: Target;
  timeouts: Timeouts;
  settings: Settings;
}

export type Plan = { cases: Case[] } | { notApplicable: string };

/** The result of one examined item (EXAMINE checks read state rather than attack). */
export interface Examined {
  label: string;
  /** `not-applicable`: nothing about the item could be proven (a matrix identity none of whose cells was attacked). */
  verdict: Verdict;
  reason: string;
  atFault?: AtFault;
  observed: unknown;
}

export interface Check {
  id: string;
  title: string;
  suite: string;
  /** The sentence that must be true of the mesh; failures quote it. */
  claim: string;
  /** What kind of evidence the check produces (controls.ts); the controls it claims follow from it. */
  categories: Category[];
  /** Control ids granted by the catalog for those categories; the caveats travel with them. */
  controls: string[];
  /** Overlays under fixtures/weakened/ that must make this check FAIL (self-verification). */
  weakenedBy: string[];
  method: 'TEST' | 'EXAMINE';
  /** Attack cases, run by the engine the same way for every check. */
  plan?(ctx: CheckContext): Plan | Promise<Plan>;
  /** For checks whose procedure is not attack-versus-control (certificate inventory, rotation). */
  examine?(ctx: CheckContext): Promise<Examined[] | { notApplicable: string }>;
}

export function defineCheck(c: Omit<Check, 'controls'>): Check {
  if (!/^[A-Z]+-\d{3}$/.test(c.id)) throw new Error(`check id ${c.id} must look like MTLS-001`);
  if (c.weakenedBy.length === 0) throw new Error(`${c.id}: every check names a weakened posture that makes it fail`);
  if (!c.plan === !c.examine) throw new Error(`${c.id}: a check has either a plan or an examine procedure`);
  return { ...c, controls: controlsFor(c.categories) };
}
