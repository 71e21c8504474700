// Istio's own access-log merging cases (istio/istio pilot/pkg/model/telemetry_logging_test.go TestAccessLogging and
// TestAccessLoggingWithFilter, commit 86c9f01fd735, transcribed as data in test/data/istio/telemetry_test.json)
// replayed against harness/istio/access-logging.ts, the port both targets use.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type AccessLoggingEntry, accessLogging, type ExtensionProvider, type TelemetryObject, type WorkloadMode } from '../harness/istio/access-logging.js';

interface Case {
  name: string;
  cfgs: { namespace: string; telemetry: string }[];
  class: 'SidecarOutbound' | 'SidecarInbound' | 'Gateway';
  defaultProviders: string[] | null;
  want: unknown;
}
const data = JSON.parse(readFileSync('test/data/istio/telemetry_test.json', 'utf8')) as {
  proxy: { namespace: string; labels: Record<string, string> };
  extensionProviders: ExtensionProvider[];
  telemetries: Record<string, { selector?: Record<string, string>; accessLogging?: AccessLoggingEntry[] }>;
  TestAccessLogging: Case[];
  TestAccessLoggingWithFilter: Case[];
};

/** pilot/pkg/model/telemetry.go `workloadMode`: inbound is SERVER, outbound and gateway CLIENT. */
const modeOf = (c: Case['class']): WorkloadMode => (c === 'SidecarInbound' ? 'SERVER' : 'CLIENT');
/** `newTelemetry`: every config is named `default`, with no creation time. */
const telemetriesOf = (c: Case): TelemetryObject[] => c.cfgs.map((x) => ({ namespace: x.namespace, name: 'default', ...data.telemetries[x.telemetry]! }));
const resolve = (c: Case) =>
  accessLogging({ extensionProviders: data.extensionProviders, defaultProviders: { accessLogging: c.defaultProviders ?? [] } }, telemetriesOf(c), data.proxy, modeOf(c.class));

describe("I-M3: istio's TestAccessLogging, replayed", () => {
  it.each(data.TestAccessLogging)('$name', (c) => {
    const { configs } = resolve(c);
    // The Go test: nil stays nil; otherwise the enabled providers' names.
    const got = configs === undefined ? null : configs.filter((x) => !x.disabled).map((x) => x.provider.name);
    expect(got).toEqual(c.want);
  });
});

describe("I-M3: istio's TestAccessLoggingWithFilter, replayed", () => {
  it.each(data.TestAccessLoggingWithFilter)('$name', (c) => {
    const { configs } = resolve(c);
    expect(configs?.map((x) => ({ provider: x.provider.name, ...(x.filter ? { filter: x.filter } : {}) }))).toEqual(c.want);
  });
});
