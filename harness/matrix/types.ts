// The access matrix (`meshproof sweep --matrix`, ARCHITECTURE.md "The access matrix"): for every identity of the
// estate and every Service port in scope, what the AuthorizationPolicies grant it (through the Istio model,
// harness/istio/grants.ts), what an attack outside that grant showed, and how the grant compares with the calls the
// team declared (Otterize ClientIntents, harness/matrix/intent.ts). This file is the contract between the engine
// (matrix.ts), the reporters (matrix.json, the HTML picture, JUnit, compare) and the Targets; pure types.
import type { AttemptSummary } from '../sweep/attempt.js';
import type { SweepProtocol } from '../sweep/estate.js';
import type { DestinationRecord } from '../sweep/judge.js';

/** A service account that runs a pod in scope: the identity a compromised pod of it would hold. */
export interface MatrixIdentity {
  namespace: string;
  serviceAccount: string;
  /** `spiffe://<trust domain>/ns/<namespace>/sa/<serviceAccount>`. */
  spiffeId: string;
  /** The pods that run it (`ns/pod`), for the evidence. */
  pods: string[];
  /** meshproof's own canary identities in the run namespace (judged against the canary expectations only). */
  role?: 'canary';
}

/** An ALLOW rule that grants a request: its policy and the rule's index (Envoy's `ns[..]-policy[..]-rule[..]`). */
export interface GrantRule {
  namespace: string;
  name: string;
  rule: number;
}

/**
 * What the policies in force grant one identity on one workload port, by the Istio model:
 * - `none`: no request from this identity is allowed;
 * - `partial`: some requests (some methods, paths, hosts) are, others not;
 * - `all`: every request the model tried is allowed;
 * - `not-judged`: the decision depends on something the model does not judge (`when`, `ipBlocks`,
 *   `request.auth`, CUSTOM…): named in `reason`, and the cell is not attacked.
 */
export interface CellGrant {
  kind: 'none' | 'partial' | 'all' | 'not-judged';
  /** What is granted, in words, one entry per granting rule (`GET, HEAD /api/*`, `any request`, `port 9000`). */
  scope: string[];
  /** Every ALLOW rule that grants some request tried (empty for `none`). */
  rules: GrantRule[];
  reason?: string;
}

/** One request a cell's attack or grant probe sends: never an app's real path, never a method with side effects. */
export interface MatrixRequest {
  kind: 'http' | 'tcp';
  /** HTTP: GET, HEAD or OPTIONS only. */
  method?: string;
  /** HTTP: a path under the reserved prefix (`/.meshproof/matrix/<nonce>`), or a policy's wildcard or template pattern with the nonce in it (never an exact path). */
  path?: string;
  /** The nonce the attempt carries (TCP: the bytes sent; HTTP: in the path). */
  nonce: string;
  /**
   * HTTP: the Host (`:authority`) sent, when not the Service's own (an attack on a non-grant a policy's `hosts` or
   * `notHosts` draws; grants.ts requestOutsideGrant). Absent: the Service's cluster-local name and port.
   */
  host?: string;
}

export interface MatrixAttempt {
  request: MatrixRequest;
  /**
   * attack: `refused` (proven by the destination's record), `hole` (the app answered, or the destination passed it
   * upstream), `inconclusive` (neither proven). grant probe: `reached`, `refused`, `inconclusive`.
   */
  outcome: 'refused' | 'hole' | 'reached' | 'inconclusive';
  reason: string;
  record?: DestinationRecord;
  attempt?: AttemptSummary;
}

/** A cell's place in the intent: declared, beyond it (with the rule that grants too much), or no intent known. */
export interface CellIntent {
  /** `declared`: the identity declares a call to this Service (some or all of what is granted). */
  status: 'declared' | 'not-declared' | 'no-intent';
  /** Requests granted that no declared call covers, each with the rule that grants it (a least-privilege finding). */
  beyond: { rule: GrantRule; witness: string }[];
}

/**
 * One cell's state, worst first as the picture draws it: an enforcement hole, a grant beyond the intent, a grant,
 * a refusal proven by attack, not judged (with why), inconclusive (never a pass).
 */
export type CellState = 'hole' | 'beyond-intent' | 'granted' | 'refused' | 'not-judged' | 'inconclusive';
export const CELL_STATES: CellState[] = ['hole', 'beyond-intent', 'granted', 'refused', 'not-judged', 'inconclusive'];

export interface MatrixCell {
  /** `ns/sa` of the identity. */
  identity: string;
  /** The Service and its port (what the picture's column is), and where it was attacked. */
  namespace: string;
  service: string;
  port: number;
  targetPort: number;
  protocol: SweepProtocol;
  /** The pod attacked (`--per-pod`: one cell per pod). */
  pod: string;
  grant: CellGrant;
  intent: CellIntent;
  /** The attack outside the grant; absent when none was made (`notAttacked` says why). */
  attack?: MatrixAttempt;
  notAttacked?: string;
  /** The nonce request inside the grant (`--probe-grants`, always in the lab). */
  grantProbe?: MatrixAttempt;
  state: CellState;
  /** canary cells: judged only against the canary expectations, never findings. */
  role?: 'canary';
}

/** A declared call no policy grants: reported, not a finding (the policy may be stricter than the intent). */
export interface DeclaredNotGranted {
  identity: string;
  namespace: string;
  service: string;
  port?: number;
  call: string;
}

export interface MatrixReport {
  identities: MatrixIdentity[];
  /** The Services in scope (the picture's columns), grouped by namespace, with their ports. */
  services: { namespace: string; name: string; ports: number[] }[];
  cells: MatrixCell[];
  counts: Record<CellState, number> & { cells: number; attacks: number; grantProbes: number; certificates: number; execs: number; logReads: number };
  intent?: { source: string; calls: number; declaredNotGranted: DeclaredNotGranted[] };
  canary: { flagged: boolean; expected: string[]; missing: string[] };
  settings: { perPod: boolean; probeGrants: boolean };
}
