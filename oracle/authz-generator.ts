// pilot/pkg/security/authz/model/generator_test.go TestServiceAccount and TestNamespaceMatcherRegex_Match,
// replayed against harness/istio/authz.ts `serviceAccountMatch` and `namespaceMatch`; TestGenerator's golden
// Envoy matchers run by oracle/envoy-rbac.ts against the model's one-field policy on generated requests. The model's peer principal
// is a SPIFFE URI SAN without its scheme; an identity that is not `spiffe://…` cannot be such a peer, and is refused.
import { readFileSync } from 'node:fs';
import { judge, namespaceMatch, serviceAccountMatch } from '../harness/istio/authz.js';
import { authorizationPolicyFromIstio } from '../harness/istio/authz-policy.js';
import { describe, envoyRequest, requests } from './authz-builder.js';
import { EnvoyRefusal, runChain } from './envoy-rbac.js';
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

interface GeneratorCase {
  name: string;
  /** The AuthorizationPolicy field the generator serves: `source.<f>`, `operation.<f>` or `when:<key>`. */
  field: string;
  value: string;
  forTCP: boolean;
  permission?: unknown;
  principal?: unknown;
}

/** The one-rule ALLOW policy whose one field is the generator's (model.go `New` maps fields to generators). */
function policyFor(c: GeneratorCase): unknown {
  const [where, name] = c.field.startsWith('when:') ? ['when', c.field.slice(5)] : (c.field.split('.') as [string, string]);
  const rule =
    where === 'source' ? { from: [{ source: { [name]: [c.value] } }] } : where === 'operation' ? { to: [{ operation: { [name]: [c.value] } }] } : { when: [{ key: name, values: [c.value] }] };
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'g', namespace: 'foo' }, spec: { rules: [rule] } };
}

/** The golden permission or principal as the only one of an ALLOW RBAC filter (the other side `any`). */
function filterFor(c: GeneratorCase): unknown {
  const network = c.forTCP ? 'network' : 'http';
  const policy = { permissions: [c.permission ?? { any: true }], principals: [c.principal ?? { any: true }] };
  return { name: `envoy.filters.${network}.rbac`, typedConfig: { '@type': `type.googleapis.com/envoy.extensions.filters.${network}.rbac.v3.RBAC`, rules: { policies: { g: policy } } } };
}

function generatorCases(c: GeneratorCase): OracleCase[] {
  const object = policyFor(c);
  // generator_test.go tests the generators alone: no MigrateTrustDomain.
  const conv = authorizationPolicyFromIstio(object, { trustDomainBundle: null });
  return requests([object], !c.forTCP).map((r) => {
    const name = `${c.name}: ${describe(r)}`;
    if ('refused' in conv) return { name, outcome: { kind: 'refused', reason: conv.refused } };
    let envoy: boolean;
    try {
      envoy = runChain([filterFor(c)], envoyRequest(r)).allowed;
    } catch (e) {
      if (e instanceof EnvoyRefusal) return { name, outcome: { kind: 'refused', reason: `envoy-rbac evaluator: ${e.message}` } };
      throw e;
    }
    const model = judge([conv.policy], r);
    if ('unjudged' in model) return { name, outcome: { kind: 'refused', reason: model.unjudged } };
    return compare(name, model.allowed, envoy);
  });
}

/**
 * The `not*` twin of a source generator case (R4-M4): istiod wraps the generators' matchers for `notValues` as
 * NOT(OR(…)) (I: pilot/pkg/security/authz/model/model.go `rule.principal`, `principalNot(principalOr(or))`), so the
 * golden for `not<F>: [v]` is `notId: { orIds: { ids: [<the golden principal>] } }`. Its requests include plaintext,
 * so each not* source meets a request without a peer (ISTIO-SECURITY-2021-004: NOT of a peer matcher is true then).
 */
function notTwin(c: GeneratorCase): GeneratorCase | undefined {
  if (!c.field.startsWith('source.') || c.principal === undefined) return undefined;
  const f = c.field.slice('source.'.length);
  return { ...c, name: `${c.name} (not${f[0]!.toUpperCase()}${f.slice(1)}, model.go rule.principal)`, field: `source.not${f[0]!.toUpperCase()}${f.slice(1)}`, principal: { notId: { orIds: { ids: [c.principal] } } } };
}

export function authzGeneratorTable(): OracleFile[] {
  const data = JSON.parse(readFileSync(new URL('../test/data/istio/generator_test.json', import.meta.url), 'utf8')) as Data & { generator: GeneratorCase[] };
  const all = data.generator.flatMap((c) => [c, ...[notTwin(c)].filter((x): x is GeneratorCase => x !== undefined)]);
  return [{ source: data.source.path, test: 'TestGenerator', commit: data.source.commit, cases: all.flatMap(generatorCases) }];
}
