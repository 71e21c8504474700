// Where a workload's access logs go and in what shape, read the way istiod reads it (istio-behaviours.md §10).
// Which providers apply to each side is harness/istio/access-logging.ts (a port of istiod's `applicableTelemetries`
// and `mergeLogs`, the only copy); this module turns them into sinks and says whether meshproof can read them back.
// Pure: both targets feed it what they read (the posture in the lab, the cluster's ConfigMap `istio` and Telemetry
// objects on a cluster), and the lab writes its sidecars' logs from the same resolution.
//
// Sinks (I: pilot/pkg/model/telemetry_logging.go `telemetryAccessLog`, `FileAccessLogFromMeshConfig`,
// `fileAccessLogFromTelemetry`; pilot/pkg/networking/core/accesslog.go):
// - A side with no provider (none configured, all unknown, or none matching its mode) falls back to
//   meshConfig.accessLogFile (the built-in file logger with the mesh-config format), else off.
// - Provider `envoy` (built-in, or an extension provider of that name without logFormat and without
//   omitEmptyValues): its path (default /dev/stdout) in accessLogEncoding (TEXT default) with accessLogFormat if set.
//   Any other `envoyFileAccessLog` provider: its path, default TEXT, or its `logFormat.text`, or JSON with
//   `logFormat.labels` (default JSON keys when empty); `omitEmptyValues` collapses empty fields, so the default TEXT
//   token positions shift (not parseable as default TEXT). OpenTelemetry and gRPC ALS write nothing to the proxy.
// - A Telemetry `filter.expression` is ANDed into every record, the listener (NR) records included;
//   `disableEnvoyListenerLog` drops NR records.
import {
  type AccessLoggingEntry,
  type AccessLoggingMesh,
  accessLogging,
  DEFAULT_ROOT_NAMESPACE,
  type ExtensionProvider,
  fallsBackToMeshConfig,
  type LogMode,
  type TelemetryObject,
  type WorkloadMode,
} from './istio/access-logging.js';

export type { AccessLoggingEntry, ExtensionProvider, LogMode, TelemetryObject };

/** The fields of MeshConfig (ConfigMap `istio`, key `mesh`) that decide access logging. */
export interface MeshLoggingConfig extends AccessLoggingMesh {
  accessLogFile?: string;
  accessLogEncoding?: 'TEXT' | 'JSON';
  accessLogFormat?: string;
  disableEnvoyListenerLog?: boolean;
}

export type LogShape =
  | { kind: 'text' }
  | { kind: 'json' }
  | { kind: 'custom-text'; format: string }
  | { kind: 'custom-json'; labels: Record<string, unknown> }
  /** `omitEmptyValues: true`: empty fields are left out, so the default TEXT token positions shift. */
  | { kind: 'omit-empty' }
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
  /** Which objects decided, for the evidence. */
  source: string;
  /** Provider names that resolve to nothing (istiod skips them). */
  unknownProviders: string[];
}

export const STDOUT = '/dev/stdout';
/** The container's stderr: `kubectl logs` returns it with stdout, so records there are readable too. */
export const STDERR = '/dev/stderr';
export const readablePath = (path: string): boolean => path === STDOUT || path === STDERR;

export function rootNamespaceOf(mesh: MeshLoggingConfig): string {
  return mesh.rootNamespace || DEFAULT_ROOT_NAMESPACE;
}

/**
 * The mesh config's own format (the built-in file logger): TEXT with `accessLogFormat` or Istio's default; JSON with
 * `accessLogFormat` only when it unmarshals into a protobuf Struct (a JSON object), else Istio's default JSON format
 * (I: pilot/pkg/model/telemetry_logging.go, "error parsing provided json log format, default log format will be
 * used": `[]`, `"{}"` and `foo` all fall back). Held against TestListenerAccessLog (oracle/accesslog.ts).
 */
export function meshConfigLogShape(mesh: Pick<MeshLoggingConfig, 'accessLogEncoding' | 'accessLogFormat'>): LogShape {
  if (mesh.accessLogEncoding === 'JSON') {
    if (mesh.accessLogFormat) {
      try {
        const parsed: unknown = JSON.parse(mesh.accessLogFormat);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return { kind: 'custom-json', labels: parsed as Record<string, unknown> };
      } catch {
        // not JSON at all: the default, as below
      }
      return { kind: 'json' };
    }
    return { kind: 'json' };
  }
  return mesh.accessLogFormat ? { kind: 'custom-text', format: mesh.accessLogFormat } : { kind: 'text' };
}

