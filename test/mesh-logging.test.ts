// Access logging read the way istiod reads it (istio-behaviours.md §10; I: pilot/pkg/model/telemetry_logging.go):
// which setups meshproof can read back (`text`, `json`), which it cannot (`not-verifiable`: never "unaudited"),
// and which log nothing (`off`). Pure table tests of harness/mesh-logging.ts.
import { describe, expect, it } from 'vitest';
import { effectiveLogging, type MeshLoggingConfig, serverLogSetup, type TelemetryObject } from '../harness/mesh-logging.js';

const ECHO = { namespace: 'mesh', labels: { app: 'echo' } };
const rootEnvoy: TelemetryObject = { namespace: 'istio-system', name: 'mesh-default', accessLogging: [{ providers: [{ name: 'envoy' }] }] };

const rows: { name: string; mesh?: MeshLoggingConfig; telemetry?: TelemetryObject[]; mode: string; why?: RegExp }[] = [
  { name: 'nothing configured', mode: 'off', why: /no Telemetry accessLogging and no meshConfig.accessLogFile/ },
  { name: 'the demo profile: meshConfig.accessLogFile /dev/stdout', mesh: { accessLogFile: '/dev/stdout' }, mode: 'text' },
  { name: 'accessLogFile with JSON encoding', mesh: { accessLogFile: '/dev/stdout', accessLogEncoding: 'JSON' }, mode: 'json' },
  { name: 'accessLogFile to a file, not stdout', mesh: { accessLogFile: '/var/log/envoy.log' }, mode: 'not-verifiable', why: /writes to \/var\/log\/envoy.log/ },
  { name: 'Telemetry with the built-in envoy provider', telemetry: [rootEnvoy], mode: 'text' },
  { name: 'built-in envoy provider, JSON encoding in mesh config', mesh: { accessLogEncoding: 'JSON' }, telemetry: [rootEnvoy], mode: 'json' },
  { name: 'built-in envoy provider, custom TEXT format', mesh: { accessLogFormat: '%START_TIME% %RESPONSE_CODE%\n' }, telemetry: [rootEnvoy], mode: 'not-verifiable', why: /custom format/ },
  { name: 'built-in envoy provider, custom JSON labels', mesh: { accessLogEncoding: 'JSON', accessLogFormat: '{"code":"%RESPONSE_CODE%"}' }, telemetry: [rootEnvoy], mode: 'not-verifiable', why: /custom format/ },
  {
    name: 'an OpenTelemetry provider only',
    mesh: { extensionProviders: [{ name: 'otel', envoyOtelAls: { service: 'otel.istio-system.svc.cluster.local', port: 4317 } }] },
    telemetry: [{ namespace: 'istio-system', name: 'mesh-default', accessLogging: [{ providers: [{ name: 'otel' }] }] }],
    mode: 'not-verifiable',
    why: /OpenTelemetry, not the proxy's stdout/,
  },
  {
    name: 'an envoyFileAccessLog provider with JSON labels left empty (default JSON keys)',
    mesh: { extensionProviders: [{ name: 'json-stdout', envoyFileAccessLog: { path: '/dev/stdout', logFormat: { labels: {} } } }] },
    telemetry: [{ namespace: 'istio-system', name: 'mesh-default', accessLogging: [{ providers: [{ name: 'json-stdout' }] }] }],
    mode: 'json',
  },
  { name: 'a filter (ANDed into NR records too)', telemetry: [{ ...rootEnvoy, accessLogging: [{ providers: [{ name: 'envoy' }], filter: { expression: 'response.code >= 400' } }] }], mode: 'not-verifiable', why: /filters records/ },
  { name: 'match.mode CLIENT: no server records', telemetry: [{ ...rootEnvoy, accessLogging: [{ providers: [{ name: 'envoy' }], match: { mode: 'CLIENT' } }] }], mode: 'not-verifiable', why: /client-side records only/ },
  { name: 'disableEnvoyListenerLog drops NR records', mesh: { disableEnvoyListenerLog: true }, telemetry: [rootEnvoy], mode: 'not-verifiable', why: /NR \(listener\) records/ },
  { name: 'the namespace disables what the root enables', telemetry: [rootEnvoy, { namespace: 'mesh', name: 'quiet', accessLogging: [{ disabled: true }] }], mode: 'off', why: /Telemetry mesh\/quiet/ },
  { name: 'the workload enables what its namespace disables', telemetry: [{ namespace: 'mesh', name: 'quiet', accessLogging: [{ disabled: true }] }, { namespace: 'mesh', name: 'echo-logs', selector: { app: 'echo' }, accessLogging: [{ providers: [{ name: 'envoy' }] }] }], mode: 'text' },
  { name: 'a selector for another workload does not apply', telemetry: [rootEnvoy, { namespace: 'mesh', name: 'other', selector: { app: 'other' }, accessLogging: [{ disabled: true }] }], mode: 'text' },
  { name: 'a Telemetry of another namespace does not apply', telemetry: [{ namespace: 'bare', name: 'logs', accessLogging: [{ providers: [{ name: 'envoy' }] }] }], mode: 'off' },
  { name: 'an entry without providers uses defaultProviders', mesh: { defaultProviders: { accessLogging: ['envoy'] } }, telemetry: [{ namespace: 'istio-system', name: 'd', accessLogging: [{}] }], mode: 'text' },
  { name: 'defaultProviders alone turn logging on', mesh: { defaultProviders: { accessLogging: ['envoy'] } }, mode: 'text' },
  { name: 'a custom root namespace', mesh: { rootNamespace: 'istio-config' }, telemetry: [{ ...rootEnvoy, namespace: 'istio-config' }], mode: 'text' },
  { name: 'a Telemetry in istio-system when the root is elsewhere', mesh: { rootNamespace: 'istio-config' }, telemetry: [rootEnvoy], mode: 'off' },
  { name: 'a provider name that is not in extensionProviders (istiod skips it)', telemetry: [{ ...rootEnvoy, accessLogging: [{ providers: [{ name: 'splunk' }] }] }], mode: 'off', why: /skips provider\(s\) splunk/ },
  { name: 'text and OpenTelemetry together: stdout still has every record', mesh: { extensionProviders: [{ name: 'otel', envoyOtelAls: {} }] }, telemetry: [{ ...rootEnvoy, accessLogging: [{ providers: [{ name: 'envoy' }, { name: 'otel' }] }] }], mode: 'text' },
];

