import { defineCheck } from '../../harness/check.js';
import { CertificateAuthority } from '../../harness/pki.js';
import { AUTHORIZED_SA } from '../mtls/shared.js';
import { foreignCaAtFault } from './at-fault.js';
import { directTlsCase, ECHO, ROGUE } from './shared.js';

const ONE_HOUR = 3_600_000;

export const cert003 = defineCheck({
  id: 'CERT-003',
  title: 'A certificate from a foreign CA is rejected, even with a valid identity in it',
  suite: 'certificates',
  claim: 'A client certificate carrying the authorized SPIFFE ID but signed by a CA the mesh does not trust is rejected at the handshake by every echo pod, while a genuine mesh certificate through the same direct path is accepted.',
  categories: ['c'],
  weakenedBy: ['lab-accept-untrusted-chain.yaml'],
  method: 'TEST',
  plan: async ({ view, target, timeouts }) => {
    if (!view.has('Deployment', ROGUE) || !view.has('Service', ECHO)) return { notApplicable: 'the posture lacks outside/rogue or mesh/echo' };
    const http = view.port(ECHO, 'http');
    if (!http) return { notApplicable: 'mesh/echo declares no HTTP port' };
    const rogue = await target.probe(ROGUE);
    const genuine = await target.mintCertificate(rogue, ONE_HOUR);
    // The forgery: a CA of our own with the mesh's trust domain, issuing the authorized identity.
    const foreignCa = await CertificateAuthority.create({ trustDomain: 'cluster.local' });
    const forged = await foreignCa.issue(ECHO.namespace, AUTHORIZED_SA, { uri: target.identity(ECHO.namespace, AUTHORIZED_SA) });
    const endpoints = await target.endpoints(ECHO, http.port);
    return {
      cases: endpoints.map((e) => ({
        ...directTlsCase({
          label: `rogue → ${e.pod.namespace}/${e.pod.name} (Service port ${http.port}) with a foreign-CA certificate for ${forged.spiffeId}`,
          dial: e.dial,
          port: http.port,
          genuine,
          proves: `the genuine mesh certificate of ${genuine.spiffeId} is accepted on the same direct path`,
          bad: forged,
          expectedAlerts: ['unknown_ca'],
          timeoutMs: timeouts.attackMs,
        }),
        atFault: foreignCaAtFault(view, `${e.pod.namespace}/${e.pod.name}`),
      })),
    };
  },
});
