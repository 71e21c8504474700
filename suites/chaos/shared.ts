// The chaos suite's one rule: an outage is always ended. The restore is taken with the outage, before anything
// else happens, and runs whatever the checks do (a thrown error, an inconclusive attack).
import type { Outage, Target } from '../../harness/target.js';

export async function duringOutage<T>(target: Target, f: (o: Outage) => Promise<T>): Promise<{ value: T; outage: { startedAt: string; endedAt: string } }> {
  const o = await target.controlPlaneOutage();
  try {
    const value = await f(o);
    return { value, outage: { startedAt: o.startedAt.toISOString(), endedAt: new Date().toISOString() } };
  } finally {
    await o.restore();
  }
}