function sinkFor(mesh: MeshLoggingConfig, p: ExtensionProvider, mode: LogMode, filter: string | undefined): LogSink {
  const f = p.envoyFileAccessLog;
  if (f) {
    // telemetryAccessLog: the provider named exactly `envoy` without logFormat/omitEmptyValues takes the mesh format.
    if (p.name === 'envoy' && !f.logFormat && !f.omitEmptyValues) return { provider: p.name, path: f.path || STDOUT, shape: meshConfigLogShape(mesh), mode, filter };
    const lf = f.logFormat;
    const shape: LogShape = lf?.text
      ? { kind: 'custom-text', format: lf.text }
      : lf?.labels && Object.keys(lf.labels).length > 0
        ? { kind: 'custom-json', labels: lf.labels }
        : lf?.labels
          ? { kind: 'json' }
          : f.omitEmptyValues
            ? { kind: 'omit-empty' }
            : { kind: 'text' };
    return { provider: p.name, path: f.path || STDOUT, shape, mode, filter };
  }
  const what = p.envoyOtelAls ? 'OpenTelemetry' : 'gRPC access-log service';
  return { provider: p.name, path: '', shape: { kind: 'elsewhere', what }, mode, filter };
}

interface SideSinks {
  sinks: LogSink[];
  source: string;
  unknown: string[];
}

function sideSinks(mesh: MeshLoggingConfig, telemetries: TelemetryObject[], workload: { namespace: string; labels: Record<string, string> }, mode: WorkloadMode): SideSinks {
  const s = accessLogging(mesh, telemetries, workload, mode);
  const telemetrySource = s.levels.map((l) => l.source).join(' + ') || 'meshConfig.defaultProviders.accessLogging';
  if (fallsBackToMeshConfig(s)) {
    if (mesh.accessLogFile) {
      return { sinks: [{ provider: 'meshConfig.accessLogFile', path: mesh.accessLogFile, shape: meshConfigLogShape(mesh), mode }], source: 'meshConfig.accessLogFile', unknown: s.unknown };
    }
    const source = s.configs === undefined ? 'no Telemetry accessLogging and no meshConfig.accessLogFile' : `${telemetrySource}: no provider for this side, and no meshConfig.accessLogFile`;
    return { sinks: [], source, unknown: s.unknown };
  }
  const sinks = s.configs!.filter((c) => !c.disabled).map((c) => sinkFor(mesh, c.provider, mode, c.filter));
  return { sinks, source: telemetrySource, unknown: s.unknown };
}

const sameSink = (a: LogSink, b: LogSink) => a.provider === b.provider && a.path === b.path && a.filter === b.filter && JSON.stringify(a.shape) === JSON.stringify(b.shape);

/** Both sides of one workload's proxy, resolved separately and merged into sinks with a mode. */
export function effectiveLogging(mesh: MeshLoggingConfig, telemetries: TelemetryObject[], workload: { namespace: string; labels: Record<string, string> }): EffectiveLogging {
  const server = sideSinks(mesh, telemetries, workload, 'SERVER');
  const client = sideSinks(mesh, telemetries, workload, 'CLIENT');
  const sinks: LogSink[] = [];
  const clientLeft = [...client.sinks];
  for (const s of server.sinks) {
    const i = clientLeft.findIndex((c) => sameSink(c, s));
    if (i >= 0) {
      clientLeft.splice(i, 1);
      sinks.push({ ...s, mode: 'CLIENT_AND_SERVER' });
    } else sinks.push(s);
  }
  sinks.push(...clientLeft);
  const source = server.source === client.source ? server.source : `server: ${server.source}; client: ${client.source}`;
  return { sinks, listenerLog: mesh.disableEnvoyListenerLog !== true, source, unknownProviders: [...new Set([...server.unknown, ...client.unknown])] };
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
  const readable = server.filter((s) => readablePath(s.path) && !s.filter && (s.shape.kind === 'text' || s.shape.kind === 'json'));
  if (readable.length === 0) {
    const s = server[0]!;
    const why =
      s.shape.kind === 'elsewhere'
        ? `provider ${s.provider} sends records to ${s.shape.what}, not the proxy's stdout`
        : !readablePath(s.path)
          ? `provider ${s.provider} writes to ${s.path}, not the proxy's stdout or stderr`
          : s.filter
            ? `provider ${s.provider} filters records (${s.filter})`
            : s.shape.kind === 'omit-empty'
              ? `provider ${s.provider} sets omitEmptyValues (empty fields collapse, so the default TEXT token positions shift)`
              : `provider ${s.provider} uses a custom format`;
    return { mode: 'not-verifiable', reason: `${why}: meshproof cannot read the destination's records back`, source };
  }
  if (side === 'server' && !eff.listenerLog) return { mode: 'not-verifiable', reason: 'meshConfig.disableEnvoyListenerLog drops the NR (listener) records that prove plaintext refusals', source };
  const mode = readable.some((s) => s.shape.kind === 'text') ? 'text' : 'json';
  return { mode, reason: `${mode === 'text' ? 'default TEXT' : 'default JSON'} format on the proxy's stdout (${source})`, source };
}

export const auditable = (s: Pick<LogSetup, 'mode'>): boolean => s.mode === 'text' || s.mode === 'json';
