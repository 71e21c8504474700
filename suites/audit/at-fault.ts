// AUDIT-001's object at fault: what turns a destination's access logging off, as istiod resolved it for that pod
// (harness/mesh-logging.ts `logSetup`: the Telemetry levels, or meshConfig, named in `source`). In the lab the
// resolution reads the posture; on a cluster, its live ConfigMap `istio` and Telemetry objects.
import type { AtFault } from '../../harness/check.js';
import type { LogSetup } from '../../harness/mesh-logging.js';
import type { PodRef } from '../../harness/target.js';

/** The Telemetry objects a resolution names (`Telemetry ns/name + Telemetry ns/name…`). */
const telemetriesIn = (source: string): string[] => [...source.matchAll(/Telemetry ([^\s:;+]+)/g)].map((m) => m[1]!);

export function loggingOffAtFault(off: { pod: PodRef; setup: LogSetup }[]): AtFault | undefined {
  const first = off[0];
  if (!first) return undefined;
  const { source } = first.setup;
  const pods = off.map((s) => `${s.pod.namespace}/${s.pod.name}`).join(', ');
  const telemetries = telemetriesIn(source);
  if (telemetries.length > 0) {
    // The last level is the most specific (root → namespace → workload) and the one whose accessLogging wins.
    const last = telemetries[telemetries.length - 1]!;
    return {
      object: `Telemetry ${last} spec.accessLogging${source.includes('no provider for this side') ? ' (no provider writes server-side records)' : ' (disabled: true, or only providers that write no log)'} for ${pods}; resolved: ${source}`,
      remedy: `remove disabled: true from spec.accessLogging of Telemetry ${last} (or delete it), or give it providers: [{ name: envoy }] with match.mode CLIENT_AND_SERVER`,
    };
  }
  return {
    object: `mesh config (ConfigMap istio-system/istio, key mesh): ${source}, for ${pods}`,
    remedy: 'set meshConfig.accessLogFile: /dev/stdout, or apply a Telemetry in istio-system with spec.accessLogging: [{ providers: [{ name: envoy }] }]',
  };
}

/** Logging is on by the config, yet records are missing or incomplete: no posture object turns it off. */
export function trailGapAtFault(setups: { pod: PodRef; setup: LogSetup }[]): AtFault {
  const source = setups[0]?.setup.source ?? 'unknown';
  return {
    object: `no posture object: access logging of ${setups.map((s) => `${s.pod.namespace}/${s.pod.name}`).join(', ')} is on (${source}) yet the destination sidecar did not write the records`,
    remedy: 'check that the pods run the proxy istiod pushed this config to (istioctl proxy-status) and that no EnvoyFilter replaces the access log',
  };
}
