// The access matrix's grants, attacks and intent comparison: every answer comes from the model's judge (authz.ts),
// these tests pin which requests are asked about and what is concluded from the answers.
import { describe, expect, it } from 'vitest';
import { authorizationPolicyFromIstio, CLUSTER_LOCAL_BUNDLE, forWorkload } from '../harness/istio/authz-policy.js';
import type { AuthzPolicy } from '../harness/istio/authz.js';
import { judge } from '../harness/istio/authz.js';
import { beyondIntent, cellGrant, type GrantQuery, grantRuleText, RESERVED_PREFIX, requestInsideGrant, requestOutsideGrant, SAFE_METHODS } from '../harness/istio/grants.js';

const policy = (name: string, spec: Record<string, unknown>, namespace = 'shop', extra: Record<string, unknown> = {}): AuthzPolicy => {
  const c = authorizationPolicyFromIstio(
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace, ...extra }, spec },
    { trustDomainBundle: CLUSTER_LOCAL_BUNDLE, providers: [{ name: 'opa', kind: 'envoyExtAuthzHttp', port: 8000 }] },
  );
  if ('refused' in c) throw new Error(c.refused);
  return c.policy;
};

const who = (ns: string, sa: string) => ({ principal: `cluster.local/ns/${ns}/sa/${sa}`, namespace: ns });
const q = (policies: AuthzPolicy[], id: { principal: string; namespace: string }, o: Partial<GrantQuery> = {}): GrantQuery => ({
  policies,
  ...id,
  workloadNamespace: 'shop',
  port: 8080,
  http: true,
  host: 'cart.shop.svc.cluster.local:8080',
  ...o,
});
const N = 'n0nce';

