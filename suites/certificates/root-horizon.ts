import type { Examined } from '../../harness/check.js';
import { defineCheck } from '../../harness/check.js';
import { readCerts } from './shared.js';

const DAY_MS = 86_400_000;

export const cert005 = defineCheck({
  id: 'CERT-005',
  title: 'The mesh root CA stays valid beyond the required horizon',
  suite: 'certificates',
  claim: 'Every root a sidecar trusts stays valid for at least the configured horizon (90 days by default); the evidence inventories the notAfter of every root and workload certificate.',
  categories: ['c'],
  weakenedBy: ['lab-short-root.yaml'],
  method: 'EXAMINE',
  examine: async ({ target, settings }) => {
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
    const roots = new Map(inventory.flatMap((i) => i.roots).map((r) => [r.serial, r.notAfter]));
    if (roots.size === 0) return [{ label: 'mesh roots', verdict: 'error', reason: 'no root CA in any /certs', observed: inventory } satisfies Examined];
    const horizon = Date.now() + settings.rootHorizonDays * DAY_MS;
    const short = [...roots].filter(([, notAfter]) => !notAfter || Date.parse(notAfter) < horizon);
    const days = (t?: string) => (t ? Math.floor((Date.parse(t) - Date.now()) / DAY_MS) : NaN);
    return [
      short.length > 0
        ? { label: 'mesh roots', verdict: 'fail', reason: `root ${short.map(([s, t]) => `${s} expires ${t} (${days(t)} days)`).join(', ')}: less than ${settings.rootHorizonDays} days`, observed: inventory }
        : { label: 'mesh roots', verdict: 'pass', reason: `${roots.size} root(s), the nearest expiry in ${Math.min(...[...roots.values()].map(days))} days`, observed: inventory },
    ];
  },
});
