import type { Corroboration } from '../../harness/check.js';
import { defineCheck } from '../../harness/check.js';
import { deniedByMesh, either, plaintextRefused } from '../../harness/classify.js';
import { AUTHORIZED, filterChainNotFound, missing, OUTSIDE, plaintextAtFault, portOf, reachEchoControl } from '../mtls/shared.js';
import { authzAtFault, both, ECHO, rbacDeniedHttp } from './shared.js';

/** Whichever layer stopped it, the destination recorded it. */
const refusedOrDenied: Corroboration = {
  describe: 'NR filter_chain_not_found or 403 rbac_access_denied_matched_policy',
  counter: 'no_filter_chain_match',
  matches: (r, o) => filterChainNotFound.matches(r, o) || rbacDeniedHttp.matches(r, o),
};

export const authz005 = defineCheck({
  id: 'AUTHZ-005',
  title: 'A DENY-by-principal policy also holds against a client without a sidecar',
  suite: 'authz',
  claim: 'A sidecar-less client cannot reach mesh/echo, which relies on a DENY policy by principal: plaintext carries no principal (ISTIO-SECURITY-2021-004), so STRICT mTLS or an ALLOW policy must stop it.',
  categories: ['a', 'b'],
  weakenedBy: ['deny-principal-permissive.yaml', 'allow-notnamespaces-permissive.yaml'],
  method: 'TEST',
  plan: ({ view, target }) => {
    const absent = missing(view, [
      { kind: 'Service', ref: ECHO },
      { kind: 'Deployment', ref: AUTHORIZED },
      { kind: 'Deployment', ref: OUTSIDE },
    ]);
    if (absent) return { notApplicable: absent };
    type Rule = { from?: { source?: Record<string, unknown> }[] };
    const byIdentity = view.authorizationPolicies(ECHO.namespace).filter((p) => {
      const spec = p.spec as { action?: string; rules?: Rule[] } | undefined;
      return spec?.action === 'DENY' && (spec.rules ?? []).some((r) => (r.from ?? []).some((f) => f.source && ['principals', 'namespaces'].some((k) => k in f.source!)));
    });
    if (byIdentity.length === 0) return { notApplicable: 'mesh has no DENY policy by principal or namespace' };
    const http = portOf(view, ECHO, 'http');
    if (!http) return { notApplicable: 'Service mesh/echo has no HTTP port' };
    return {
      cases: [
        {
          label: `outside (no sidecar) → echo.mesh:${http.port} despite DENY ${byIdentity.map((p) => p.metadata.name).join(', ')}`,
          atFault: both(plaintextAtFault(view, ECHO, http.port), authzAtFault(view, target, { from: OUTSIDE, to: ECHO, port: http.port, http: true, plaintext: true })),
          control: reachEchoControl(target, ECHO, http),
          attack: { from: OUTSIDE, to: ECHO, port: http.port, kind: 'http', via: 'service', classify: either(plaintextRefused, deniedByMesh), attacker: 'no-sidecar' },
          corroborate: refusedOrDenied,
        },
      ],
    };
  },
});
