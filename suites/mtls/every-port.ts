import { defineCheck } from '../../harness/check.js';
import { plaintextRefused } from '../../harness/classify.js';
import { AUTHORIZED, filterChainNotFound, missing, OUTSIDE, plaintextAtFault, reachEchoControl } from './shared.js';

export const mtls002 = defineCheck({
  id: 'MTLS-002',
  title: 'Every declared port of every in-mesh Service refuses plaintext',
  suite: 'mtls',
  claim: 'Each port of each Service in an injected namespace refuses plaintext on every ready pod, while the same port serves the authorized in-mesh client.',
  categories: ['a'],
  weakenedBy: ['permissive-mtls.yaml', 'port-level-disable.yaml', 'mesh-wide-permissive.yaml', 'deny-principal-permissive.yaml', 'allow-notnamespaces-permissive.yaml'],
  method: 'TEST',
  plan: ({ view, target }) => {
    const absent = missing(view, [
      { kind: 'Deployment', ref: AUTHORIZED },
      { kind: 'Deployment', ref: OUTSIDE },
    ]);
    if (absent) return { notApplicable: absent };
    const services = view.inMeshServices();
    if (services.length === 0) return { notApplicable: 'the posture has no Service in a namespace labelled for injection' };
    return {
      cases: services.flatMap((s) =>
        s.ports.map((p) => ({
          label: `outside → every pod of ${s.name}.${s.namespace}:${p.port} (${p.name})`,
          atFault: plaintextAtFault(view, s, p.port),
          control: reachEchoControl(target, s, p),
          attack: { from: OUTSIDE, to: s, port: p.port, kind: p.protocol, via: 'endpoints' as const, classify: plaintextRefused, attacker: 'no-sidecar' as const },
          corroborate: filterChainNotFound,
        })),
      ),
    };
  },
});
