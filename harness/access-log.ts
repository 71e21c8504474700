// Envoy's access-log records in Istio's default TEXT format (istio-behaviours.md §6; I: pilot/pkg/model/telemetry_logging.go):
// [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%
// %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED%
// %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
// "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS%
// %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%
// The lab writes records with formatAccessLog; the harness reads lab and real Envoy logs with parseAccessLog.

export interface AccessLogRecord {
  startTime: string;
  method: string;
  path: string;
  protocol: string;
  responseCode: number;
  responseFlags: string;
  responseCodeDetails: string;
  connectionTerminationDetails: string;
  upstreamTransportFailureReason: string;
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  upstreamServiceTime: string;
  xForwardedFor: string;
  userAgent: string;
  requestId: string;
  authority: string;
  upstreamHost: string;
  upstreamCluster: string;
  upstreamLocalAddress: string;
  downstreamLocalAddress: string;
  downstreamRemoteAddress: string;
  requestedServerName: string;
  routeName: string;
}

const dash = (v: string | number | undefined): string => (v === undefined || v === '' ? '-' : String(v));
const q = (v: string | undefined): string => `"${dash(v)}"`;

export function formatAccessLog(r: Partial<AccessLogRecord> & { startTime: string }): string {
  return [
    `[${r.startTime}]`,
    `"${dash(r.method)} ${dash(r.path)} ${dash(r.protocol)}"`,
    dash(r.responseCode ?? 0),
    dash(r.responseFlags),
    dash(r.responseCodeDetails),
    dash(r.connectionTerminationDetails),
    q(r.upstreamTransportFailureReason),
    dash(r.bytesReceived ?? 0),
    dash(r.bytesSent ?? 0),
    dash(r.durationMs ?? 0),
    dash(r.upstreamServiceTime),
    q(r.xForwardedFor),
    q(r.userAgent),
    q(r.requestId),
    q(r.authority),
    q(r.upstreamHost),
    dash(r.upstreamCluster),
    dash(r.upstreamLocalAddress),
    dash(r.downstreamLocalAddress),
    dash(r.downstreamRemoteAddress),
    dash(r.requestedServerName),
    dash(r.routeName),
  ].join(' ');
}

function tokens(line: string): string[] {
  const out: string[] = [];
  const re = /\[([^\]]*)\]|"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}

const undash = (v: string | undefined): string => (v === undefined || v === '-' ? '' : v);
const num = (v: string | undefined): number => (v === undefined || v === '-' ? 0 : Number(v) || 0);

/** Parses one TEXT-format record; undefined for lines that are not access-log records (proxy logs interleave). */
export function parseAccessLog(line: string): AccessLogRecord | undefined {
  if (!/^\[\d{4}-\d\d-\d\dT/.test(line)) return undefined;
  const t = tokens(line.trim());
  if (t.length < 21) return undefined;
  const [method, path, protocol] = (t[1] ?? '').split(' ');
  return {
    startTime: t[0]!,
    method: undash(method),
    path: undash(path),
    protocol: undash(protocol),
    responseCode: num(t[2]),
    responseFlags: undash(t[3]),
    responseCodeDetails: undash(t[4]),
    connectionTerminationDetails: undash(t[5]),
    upstreamTransportFailureReason: undash(t[6]),
    bytesReceived: num(t[7]),
    bytesSent: num(t[8]),
    durationMs: num(t[9]),
    upstreamServiceTime: undash(t[10]),
    xForwardedFor: undash(t[11]),
    userAgent: undash(t[12]),
    requestId: undash(t[13]),
    authority: undash(t[14]),
    upstreamHost: undash(t[15]),
    upstreamCluster: undash(t[16]),
    upstreamLocalAddress: undash(t[17]),
    downstreamLocalAddress: undash(t[18]),
    downstreamRemoteAddress: undash(t[19]),
    requestedServerName: undash(t[20]),
    routeName: undash(t[21]),
  };
}

/** Envoy's `/stats` text output (`name: value` per line) as numbers; histograms and text stats are skipped. */
export function parseStats(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([^:\s]+):\s+(-?\d+)\s*$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Sum of every counter whose name ends with `.${suffix}` (listener and cluster names vary by address). */
export function sumStat(stats: Record<string, number>, suffix: string): number {
  let n = 0;
  for (const [k, v] of Object.entries(stats)) if (k === suffix || k.endsWith(`.${suffix}`)) n += v;
  return n;
}
