// A check is one conformance claim, declared as data (STYLE.md 1, after gateway-api conformance): which probe
// attacks what, which positive control must succeed through the same path, how to classify, how to corroborate.
// Adding an attack is adding a check; the engine (engine.ts) runs them all the same way.
import type { Observation } from '../agent/protocol.js';
import type { AccessLogRecord } from './access-log.js';
import { type Category, controlsFor } from './controls.js';
import type { Classifier } from './classify.js';
import type { Expectation } from './expect.js';
import type { PostureView } from './posture/view.js';
import type { Ref, Target } from './target.js';
import type { Timeouts } from './timeouts.js';

export type Verdict = 'pass' | 'fail' | 'error' | 'not-applicable';

export interface Step {
  from: Ref;
  to: Ref;
  port: number;
  kind: 'http' | 'tcp';
  path?: string;
  method?: string;
}

export interface ControlStep extends Step {
  expect: Expectation;
  /** What a success proves, for the evidence (e.g. "reached echo; last XFCC URI = …"). */
  proves: string;
}

export interface AttackStep extends Step {
  /** `service`: dial the Service like any client; `endpoints`: dial every ready pod directly. */
  via: 'service' | 'endpoints';
  classify: Classifier;
  /** The attacker must not have a sidecar (§9.1): a sidecar would upgrade its traffic to mTLS. */
  attacker: 'no-sidecar' | 'sidecar';
}

export interface Corroboration {
  /** What record proves the block, in words for the evidence. */
  describe: string;
  /** Does this destination access-log record belong to this blocked attempt? */
  matches(r: AccessLogRecord, o: Observation): boolean;
  /** Counter (suffix) at the destination whose rise corroborates the blocks. */
  counter: string;
}

export interface Case {
  label: string;
  control: ControlStep;
  attack: AttackStep;
  corroborate: Corroboration;
}

export interface CheckContext {
  view: PostureView;
  target: Target;
  timeouts: Timeouts;
}

export type Plan = { cases: Case[] } | { notApplicable: string };

export interface Check {
  id: string;
  title: string;
  suite: string;
  /** The sentence that must be true of the mesh; failures quote it. */
  claim: string;
  /** What kind of evidence the check produces (controls.ts); the controls it claims follow from it. */
  categories: Category[];
  /** Control ids granted by the catalog for those categories; the caveats travel with them. */
  controls: string[];
  /** Overlays under fixtures/weakened/ that must make this check FAIL (self-verification). */
  weakenedBy: string[];
  method: 'TEST' | 'EXAMINE';
  plan(ctx: CheckContext): Plan;
}

export function defineCheck(c: Omit<Check, 'controls'>): Check {
  if (!/^[A-Z]+-\d{3}$/.test(c.id)) throw new Error(`check id ${c.id} must look like MTLS-001`);
  if (c.weakenedBy.length === 0) throw new Error(`${c.id}: every check names a weakened posture that makes it fail`);
  return { ...c, controls: controlsFor(c.categories) };
}
