// One typed table of waits and repetitions (STYLE.md 7), per kind of target. No other file holds a magic number
// for how long to wait on the mesh.

export interface Timeouts {
  /** One attack attempt, connect to last byte. */
  attackMs: number;
  /** Allow results need this many consecutive successes (istio-behaviours.md §9.10). */
  controlConsecutive: number;
  /** How long a positive control may take to converge after the posture is applied. */
  convergenceMs: number;
  /** Pause between convergence attempts. */
  retryIntervalMs: number;
  /** A deny must hold for every one of these attempts (§9.10). */
  attackAttempts: number;
  /** Envoy writes access logs in batches: read them this long after the attack (§6). */
  accessLogDelayMs: number;
  /** Clock skew allowed past a certificate's notAfter before replaying it (§4b: 30 s on a cluster). */
  certSkewMs: number;
  /** Lifetime of the genuine certificate the rogue keeps for the expired-certificate replay (CERT-004). */
  replayCertTtlMs: number;
  /** Longest CERT-002 will watch a certificate for its rotation. */
  rotationWatchMaxMs: number;
  /**
   * After a control-plane outage, the longest the agent may take to get a fresh certificate: its retry back-off
   * bound. A condition wait (CHAOS-003 stops waiting as soon as the certificate is fresh); only a failure waits it out.
   */
  certRenewalMaxMs: number;
  /**
   * How far before an attack the access-log window opens: records carry the node's clock, the window this
   * machine's, so the window allows for skew between them (records are tied to attempts by nonce or address).
   */
  logWindowSkewMs: number;
  /** How long teardown waits for a deleted namespace to be gone (finalizers; istio-behaviours.md §10). */
  namespaceDeleteMs: number;
}

export const LAB_TIMEOUTS: Timeouts = {
  attackMs: 3_000,
  controlConsecutive: 3,
  convergenceMs: 10_000,
  retryIntervalMs: 250,
  attackAttempts: 3,
  accessLogDelayMs: 50,
  certSkewMs: 1_000,
  // Long enough that the positive control (the kept certificate accepted while valid) still runs inside its
  // validity after the mint and an endpoint lookup through the API façade on a loaded machine (2 s flaked there).
  replayCertTtlMs: 5_000,
  rotationWatchMaxMs: 30_000,
  // The lab's agent retries its CSR every 500 ms (cluster/lab/lab-target.ts RETRY_CSR_MS); issuing takes well under
  // a second even on a loaded machine.
  certRenewalMaxMs: 10_000,
  logWindowSkewMs: 1_000,
  namespaceDeleteMs: 5_000,
};

export const KUBE_TIMEOUTS: Timeouts = {
  attackMs: 5_000,
  controlConsecutive: 3,
  convergenceMs: 60_000,
  retryIntervalMs: 2_000,
  attackAttempts: 3,
  accessLogDelayMs: 3_000,
  certSkewMs: 30_000,
  replayCertTtlMs: 60_000,
  rotationWatchMaxMs: 15 * 60_000,
  // pilot-agent retries with pkg/backoff's defaults, 500 ms doubling to at most 60 s (I: security/pkg/nodeagent/sds/
  // sdsservice.go newSDSService; pkg/backoff/exponential.go DefaultOption), each CA call retried 5× from 100 ms
  // (I: pkg/security/retry.go CARetryOptions, about 3 s in all); a failed SDS push is returned to Envoy, which
  // re-requests with its own back-off (I: sdsservice.go generate; Envoy's bound not verified): twice the agent's cap.
  certRenewalMaxMs: 120_000,
  logWindowSkewMs: 30_000,
  namespaceDeleteMs: 120_000,
};
