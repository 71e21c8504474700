// pilot/pkg/model/telemetry_logging_test.go TestAccessLogging and TestAccessLoggingWithFilter, replayed against
// harness/istio/access-logging.ts (the port both targets use).
import { readFileSync } from 'node:fs';
import { type AccessLoggingEntry, accessLogging, type ExtensionProvider, type TelemetryObject, type WorkloadMode } from '../harness/istio/access-logging.js';
import { compare, type OracleFile } from './types.js';

interface Case {
  name: string;
  cfgs: { namespace: string; telemetry: string }[];
  class: 'SidecarOutbound' | 'SidecarInbound' | 'Gateway';
  defaultProviders: string[] | null;
  want: unknown;
}
interface Data {
  source: { path: string; commit: string };
  proxy: { namespace: string; labels: Record<string, string> };
  extensionProviders: ExtensionProvider[];
  telemetries: Record<string, { selector?: Record<string, string>; accessLogging?: AccessLoggingEntry[] }>;
  TestAccessLogging: Case[];
  TestAccessLoggingWithFilter: Case[];
}

export function telemetry(): OracleFile[] {
  const data = JSON.parse(readFileSync(new URL('../test/data/istio/telemetry_test.json', import.meta.url), 'utf8')) as Data;
  /** pilot/pkg/model/telemetry.go `workloadMode`: inbound is SERVER, outbound and gateway CLIENT. */
  const modeOf = (c: Case['class']): WorkloadMode => (c === 'SidecarInbound' ? 'SERVER' : 'CLIENT');
  /** `newTelemetry`: every config is named `default`, with no creation time. */
  const telemetriesOf = (c: Case): TelemetryObject[] => c.cfgs.map((x) => ({ namespace: x.namespace, name: 'default', ...data.telemetries[x.telemetry]! }));
  const resolve = (c: Case) =>
    accessLogging({ extensionProviders: data.extensionProviders, defaultProviders: { accessLogging: c.defaultProviders ?? [] } }, telemetriesOf(c), data.proxy, modeOf(c.class));
  const file = (test: string, cases: OracleFile['cases']): OracleFile => ({ source: data.source.path, test, commit: data.source.commit, cases });
  return [
    // The Go test: nil stays nil; otherwise the enabled providers' names.
    file(
      'TestAccessLogging',
      data.TestAccessLogging.map((c) => {
        const { configs } = resolve(c);
        return compare(c.name, configs === undefined ? null : configs.filter((x) => !x.disabled).map((x) => x.provider.name), c.want);
      }),
    ),
    file(
      'TestAccessLoggingWithFilter',
      data.TestAccessLoggingWithFilter.map((c) => {
        const { configs } = resolve(c);
        return compare(c.name, configs?.map((x) => ({ provider: x.provider.name, ...(x.filter ? { filter: x.filter } : {}) })), c.want);
      }),
    ),
  ];
}
