// What the model of Istio's semantics does not judge, said by the model itself: each entry is built from the
// constants the modules decide with, so the README's "Limits of the lab" (held to this list by
// test/istio-limits.test.ts) cannot drift from the code. Where the model cannot answer it says "not judged" and
// names the field; it never guesses.
import { NOT_MODELLED_SPEC, SOURCE_UNJUDGED, WHEN_UNJUDGED, WHEN_UNJUDGED_PREFIX } from './authz-policy.js';
import { DRY_RUN_CUSTOM } from './authz.js';
import { STATS_NOT_MODELLED } from './stats.js';

export interface ModelLimit {
  area: string;
  limit: string;
}

const code = (xs: readonly string[]) => xs.map((x) => `\`${x}\``).join(', ');

export function modelLimits(): ModelLimit[] {
  return [
    {
      area: 'AuthorizationPolicy',
      limit: `not judged (the answer names the field): the sources ${code(Object.keys(SOURCE_UNJUDGED))} (on a request without a JWT they are judged: \`requestPrincipals\` never match, \`notRequestPrincipals\` always do), the \`when\` keys ${code(WHEN_UNJUDGED)} and those starting ${code(WHEN_UNJUDGED_PREFIX.map((p) => `${p}…`))}; ${DRY_RUN_CUSTOM}`,
    },
    { area: 'AuthorizationPolicy', limit: `refused whole: \`spec.targetRef\`, \`spec.targetRefs\` and any unknown field, ${NOT_MODELLED_SPEC}; an unknown \`when\` attribute` },
    { area: 'Protocol', limit: 'a port no declaration names (`UnsupportedProtocol`) is sniffed by Envoy: the model says "sniffed" and does not judge what sniffing will detect' },
    { area: 'PeerAuthentication', limit: 'two policies at one level with equal creation times are decided by name, as istiod does; the model reports the tie (the lab, whose objects have no creation time, refuses it)' },
    { area: 'Stats', limit: STATS_NOT_MODELLED },
  ];
}

export const LIMITS_BEGIN = '<!-- istio-model-limits: generated from harness/istio/limits.ts -->';
export const LIMITS_END = '<!-- /istio-model-limits -->';

/** The README block: the begin marker, one bullet per limit, the end marker. */
export function limitsMarkdown(): string {
  return [LIMITS_BEGIN, ...modelLimits().map((l) => `- ${l.area}: ${l.limit}.`), LIMITS_END].join('\n');
}
