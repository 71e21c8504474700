// `--edge <namespace>/<service> --edge-host <host>[:port]`: the user's own ingress gateway, which EDGE-001..003
// attack read-only instead of the run's own (`--edge-url` adds the runner as a vantage point, `--edge-ca` the trust
// anchors, `--edge-http-port` the plaintext port).
import { readFileSync } from 'node:fs';
import type { Settings } from '../harness/check.js';
import { ConfigError, messageOf } from '../harness/errors.js';
import type { Posture } from '../harness/posture/load.js';
import { PostureView } from '../harness/posture/view.js';
import type { Ref } from '../harness/target.js';

export interface EdgeOptions {
  edge?: string;
  edgeHost?: string;
  edgeHttpPort?: string;
  edgeCa?: string;
  edgeUrl?: string;
}

const port = (v: string, flag: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(`${flag} ${v}: not a port number`);
  return n;
};

/** The user's edge as EDGE-001..003 see it, or undefined without `--edge`. Every mistake is a one-line ConfigError. */
export function parseEdge(o: EdgeOptions): Settings['edge'] {
  if (!o.edge) {
    const stray = (['edgeHost', 'edgeHttpPort', 'edgeCa', 'edgeUrl'] as const).find((k) => o[k] !== undefined);
    if (stray) throw new ConfigError(`--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --edge <namespace>/<service>`);
    return undefined;
  }
  const ref = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(o.edge);
  if (!ref) throw new ConfigError(`--edge ${o.edge}: expected <namespace>/<service> (the Service in front of your ingress gateway)`);
  if (!o.edgeHost) throw new ConfigError('--edge needs --edge-host <host>[:port]: the host name your gateway serves (SNI and Host)');
  const hp = /^([a-z0-9*]([-a-z0-9.]*[a-z0-9])?)(?::(\d+))?$/i.exec(o.edgeHost);
  if (!hp) throw new ConfigError(`--edge-host ${o.edgeHost}: expected <host>[:port]`);
  const httpsPort = hp[3] ? port(hp[3], '--edge-host') : 443;
  const httpPort = o.edgeHttpPort ? port(o.edgeHttpPort, '--edge-http-port') : 80;
  let trustPem: string[] | undefined;
  if (o.edgeCa) {
    let text: string;
    try {
      text = readFileSync(o.edgeCa, 'utf8');
    } catch (e) {
      throw new ConfigError(`--edge-ca ${o.edgeCa}: cannot read (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`);
    }
    trustPem = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (trustPem.length === 0) throw new ConfigError(`--edge-ca ${o.edgeCa}: no PEM certificate in it`);
  }
  let url: { host: string; port: number; httpPort: number } | undefined;
  if (o.edgeUrl) {
    let u: URL;
    try {
      u = new URL(o.edgeUrl);
    } catch {
      throw new ConfigError(`--edge-url ${o.edgeUrl}: not a URL (e.g. https://203.0.113.10:443)`);
    }
    if (u.protocol !== 'https:') throw new ConfigError(`--edge-url ${o.edgeUrl}: must be https://`);
    url = { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 443, httpPort };
  }
  return { service: { namespace: ref[1]!, name: ref[3]! }, host: hp[1]!.toLowerCase(), httpsPort, httpPort, ...(trustPem ? { trustPem } : {}), ...(url ? { url } : {}) };
}

/**
 * 21-6: the `--edge` Service must exist before any work, or every EDGE check runs to an `error` (about 30 s on the
 * lab). On the lab the posture is everything that exists, so the posture's Services decide; on a cluster a
 * Service of the posture (the run's own) exists once applied, and any other is looked up by `lookup` (a GET right
 * after preflight, under deploy/rbac-edge.yaml: cluster/kube/preflight.ts edgeServicePorts).
 * Returns nothing when it is there with the HTTPS port; throws a one-line ConfigError otherwise.
 */
/** The `--edge` Service when the posture does not hold it (a cluster must then be asked whether it exists). */
export function edgeOutsidePosture(edge: Settings['edge'], posture: Posture): Ref | undefined {
  if (!edge) return undefined;
  const { namespace, name } = edge.service;
  return new PostureView(posture).services().some((s) => s.namespace === namespace && s.name === name) ? undefined : edge.service;
}

export async function requireEdgeService(edge: Settings['edge'], posture: Posture, lookup?: (ref: Ref) => Promise<number[] | undefined>): Promise<void> {
  if (!edge) return;
  const { namespace, name } = edge.service;
  const services = new PostureView(posture).services();
  const own = services.find((s) => s.namespace === namespace && s.name === name);
  let ports = own?.ports.map((p) => p.port);
  let where = 'the posture';
  if (!own && lookup) {
    ports = await lookup(edge.service);
    where = 'the cluster';
  }
  if (!ports) {
    const known = lookup ? '' : ` (the lab runs only the posture's Services: ${services.slice(0, 6).map((s) => `${s.namespace}/${s.name}`).join(', ')}${services.length > 6 ? ', …' : ''})`;
    throw new ConfigError(`--edge ${namespace}/${name}: no such Service in ${where}${known}`);
  }
  if (!ports.includes(edge.httpsPort)) throw new ConfigError(`--edge ${namespace}/${name}: the Service has no port ${edge.httpsPort} (the --edge-host port; it has ${ports.join(', ') || 'none'})`);
}
