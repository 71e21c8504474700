import { X509Certificate } from 'node:crypto';
import type { Attack, Observation } from '../../agent/protocol.js';
import { defineCheck } from '../../harness/check.js';
import { legacyTlsRefused } from '../../harness/classify.js';
import { edgeTlsAtFault } from './at-fault.js';
import { atEachVantage, dnsNameCovers, type EdgeTarget, edgeAnswered, httpsTo, judged, untilRoundHolds } from './shared.js';

/**
 * What a legacy or careless client offers: CBC-mode and non-forward-secret suites (and 3DES where the library still
 * has it). None is in Envoy's default server list (E: api/envoy/extensions/transport_sockets/tls/v3/common.proto).
 * SECLEVEL=0 lets OpenSSL 3 offer them at all.
 */
export const WEAK_SUITES =
  'ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES128-SHA:AES256-SHA:DES-CBC3-SHA@SECLEVEL=0';

/** The accepted handshake presented a certificate for the host, at the protocol version asked for. */
function acceptedAs(edge: EdgeTarget, version: string) {
  const answered = edgeAnswered(edge);
  return (o: Observation): string | undefined => {
    const why = answered(o);
    if (why) return why;
    if (o.tls?.protocol !== version) return `negotiated ${o.tls?.protocol ?? '?'} instead of ${version}`;
    const leaf = o.tls.peerChainPem?.[0];
    if (!leaf) return 'no server certificate was captured';
    const sans = (new X509Certificate(leaf).subjectAltName ?? '').split(/,\s*/).filter((x) => x.startsWith('DNS:')).map((x) => x.slice(4));
    return sans.some((s) => dnsNameCovers(s, edge.host)) ? undefined : `the certificate names ${sans.join(', ') || 'no DNS name'}, not ${edge.host}`;
  };
}

const MODERN = [
  { id: 'tls12', name: 'TLS 1.2', version: 'TLSv1.2' },
  { id: 'tls13', name: 'TLS 1.3', version: 'TLSv1.3' },
] as const;

/**
 * I-M2: the positive control is "a modern TLS version (1.2 or 1.3) answered with the host's certificate". A stronger
 * edge refuses one of them on purpose: Gateway `minProtocolVersion: TLSV1_3` or meshConfig.tlsDefaults (I:
 * pilot/pkg/networking/core/listener.go applyServerTLSSettings, applyDownstreamTLSDefaults), COMPLIANCE_POLICY
 * `fips-140-2` (min = max = TLS 1.2) or `pqc` (min TLS 1.3) (I: pkg/model/fips.go EnforceCompliance). A modern
 * version refused cleanly at the handshake is evidence, not a failed control; one answered with the wrong
 * certificate, or not answered at all, still fails the control.
 */
export function modernTlsControl(edge: EdgeTarget): (observations: Observation[]) => string | undefined {
  return (observations) => {
    let accepted = 0;
    for (const m of MODERN) {
      const o = observations.find((x) => x.id.startsWith(`${m.id}-`));
      if (!o) return `no ${m.name} attempt was made`;
      const why = acceptedAs(edge, m.version)(o);
      if (why === undefined) accepted++;
      else if (o.tls?.handshake || legacyTlsRefused(o).outcome !== 'blocked') return `${m.name}: ${why}`;
    }
    return accepted > 0 ? undefined : 'neither TLS 1.2 nor TLS 1.3 was accepted: the edge answers no modern TLS client';
  };
}

/** Which modern versions the edge refused at the handshake (evidence for the report). */
function modernRefused(observations: Observation[]): string[] {
  return MODERN.filter((m) => observations.some((o) => o.id.startsWith(`${m.id}-`) && !o.tls?.handshake && legacyTlsRefused(o).outcome === 'blocked')).map((m) => m.name);
}

export const edge002 = defineCheck({
  id: 'EDGE-002',
  title: 'The ingress gateway refuses TLS 1.0, TLS 1.1 and weak cipher suites at the handshake',
  suite: 'boundary',
  claim:
    "At the edge (yours with --edge, else the run's own gateway), TLS 1.0 and TLS 1.1 clients and a TLS 1.2 client offering only CBC-mode or non-forward-secret suites are refused during the handshake (protocol_version or handshake_failure); a modern client (TLS 1.2 or TLS 1.3) is accepted with a certificate for the host; an edge refusing one of them on purpose (TLS 1.3-only, FIPS, PQC) passes.",
  categories: ['f'],
  weakenedBy: ['edge-tls-legacy.yaml'],
  method: 'TEST',
  examine: (ctx) =>
    atEachVantage(
      ctx,
      (edge) => `https://${edge.host} at ${edge.service.namespace}/${edge.service.name}:${edge.httpsPort}`,
      async (edge, v, label) => {
        const { timeouts } = ctx;
        // The positive control: TLS 1.2 or TLS 1.3, each tried alone, accepted with the host's certificate (I-M2).
        const control = await untilRoundHolds(
          ctx,
          v.probe,
          async (round) => [
            httpsTo(edge, await v.https(), `tls12-${round}`, timeouts.attackMs, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', capturePeer: true }),
            httpsTo(edge, await v.https(), `tls13-${round}`, timeouts.attackMs, { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', capturePeer: true }),
          ],
          modernTlsControl(edge),
        );
        const attacks: Attack[] = [
          httpsTo(edge, await v.https(), 'tls10', timeouts.attackMs, { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: WEAK_SUITES }),
          httpsTo(edge, await v.https(), 'tls11', timeouts.attackMs, { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: WEAK_SUITES }),
          httpsTo(edge, await v.https(), 'tls12-weak-suites', timeouts.attackMs, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: WEAK_SUITES }),
        ];
        const { observations } = await v.probe.run(attacks);
        const item = judged(label, control, observations.map((o) => ({ observation: o, judgement: legacyTlsRefused(o) })), { observed: { edge, weakSuitesOffered: WEAK_SUITES, modernVersionsRefused: modernRefused(control.observations) } });
        return item.verdict === 'fail' ? { ...item, atFault: edgeTlsAtFault(ctx.view, edge) } : item;
      },
    ),
});
