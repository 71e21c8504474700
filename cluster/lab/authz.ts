// The lab's AuthorizationPolicy selection. Evaluation is Istio's rule, in harness/istio/authz.ts (pure, cited there).
import { appliesTo } from '../../harness/istio/authz-policy.js';
import type { AuthzPolicyModel } from './model.js';
import { ROOT_NAMESPACE } from './model.js';

export { type AuthzDecision, type AuthzRequest, customMatch, evaluate, policyId, stringMatch } from '../../harness/istio/authz.js';

/** Policies that apply to a workload: its namespace's (selector matching or none) and the root namespace's. */
export function applicable(policies: AuthzPolicyModel[], namespace: string, labels: Record<string, string>): AuthzPolicyModel[] {
  return policies.filter((p) => appliesTo({ policy: p, ...(p.selector ? { selector: p.selector } : {}) }, namespace, labels, ROOT_NAMESPACE));
}
