import { defineCheck } from '../../harness/check.js';
import { expiredAtFault } from './at-fault.js';
import { directTlsCase, ECHO, ROGUE } from './shared.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const cert004 = defineCheck({
  id: 'CERT-004',
  title: 'An expired, genuinely mesh-signed certificate is rejected',
  suite: 'certificates',
  claim: 'A certificate the rogue legitimately obtained from the mesh CA is accepted while valid and rejected (certificate_expired) when replayed after its notAfter, on a fresh TLS connection.',
  categories: ['c'],
  weakenedBy: ['lab-allow-expired.yaml'],
  method: 'TEST',
  plan: async ({ view, target, timeouts }) => {
    if (!view.has('Deployment', ROGUE) || !view.has('Service', ECHO)) return { notApplicable: 'the posture lacks outside/rogue or mesh/echo' };
    const http = view.port(ECHO, 'http');
    if (!http) return { notApplicable: 'mesh/echo declares no HTTP port' };
    const rogue = await target.probe(ROGUE);
    // Obtained as a real attacker could: a short-lived certificate for the rogue's own identity, kept after use.
    const kept = await target.mintCertificate(rogue, timeouts.replayCertTtlMs);
    const [e] = await target.endpoints(ECHO, http.port);
    if (!e) return { notApplicable: 'mesh/echo has no ready endpoint' };
    return {
      cases: [
        {
          ...directTlsCase({
          label: `rogue replays its own certificate (serial ${kept.serialNumber}, notAfter ${kept.notAfter.toISOString()}) to ${e.pod.namespace}/${e.pod.name} (Service port ${http.port}) after expiry`,
          dial: e.dial,
          port: http.port,
          genuine: kept,
          proves: 'the same certificate was accepted on the same path while it was valid',
          bad: kept,
          expectedAlerts: ['certificate_expired'],
          timeoutMs: timeouts.attackMs,
          beforeAttack: () => sleep(Math.max(0, kept.notAfter.getTime() + timeouts.certSkewMs - Date.now())),
          }),
          atFault: expiredAtFault(view, `${e.pod.namespace}/${e.pod.name}`),
        },
      ],
    };
  },
});
