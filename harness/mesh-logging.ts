// Where a workload's access logs go and in what shape, read the way istiod reads it (istio-behaviours.md §10;
// I: pilot/pkg/model/telemetry_logging.go telemetryAccessLog / FileAccessLogFromMeshConfig /
// fileAccessLogFromTelemetry; pilot/pkg/networking/core/accesslog.go). Pure: both targets feed it what they read
// (the posture in the lab, the cluster's ConfigMap `istio` and Telemetry objects on a cluster), and the lab
// writes its sidecars' logs from the same resolution.
//
// Resolution:
// - Telemetry: the workload's (same namespace, selector matching its labels), else its namespace's (no selector),
//   else the root namespace's (no selector); the first level that says anything about accessLogging wins.
//   An entry without providers uses meshConfig.defaultProviders.accessLogging.
// - No Telemetry says anything: meshConfig.defaultProviders.accessLogging, else meshConfig.accessLogFile (the
//   built-in file logger with the mesh-config format), else off.
// - Provider `envoy` (built-in, or an extension provider of that name without logFormat): /dev/stdout in
//   accessLogEncoding (TEXT default) with accessLogFormat if set. An `envoyFileAccessLog` extension provider:
//   its path (default /dev/stdout), default TEXT, or its `logFormat.text`, or JSON with `logFormat.labels`
//   (default JSON keys when empty). Other providers (OpenTelemetry, gRPC ALS) write nothing to the proxy's stdout.
// - A Telemetry `filter.expression` is ANDed into every record, the listener (NR) records included;
//   `match.mode: CLIENT` writes no server records; `disableEnvoyListenerLog` drops NR records.

export type LogMode = 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';

export interface ExtensionProvider {
  name: string;
  envoyFileAccessLog?: { path?: string; logFormat?: { text?: string; labels?: Record<string, unknown> } };
  envoyOtelAls?: Record<string, unknown>;
  envoyHttpAls?: Record<string, unknown>;
  envoyTcpAls?: Record<string, unknown>;
}

/** The fields of MeshConfig (ConfigMap `istio`, key `mesh`) that decide access logging. */
export interface MeshLoggingConfig {
  accessLogFile?: string;
  accessLogEncoding?: 'TEXT' | 'JSON';
  accessLogFormat?: string;
  disableEnvoyListenerLog?: boolean;
  rootNamespace?: string;
  defaultProviders?: { accessLogging?: string[] };
  extensionProviders?: ExtensionProvider[];
}

export interface AccessLoggingEntry {
  providers?: { name: string }[];
  disabled?: boolean;
  match?: { mode?: LogMode };
  filter?: { expression?: string };
}

export interface TelemetryObject {
  namespace: string;
  name: string;
  selector?: Record<string, string>;
  accessLogging?: AccessLoggingEntry[];
}

export type LogShape =
  | { kind: 'text' }
  | { kind: 'json' }
  | { kind: 'custom-text'; format: string }
  | { kind: 'custom-json'; labels: Record<string, unknown> }
  /** OpenTelemetry or gRPC access-log services: nothing on the proxy's stdout. */
  | { kind: 'elsewhere'; what: string };

export interface LogSink {
  provider: string;
  path: string;
  shape: LogShape;
  mode: LogMode;
  filter?: string;
}

export interface EffectiveLogging {
  sinks: LogSink[];
  /** Whether NR (listener) records are written; meshConfig.disableEnvoyListenerLog turns them off. */
  listenerLog: boolean;
  /** Which object decided, for the evidence. */
  source: string;
  /** Provider names that resolve to nothing (istiod skips them). */
  unknownProviders: string[];
}

export const STDOUT = '/dev/stdout';
const DEFAULT_ROOT = 'istio-system';

export function rootNamespaceOf(mesh: MeshLoggingConfig): string {
  return mesh.rootNamespace || DEFAULT_ROOT;
}

