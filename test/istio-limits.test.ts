// Issue 20: the README's "Limits of the lab" names what the model refuses, from the model itself
// (harness/istio/limits.ts, built from the constants the model decides with). Regenerate: `npx tsx oracle/run.ts --readme`.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { authorizationPolicyFromIstio, CLUSTER_LOCAL_BUNDLE } from '../harness/istio/authz-policy.js';
import { limitsMarkdown } from '../harness/istio/limits.js';

describe("the model's limits in the README", () => {
  it('README.md carries the generated block exactly', () => {
    expect(readFileSync('README.md', 'utf8')).toContain(limitsMarkdown());
  });

  it('the block says what the front end really refuses and leaves unjudged', () => {
    const ap = (spec: Record<string, unknown>) => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'n' }, spec });
    const refused = authorizationPolicyFromIstio(ap({ targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'g' }] }), { trustDomainBundle: CLUSTER_LOCAL_BUNDLE });
    expect('refused' in refused && refused.refused).toMatch(/targetRefs: not modelled/);
    expect(limitsMarkdown()).toContain('`spec.targetRefs`');
    const unjudged = authorizationPolicyFromIstio(ap({ rules: [{ when: [{ key: 'connection.sni', values: ['x'] }] }] }), { trustDomainBundle: CLUSTER_LOCAL_BUNDLE });
    expect('policy' in unjudged && JSON.stringify(unjudged.policy.rules)).toContain('connection.sni');
    expect(limitsMarkdown()).toContain('`connection.sni`');
  });
});
