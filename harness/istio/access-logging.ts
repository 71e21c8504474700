// Which access-log providers istiod configures for one proxy and one side (inbound = SERVER, outbound and gateway =
// CLIENT), ported from istio/istio 86c9f01fd735. Pure: no I/O, no cluster/ import. Both targets use it through
// harness/mesh-logging.ts (the lab writes its sidecars' records from it; the KubeTarget judges a cluster with it).
//
// - pilot/pkg/model/telemetry.go `getTelemetries`: Telemetries ordered by creation time, then name, then namespace
//   (`sortConfigByCreationTime`, pilot/pkg/model/config.go `configCompareByCreationTime`).
// - telemetry.go `applicableTelemetries`: levels root → namespace → workload. The namespace-wide Telemetry of a
//   namespace is the FIRST one with no selector labels and no targetRefs (`namespaceWideTelemetryConfig`), whether
//   or not it has accessLogging; a level is recorded only when its accessLogging is non-empty. Workload level: every
//   Telemetry of the proxy's namespace with selector labels that `ShouldAttachPolicy` accepts: for a sidecar, one with
//   `targetRef`/`targetRefs` is ignored altogether (pilot/pkg/model/policyattachment.go).
// - telemetry.go `AccessLogging`: no level and no `defaultProviders.accessLogging` → nil (the caller falls back to
//   meshConfig.accessLogFile). Otherwise `mergeLogs`, then `fetchProvider` (extension providers by name,
//   case-insensitive: `strings.EqualFold`); providers writing no access log are skipped (telemetry_logging.go
//   `telemetryAccessLog`: Prometheus, Stackdriver, tracers…).
// - telemetry.go `mergeLogs`: ported literally below.
// - pilot/pkg/networking/core/accesslog.go `setHTTPAccessLog`/`setListenerAccessLog`: an EMPTY result (nil, or
//   every provider unknown or log-less) falls back to meshConfig.accessLogFile; a disabled provider counts as a
//   result (no fallback) and writes nothing (`buildAccessLogFromTelemetry`).

export type LogMode = 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';
export type WorkloadMode = 'CLIENT' | 'SERVER';

export interface ExtensionProvider {
  name: string;
  envoyFileAccessLog?: { path?: string; logFormat?: { text?: string; labels?: Record<string, unknown> }; omitEmptyValues?: boolean };
  envoyOtelAls?: Record<string, unknown>;
  envoyHttpAls?: Record<string, unknown>;
  envoyTcpAls?: Record<string, unknown>;
  /** Any other provider kind (prometheus, zipkin, stackdriver, …): writes no access log. */
  [other: string]: unknown;
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
  /** metadata.creationTimestamp (RFC 3339); absent = all created together (the lab applies a posture at once). */
  creationTimestamp?: string;
  selector?: Record<string, string>;
  /** spec.targetRef / spec.targetRefs: Gateway API attachment; a sidecar ignores such a Telemetry. */
  targetRef?: unknown;
  targetRefs?: unknown[];
  accessLogging?: AccessLoggingEntry[];
}

export interface AccessLoggingMesh {
  rootNamespace?: string;
  defaultProviders?: { accessLogging?: string[] };
  extensionProviders?: ExtensionProvider[];
}

/** One level that contributed accessLogging: `Telemetry <ns>/<name>`. */
export interface LoggingLevel {
  source: string;
  entries: AccessLoggingEntry[];
}

export interface ProviderSpec {
  disabled: boolean;
  filter?: string;
}

export interface LoggingConfig extends ProviderSpec {
  /** The provider as configured (the built-in `envoy` when the mesh config does not redefine it). */
  provider: ExtensionProvider;
}

export const DEFAULT_ROOT_NAMESPACE = 'istio-system';

/** pkg/config/mesh/mesh.go `DefaultMeshConfig`: the built-in `envoy` provider, a file logger on /dev/stdout. */
export const BUILTIN_ENVOY: ExtensionProvider = { name: 'envoy', envoyFileAccessLog: { path: '/dev/stdout' } };

const hasTargetRefs = (t: TelemetryObject) => (t.targetRefs?.length ?? 0) > 0 || t.targetRef !== undefined;
const hasSelector = (t: TelemetryObject) => Object.keys(t.selector ?? {}).length > 0;

