import { X509Certificate } from 'node:crypto';
import { defineCheck, type Examined } from '../../harness/check.js';
import { edgeCertAtFault } from './at-fault.js';
import { atEachVantage, dnsNameCovers, edgeAnchors, untilControlHolds, httpsTo } from './shared.js';

const DAY_MS = 86_400_000;

export interface ChainReport {
  /** Subject and validity of each certificate the edge sent, leaf first. */
  presented: { subject: string; issuer: string; notAfter: string; daysLeft: number }[];
  /** The DNS names of the leaf. */
  names: string[];
  coversHost: boolean;
  /** Leaf → presented intermediates → an anchor, each signature verified; undefined when no path exists. */
  path?: string[];
  /** Fewest days left over the path (anchor included). */
  daysLeft?: number;
  problems: string[];
}

/**
 * Judges an edge's chain as a client without AIA fetching does: the leaf must name the host, the certificates the
 * edge SENDS must link the leaf to one of the anchors (signatures checked), and every certificate on that path must
 * stay valid for `horizonDays`.
 */
export function judgeChain(chainPem: string[], host: string, anchorsPem: string[], horizonDays: number, now = Date.now()): ChainReport {
  const certs = chainPem.map((p) => new X509Certificate(p));
  const anchors = anchorsPem.map((p) => {
    try {
      return new X509Certificate(p);
    } catch {
      return undefined;
    }
  }).filter((x): x is X509Certificate => x !== undefined);
  /** Node prints distinguished names one attribute per line; evidence reads them on one. */
  const dn = (name: string) => name.replace(/\n/g, ', ');
  const days = (c: X509Certificate) => Math.floor((new Date(c.validTo).getTime() - now) / DAY_MS);
  const leaf = certs[0];
  const problems: string[] = [];
  if (!leaf) return { presented: [], names: [], coversHost: false, problems: ['the edge sent no certificate'] };
  const names = (leaf.subjectAltName ?? '').split(/,\s*/).filter((x) => x.startsWith('DNS:')).map((x) => x.slice(4));
  const coversHost = names.some((n) => dnsNameCovers(n, host));
  if (!coversHost) problems.push(`the certificate names ${names.join(', ') || 'no DNS name'}, not ${host}`);
  const signedBy = (c: X509Certificate, issuer: X509Certificate) => c.checkIssued(issuer) && c.verify(issuer.publicKey);
  const path: X509Certificate[] = [leaf];
  let anchor: X509Certificate | undefined;
  for (let cur = leaf; path.length <= certs.length + 1; ) {
    anchor = anchors.find((a) => signedBy(cur, a) || a.fingerprint256 === cur.fingerprint256);
    if (anchor) break;
    const next = certs.find((c) => c !== cur && !path.includes(c) && signedBy(cur, c));
    if (!next) break;
    path.push(next);
    cur = next;
  }
  if (!anchor) problems.push(`the certificates the edge sends do not lead to a trust anchor (${path.length} linked, issuer "${dn(path[path.length - 1]!.issuer)}" not sent): the chain is incomplete or untrusted`);
  const onPath = anchor ? [...path, anchor].filter((c, i, a) => a.findIndex((x) => x.fingerprint256 === c.fingerprint256) === i) : path;
  const daysLeft = Math.min(...onPath.map(days));
  if (daysLeft < horizonDays) {
    const worst = onPath.find((c) => days(c) === daysLeft)!;
    problems.push(`${worst === leaf ? 'the leaf' : `"${dn(worst.subject)}"`} expires in ${daysLeft} day(s) (${worst.validTo}), inside the ${horizonDays}-day horizon`);
  }
  return {
    presented: certs.map((c) => ({ subject: dn(c.subject), issuer: dn(c.issuer), notAfter: new Date(c.validTo).toISOString(), daysLeft: days(c) })),
    names,
    coversHost,
    ...(anchor ? { path: onPath.map((c) => dn(c.subject)) } : {}),
    daysLeft,
    problems,
  };
}

export const edge003 = defineCheck({
  id: 'EDGE-003',
  title: "The ingress gateway's certificate names the host, chains completely and stays valid beyond the horizon",
  suite: 'boundary',
  claim:
    "The certificate the edge (yours with --edge, else the run's own gateway) serves for its host names that host, the edge sends every intermediate needed to reach a trust anchor, and no certificate on that path expires within --edge-cert-horizon-days.",
  categories: ['f'],
  weakenedBy: ['edge-cert-incomplete-chain.yaml', 'edge-cert-expiring.yaml'],
  method: 'EXAMINE',
  examine: (ctx) => {
    const horizon = ctx.settings.edgeCertHorizonDays;
    // Read once, before any vantage: the anchors depend on the edge, not on where it is seen from.
    let anchors = { pem: [] as string[], source: '' };
    return atEachVantage(
      ctx,
      (edge) => `certificate of https://${edge.host} at ${edge.service.namespace}/${edge.service.name}:${edge.httpsPort}`,
      async (edge, v, label): Promise<Examined> => {
        // The path: a handshake as any client makes it, keeping what the edge sent.
        const shake = await untilControlHolds(
          ctx,
          v.probe,
          async (round) => [httpsTo(edge, await v.https(), `chain-${round}`, ctx.timeouts.attackMs, { capturePeer: true })],
          (o) => (o.tls?.handshake && o.tls.peerChainPem?.length ? undefined : `no handshake (${o.failure?.class ?? 'no failure recorded'})`),
        );
        const chain = shake.observations[0]?.tls?.peerChainPem;
        if (!shake.ok || !chain) return { label, verdict: 'error', reason: `the edge could not be reached over TLS: ${shake.reason ?? 'no chain captured'}`, observed: { edge } };
        const report = judgeChain(chain, edge.host, anchors.pem, horizon);
        return {
          label,
          verdict: report.problems.length === 0 ? 'pass' : 'fail',
          ...(report.problems.length > 0 ? { atFault: edgeCertAtFault(ctx.view, edge, report.problems) } : {}),
          reason: report.problems.length === 0 ? `names ${edge.host}, chains to ${anchors.source} through what the edge sends, ${report.daysLeft} day(s) left (horizon ${horizon})` : report.problems.join('; '),
          observed: { edge, anchors: anchors.source, protocol: shake.observations[0]?.tls?.protocol, chainPem: chain, ...report },
        };
      },
      async (edge) => {
        anchors = await edgeAnchors(ctx, edge);
        return anchors.pem.length === 0 ? `no trust anchor to verify the edge against (${anchors.source}): give --edge-ca` : undefined;
      },
    );
  },
});
