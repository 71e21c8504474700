// pkg/config/kube/conversion_test.go TestConvertProtocol, replayed against harness/istio/protocol.ts.
import { readFileSync } from 'node:fs';
import { convertProtocol } from '../harness/istio/protocol.js';
import { compare, type OracleFile } from './types.js';

interface Data {
  source: { path: string; test: string; commit: string };
  cases: { name: string; port: number; portName: string; proto: string; appProto: string | null; expectedProto: string }[];
}

export function conversion(): OracleFile[] {
  const data = JSON.parse(readFileSync(new URL('../test/data/istio/conversion_test.json', import.meta.url), 'utf8')) as Data;
  return [
    {
      source: data.source.path,
      test: data.source.test,
      commit: data.source.commit,
      cases: data.cases.map((c) => compare(c.name, convertProtocol(c.port, c.portName, c.proto, c.appProto ?? undefined), c.expectedProto)),
    },
  ];
}
