// pkg/bootstrap/instance_test.go TestGolden: the stats inclusion list of every golden bootstrap, replayed against
// harness/istio/stats.ts.
import { readFileSync } from 'node:fs';
import { STATS_NOT_MODELLED, type StatsPattern, statsMatcherPatterns } from '../harness/istio/stats.js';
import { compare, type OracleCase, type OracleFile } from './types.js';

interface Data {
  source: { path: string; test: string; commit: string; instanceIPs: string[] };
  cases: { name: string; annotations: Record<string, string>; env?: Record<string, string>; patterns: StatsPattern[] }[];
}

export function stats(): OracleFile[] {
  const data = JSON.parse(readFileSync(new URL('../test/data/istio/bootstrap_stats_test.json', import.meta.url), 'utf8')) as Data;
  const cases = data.cases.map((c): OracleCase => {
    // An HBONE (ambient) proxy gets `workload_discovery` (metadata discovery); the model is of sidecars.
    if (c.env?.['ISTIO_META_ENABLE_HBONE'] === 'true') return { name: c.name, outcome: { kind: 'refused', reason: STATS_NOT_MODELLED } };
    return compare(c.name, statsMatcherPatterns({ annotations: c.annotations, instanceIPs: data.source.instanceIPs }), c.patterns);
  });
  return [{ source: data.source.path, test: data.source.test, commit: data.source.commit, cases }];
}
