import type { Examined } from '../../harness/check.js';
import { defineCheck } from '../../harness/check.js';
import { identityAtFault, lifetimeAtFault } from './at-fault.js';
import { readCerts } from './shared.js';

/** istiod backdates NotBefore by two minutes (security/pkg/pki/util/generate_cert.go); allow a little more. */
const BACKDATE_TOLERANCE_MS = 5 * 60_000;

export const cert001 = defineCheck({
  id: 'CERT-001',
  title: 'Every workload certificate is short-lived and carries its SPIFFE identity',
  suite: 'certificates',
  claim: 'The live certificate of every sidecar lives no longer than the configured maximum (24h by default) and its URI SAN is exactly spiffe://<trust domain>/ns/<namespace>/sa/<service account> of that workload.',
  categories: ['c'],
  weakenedBy: ['workload-cert-90d.yaml'],
  method: 'EXAMINE',
  examine: async ({ target, view, settings }) => {
    const pods = await target.meshPods();
    if (pods.length === 0) return { notApplicable: 'no workload runs a sidecar' };
    const out: Examined[] = [];
    for (const pod of pods) {
      const label = `${pod.namespace}/${pod.name}`;
      const { leaves } = readCerts(await target.workloadCert(pod));
      const leaf = leaves[0];
      if (!leaf?.valid_from || !leaf.expiration_time) {
        out.push({ label, verdict: 'error', reason: 'no workload certificate in /certs', observed: leaves });
        continue;
      }
      const lifetime = Date.parse(leaf.expiration_time) - Date.parse(leaf.valid_from);
      const sa = view.serviceAccountOf({ namespace: pod.namespace, name: pod.workload }) ?? 'default';
      const expected = target.identity(pod.namespace, sa);
      const uris = (leaf.subject_alt_names ?? []).flatMap((s) => (s.uri ? [s.uri] : []));
      const observed = { serial: leaf.serial_number, validFrom: leaf.valid_from, expiration: leaf.expiration_time, lifetimeHours: +(lifetime / 3_600_000).toFixed(3), limitHours: settings.maxCertLifetimeMs / 3_600_000, uriSans: uris, expected };
      if (lifetime > settings.maxCertLifetimeMs + BACKDATE_TOLERANCE_MS) {
        out.push({ label, verdict: 'fail', reason: `certificate lives ${observed.lifetimeHours}h, more than ${settings.maxCertLifetimeMs / 3_600_000}h`, observed, atFault: lifetimeAtFault(view, { namespace: pod.namespace, name: pod.workload }, settings.maxCertLifetimeMs / 3_600_000) });
      } else if (uris.length !== 1 || uris[0] !== expected) {
        out.push({ label, verdict: 'fail', reason: `URI SANs ${JSON.stringify(uris)}, expected exactly ${expected}`, observed, atFault: identityAtFault({ namespace: pod.namespace, name: pod.workload }, sa) });
      } else {
        out.push({ label, verdict: 'pass', reason: `${observed.lifetimeHours}h, ${expected}`, observed });
      }
    }
    return out;
  },
});