/** `configCompareByCreationTime`: creation time, then name, then namespace. */
export function byCreation(a: TelemetryObject, b: TelemetryObject): number {
  const ta = a.creationTimestamp ? Date.parse(a.creationTimestamp) : 0;
  const tb = b.creationTimestamp ? Date.parse(b.creationTimestamp) : 0;
  if (ta !== tb) return ta - tb;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

/** `namespaceWideTelemetryConfig`: the first Telemetry of the namespace with no selector and no targetRefs. */
function namespaceWide(sorted: TelemetryObject[], namespace: string): TelemetryObject | undefined {
  return sorted.find((t) => t.namespace === namespace && !hasSelector(t) && !hasTargetRefs(t));
}

const level = (t: TelemetryObject): LoggingLevel[] => (t.accessLogging?.length ? [{ source: `Telemetry ${t.namespace}/${t.name}`, entries: t.accessLogging }] : []);

/** `applicableTelemetries`, access logging only, for a sidecar (not a waypoint, not a Gateway API gateway). */
export function applicableLogging(mesh: AccessLoggingMesh, telemetries: TelemetryObject[], workload: { namespace: string; labels: Record<string, string> }): LoggingLevel[] {
  const root = mesh.rootNamespace || DEFAULT_ROOT_NAMESPACE;
  const sorted = [...telemetries].sort(byCreation);
  const levels: LoggingLevel[] = [];
  const rootWide = namespaceWide(sorted, root);
  if (rootWide) levels.push(...level(rootWide));
  if (workload.namespace !== root) {
    const nsWide = namespaceWide(sorted, workload.namespace);
    if (nsWide) levels.push(...level(nsWide));
  }
  for (const t of sorted) {
    if (t.namespace !== workload.namespace || (!hasSelector(t) && !hasTargetRefs(t))) continue;
    // ShouldAttachPolicy, non-gateway: "if targetRef is specified, ignore the policy altogether"; else the selector.
    if (hasTargetRefs(t)) continue;
    if (Object.entries(t.selector ?? {}).every(([k, v]) => workload.labels[k] === v)) levels.push(...level(t));
  }
  return levels;
}

const matchWorkloadMode = (e: AccessLoggingEntry, mode: WorkloadMode) => !e.match?.mode || e.match.mode === 'CLIENT_AND_SERVER' || e.match.mode === mode;
const providerNames = (e: AccessLoggingEntry) => (e.providers ?? []).map((p) => p.name);

/** telemetry.go `mergeLogs`, literally: provider name → disabled/filter. */
export function mergeLogs(levels: LoggingLevel[], defaultProviders: string[], mode: WorkloadMode): Map<string, ProviderSpec> {
  const providers = new Map<string, ProviderSpec>();
  if (levels.length === 0) {
    for (const dp of defaultProviders) providers.set(dp, { disabled: false });
    return providers;
  }
  // Pass 1: the providers in scope are those of the LAST level naming any (for this mode); filters are recorded only
  // for named providers, the last entry winning.
  let inScopeNames = defaultProviders;
  const filters = new Map<string, ProviderSpec>();
  for (const l of levels) {
    const names = new Set<string>();
    for (const e of l.entries) {
      if (!matchWorkloadMode(e, mode)) continue;
      for (const prov of providerNames(e)) {
        names.add(prov);
        filters.set(prov, { disabled: false, filter: e.filter?.expression });
      }
    }
    if (names.size > 0) inScopeNames = [...names];
  }
  const inScope = new Set(inScopeNames);
  // Pass 2: every entry, in order; one without providers inherits the previous entry's (the parent level's), even
  // across modes; `disabled` applies per provider.
  let parentProviders = defaultProviders;
  for (const l of levels) {
    for (const e of l.entries) {
      let names = providerNames(e);
      if (names.length === 0) names = parentProviders;
      parentProviders = names;
      for (const prov of names) {
        if (!inScope.has(prov) || !matchWorkloadMode(e, mode)) continue;
        providers.set(prov, e.disabled ? { disabled: true } : (filters.get(prov) ?? { disabled: false }));
      }
    }
  }
  return providers;
}

/** `fetchProvider`: extension providers by name, case-insensitively; the default mesh config defines `envoy`. */
export function fetchProvider(mesh: AccessLoggingMesh, name: string): ExtensionProvider | undefined {
  const all = [...(mesh.extensionProviders ?? []), BUILTIN_ENVOY];
  return all.find((p) => p.name.toLowerCase() === name.toLowerCase());
}

/** `telemetryAccessLog` returns nil for providers that write no access log (metrics and tracing providers). */
export const writesAccessLog = (p: ExtensionProvider) => Boolean(p.envoyFileAccessLog || p.envoyOtelAls || p.envoyHttpAls || p.envoyTcpAls);

export interface SideLogging {
  /** undefined: `AccessLogging` returned nil (no Telemetry API configured). */
  configs: LoggingConfig[] | undefined;
  /** Provider names istiod could not resolve (skipped). */
  unknown: string[];
  levels: LoggingLevel[];
}

/** telemetry.go `AccessLogging` for one side; sorted by provider name as istiod sorts them. */
export function accessLogging(mesh: AccessLoggingMesh, telemetries: TelemetryObject[], workload: { namespace: string; labels: Record<string, string> }, mode: WorkloadMode): SideLogging {
  const levels = applicableLogging(mesh, telemetries, workload);
  const defaults = mesh.defaultProviders?.accessLogging ?? [];
  if (levels.length === 0 && defaults.length === 0) return { configs: undefined, unknown: [], levels };
  const configs: LoggingConfig[] = [];
  const unknown: string[] = [];
  for (const [name, spec] of mergeLogs(levels, defaults, mode)) {
    const provider = fetchProvider(mesh, name);
    if (!provider) {
      unknown.push(name);
      continue;
    }
    if (!writesAccessLog(provider)) continue;
    configs.push({ provider, ...spec });
  }
  configs.sort((a, b) => (a.provider.name < b.provider.name ? -1 : a.provider.name > b.provider.name ? 1 : 0));
  return { configs, unknown, levels };
}

/** accesslog.go: an empty result falls back to meshConfig.accessLogFile ("No Telemetry API configured"). */
export const fallsBackToMeshConfig = (s: SideLogging): boolean => (s.configs?.length ?? 0) === 0;