function builtinShape(mesh: MeshLoggingConfig): LogShape {
  if (mesh.accessLogEncoding === 'JSON') {
    if (mesh.accessLogFormat) {
      try {
        return { kind: 'custom-json', labels: JSON.parse(mesh.accessLogFormat) as Record<string, unknown> };
      } catch {
        return { kind: 'json' }; // istiod: "error parsing provided json log format, default log format will be used"
      }
    }
    return { kind: 'json' };
  }
  return mesh.accessLogFormat ? { kind: 'custom-text', format: mesh.accessLogFormat } : { kind: 'text' };
}

function sinkFor(mesh: MeshLoggingConfig, name: string, mode: LogMode, filter: string | undefined): LogSink | undefined {
  const ext = mesh.extensionProviders?.find((p) => p.name === name);
  if (!ext) return name === 'envoy' ? { provider: name, path: STDOUT, shape: builtinShape(mesh), mode, filter } : undefined;
  const f = ext.envoyFileAccessLog;
  if (f) {
    if (name === 'envoy' && !f.logFormat) return { provider: name, path: f.path || STDOUT, shape: builtinShape(mesh), mode, filter };
    const lf = f.logFormat;
    const shape: LogShape = lf?.text
      ? { kind: 'custom-text', format: lf.text }
      : lf?.labels && Object.keys(lf.labels).length > 0
        ? { kind: 'custom-json', labels: lf.labels }
        : lf?.labels
          ? { kind: 'json' }
          : { kind: 'text' };
    return { provider: name, path: f.path || STDOUT, shape, mode, filter };
  }
  const what = ext.envoyOtelAls ? 'OpenTelemetry' : ext.envoyHttpAls || ext.envoyTcpAls ? 'gRPC access-log service' : 'a provider that writes no access log';
  return { provider: name, path: '', shape: { kind: 'elsewhere', what }, mode, filter };
}

export function effectiveLogging(mesh: MeshLoggingConfig, telemetries: TelemetryObject[], workload: { namespace: string; labels: Record<string, string> }): EffectiveLogging {
  const root = rootNamespaceOf(mesh);
  const withLogging = telemetries.filter((t) => t.accessLogging !== undefined);
  const selects = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => workload.labels[k] === v);
  const byName = (a: TelemetryObject, b: TelemetryObject) => a.name.localeCompare(b.name);
  const decided =
    withLogging.filter((t) => t.namespace === workload.namespace && t.selector && selects(t.selector)).sort(byName)[0] ??
    withLogging.filter((t) => t.namespace === workload.namespace && !t.selector).sort(byName)[0] ??
    withLogging.filter((t) => t.namespace === root && !t.selector).sort(byName)[0];
  const listenerLog = mesh.disableEnvoyListenerLog !== true;
  const unknownProviders: string[] = [];
  const sinks: LogSink[] = [];
  const add = (names: string[], mode: LogMode, filter?: string) => {
    for (const n of names) {
      const s = sinkFor(mesh, n, mode, filter);
      if (s) sinks.push(s);
      else unknownProviders.push(n);
    }
  };
  if (decided) {
    for (const e of decided.accessLogging ?? []) {
      if (e.disabled) continue;
      add(e.providers?.map((p) => p.name) ?? mesh.defaultProviders?.accessLogging ?? [], e.match?.mode ?? 'CLIENT_AND_SERVER', e.filter?.expression);
    }
    // A disabled entry turns logging off for its mode, whatever other entries say.
    for (const e of decided.accessLogging ?? []) {
      if (!e.disabled) continue;
      const mode = e.match?.mode ?? 'CLIENT_AND_SERVER';
      for (let i = sinks.length - 1; i >= 0; i--) {
        const s = sinks[i]!;
        if (mode === 'CLIENT_AND_SERVER') sinks.splice(i, 1);
        else if (s.mode === mode) sinks.splice(i, 1);
        else if (s.mode === 'CLIENT_AND_SERVER') s.mode = mode === 'CLIENT' ? 'SERVER' : 'CLIENT';
      }
    }
    return { sinks, listenerLog, source: `Telemetry ${decided.namespace}/${decided.name}`, unknownProviders };
  }
  if (mesh.defaultProviders?.accessLogging?.length) {
    add(mesh.defaultProviders.accessLogging, 'CLIENT_AND_SERVER');
    return { sinks, listenerLog, source: 'meshConfig.defaultProviders.accessLogging', unknownProviders };
  }
  if (mesh.accessLogFile) {
    sinks.push({ provider: 'meshConfig.accessLogFile', path: mesh.accessLogFile, shape: builtinShape(mesh), mode: 'CLIENT_AND_SERVER' });
    return { sinks, listenerLog, source: 'meshConfig.accessLogFile', unknownProviders };
  }
  return { sinks, listenerLog, source: 'no Telemetry accessLogging and no meshConfig.accessLogFile', unknownProviders };
}

