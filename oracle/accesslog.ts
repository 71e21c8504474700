// pilot/pkg/networking/core/accesslog_test.go TestListenerAccessLog: the mesh config's access-log format, replayed
// against harness/mesh-logging.ts `meshConfigLogShape`.
import { readFileSync } from 'node:fs';
import { type LogShape, meshConfigLogShape } from '../harness/mesh-logging.js';
import { compare, type OracleFile } from './types.js';

interface Data {
  source: { path: string; test: string; commit: string };
  cases: { name: string; encoding: 'JSON' | 'TEXT'; format?: string; want: LogShape }[];
}

export function accesslog(): OracleFile[] {
  const data = JSON.parse(readFileSync(new URL('../test/data/istio/accesslog_test.json', import.meta.url), 'utf8')) as Data;
  return [
    {
      source: data.source.path,
      test: data.source.test,
      commit: data.source.commit,
      cases: data.cases.map((c) => compare(c.name, meshConfigLogShape({ accessLogEncoding: c.encoding, ...(c.format ? { accessLogFormat: c.format } : {}) }), c.want)),
    },
  ];
}
