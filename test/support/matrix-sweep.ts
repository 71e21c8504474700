// The sweep options every lab matrix test starts from (one copy: the matrix tests differ only in what they override).
import type { SweepOptions } from '../../harness/sweep/sweep.js';
import type { Target } from '../../harness/target.js';

export function matrixSweepOptions(target: Target, over: Partial<SweepOptions> = {}): SweepOptions {
  return {
    target,
    scope: { exclude: [], excludePorts: [], runNamespace: 'sweep' },
    attacker: { namespace: 'sweep', name: 'sweeper' },
    maxCertLifetimeMs: 24 * 3_600_000,
    attemptTimeoutMs: 3_000,
    concurrency: 16,
    ratePerSec: 2_000,
    batchEndpoints: 40,
    accessLogDelayMs: 50,
    exemptions: [],
    matrix: { perPod: false, probeGrants: true },
    ...over,
  };
}
