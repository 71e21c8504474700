import { defineCheck } from '../../harness/check.js';
import { deniedByMesh } from '../../harness/classify.js';
import type { Manifest } from '../../harness/posture/load.js';
import { ROOT_NAMESPACE } from '../../harness/posture/view.js';
import { AUTHORIZED, missing, reachEchoControl } from '../mtls/shared.js';
import { authzAtFault, rbacDeniedHttp, UNAUTHORIZED } from './shared.js';

export const authz004 = defineCheck({
  id: 'AUTHZ-004',
  title: 'A namespace without an ALLOW policy of its own is protected by the mesh-wide default',
  suite: 'authz',
  claim: `Calls into an injected namespace that has no ALLOW policy of its own are denied, because an ALLOW policy in ${ROOT_NAMESPACE} (allow-nothing) applies mesh-wide.`,
  categories: ['b'],
  weakenedBy: ['allow-all.yaml'],
  method: 'TEST',
  plan: ({ view, target }) => {
    const absent = missing(view, [
      { kind: 'Deployment', ref: AUTHORIZED },
      { kind: 'Deployment', ref: UNAUTHORIZED },
    ]);
    if (absent) return { notApplicable: absent };
    const isAllow = (p: Manifest) => ((p.spec as { action?: string } | undefined)?.action ?? 'ALLOW') === 'ALLOW';
    const meshWide = view.authorizationPolicies(ROOT_NAMESPACE).filter((p) => isAllow(p) && !(p.spec as { selector?: unknown } | undefined)?.selector);
    if (meshWide.length === 0) return { notApplicable: `the posture has no mesh-wide ALLOW policy in ${ROOT_NAMESPACE}: nothing protects a namespace without its own` };
    const unconfigured = view.injectedNamespaces().filter((ns) => !view.authorizationPolicies(ns).some(isAllow));
    const cases = unconfigured.flatMap((ns) =>
      view.services(ns).flatMap((s) =>
        s.ports
          .filter((p) => p.protocol === 'http')
          .map((p) => ({
            label: `unauthorized → ${s.name}.${ns}:${p.port} (namespace ${ns} has no ALLOW policy; mesh-wide: ${meshWide.map((m) => m.metadata.name).join(', ')})`,
            atFault: authzAtFault(view, target, { from: UNAUTHORIZED, to: s, port: p.port, http: true }),
            control: reachEchoControl(target, s, p),
            attack: { from: UNAUTHORIZED, to: s, port: p.port, kind: 'http' as const, via: 'service' as const, classify: deniedByMesh, attacker: 'sidecar' as const },
            corroborate: rbacDeniedHttp,
          })),
      ),
    );
    if (cases.length === 0) return { notApplicable: 'every injected namespace with an HTTP Service has an ALLOW policy of its own' };
    return { cases };
  },
});
