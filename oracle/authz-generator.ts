// pilot/pkg/security/authz/model/generator_test.go TestServiceAccount and TestNamespaceMatcherRegex_Match,
// replayed against harness/istio/authz.ts `serviceAccountMatch` and `namespaceMatch`. The model's peer principal
// is a SPIFFE URI SAN without its scheme; an identity that is not `spiffe://…` cannot be such a peer, and is refused.
import { readFileSync } from 'node:fs';
import { namespaceMatch, serviceAccountMatch } from '../harness/istio/authz.js';
import { compare, type OracleCase, type OracleFile } from './types.js';

interface Data {
  source: { path: string; tests: string[]; commit: string };
  serviceAccount: { name: string; input: string; identity: string; match: boolean }[];
  namespace: { name: string; v: string; match: string; noMatch: string }[];
}

const SPIFFE = 'spiffe://';
const principalOf = (identity: string) => (identity.startsWith(SPIFFE) ? identity.slice(SPIFFE.length) : undefined);

function serviceAccountCase(c: Data['serviceAccount'][number]): OracleCase {
  const principal = principalOf(c.identity);
  if (principal === undefined) return { name: c.name, outcome: { kind: 'refused', reason: `${c.identity} is not a SPIFFE identity: the model's peers are URI SANs spiffe://<principal>` } };
  return compare(c.name, serviceAccountMatch(c.input, principal), c.match);
}

export function authzGenerator(): OracleFile[] {
  const data = JSON.parse(readFileSync(new URL('../test/data/istio/generator_test.json', import.meta.url), 'utf8')) as Data;
  const file = (test: string, cases: OracleCase[]): OracleFile => ({ source: data.source.path, test, commit: data.source.commit, cases });
  return [
    file('TestServiceAccount', data.serviceAccount.map(serviceAccountCase)),
    file(
      'TestNamespaceMatcherRegex_Match',
      data.namespace.flatMap((c) => [
        compare(`${c.name}: matches ${c.match}`, namespaceMatch(c.v, principalOf(c.match) ?? c.match), true),
        compare(`${c.name}: does not match ${c.noMatch}`, namespaceMatch(c.v, principalOf(c.noMatch) ?? c.noMatch), false),
      ]),
    ),
  ];
}
