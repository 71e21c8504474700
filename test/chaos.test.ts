// The control plane taken down on the lab (the chaos suite's Target operation): the outage is real (no
// certificate can be had, no pod can be injected), it is always ended, and what was refused during it happens
// once istiod is back. The checks themselves are proven to pass on the secure posture and to fail under their
// weaknesses by test/conformance.test.ts, which runs every overlay in fixtures/weakened.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { loadPosture } from '../harness/posture/load.js';
import { duringOutage } from '../suites/chaos/shared.js';

const BARE_ECHO = { namespace: 'bare', name: 'echo' };
let lab: LabTarget;

beforeAll(async () => {
  lab = new LabTarget();
  await lab.apply(loadPosture('fixtures/secure', []));
}, 60_000);
afterAll(async () => {
  await lab?.dispose();
});

describe('a control-plane outage on the lab', () => {
  it('is real while it lasts and always ends, even when what ran during it threw', async () => {
    const rogue = await lab.probe({ namespace: 'outside', name: 'rogue' });
    await expect(
      duringOutage(lab, async () => {
        // istiod's CA is unreachable: no certificate for anyone.
        await expect(lab.mintCertificate(rogue, 60_000)).rejects.toThrow(/istiod is down/);
        throw new Error('a check crashed mid-outage');
      }),
    ).rejects.toThrow(/crashed mid-outage/);
    // Restored: the CA answers again.
    const cert = await lab.mintCertificate(rogue, 60_000);
    expect(cert.spiffeId).toBe('spiffe://cluster.local/ns/outside/sa/rogue');
  });

  it('refuses a new injected pod while istiod is down (FailedCreate), and creates it once istiod is back', async () => {
    const before = await lab.servicePods(BARE_ECHO);
    const { value } = await duringOutage(lab, async () => {
      const scaled = await lab.scale(BARE_ECHO, before.length + 1);
      return { scaled, during: (await lab.servicePods(BARE_ECHO)).length };
    });
    expect(value.scaled.created).toEqual([]);
    expect(value.scaled.refused).toMatch(/FailedCreate: .*failed calling webhook "namespace\.sidecar-injector\.istio\.io".*no endpoints available for service "istiod"/);
    expect(value.during).toBe(before.length);
    const after = await lab.servicePods(BARE_ECHO);
    expect(after.length).toBe(before.length + 1);
    // The newcomer joined properly: a sidecar with its own mesh certificate.
    const newcomer = after.find((p) => !before.some((b) => b.name === p.name))!;
    expect(lab.sidecarOf(newcomer)?.currentCert.spiffeId).toBe('spiffe://cluster.local/ns/bare/sa/echo');
    await lab.scale(BARE_ECHO, before.length);
    expect(await lab.servicePods(BARE_ECHO)).toHaveLength(before.length);
  });
});
