// The seam between the harness and a mesh (ARCHITECTURE.md "Target"). Suites and the harness speak only in the
// fixtures' logical names (namespace `mesh`, workload `echo`); each Target maps them to what it really runs.
import type { Attack, ProbeBatch, ProbeReport } from '../agent/protocol.js';
import type { Estate, SweepScope } from './sweep/estate.js';
import type { LogSetup } from './mesh-logging.js';
import type { Posture } from './posture/load.js';

/** A Deployment or Service by its logical (fixture) namespace and name. */
export interface Ref {
  namespace: string;
  name: string;
}

/** One pod (lab process group) of a workload. */
export interface PodRef extends Ref {
  /** The Deployment it belongs to. */
  workload: string;
}

export interface ProbeHandle {
  workload: Ref;
  pod: PodRef;
  /** Whether an `istio-proxy` runs beside the probe (containers or native-sidecar initContainers). */
  sidecar: boolean;
  /** The probe's SPIFFE ID (meaningful only with a sidecar). */
  spiffeId: string;
  /**
   * Runs one batch of attacks in the probe (one exec in a cluster, one child process in the lab), one after
   * another unless the options ask for bounded concurrency and a rate cap (a sweep's batch).
   */
  run(attacks: Attack[], opts?: Omit<ProbeBatch, 'attacks'>): Promise<ProbeReport>;
}

/**
 * How long one exec of a batch may take before it is abandoned, slack aside: serial attempts the sum of their
 * timeouts; concurrent ones their share of it plus the longest one; a rate cap adds its spacing.
 */
export function batchBudgetMs(attacks: Attack[], opts: Omit<ProbeBatch, 'attacks'> = {}): number {
  const serialMs = attacks.reduce((n, a) => n + a.timeoutMs, 0);
  const c = Math.max(1, opts.concurrency ?? 1);
  const spacingMs = opts.ratePerSec ? (attacks.length / opts.ratePerSec) * 1000 : 0;
  return Math.ceil(serialMs / c) + (c > 1 ? Math.max(...attacks.map((a) => a.timeoutMs)) : 0) + spacingMs;
}

export interface MintedCert {
  chainPem: string;
  keyPem: string;
  serialNumber: string;
  spiffeId: string;
  notBefore: Date;
  notAfter: Date;
}

/** Where a probe connects for a Service port, and the Host header it sends. */
export interface Dial {
  dial: string;
  authority: string;
}

/** The control plane taken down (CHAOS): the restore is registered before the outage begins. */
export interface Outage {
  startedAt: Date;
  /** Brings the control plane back (idempotent); resolves once it serves again. */
  restore(): Promise<void>;
}

export interface ScaleOptions {
  waitForPods?: boolean;
}

/** What became of a scale-up: the pods created, or why none was (what the cluster says). */
export interface ScaleResult {
  created: PodRef[];
  refused?: string;
}

export interface TargetDescription {
  kind: 'lab' | 'kubernetes';
  summary: string;
  trustDomain: string;
  versions: Record<string, string>;
  namespaces: Record<string, string>;
  notes: string[];
}

