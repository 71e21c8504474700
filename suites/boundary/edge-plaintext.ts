import { defineCheck } from '../../harness/check.js';
import { plaintextNotServed } from '../../harness/classify.js';
import { edgePlaintextAtFault } from './at-fault.js';
import { atEachVantage, edgeAnswered, untilControlHolds, httpsTo, judged } from './shared.js';

/** The one path EDGE-001 asks for, over HTTPS (the control) and plaintext (the attack). */
const PATH = '/';

export const edge001 = defineCheck({
  id: 'EDGE-001',
  title: 'Plaintext HTTP to the ingress gateway is redirected to HTTPS or refused, never served',
  suite: 'boundary',
  claim:
    "A client outside the mesh sending plaintext HTTP to the edge (yours with --edge, else the run's own gateway) for its host gets a redirect to https:// or a refused connection, never the application's answer; HTTPS to the same edge and host is answered (positive control).",
  categories: ['f'],
  weakenedBy: ['edge-no-redirect.yaml'],
  method: 'TEST',
  examine: (ctx) =>
    atEachVantage(
      ctx,
      (edge) => `http://${edge.host} at ${edge.service.namespace}/${edge.service.name}:${edge.httpPort ?? 80}`,
      async (edge, v, label) => {
        const { timeouts } = ctx;
        // The control and the attack ask for the same host and path: an empty 404 over plaintext is "not routed"
        // only when HTTPS for that path reached upstream with Envoy's router header (H1, plaintextNotServed).
        const control = await untilControlHolds(ctx, v.probe, async (round) => {
          const dial = await v.https();
          return Array.from({ length: timeouts.controlConsecutive }, (_, i) => httpsTo(edge, dial, `control-${round}-${i}`, timeouts.attackMs, { path: PATH }));
        }, edgeAnswered(edge));
        const attacks = [];
        for (let i = 0; i < timeouts.attackAttempts; i++) attacks.push({ kind: 'http' as const, id: `plaintext-${i}`, dial: await v.http(), authority: edge.host, path: PATH, timeoutMs: timeouts.attackMs });
        const { observations } = await v.probe.run(attacks);
        const item = judged(label, control, observations.map((o) => ({ observation: o, judgement: plaintextNotServed(control.observations)(o) })), { observed: { edge } });
        return item.verdict === 'fail' ? { ...item, atFault: edgePlaintextAtFault(ctx.view, edge) } : item;
      },
      (edge) => (edge.httpPort === undefined && edge.kind === 'posture' ? 'the edge Service declares no port for an HTTP server: declare it (with httpsRedirect) so plaintext can be attacked' : undefined),
    ),
});
