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
  // Only the first field is bracketed ([%START_TIME%]); later brackets belong to IPv6 addresses, which Envoy
  // writes unquoted as `[fd00::c]:54616` (istio-behaviours.md §10), so they stay part of their token.
  const out: string[] = [];
  const start = /^\[([^\]]*)\]\s*/.exec(line);
  if (start) out.push(start[1]!);
  const rest = start ? line.slice(start[0].length) : line;
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(rest); m; m = re.exec(rest)) out.push(m[1] ?? m[2] ?? '');
  return out;
}

const undash = (v: string | undefined): string => (v === undefined || v === '-' ? '' : v);
const num = (v: string | undefined): number => (v === undefined || v === '-' ? 0 : Number(v) || 0);

/** Parses one record in the default TEXT or default JSON format; undefined for lines that are neither (proxy logs interleave). */
export function parseAccessLog(line: string): AccessLogRecord | undefined {
  if (line.startsWith('{')) return parseJsonAccessLog(line);
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

/**
 * Istio's default JSON keys (I: pilot/pkg/model/telemetry_logging.go EnvoyJSONLogFormatIstio), each with the
 * record field it carries. Envoy writes numbers for numeric operators and null for empty values.
 */
export const JSON_LOG_KEYS: [string, keyof AccessLogRecord][] = [
  ['start_time', 'startTime'],
  ['route_name', 'routeName'],
  ['method', 'method'],
  ['path', 'path'],
  ['protocol', 'protocol'],
  ['response_code', 'responseCode'],
  ['response_flags', 'responseFlags'],
  ['response_code_details', 'responseCodeDetails'],
  ['connection_termination_details', 'connectionTerminationDetails'],
  ['bytes_received', 'bytesReceived'],
  ['bytes_sent', 'bytesSent'],
  ['duration', 'durationMs'],
  ['upstream_service_time', 'upstreamServiceTime'],
  ['x_forwarded_for', 'xForwardedFor'],
  ['user_agent', 'userAgent'],
  ['request_id', 'requestId'],
  ['authority', 'authority'],
  ['upstream_host', 'upstreamHost'],
  ['upstream_cluster', 'upstreamCluster'],
  ['upstream_local_address', 'upstreamLocalAddress'],
  ['downstream_local_address', 'downstreamLocalAddress'],
  ['downstream_remote_address', 'downstreamRemoteAddress'],
  ['requested_server_name', 'requestedServerName'],
  ['upstream_transport_failure_reason', 'upstreamTransportFailureReason'],
];

const NUMERIC = new Set<keyof AccessLogRecord>(['responseCode', 'bytesReceived', 'bytesSent', 'durationMs']);

export function formatJsonAccessLog(r: Partial<AccessLogRecord> & { startTime: string }): string {
  const out: Record<string, string | number | null> = {};
  for (const [key, field] of JSON_LOG_KEYS) {
    const v = r[field];
    if (NUMERIC.has(field)) out[key] = typeof v === 'number' ? v : 0;
    else out[key] = v === undefined || v === '' ? null : String(v);
  }
  return JSON.stringify(out);
}

function parseJsonAccessLog(line: string): AccessLogRecord | undefined {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof o.start_time !== 'string' || !('response_code' in o)) return undefined;
  const r = {} as Record<keyof AccessLogRecord, string | number>;
  for (const [key, field] of JSON_LOG_KEYS) {
    const v = o[key];
    r[field] = NUMERIC.has(field) ? Number(v ?? 0) || 0 : v === null || v === undefined || v === '-' ? '' : String(v);
  }
  return r as unknown as AccessLogRecord;
}

/**
 * `ip:port` split for IPv4 and for IPv6 as Envoy writes it (`[fd00::c]:54616`); the probe reports its own address
 * in the same form, so the two compare as strings once normalised.
 */
export function splitAddress(a: string): { ip: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(a) ?? /^([^:]+):(\d+)$/.exec(a);
  return m ? { ip: m[1]!.toLowerCase(), port: Number(m[2]) } : undefined;
}

export function sameAddress(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = splitAddress(a);
  const y = splitAddress(b);
  if (!x || !y) return false;
  const ip = (s: string) => s.replace(/^::ffff:/, '');
  return x.port === y.port && ip(x.ip) === ip(y.ip);
}

/** Whether a record started at or after `since` (records carry Envoy's START_TIME, ISO-8601 with milliseconds). */
export function startedSince(r: AccessLogRecord, since: Date): boolean {
  const t = Date.parse(r.startTime);
  return Number.isFinite(t) && t >= since.getTime();
}

/** Whether `/stats` has a line for a stat suffix at all: Envoy prints none for a stat it does not keep (absent ≠ 0). */
export function statPresent(stats: Record<string, number>, suffix: string): boolean {
  return Object.keys(stats).some((k) => k === suffix || k.endsWith(`.${suffix}`));
}
