import { defineCheck } from '../../harness/check.js';
import { lastXfccUri } from '../../harness/expect.js';
import { edgeBackendAtFault } from './at-fault.js';
import { clientProblem, EDGE_CLIENT, edgeAnswered, untilControlHolds, edgeOf, httpsTo } from './shared.js';

export const edge004 = defineCheck({
  id: 'EDGE-004',
  title: 'The ingress gateway reaches its backend over mTLS with its own identity',
  suite: 'boundary',
  claim:
    "A request through the run's own ingress gateway reaches the echo app, and echo's sidecar saw the gateway's SPIFFE ID as the client certificate (the last URI= of x-forwarded-client-cert): the hop from the edge into the mesh is mutual TLS.",
  categories: ['a'],
  weakenedBy: ['edge-backend-outside-mesh.yaml'],
  method: 'TEST',
  examine: async (ctx) => {
    // Always the run's own gateway: on a user's edge neither the backend nor its identity is ours to read.
    const edge = edgeOf(ctx, true);
    if ('notApplicable' in edge) return edge;
    if (!edge.workload) return { notApplicable: 'the posture edge has no gateway Deployment of its own' };
    const sa = ctx.view.serviceAccountOf(edge.workload) ?? 'default';
    const expected = ctx.target.identity(edge.workload.namespace, sa);
    const label = `outside → https://${edge.host} → backend: client certificate ${expected}`;
    const probe = await ctx.target.probe(EDGE_CLIENT);
    const problem = clientProblem(probe);
    if (problem) return [{ label, verdict: 'error', reason: `attacker not valid: ${problem}`, observed: {} }];
    const { timeouts } = ctx;
    const reached = await untilControlHolds(
      ctx,
      probe,
      async (round) => {
        const d = await ctx.target.address(edge.service, edge.httpsPort, probe);
        return Array.from({ length: timeouts.controlConsecutive }, (_, i) => httpsTo(edge, d.dial, `through-${round}-${i}`, timeouts.attackMs));
      },
      edgeAnswered(edge),
    );
    if (!reached.ok) return [{ label, verdict: 'error', reason: `positive control failed: the request did not reach the echo app through the edge: ${reached.reason} (docs/istio-behaviours.md §9.9)`, observed: { edge, observations: reached.observations } }];
    const seen = reached.observations.map((o) => lastXfccUri(o.http?.echo?.headers['x-forwarded-client-cert']));
    // findIndex, not find: a missing header is itself the finding (find would return it as "nothing wrong").
    const at = seen.findIndex((u) => u !== expected);
    const wrong = seen[at];
    return [
      {
        label,
        verdict: at < 0 ? 'pass' : 'fail',
        ...(at < 0 ? {} : { atFault: edgeBackendAtFault(ctx.view, edge) }),
        reason:
          at < 0
            ? `echo saw ${expected} as the last XFCC URI on ${seen.length} request(s)`
            : seen.some((u) => u === undefined)
              ? 'the backend saw no client certificate (no XFCC): the hop from the edge into the mesh is not mutual TLS'
              : `the backend saw ${wrong} as the client, not the gateway's ${expected}`,
        observed: { edge, expected, lastXfccUris: seen, observations: reached.observations },
      },
    ];
  },
});
