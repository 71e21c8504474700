import { defineCheck } from '../../harness/check.js';
import { plaintextNotServed } from '../../harness/classify.js';
import { messageOf } from '../../harness/errors.js';
import { edgeAnswered, edgeControl, edgeOf, httpsTo, judged, vantagesOf } from './shared.js';

export const edge001 = defineCheck({
  id: 'EDGE-001',
  title: 'Plaintext HTTP to the ingress gateway is redirected to HTTPS or refused, never served',
  suite: 'boundary',
  claim:
    "A client outside the mesh sending plaintext HTTP to the edge (yours with --edge, else the run's own gateway) for its host gets a redirect to https:// or a refused connection, never the application's answer; HTTPS to the same edge and host is answered (positive control).",
  categories: ['f'],
  weakenedBy: ['edge-no-redirect.yaml'],
  method: 'TEST',
  examine: async (ctx) => {
    const edge = edgeOf(ctx);
    if ('notApplicable' in edge) return edge;
    const where = `http://${edge.host} at ${edge.service.namespace}/${edge.service.name}:${edge.httpPort ?? 80}`;
    if (edge.httpPort === undefined && edge.kind === 'posture') {
      return [{ label: where, verdict: 'error', reason: 'the edge Service declares no port for an HTTP server: declare it (with httpsRedirect) so plaintext can be attacked', observed: {} }];
    }
    const vantages = await vantagesOf(ctx, edge);
    if ('problem' in vantages) return [{ label: where, verdict: 'error', reason: `attacker not valid: ${vantages.problem}`, observed: {} }];
    const { timeouts } = ctx;
    const items = [];
    for (const v of vantages) {
      const label = `${v.name} → ${where}`;
      const control = await edgeControl(ctx, v.probe, async (round) => {
        const dial = await v.https();
        return Array.from({ length: timeouts.controlConsecutive }, (_, i) => httpsTo(edge, dial, `control-${round}-${i}`, timeouts.attackMs));
      }, edgeAnswered(edge));
      try {
        const attacks = [];
        for (let i = 0; i < timeouts.attackAttempts; i++) attacks.push({ kind: 'http' as const, id: `plaintext-${i}`, dial: await v.http(), authority: edge.host, path: '/', timeoutMs: timeouts.attackMs });
        const { observations } = await v.probe.run(attacks);
        items.push(judged(label, control, observations.map((o) => ({ observation: o, judgement: plaintextNotServed(o) })), { observed: { edge } }));
      } catch (e) {
        items.push({ label, verdict: 'error' as const, reason: `the attack could not be run: ${messageOf(e)}`, observed: { edge } });
      }
    }
    return items;
  },
});