export interface Target {
  readonly kind: TargetDescription['kind'];
  /** Refuses, with a ConfigError naming file, object and field, a posture this target cannot apply faithfully. */
  validate(posture: Posture): void;
  apply(posture: Posture): Promise<void>;
  probe(workload: Ref): Promise<ProbeHandle>;
  /** Every ready pod of a probe Deployment (a sweep shards its endpoints across them). */
  probes(workload: Ref): Promise<ProbeHandle[]>;
  /**
   * The estate a sweep covers: namespaces in scope, their Services and ready pods with ports, protocols, service
   * accounts and sidecar presence, and a snapshot of the policies in scope and in the root namespace. Read-only.
   * Pods are named as the cluster names them (real namespaces); the run namespace's own pods carry their role.
   */
  discover(scope: SweepScope): Promise<Estate>;
  /** The address `from` dials for `service:port` (a Service name in a cluster; the lab resolves per call). */
  address(service: Ref, port: number, from: ProbeHandle): Promise<Dial>;
  /** Each ready endpoint of `service:port`, dialled directly (pod IP:targetPort). */
  endpoints(service: Ref, port: number): Promise<{ pod: PodRef; dial: string }[]>;
  /** Every pod that runs a sidecar (what the certificate inventory covers). */
  meshPods(): Promise<PodRef[]>;
  /**
   * A genuine mesh certificate for the probe's OWN identity, obtained as a real attacker in that pod could
   * (istiod's CreateCertificate with the pod's token, istio-behaviours.md §4b). Never written to evidence.
   */
  mintCertificate(probe: ProbeHandle, ttlMs: number): Promise<MintedCert>;
  /**
   * A genuine mesh certificate for ANOTHER identity of the estate (the access matrix, issue 22): what a compromised
   * pod running that service account would hold. Cluster: a TokenRequest for the service account (audiences exactly
   * `["istio-ca"]`, 600 s) handed to the sidecar-less probe over the exec stream and exchanged at istiod's
   * CreateCertificate. Lab: the lab CA issues for it. A service account that does not exist is refused (the
   * TokenRequest API answers 404). Token and key are never written anywhere.
   */
  mintIdentityCertificate(probe: ProbeHandle, identity: { namespace: string; serviceAccount: string }, ttlMs: number): Promise<MintedCert>;
  /** The pods a Service selects. */
  servicePods(service: Ref): Promise<PodRef[]>;
  /**
   * Raw access-log lines of the pod's sidecar since `since` (pod logs of `istio-proxy` in a cluster, including the
   * previous container's when the sidecar restarted); `limitBytes` caps what one read returns.
   */
  accessLog(pod: PodRef, since: Date, opts?: { limitBytes?: number }): Promise<string[]>;
  /** The pod sidecar's counters (`pilot-agent request GET stats` in a cluster). */
  stats(pod: PodRef): Promise<Record<string, number>>;
  /**
   * The echo app's harness-only control endpoint (`/admin/fail?on=1`, `/admin/intervals`), reached from
   * inside the pod with a token only the harness knows (kubectl exec in a cluster). Answers the echo JSON.
   */
  appAdmin(pod: PodRef, path: string): Promise<unknown>;
  /** The pod sidecar's live certificates in Envoy's `/certs` JSON shape. */
  workloadCert(pod: PodRef): Promise<unknown>;
  /**
   * Whether this pod's sidecar writes destination records meshproof can read back, from the mesh config and the
   * Telemetry objects that apply to it, read as istiod reads them (harness/mesh-logging.ts, §10).
   */
  accessLogSetup(pod: PodRef, side?: 'server' | 'client'): Promise<LogSetup>;
  /**
   * Where `from` connects to reach a pod no Service stands for, by its pod IP (an "external" server of the egress
   * fixtures, EGRESS-001): the probe's own sidecar captures it as it would any address. `authority` is `ip:port`.
   */
  external(workload: Ref, port: number, from: ProbeHandle): Promise<Dial>;
  /** Roots of the edge certificates the Target generated (`meshproof.dev/generate: tls`): EDGE-003's anchors. */
  edgeRoots(): Promise<string[]>;
  /** Every certificate in the mesh's trust bundle (ConfigMap `istio-ca-root-cert` on a cluster), as PEM. */
  meshRoots(): Promise<string[]>;
  /** The SPIFFE ID a workload with this logical namespace and service account must carry. */
  identity(namespace: string, serviceAccount: string): string;
  /**
   * Takes the control plane down (lab: the CA and the configuration source stop; sidecars keep their last config
   * and certificates, as Envoy does). The outage lasts until `restore()`; the caller registers it before use.
   */
  controlPlaneOutage(): Promise<Outage>;
  /**
   * Scales a fixture Deployment (CHAOS-002: a workload started during an outage). A refusal made before this call
   * is not this call's. With `waitForPods`, a refusal that waiting can cure is not an answer either: the call
   * waits, bounded, for the pods (after an outage the ReplicaSet controller's retry may still be backed off).
   */
  scale(workload: Ref, replicas: number, opts?: ScaleOptions): Promise<ScaleResult>;
  describe(): Promise<TargetDescription>;
  dispose(): Promise<void>;
}