describe('cellGrant', () => {
  const fromFrontend = policy('cart-callers', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/web/sa/frontend'] } }] }] });

  it('a rule with no `to` grants the caller everything and a stranger nothing', () => {
    const caller = cellGrant(q([fromFrontend], who('web', 'frontend')), N);
    expect(caller).toEqual({ kind: 'all', scope: ['shop/cart-callers rule 0: any request'], rules: [{ namespace: 'shop', name: 'cart-callers', rule: 0 }] });
    expect(cellGrant(q([fromFrontend], who('web', 'other')), N)).toEqual({ kind: 'none', scope: [], rules: [] });
  });

  it('methods and paths make a partial grant, described by the rule', () => {
    const p = policy('cart-read', { rules: [{ from: [{ source: { namespaces: ['web'] } }], to: [{ operation: { methods: ['GET'], paths: ['/api/*'] } }] }] });
    const g = cellGrant(q([p], who('web', 'anyone')), N);
    expect(g.kind).toBe('partial');
    expect(g.scope).toEqual(['shop/cart-read rule 0: methods GET paths /api/*']);
  });

  it('with no ALLOW policy on the workload, everything is granted (Istio allows all) and said so', () => {
    const g = cellGrant(q([], who('web', 'anyone')), N);
    expect(g.kind).toBe('all');
    expect(g.rules[0]!.rule).toBe(-1);
  });

  it("M22-L1: the no-ALLOW-policy pseudo-rule names the WORKLOAD's namespace, and its words never say rule -1", () => {
    const g = cellGrant(q([], who('web', 'anyone'), { workloadNamespace: 'pay' }), N);
    expect(g.rules).toEqual([{ namespace: 'pay', name: '(no ALLOW policy selects the workload)', rule: -1 }]);
    expect(g.scope).toEqual(['no ALLOW policy selects the workload (in pay): any request']);
    expect(grantRuleText(g.rules[0]!)).toBe('no ALLOW policy selects the workload (in pay)');
    expect(beyondIntent(q([], who('web', 'anyone'), { workloadNamespace: 'pay' }), N, [])[0]!.rule.namespace).toBe('pay');
  });

  it('a DENY rule narrows a grant', () => {
    const deny = policy('no-writes', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST', 'PUT', 'PATCH', 'DELETE'] } }] }] });
    expect(cellGrant(q([fromFrontend, deny], who('web', 'frontend')), N).kind).toBe('partial');
  });

  it('a Host-restricted grant is found with a witness Host (a caller can send any Host)', () => {
    const p = policy('by-host', { rules: [{ to: [{ operation: { hosts: ['admin.example.com'] } }] }] });
    const g = cellGrant(q([p], who('web', 'anyone')), N);
    expect(g.kind).toBe('partial');
    expect(g.scope).toEqual(['shop/by-host rule 0: hosts admin.example.com']);
  });

  it('what the model cannot judge (a header condition, a CUSTOM provider) is not judged, with the reason', () => {
    const header = policy('by-header', { rules: [{ when: [{ key: 'request.headers[x-tenant]', values: ['a'] }] }] });
    const g = cellGrant(q([header], who('web', 'frontend')), N);
    expect(g.kind).toBe('not-judged');
    expect(g.reason).toMatch(/request\.headers\[x-tenant\]/);
    const custom = policy('opa', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{}] });
    const c = cellGrant(q(forWorkload([custom, fromFrontend]), who('web', 'frontend')), N);
    expect(c.kind).toBe('not-judged');
    expect(c.reason).toMatch(/CUSTOM provider \(opa/);
  });

  it('on a TCP port an ALLOW rule with HTTP fields is skipped (istiod cannot generate it), so it grants nothing there', () => {
    const p = policy('cart-read', { rules: [{ from: [{ source: { namespaces: ['web'] } }], to: [{ operation: { methods: ['GET'] } }] }] });
    expect(cellGrant(q([p], who('web', 'x'), { http: false, port: 9000 }), N).kind).toBe('none');
    const portOnly = policy('cart-tcp', { rules: [{ from: [{ source: { namespaces: ['web'] } }], to: [{ operation: { ports: ['9000'] } }] }] });
    expect(cellGrant(q([portOnly], who('web', 'x'), { http: false, port: 9000 }), N)).toMatchObject({ kind: 'all', scope: ['shop/cart-tcp rule 0: ports 9000'] });
    expect(cellGrant(q([portOnly], who('web', 'x'), { http: false, port: 9001 }), N).kind).toBe('none');
  });
});

describe('requestOutsideGrant (the attack) and requestInsideGrant (the grant probe)', () => {
  it('the attack is a safe method on a reserved nonce path that the model denies, checked against judge itself', () => {
    const p = policy('cart-read', { rules: [{ from: [{ source: { namespaces: ['web'] } }], to: [{ operation: { methods: ['GET'], paths: ['/api/*'] } }] }] });
    const query = q([p], who('web', 'x'));
    const attack = requestOutsideGrant(query, N);
    expect(attack).toEqual({ kind: 'http', method: 'GET', path: `${RESERVED_PREFIX}${N}`, nonce: N });
    if ('none' in attack) throw new Error('no attack');
    expect(judge([p], { ...who('web', 'x'), method: attack.method, path: attack.path, host: query.host, port: 8080, http: true })).toMatchObject({ allowed: false });
    const probe = requestInsideGrant(query, N);
    expect(probe).toEqual({ kind: 'http', method: 'GET', path: `/api/.meshproof-${N}`, nonce: N });
  });

  it('never sends an unsafe method: when GET, HEAD and OPTIONS are all granted there is no attack', () => {
    const deny = policy('no-writes', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'] } }] }] });
    const r = requestOutsideGrant(q([deny], who('web', 'x')), N);
    expect(r).toEqual({ none: expect.stringMatching(/every safe request/) });
    for (const m of SAFE_METHODS) expect(['GET', 'HEAD', 'OPTIONS']).toContain(m);
  });

  it('picks HEAD when GET is the grant', () => {
    const p = policy('get-only', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] });
    expect(requestOutsideGrant(q([p], who('web', 'x')), N)).toMatchObject({ method: 'HEAD' });
  });

  it('M22-H1: a DENY on paths over an otherwise full grant is attacked on its own nonce path (GET /admin/.meshproof-<nonce>)', () => {
    const allow = policy('cart-callers', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/web/sa/frontend'] } }] }] });
    const deny = policy('cart-admin', { action: 'DENY', rules: [{ from: [{ source: { principals: ['cluster.local/ns/web/sa/frontend'] } }], to: [{ operation: { paths: ['/admin/*'] } }] }] });
    const query = q([allow, deny], who('web', 'frontend'));
    expect(cellGrant(query, N).kind).toBe('partial');
    const attack = requestOutsideGrant(query, N);
    expect(attack).toEqual({ kind: 'http', method: 'GET', path: `/admin/.meshproof-${N}`, nonce: N });
    if ('none' in attack) throw new Error('no attack');
    expect(judge([allow, deny], { ...who('web', 'frontend'), method: 'GET', path: attack.path, host: query.host, port: 8080, http: true })).toMatchObject({ allowed: false, policy: 'ns[shop]-policy[cart-admin]-rule[0]' });
  });

  it('M22-H1: a DENY on hosts is attacked with that Host as the authority', () => {
    const deny = policy('cart-admin-host', { action: 'DENY', rules: [{ to: [{ operation: { hosts: ['admin.shop.example'] } }] }] });
    const query = q([deny], who('web', 'frontend'));
    const attack = requestOutsideGrant(query, N);
    expect(attack).toEqual({ kind: 'http', method: 'GET', path: `${RESERVED_PREFIX}${N}`, nonce: N, host: 'admin.shop.example' });
    expect(judge([deny], { ...who('web', 'frontend'), method: 'GET', path: `${RESERVED_PREFIX}${N}`, host: 'admin.shop.example', port: 8080, http: true })).toMatchObject({ allowed: false });
  });

  it('M22-H1: an ALLOW with notPaths is attacked on the excluded nonce path', () => {
    const p = policy('cart-not-admin', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/web/sa/frontend'] } }], to: [{ operation: { notPaths: ['/admin/*'] } }] }] });
    expect(requestOutsideGrant(q([p], who('web', 'frontend')), N)).toEqual({ kind: 'http', method: 'GET', path: `/admin/.meshproof-${N}`, nonce: N });
  });

  it('M22-H1: never an exact path, never an unsafe method: a DENY on an exact path or on DELETE alone leaves no attack, and says why', () => {
    const exact = policy('cart-exact', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin/users'] } }] }] });
    expect(requestOutsideGrant(q([exact], who('web', 'frontend')), N)).toEqual({ none: expect.stringMatching(/unsafe method or an exact path, never sent/) });
    const del = policy('cart-no-delete', { rules: [{ to: [{ operation: { notMethods: ['DELETE'] } }] }] });
    expect(requestOutsideGrant(q([del], who('web', 'frontend')), N)).toEqual({ none: expect.stringMatching(/every safe request/) });
  });

  it('M22-H2: GET is preferred over HEAD wherever GET is a non-grant (a GET-only grant with a DENY on /admin/* is attacked with GET there)', () => {
    const get = policy('get-only', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] });
    const deny = policy('no-admin', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin/*'] } }] }] });
    expect(requestOutsideGrant(q([get, deny], who('web', 'x')), N)).toEqual({ kind: 'http', method: 'GET', path: `/admin/.meshproof-${N}`, nonce: N });
    expect(requestOutsideGrant(q([get], who('web', 'x')), N)).toMatchObject({ method: 'HEAD', path: `${RESERVED_PREFIX}${N}` });
  });

  it('never probes an exact path (an app real path): such a grant is not probed', () => {
    const p = policy('exact', { rules: [{ to: [{ operation: { methods: ['GET'], paths: ['/api/orders'] } }] }] });
    expect(requestInsideGrant(q([p], who('web', 'x')), N)).toEqual({ none: expect.stringMatching(/exact paths only/) });
  });

  it('TCP: a nonce on the port when the model denies it; nothing when it is granted; not judged says why', () => {
    const p = policy('cart-callers', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/web/sa/frontend'] } }] }] });
    expect(requestOutsideGrant(q([p], who('web', 'other'), { http: false }), N)).toEqual({ kind: 'tcp', nonce: N });
    expect(requestOutsideGrant(q([p], who('web', 'frontend'), { http: false }), N)).toEqual({ none: expect.stringMatching(/every connection/) });
    const ip = policy('by-ip', { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'] } }] }] });
    expect(requestOutsideGrant(q([ip], who('web', 'x'), { http: false }), N)).toEqual({ none: expect.stringMatching(/^not judged: .*ipBlocks/) });
  });
});

describe('beyondIntent', () => {
  const allMethods = policy('cart-callers', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/web/sa/frontend'] } }] }] });
  const frontend = who('web', 'frontend');

  it('a grant of every method where the intent declares GET is beyond it, with a witness and the rule', () => {
    const b = beyondIntent(q([allMethods], frontend), N, [{ methods: ['GET'] }]);
    expect(b).toEqual([{ rule: { namespace: 'shop', name: 'cart-callers', rule: 0 }, witness: `HEAD ${RESERVED_PREFIX}${N}` }]);
  });

  it('a grant equal to the declared call is within it', () => {
    const p = policy('cart-read', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/web/sa/frontend'] } }], to: [{ operation: { methods: ['GET'], paths: ['/api/*'] } }] }] });
    expect(beyondIntent(q([p], frontend), N, [{ methods: ['GET'], path: '/api/*' }])).toEqual([]);
    expect(beyondIntent(q([allMethods], frontend), N, [{}])).toEqual([]);
  });

  it('nothing declared: every grant is beyond (a namespace-wide grant reaches a workload that declares no call)', () => {
    const ns = policy('cart-ns', { rules: [{ from: [{ source: { namespaces: ['web'] } }] }] });
    expect(beyondIntent(q([ns], who('web', 'batch')), N, [])).toEqual([{ rule: { namespace: 'shop', name: 'cart-ns', rule: 0 }, witness: `GET ${RESERVED_PREFIX}${N}` }]);
  });

  it('on TCP, an HTTP-only declaration does not cover a port grant (its generated rule is skipped on TCP)', () => {
    const b = beyondIntent(q([allMethods], frontend, { http: false, port: 9000 }), N, [{ methods: ['GET'] }]);
    expect(b).toEqual([{ rule: { namespace: 'shop', name: 'cart-callers', rule: 0 }, witness: 'a TCP connection to port 9000' }]);
    expect(beyondIntent(q([allMethods], frontend, { http: false, port: 9000 }), N, [{}])).toEqual([]);
  });

  it('a narrower declared path leaves the wildcard grant beyond it, witnessed inside the grant', () => {
    const p = policy('cart-read', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/web/sa/frontend'] } }], to: [{ operation: { methods: ['GET'], paths: ['/api/*'] } }] }] });
    expect(beyondIntent(q([p], frontend), N, [{ methods: ['GET'], path: '/api/orders' }])).toEqual([{ rule: { namespace: 'shop', name: 'cart-read', rule: 0 }, witness: `GET /api/.meshproof-${N}` }]);
  });
});
