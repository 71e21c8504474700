// A sweep's result model: what it found per (pod, port) and per pod, and the evidence settings. Read by the sweep's
// reporters and carried in a run's result (harness/result.ts); its own module so neither the sweep nor the run
// imports the other.
import type { Estate, EstatePod, EstatePort } from './estate.js';
import type { MatrixReport } from '../matrix/types.js';
import type { AttemptSummary, CertFacts, EndpointVerdict } from './judge.js';

/** An AuthorizationPolicy finding the user accepts, with the reason that goes into the evidence. */
export interface Exemption {
  check: 'SWEEP-AUTHZ';
  namespace: string;
  service?: string;
  pod?: string;
  port?: number;
  reason: string;
}

export type { AttemptSummary } from './judge.js';

export interface EndpointResult {
  namespace: string;
  pod: string;
  port: number;
  protocol: EstatePort['protocol'];
  protocolFrom: string;
  services: string[];
  serviceAccount: string;
  sidecar: boolean;
  role?: EstatePod['role'];
  verdicts: EndpointVerdict[];
  plaintext?: AttemptSummary;
  mtls?: AttemptSummary & { cert?: CertFacts };
  /** Why, from the policy snapshot: present on every endpoint with a finding. */
  explanation?: { peerAuthentication: { mode: string; setBy: string; note?: string }; authorizationPolicies: string[] };
}

export interface SweepReport {
  scope: { inScope: string[]; left: { namespace: string; reason: string }[]; excludePorts: number[] };
  counts: { namespaces: number; services: number; pods: number; endpoints: number; judged: number; probes: number; execs: number; logReads: number };
  endpoints: EndpointResult[];
  pods: { namespace: string; pod: string; verdict: EndpointVerdict; role?: EstatePod['role']; service?: string }[];
  canary: { flagged: boolean; expected: string[]; missing: string[] };
  exemptions: Exemption[];
  incomplete: boolean;
  listings: Estate['listings'];
  skipped: Estate['skipped'];
  /** Seen, deliberately not judged, and why: the sidecar's own plaintext ports, gateway pods (I-M7). */
  information: { pod: string; port?: number; note: string }[];
  settings: { attemptTimeoutMs: number; concurrency: number; ratePerSec: number; batchEndpoints: number; maxCertLifetimeHours: number };
  /** `--matrix`: the access matrix of the same run (also written as matrix.json). */
  matrix?: MatrixReport;
}
