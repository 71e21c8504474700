// The chaos suite's one rule: an outage is always ended. The restore is taken with the outage, before anything
// else happens, and runs whatever the checks do (a thrown error, an inconclusive attack).
import type { Outage, Target } from '../../harness/target.js';

/** When the outage began, when the check ended it, and when the Target's restore() had returned (istiod back). */
export interface OutageSpan {
  startedAt: string;
  /** The check was done with the outage and asked for istiod back. */
  endedAt: string;
  /** restore() returned: recovery is measured from here, not from `endedAt` (istiod's restart is not the proxy's). */
  restoredAt: string;
}

export async function duringOutage<T>(target: Target, f: (o: Outage) => Promise<T>): Promise<{ value: T; outage: OutageSpan }> {
  const o = await target.controlPlaneOutage();
  let value: T;
  try {
    value = await f(o);
  } catch (e) {
    await o.restore();
    throw e;
  }
  const endedAt = new Date().toISOString();
  await o.restore();
  return { value, outage: { startedAt: o.startedAt.toISOString(), endedAt, restoredAt: new Date().toISOString() } };
}
