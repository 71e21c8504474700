import { defineCheck } from '../../harness/check.js';
import { plaintextRefused } from '../../harness/classify.js';
import { ROOT_NAMESPACE } from '../../harness/posture/view.js';
import { AUTHORIZED, filterChainNotFound, missing, OUTSIDE, plaintextAtFault, reachEchoControl } from './shared.js';

export const mtls003 = defineCheck({
  id: 'MTLS-003',
  title: 'A namespace without its own PeerAuthentication is STRICT through the mesh-wide policy',
  suite: 'mtls',
  claim: `Services in an injected namespace that has no PeerAuthentication of its own refuse plaintext, because the mesh-wide policy in ${ROOT_NAMESPACE} is STRICT.`,
  categories: ['a'],
  weakenedBy: ['mesh-wide-permissive.yaml'],
  method: 'TEST',
  plan: ({ view, target }) => {
    const absent = missing(view, [
      { kind: 'Deployment', ref: AUTHORIZED },
      { kind: 'Deployment', ref: OUTSIDE },
    ]);
    if (absent) return { notApplicable: absent };
    const unconfigured = view.injectedNamespaces().filter((ns) => view.peerAuthentications(ns).length === 0);
    if (unconfigured.length === 0) {
      return { notApplicable: 'every injected namespace has a PeerAuthentication of its own, so none depends on the mesh-wide default' };
    }
    const cases = unconfigured.flatMap((ns) =>
      view.services(ns).flatMap((s) =>
        s.ports
          .filter((p) => p.protocol === 'http')
          .map((p) => ({
            label: `outside → ${s.name}.${ns}:${p.port} (namespace ${ns} has no PeerAuthentication)`,
            atFault: plaintextAtFault(view, s, p.port),
            control: reachEchoControl(target, s, p),
            attack: { from: OUTSIDE, to: s, port: p.port, kind: p.protocol, via: 'service' as const, classify: plaintextRefused, attacker: 'no-sidecar' as const },
            corroborate: filterChainNotFound,
          })),
      ),
    );
    if (cases.length === 0) return { notApplicable: `namespaces ${unconfigured.join(', ')} have no Service with an HTTP port to attack` };
    return { cases };
  },
});
