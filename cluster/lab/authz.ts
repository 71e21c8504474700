// The lab's AuthorizationPolicy selection. Evaluation is Istio's rule, in harness/istio/authz.ts (pure, cited there).
// Selection is Istio's too: model.ts `applicable` calls harness/istio/selection.ts.
export { applicable } from './model.js';

export { type AuthzDecision, type AuthzRequest, customMatch, evaluate, policyId, stringMatch } from '../../harness/istio/authz.js';
