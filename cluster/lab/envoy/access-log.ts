// The sidecar's access loggers, as istiod configures them for this workload (harness/mesh-logging.ts resolves
// which; istio-behaviours.md §6, §10). Records go to the proxy's stdout (`lines`, what `kubectl logs -c
// istio-proxy` shows) only for sinks on /dev/stdout; OpenTelemetry and gRPC providers and other paths write
// nothing there. A filter drops records for which it is false, NR records included; `match.mode` picks the side.
import { type AccessLogRecord, formatAccessLog, formatJsonAccessLog } from '../../../harness/access-log.js';
import { type EffectiveLogging, type LogShape, type LogSink, readablePath } from '../../../harness/mesh-logging.js';

/** Envoy command operators the lab fills in custom formats; any other operator prints `-`, as Envoy's empty value. */
const OPERATORS: Record<string, keyof AccessLogRecord> = {
  START_TIME: 'startTime',
  'REQ(:METHOD)': 'method',
  'REQ(X-ENVOY-ORIGINAL-PATH?:PATH)': 'path',
  PROTOCOL: 'protocol',
  RESPONSE_CODE: 'responseCode',
  RESPONSE_FLAGS: 'responseFlags',
  RESPONSE_CODE_DETAILS: 'responseCodeDetails',
  CONNECTION_TERMINATION_DETAILS: 'connectionTerminationDetails',
  UPSTREAM_TRANSPORT_FAILURE_REASON: 'upstreamTransportFailureReason',
  BYTES_RECEIVED: 'bytesReceived',
  BYTES_SENT: 'bytesSent',
  DURATION: 'durationMs',
  'REQ(X-REQUEST-ID)': 'requestId',
  'REQ(:AUTHORITY)': 'authority',
  UPSTREAM_HOST: 'upstreamHost',
  UPSTREAM_CLUSTER: 'upstreamCluster',
  UPSTREAM_CLUSTER_RAW: 'upstreamCluster',
  UPSTREAM_LOCAL_ADDRESS: 'upstreamLocalAddress',
  DOWNSTREAM_LOCAL_ADDRESS: 'downstreamLocalAddress',
  DOWNSTREAM_REMOTE_ADDRESS: 'downstreamRemoteAddress',
  REQUESTED_SERVER_NAME: 'requestedServerName',
  ROUTE_NAME: 'routeName',
};

function substitute(format: string, r: Partial<AccessLogRecord>): string {
  return format.replace(/%([A-Z_]+(?:\([^)]*\))?)%/g, (_m, op: string) => {
    const field = OPERATORS[op];
    const v = field ? r[field] : undefined;
    return v === undefined || v === '' ? '-' : String(v);
  });
}

function render(shape: LogShape, r: Partial<AccessLogRecord> & { startTime: string }): string | undefined {
  switch (shape.kind) {
    case 'text':
      return formatAccessLog(r);
    case 'json':
      return formatJsonAccessLog(r);
    case 'custom-text':
      return substitute(shape.format, r).replace(/\n$/, '');
    case 'custom-json':
      return JSON.stringify(Object.fromEntries(Object.entries(shape.labels).map(([k, v]) => [k, typeof v === 'string' ? substitute(v, r) : v])));
    case 'omit-empty': // Envoy leaves empty values out (the lab schema refuses omitEmptyValues; here for completeness)
      return formatAccessLog(r).split(' ').filter((t) => t !== '-' && t !== '"-"').join(' ');
    case 'elsewhere':
      return undefined;
  }
}

/**
 * The CEL filters the lab implements: comparisons of `response.code` with a number (`response.code >= 400`), the
 * common way to keep only errors. Anything else is refused by the lab's schema rather than guessed.
 */
export function compileFilter(expression: string): ((r: Partial<AccessLogRecord>) => boolean) | undefined {
  const m = /^\s*response\.code\s*(>=|<=|==|!=|>|<)\s*(\d+)\s*$/.exec(expression);
  if (!m) return undefined;
  const n = Number(m[2]);
  const ops: Record<string, (a: number) => boolean> = {
    '>=': (a) => a >= n,
    '<=': (a) => a <= n,
    '==': (a) => a === n,
    '!=': (a) => a !== n,
    '>': (a) => a > n,
    '<': (a) => a < n,
  };
  const op = ops[m[1]!]!;
  // NR records carry response code 0 (istio-behaviours.md §10): a "code >= 400" filter drops them.
  return (r) => op(r.responseCode ?? 0);
}

export type Side = 'server' | 'client' | 'listener';

export class AccessLogger {
  /** The proxy's stdout, each line with the time it was written (what the kubelet's `sinceSeconds` filters on). */
  readonly entries: { at: number; line: string }[] = [];

  get lines(): string[] {
    return this.entries.map((e) => e.line);
  }
  /** Test hook: drop records although logging is configured on (an audit gap the checks must catch). */
  muted = false;
  private readonly sinks: { sink: LogSink; filter?: (r: Partial<AccessLogRecord>) => boolean }[];

  constructor(private readonly eff: EffectiveLogging) {
    this.sinks = eff.sinks.map((sink) => ({ sink, filter: sink.filter ? compileFilter(sink.filter) : undefined }));
  }

  write(side: Side, r: Partial<AccessLogRecord>): void {
    if (this.muted) return;
    if (side === 'listener' && !this.eff.listenerLog) return;
    const record = { startTime: new Date().toISOString(), ...r };
    for (const { sink, filter } of this.sinks) {
      const wanted = side === 'client' ? sink.mode !== 'SERVER' : sink.mode !== 'CLIENT';
      if (!wanted || !readablePath(sink.path) || (filter && !filter(record))) continue; // stdout and stderr: both in `kubectl logs`
      const line = render(sink.shape, record);
      if (line !== undefined) this.entries.push({ at: Date.now(), line });
    }
  }
}