describe('access-log setups, per destination workload', () => {
  it.each(rows)('$name → $mode', ({ mesh, telemetry, mode, why }) => {
    const setup = serverLogSetup(effectiveLogging(mesh ?? {}, telemetry ?? [], ECHO));
    expect(setup.mode).toBe(mode);
    if (why) expect(setup.reason).toMatch(why);
  });

  it('says which object decided', () => {
    expect(effectiveLogging({}, [rootEnvoy], ECHO).source).toBe('Telemetry istio-system/mesh-default');
    expect(effectiveLogging({ accessLogFile: '/dev/stdout' }, [], ECHO).source).toBe('meshConfig.accessLogFile');
  });

  it('a Telemetry takes over from meshConfig.accessLogFile (the legacy setting is only the fallback)', () => {
    const setup = serverLogSetup(effectiveLogging({ accessLogFile: '/dev/stdout' }, [{ namespace: 'mesh', name: 'quiet', accessLogging: [{ providers: [{ name: 'envoy' }], disabled: true }] }], ECHO));
    expect(setup.mode).toBe('off');
  });

  it('I-M3: a disabled entry naming no provider, with no defaultProviders, disables nothing: accessLogFile stays on', () => {
    // mergeLogs: no provider in scope → empty result → accesslog.go falls back to meshConfig.accessLogFile.
    const setup = serverLogSetup(effectiveLogging({ accessLogFile: '/dev/stdout' }, [{ namespace: 'mesh', name: 'quiet', accessLogging: [{ disabled: true }] }], ECHO));
    expect(setup.mode).toBe('text');
  });
});

