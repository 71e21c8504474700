// Flags of the Kubernetes path that shape waits (K-L14).
import { describe, expect, it } from 'vitest';
import { readyTimeoutMs } from '../cli/targets.js';
import { ConfigError } from '../harness/errors.js';

describe('--ready-timeout', () => {
  it('K-L14: seconds become the readiness wait; absent keeps the default; nonsense is a usage error', () => {
    expect(readyTimeoutMs('600')).toBe(600_000);
    expect(readyTimeoutMs(undefined)).toBeUndefined();
    expect(() => readyTimeoutMs('0')).toThrow(ConfigError);
    expect(() => readyTimeoutMs('10m')).toThrow(/^--ready-timeout 10m: expected a number of seconds greater than 0$/);
  });
});

describe('the upgrade gate and the chaos suite', () => {
  it('K-M10: a cluster the gate provisioned and hands to run (kubeconfig) gets the chaos suite by default; an existing cluster does not', async () => {
    const { selectChecks, suitesTarget } = await import('../cli/run.js');
    expect(selectChecks(undefined, suitesTarget('kubeconfig', true)).some((c) => c.suite === 'chaos')).toBe(true);
    expect(selectChecks(undefined, suitesTarget('kubeconfig', false)).some((c) => c.suite === 'chaos')).toBe(false);
  });
});
