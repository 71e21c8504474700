// A Service port's protocol exactly as istiod derives it: a port of Istio's `ConvertProtocol` and
// `protocol.Parse` (I: istio/istio pkg/config/kube/conversion.go `ConvertProtocol`, pkg/config/protocol/instance.go
// `Parse`, `IsHTTP`, `IsTCP`; commit 86c9f01fd735). Pure: the sweep's discovery (cluster/kube/discover.ts) and its
// explanation use this and nothing else. Held against Istio's own table, test/data/istio/conversion_test.json.

/** protocol.Instance, with Istio's own spellings. */
export type IstioProtocol =
  | 'GRPC'
  | 'GRPC-Web'
  | 'HTTP'
  | 'HTTP_PROXY'
  | 'HTTP2'
  | 'HTTPS'
  | 'TCP'
  | 'TLS'
  | 'UDP'
  | 'Mongo'
  | 'Redis'
  | 'MySQL'
  | 'DoubleHBONE'
  | 'UnsupportedProtocol';

/**
 * protocol.Parse: case-insensitive. Istio compares the lowered string against `"DoubleHBONE"`, which can never
 * match; ported as is, so `doublehbone` is unsupported here too.
 */
export function parseProtocol(s: string): IstioProtocol {
  switch (s.toLowerCase()) {
    case 'tcp':
      return 'TCP';
    case 'udp':
      return 'UDP';
    case 'grpc':
      return 'GRPC';
    case 'grpc-web':
      return 'GRPC-Web';
    case 'http':
      return 'HTTP';
    case 'http_proxy':
      return 'HTTP_PROXY';
    case 'http2':
      return 'HTTP2';
    case 'https':
      return 'HTTPS';
    case 'tls':
      return 'TLS';
    case 'mongo':
      return 'Mongo';
    case 'redis':
      return 'Redis';
    case 'mysql':
      return 'MySQL';
  }
  return 'UnsupportedProtocol';
}

/** conversion.go `wellKnownPorts`: SMTP, DNS, MySQL, MongoDB are TCP when nothing declares them (never sniffed). */
const WELL_KNOWN_PORTS = new Set([25, 53, 3306, 27017]);
const GRPC_WEB = 'GRPC-Web';

/**
 * ConvertProtocol(port, portName, proto, appProto): UDP by the Kubernetes protocol; else `appProtocol` INSTEAD of
 * the name when set (the Kubernetes standard `kubernetes.io/h2c|ws|wss` values first), a `grpc-web` prefix, the
 * part before the first `-`, and for an undeclared well-known port TCP. `port` is the Service port.
 */
export function convertProtocol(port: number, portName: string | undefined, proto: string | undefined, appProtocol: string | undefined): IstioProtocol {
  if (proto === 'UDP') return 'UDP';
  let name = portName ?? '';
  if (appProtocol !== undefined) {
    name = appProtocol;
    switch (name) {
      case 'kubernetes.io/h2c':
        return 'HTTP2';
      case 'kubernetes.io/ws':
        return 'HTTP';
      case 'kubernetes.io/wss':
        return 'HTTPS';
    }
  }
  if (name.length >= GRPC_WEB.length && name.slice(0, GRPC_WEB.length).toLowerCase() === GRPC_WEB.toLowerCase()) return 'GRPC-Web';
  const dash = name.indexOf('-');
  if (dash >= 0) name = name.slice(0, dash);
  const p = parseProtocol(name);
  if (p === 'UnsupportedProtocol' && WELL_KNOWN_PORTS.has(port)) return 'TCP';
  return p;
}

/** Instance.IsHTTP. */
export function isHttp(p: IstioProtocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'HTTP_PROXY' || p === 'GRPC' || p === 'GRPC-Web';
}

/** Instance.IsTCP (TLS-carrying protocols are TCP-level to the sidecar). */
export function isTcp(p: IstioProtocol): boolean {
  return p === 'TCP' || p === 'HTTPS' || p === 'TLS' || p === 'Mongo' || p === 'Redis' || p === 'MySQL';
}

/** What the sweep needs from it: an HTTP chain, a TCP chain, or protocol sniffing (Unsupported); UDP is not proxied. */
export type ChainKind = 'http' | 'tcp' | 'sniffed' | 'udp';

export function chainKind(p: IstioProtocol): ChainKind {
  if (p === 'UDP') return 'udp';
  if (isHttp(p)) return 'http';
  if (isTcp(p)) return 'tcp';
  return 'sniffed';
}

export interface ServicePortDecl {
  /** The Service's creation time (RFC 3339): on a conflict Istio uses the oldest Service. */
  created?: string;
  label: string;
  port: number;
  name?: string;
  protocol?: string;
  appProtocol?: string;
}

/**
 * The protocol of one container port targeted by several Service ports: the oldest Service's, as istiod builds one
 * inbound chain per target port and keeps the first of the Services sorted by creation time (I:
 * pilot/pkg/networking/core/listener_inbound.go "If there is a conflict, we will use the oldest Service"). Container
 * port names are never read by Istio; a port no Service targets is sniffed (nil when none targets it).
 */
export function targetPortProtocol(decls: ServicePortDecl[]): { protocol: IstioProtocol; from: string } | undefined {
  const oldest = [...decls].sort((a, b) => (a.created ?? '').localeCompare(b.created ?? '') || a.label.localeCompare(b.label))[0];
  if (!oldest) return undefined;
  const protocol = convertProtocol(oldest.port, oldest.name, oldest.protocol, oldest.appProtocol);
  const why =
    oldest.appProtocol !== undefined
      ? `appProtocol ${oldest.appProtocol}`
      : oldest.name
        ? `port name ${oldest.name}`
        : `unnamed port ${oldest.port}`;
  return { protocol, from: `${why} of ${oldest.label} → ${protocol}${decls.length > 1 ? ' (oldest of the Services targeting it)' : ''}` };
}
