import type { Examined } from '../../harness/check.js';
import { defineCheck } from '../../harness/check.js';
import { X509Certificate } from 'node:crypto';
import { rootAtFault } from './at-fault.js';
import { readCerts } from './shared.js';

const DAY_MS = 86_400_000;

export const cert005 = defineCheck({
  id: 'CERT-005',
  title: 'The mesh root CA stays valid beyond the required horizon',
  suite: 'certificates',
  claim: 'Every root in the mesh\'s trust bundle (istio-ca-root-cert, every certificate of it: a rotation holds more than one) and every root a sidecar shows stays valid for at least the configured horizon (90 days by default); the evidence inventories the notAfter of every root and workload certificate.',
  categories: ['c'],
  weakenedBy: ['lab-short-root.yaml'],
  method: 'EXAMINE',
  examine: async ({ target, settings, view }) => {
    const pods = await target.meshPods();
    if (pods.length === 0) return { notApplicable: 'no workload runs a sidecar' };
    const inventory = [];
    for (const pod of pods) {
      const { leaves, roots } = readCerts(await target.workloadCert(pod));
      inventory.push({
        pod: `${pod.namespace}/${pod.name}`,
        workload: leaves.map((l) => ({ serial: l.serial_number, notAfter: l.expiration_time, uris: (l.subject_alt_names ?? []).map((s) => s.uri) })),
        roots: roots.map((r) => ({ serial: r.serial_number, notAfter: r.expiration_time })),
      });
    }
    // Envoy's /certs shows only the first CA of a context (istio-behaviours.md §10): the bundle istiod distributes
    // is read whole, so a second root during a rotation is seen.
    const bundle = (await target.meshRoots()).map((pem) => {
      const c = new X509Certificate(pem);
      return { serial: c.serialNumber.toLowerCase(), subject: c.subject.replace(/\n/g, ','), notAfter: new Date(c.validTo).toISOString() };
    });
    const roots = new Map([...inventory.flatMap((i) => i.roots), ...bundle].map((r) => [r.serial, r.notAfter]));
    const observed = { bundle, sidecars: inventory };
    if (roots.size === 0) return [{ label: 'mesh roots', verdict: 'error', reason: 'no root CA in any /certs', observed } satisfies Examined];
    const horizon = Date.now() + settings.rootHorizonDays * DAY_MS;
    const short = [...roots].filter(([, notAfter]) => !notAfter || Date.parse(notAfter) < horizon);
    const days = (t?: string) => (t ? Math.floor((Date.parse(t) - Date.now()) / DAY_MS) : NaN);
    return [
      short.length > 0
        ? { label: 'mesh roots', verdict: 'fail', reason: `root ${short.map(([s, t]) => `${s} expires ${t} (${days(t)} days)`).join(', ')}: less than ${settings.rootHorizonDays} days`, observed, atFault: rootAtFault(view, settings.rootHorizonDays) }
        : { label: 'mesh roots', verdict: 'pass', reason: `${roots.size} root(s) (${bundle.length} in the trust bundle), the nearest expiry in ${Math.min(...[...roots.values()].map(days))} days`, observed },
    ];
  },
});