/**
 * What the harness can read back from a destination's own records. Only the default TEXT or default JSON format on
 * the proxy's stdout, unfiltered and with listener records, can be read reliably; anything else is
 * `not-verifiable` (never "unaudited"), and no server-side sink at all is `off`.
 */
export interface LogSetup {
  mode: 'text' | 'json' | 'not-verifiable' | 'off';
  reason: string;
  source: string;
}

export function serverLogSetup(eff: EffectiveLogging): LogSetup {
  return logSetup(eff, 'server');
}

/**
 * The same question for one side of the proxy: `server` (a destination's inbound records) or `client` (a caller's
 * outbound records: egress blocks are written there, §7). Telemetry `match.mode` picks the side.
 */
export function logSetup(eff: EffectiveLogging, side: 'server' | 'client'): LogSetup {
  const server = eff.sinks.filter((s) => s.mode !== (side === 'server' ? 'CLIENT' : 'SERVER'));
  const { source } = eff;
  if (server.length === 0) {
    if (eff.sinks.length > 0) {
      return side === 'server'
        ? { mode: 'not-verifiable', reason: 'access logging writes client-side records only (match.mode CLIENT): destinations keep none', source }
        : { mode: 'not-verifiable', reason: 'access logging writes server-side records only (match.mode SERVER): callers keep none', source };
    }
    const unknown = eff.unknownProviders.length > 0 ? `; istiod skips provider(s) ${eff.unknownProviders.join(', ')}, not in meshConfig.extensionProviders` : '';
    return { mode: 'off', reason: `access logging is off for this workload (${source}${unknown})`, source };
  }
  const readable = server.filter((s) => s.path === STDOUT && !s.filter && (s.shape.kind === 'text' || s.shape.kind === 'json'));
  if (readable.length === 0) {
    const s = server[0]!;
    const why =
      s.shape.kind === 'elsewhere'
        ? `provider ${s.provider} sends records to ${s.shape.what}, not the proxy's stdout`
        : s.path !== STDOUT
          ? `provider ${s.provider} writes to ${s.path}, not the proxy's stdout`
          : s.filter
            ? `provider ${s.provider} filters records (${s.filter})`
            : `provider ${s.provider} uses a custom format`;
    return { mode: 'not-verifiable', reason: `${why}: meshproof cannot read the destination's records back`, source };
  }
  if (side === 'server' && !eff.listenerLog) return { mode: 'not-verifiable', reason: 'meshConfig.disableEnvoyListenerLog drops the NR (listener) records that prove plaintext refusals', source };
  const mode = readable.some((s) => s.shape.kind === 'text') ? 'text' : 'json';
  return { mode, reason: `${mode === 'text' ? 'default TEXT' : 'default JSON'} format on the proxy's stdout (${source})`, source };
}

export const auditable = (s: Pick<LogSetup, 'mode'>): boolean => s.mode === 'text' || s.mode === 'json';