describe('I-M3/I-M4/I-L3: resolution as istiod merges it (telemetry.go mergeLogs, applicableTelemetries)', () => {
  const at = (t: TelemetryObject, creationTimestamp: string): TelemetryObject => ({ ...t, creationTimestamp });
  it.each([
    {
      name: 'I-M3: a namespace entry with only a filter inherits the root provider, unfiltered (filters are kept only for named providers)',
      telemetry: [rootEnvoy, { namespace: 'mesh', name: 'errors', accessLogging: [{ filter: { expression: 'response.code >= 400' } }] }],
      mode: 'text',
    },
    {
      name: 'I-M3: a workload entry with only match CLIENT leaves the root provider on the server side',
      telemetry: [rootEnvoy, { namespace: 'mesh', name: 'echo', selector: { app: 'echo' }, accessLogging: [{ match: { mode: 'CLIENT' as const } }] }],
      mode: 'text',
    },
    {
      name: 'I-M3: demo profile + a CLIENT-only Telemetry: server records still come from meshConfig.accessLogFile',
      mesh: { accessLogFile: '/dev/stdout' },
      telemetry: [{ ...rootEnvoy, accessLogging: [{ providers: [{ name: 'envoy' }], match: { mode: 'CLIENT' as const } }] }],
      mode: 'text',
    },
    {
      name: 'I-M4: a root Telemetry with targetRefs (the ambient waypoint pattern) is ignored by sidecars, whatever its name',
      telemetry: [rootEnvoy, { namespace: 'istio-system', name: 'a-waypoints', targetRefs: [{ kind: 'GatewayClass', name: 'istio-waypoint' }], accessLogging: [{ disabled: true }] }],
      mode: 'text',
    },
    {
      name: 'I-M4: the legacy singular targetRef too',
      telemetry: [rootEnvoy, { namespace: 'mesh', name: 'gw', targetRef: { kind: 'Gateway', name: 'gw' }, accessLogging: [{ providers: [{ name: 'envoy' }], disabled: true }] }],
      mode: 'text',
    },
    {
      name: 'I-M4: the OLDEST namespace-wide Telemetry is the one, even without accessLogging',
      telemetry: [at({ namespace: 'istio-system', name: 'z-metrics' }, '2026-01-01T00:00:00Z'), at(rootEnvoy, '2026-02-01T00:00:00Z')],
      mode: 'off',
    },
    {
      name: 'I-M4: same creation time: by name',
      telemetry: [at({ namespace: 'istio-system', name: 'z-metrics' }, '2026-01-01T00:00:00Z'), at(rootEnvoy, '2026-01-01T00:00:00Z')],
      mode: 'text',
    },
    { name: 'I-L3: provider names match case-insensitively (fetchProvider, strings.EqualFold)', telemetry: [{ ...rootEnvoy, accessLogging: [{ providers: [{ name: 'Envoy' }] }] }], mode: 'text' },
    {
      name: 'I-L3: omitEmptyValues on the envoy provider is not the default TEXT format',
      mesh: { extensionProviders: [{ name: 'envoy', envoyFileAccessLog: { path: '/dev/stdout', omitEmptyValues: true } }] },
      telemetry: [rootEnvoy],
      mode: 'not-verifiable',
      why: /omitEmptyValues/,
    },
    { name: 'I-L3: accessLogFile /dev/stderr is in kubectl logs too', mesh: { accessLogFile: '/dev/stderr' }, mode: 'text' },
  ] as { name: string; mesh?: MeshLoggingConfig; telemetry?: TelemetryObject[]; mode: string; why?: RegExp }[])('$name', ({ mesh, telemetry, mode, why }) => {
    const setup = serverLogSetup(effectiveLogging(mesh ?? {}, telemetry ?? [], ECHO));
    expect(setup.mode).toBe(mode);
    if (why) expect(setup.reason).toMatch(why);
  });
});
