// AuthorizationPolicy semantics (istio-behaviours.md §2) as the lab evaluates them, and the mesh-vs-app 403
// distinction over real sockets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicable, evaluate, stringMatch } from '../cluster/lab/authz.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import type { AuthzPolicyModel } from '../cluster/lab/model.js';
import { deniedByMesh } from '../harness/classify.js';
import { loadPosture } from '../harness/posture/load.js';
import { validateForLab } from '../cluster/lab/schema.js';
import { type AuthzRequest, customJudge, DRY_RUN_CUSTOM, judge, serviceAccountMatch, trustDomainMatch } from '../harness/istio/authz.js';
import { type AuthzPolicyOptions, authorizationPolicyFromIstio, CLUSTER_LOCAL_BUNDLE, type ExtensionProvider, extensionProvidersOf, forWorkload, providerNameProblem, replaceTrustDomainAliases } from '../harness/istio/authz-policy.js';

const AUTHZ = 'cluster.local/ns/mesh/sa/authorized';
const OTHER = 'cluster.local/ns/mesh/sa/unauthorized';
const allow = (rules: AuthzPolicyModel['rules'], name = 'a'): AuthzPolicyModel => ({ namespace: 'mesh', name, action: 'ALLOW', rules });
const deny = (rules: AuthzPolicyModel['rules'], name = 'd'): AuthzPolicyModel => ({ namespace: 'mesh', name, action: 'DENY', rules });
const req = (o: Partial<Parameters<typeof evaluate>[1]> = {}) => ({ principal: AUTHZ, namespace: 'mesh', method: 'GET', path: '/', port: 8080, http: true, ...o });

describe('AuthorizationPolicy evaluation', () => {
  it.each([
    ['no policy at all allows', [], req(), true],
    ['spec: {} (ALLOW, no rules) allows nothing', [allow([])], req(), false],
    ['rules: [{}] allows everything', [allow([{}])], req({ principal: undefined, namespace: undefined }), true],
    ['ALLOW by principal', [allow([{ from: [{ source: { principals: [AUTHZ] } }] }])], req(), true],
    ['ALLOW by principal refuses another', [allow([{ from: [{ source: { principals: [AUTHZ] } }] }])], req({ principal: OTHER }), false],
    ['DENY before ALLOW', [allow([{}]), deny([{ from: [{ source: { principals: [AUTHZ] } }] }])], req(), false],
    ['principals never match plaintext (ALLOW)', [allow([{ from: [{ source: { principals: ['*'] } }] }])], req({ principal: undefined, namespace: undefined }), false],
    ['namespaces never match plaintext (ALLOW)', [allow([{ from: [{ source: { namespaces: ['*'] } }] }])], req({ principal: undefined, namespace: undefined }), false],
    ['I-H2: notPrincipals MATCH plaintext (DENY fires): NOT(authenticated) is true without a peer cert', [deny([{ from: [{ source: { notPrincipals: [AUTHZ] } }] }])], req({ principal: undefined, namespace: undefined }), false],
    ['I-H2: ISTIO-SECURITY-2021-004: ALLOW notNamespaces [foo] ALLOWS plaintext (from foo too)', [allow([{ from: [{ source: { notNamespaces: ['foo'] } }] }])], req({ principal: undefined, namespace: undefined }), true],
    ['I-H2: ALLOW notNamespaces [foo] refuses mTLS from foo', [allow([{ from: [{ source: { notNamespaces: ['foo'] } }] }])], req({ principal: 'cluster.local/ns/foo/sa/x', namespace: 'foo' }), false],
    ['I-H2: DENY notPrincipals ["*"] refuses plaintext (the documented way on a PERMISSIVE port)', [allow([{}]), deny([{ from: [{ source: { notPrincipals: ['*'] } }] }])], req({ principal: undefined, namespace: undefined }), false],
    ['I-H2: DENY notPrincipals ["*"] lets an mTLS peer through', [allow([{}]), deny([{ from: [{ source: { notPrincipals: ['*'] } }] }])], req(), true],
    ['I-H2: a positive field ANDed with a not* field still never matches plaintext', [allow([{ from: [{ source: { principals: ['*'], notNamespaces: ['foo'] } }] }])], req({ principal: undefined, namespace: undefined }), false],
    ['DENY by principal is bypassed by plaintext (ISTIO-SECURITY-2021-004)', [deny([{ from: [{ source: { principals: [OTHER] } }] }])], req({ principal: undefined, namespace: undefined }), true],
    ['namespaces match the peer namespace', [allow([{ from: [{ source: { namespaces: ['mesh'] } }] }])], req(), true],
    ['notNamespaces exclude it', [allow([{ from: [{ source: { notNamespaces: ['mesh'] } }] }])], req(), false],
    ['methods', [allow([{ to: [{ operation: { methods: ['GET'] } }] }])], req({ method: 'POST' }), false],
    ['paths exact', [allow([{ to: [{ operation: { paths: ['/'] } }] }])], req({ path: '/x' }), false],
    ['paths prefix*', [allow([{ to: [{ operation: { paths: ['/status/*'] } }] }])], req({ path: '/status/403' }), true],
    ['paths *suffix', [allow([{ to: [{ operation: { paths: ['*.json'] } }] }])], req({ path: '/a/b.json' }), true],
    ['notPaths', [allow([{ to: [{ operation: { notPaths: ['/admin*'] } }] }])], req({ path: '/admin/x' }), false],
    ['ports', [allow([{ to: [{ operation: { ports: ['9000'] } }] }])], req({ port: 8080 }), false],
    ['HTTP-only fields drop an ALLOW rule on a TCP port (narrower)', [allow([{ to: [{ operation: { methods: ['GET'], ports: ['9000'] } }] }])], req({ port: 9000, http: false }), false],
    ['HTTP-only fields are ignored in a DENY rule on a TCP port (wider)', [deny([{ to: [{ operation: { methods: ['POST'], ports: ['9000'] } }] }])], req({ port: 9000, http: false }), false],
    ['I-L6: an ALLOW rule with ONE HTTP-only operation among several is skipped whole on a TCP port', [allow([{ to: [{ operation: { ports: ['9000'] } }, { operation: { methods: ['GET'] } }] }])], req({ port: 9000, http: false }), false],
    ['I-L6: the same operations as separate rules: the TCP one still allows', [allow([{ to: [{ operation: { ports: ['9000'] } }] }, { to: [{ operation: { methods: ['GET'] } }] }])], req({ port: 9000, http: false }), true],
    ['I-L6: a DENY operation left empty by HTTP-only fields matches any TCP request', [deny([{ to: [{ operation: { paths: ['/admin'] } }] }])], req({ port: 9000, http: false }), false],
    ['I-L6: a DENY keeps its ports on TCP', [deny([{ to: [{ operation: { paths: ['/admin'], ports: ['8080'] } }] }])], req({ port: 9000, http: false }), true],
    // M3: `{*}`/`{**}` are Envoy's uri_template (I: generator.go pathGenerator; E: uri_template_internal.cc).
    ['M3: ALLOW /api/{*}/status matches /api/v1/status', [allow([{ to: [{ operation: { paths: ['/api/{*}/status'] } }] }])], req({ path: '/api/v1/status' }), true],
    ['M3: {*} is one segment: /api/v1/x/status is not matched', [allow([{ to: [{ operation: { paths: ['/api/{*}/status'] } }] }])], req({ path: '/api/v1/x/status' }), false],
    ['M3: {*} is never empty: /api//status is not matched', [allow([{ to: [{ operation: { paths: ['/api/{*}/status'] } }] }])], req({ path: '/api//status' }), false],
    ['M3: the literal template string itself is no longer what matches', [allow([{ to: [{ operation: { paths: ['/api/{*}/status'] } }] }])], req({ path: '/api/{*}/status' }), false],
    ['M3: DENY /admin/{**} fires on /admin/x/y', [allow([{}]), deny([{ to: [{ operation: { paths: ['/admin/{**}'] } }] }])], req({ path: '/admin/x/y' }), false],
    ['M3: {**} may be empty: DENY /admin/{**} fires on /admin/', [allow([{}]), deny([{ to: [{ operation: { paths: ['/admin/{**}'] } }] }])], req({ path: '/admin/' }), false],
    ['M3: DENY /admin/{**} does not fire on /admin (no slash) nor /administrator', [allow([{}]), deny([{ to: [{ operation: { paths: ['/admin/{**}'] } }, { operation: { paths: ['/admin/{**}'] } }] }])], req({ path: '/administrator' }), true],
    ['M3: notPaths with a template', [allow([{ to: [{ operation: { notPaths: ['/api/{*}/status'] } }] }])], req({ path: '/api/v2/status' }), false],
    ['M3: the query is not part of the match', [allow([{ to: [{ operation: { paths: ['/api/{*}/status'] } }] }])], req({ path: '/api/v1/status?x=/y' }), true],
    // L1: every `*` in a namespace is `.*` in `.*/ns/<ns>/.*` on the principal (I: generator.go srcNamespaceGenerator).
    ['L1: namespaces team-*-prod matches team-a-prod', [allow([{ from: [{ source: { namespaces: ['team-*-prod'] } }] }])], req({ principal: 'cluster.local/ns/team-a-prod/sa/x', namespace: 'team-a-prod' }), true],
    ['L1: namespaces team-*-prod refuses team-a-dev', [allow([{ from: [{ source: { namespaces: ['team-*-prod'] } }] }])], req({ principal: 'cluster.local/ns/team-a-dev/sa/x', namespace: 'team-a-dev' }), false],
    ['L1: notNamespaces t*m excludes team', [allow([{ from: [{ source: { notNamespaces: ['t*m'] } }] }])], req({ principal: 'cluster.local/ns/team/sa/x', namespace: 'team' }), false],
    ['L1: a regex metacharacter in a namespace is literal', [allow([{ from: [{ source: { namespaces: ['a.b'] } }] }])], req({ principal: 'cluster.local/ns/axb/sa/x', namespace: 'axb' }), false],
  ] as const)('%s', (_n, policies, r, allowed) => {
    expect(evaluate([...policies] as AuthzPolicyModel[], r).allowed).toBe(allowed);
  });

  it('M3: /admin/{**} needs the slash: /admin alone is not matched (Envoy compiles it to /admin/[pchar/]*)', () => {
    const p = [allow([{}]), deny([{ to: [{ operation: { paths: ['/admin/{**}'] } }] }])];
    expect(evaluate(p, req({ path: '/admin' })).allowed).toBe(true);
    expect(evaluate(p, req({ path: '/admin/a/b/c' })).allowed).toBe(false);
  });

  const policy = (spec: Record<string, unknown>) =>
    validateForLab({ source: 't.yaml', manifest: { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'mesh' }, spec } } as never);

  it('M3: the lab schema admits Istio path templates only as Istio validation does (CheckValidPathTemplate)', () => {
    expect(() => policy({ rules: [{ to: [{ operation: { paths: ['/api/{*}/status', '/admin/{**}'], notPaths: ['/x/{*}/{**}'] } }] }] })).not.toThrow();
    expect(() => policy({ rules: [{ to: [{ operation: { paths: ['/api/{**}/{*}'] } }] }] })).toThrow(/\{\*\*\} is not the last operator/);
    expect(() => policy({ rules: [{ to: [{ operation: { paths: ['/api/v{*}'] } }] }] })).toThrow(/beyond a supported path template/);
    expect(() => policy({ rules: [{ to: [{ operation: { notPaths: ['/a{b}'] } }] }] })).toThrow(/beyond a supported path template/);
    expect(() => policy({ rules: [{ to: [{ operation: { paths: ['/api//{*}'] } }] }] })).toThrow(/invalid string literal/);
    expect(() => policy({ rules: [{ to: [{ operation: { paths: ['api/{*}'] } }] }] })).toThrow(/must start with '\/'/);
  });

  it('L2: the lab schema refuses what Istio validation refuses (validation.go ValidateAuthorizationPolicy)', () => {
    expect(() => policy({ rules: [{ from: [] }] })).toThrow(/`from` must not be empty/);
    expect(() => policy({ rules: [{ to: [] }] })).toThrow(/`to` must not be empty/);
    expect(() => policy({ rules: [{ from: [{ source: {} }] }] })).toThrow(/`from.source` must not be empty/);
    expect(() => policy({ rules: [{ to: [{ operation: {} }] }] })).toThrow(/`to.operation` must not be empty/);
    for (const k of ['principals', 'notPrincipals', 'namespaces', 'notNamespaces']) {
      expect(() => policy({ action: 'CUSTOM', provider: { name: 'x' }, rules: [{ from: [{ source: { [k]: ['a'] } }] }] })).toThrow(/is currently not supported with CUSTOM action/);
    }
    expect(() => policy({ action: 'DENY' })).toThrow(/DENY action without `rules`/);
    expect(() => policy({ action: 'CUSTOM', provider: { name: 'x' } })).toThrow(/CUSTOM action without `rules`/);
    expect(() => policy({ action: 'CUSTOM', provider: { name: 'x' }, rules: [{ to: [{ operation: { paths: ['/x'] } }] }] })).not.toThrow();
    expect(() => policy({ rules: [{ from: [{ source: { namespaces: ['mesh'] } }], to: [{ operation: { ports: ['8080'] } }] }] })).not.toThrow();
  });

  it('names the deciding policy as Envoy does', () => {
    expect(evaluate([deny([{}, { from: [{ source: { principals: [AUTHZ] } }] }], 'deny-x')], req()).policy).toBe('ns[mesh]-policy[deny-x]-rule[0]');
    expect(evaluate([allow([])], req()).policy).toBe('none');
  });

  it('root-namespace policies apply everywhere; selectors narrow', () => {
    const root: AuthzPolicyModel = { namespace: 'istio-system', name: 'allow-nothing', action: 'ALLOW', rules: [] };
    const sel: AuthzPolicyModel = { namespace: 'mesh', name: 's', action: 'ALLOW', rules: [], selector: { app: 'echo' } };
    expect(applicable([root, sel], 'bare', { app: 'echo' }).map((p) => p.name)).toEqual(['allow-nothing']);
    expect(applicable([root, sel], 'mesh', { app: 'other' }).map((p) => p.name)).toEqual(['allow-nothing']);
    expect(applicable([root, sel], 'mesh', { app: 'echo' }).map((p) => p.name)).toEqual(['allow-nothing', 's']);
  });

  it('matches strings like Istio', () => {
    expect(stringMatch('*', 'x')).toBe(true);
    expect(stringMatch('/a*', '/abc')).toBe(true);
    expect(stringMatch('*c', '/abc')).toBe(true);
    expect(stringMatch('/a', '/ab')).toBe(false);
  });
});

describe('mesh denials over real sockets', () => {
  const lab = new LabTarget();
  beforeAll(() => lab.apply(loadPosture('fixtures/secure')));
  afterAll(() => lab.dispose());
  const ECHO = { namespace: 'mesh', name: 'echo' };

  it('an application 403 (/status/403 on echo) is never counted as a mesh denial', async () => {
    const authorized = await lab.probe({ namespace: 'mesh', name: 'authorized' });
    const d = await lab.address(ECHO, 8080, authorized);
    const { observations } = await authorized.run([{ kind: 'http', id: 'app403', dial: d.dial, authority: d.authority, path: '/status/403', timeoutMs: 2_000 }]);
    const o = observations[0]!;
    expect(o.http?.status).toBe(403);
    expect(o.http?.echo?.nonce).toBe(o.nonce); // the app answered
    expect(deniedByMesh(o).outcome).toBe('allowed');
  });

  it('a mesh denial is 403 with exactly "RBAC: access denied", a log record naming the policy, and a counter', async () => {
    const unauthorized = await lab.probe({ namespace: 'mesh', name: 'unauthorized' });
    const d = await lab.address(ECHO, 8080, unauthorized);
    const since = new Date(Date.now() - 1_000);
    const { observations } = await unauthorized.run([{ kind: 'http', id: 'deny', dial: d.dial, authority: d.authority, timeoutMs: 2_000 }]);
    const o = observations[0]!;
    expect(o.http?.status).toBe(403);
    expect(o.http?.body).toBe('RBAC: access denied');
    expect(deniedByMesh(o).outcome).toBe('blocked');
    const pods = await lab.servicePods(ECHO);
    const lines = (await Promise.all(pods.map((p) => lab.accessLog(p, since)))).flat();
    expect(lines.find((l) => l.includes(o.nonce))).toMatch(/" 403 - rbac_access_denied_matched_policy\[none\] /);
    const denied = (await Promise.all(pods.map((p) => lab.stats(p)))).reduce((n, s) => n + (s['http.inbound_0.0.0.0_8080.rbac.denied'] ?? 0), 0);
    expect(denied).toBeGreaterThanOrEqual(1);
  });
});

// The model against Istio's golden builder configs (oracle/authz-builder.ts): each case names the Istio testdata it
// comes from; the rule each one pins was added to harness/istio/authz.ts for that testdata.
describe('issue 20: the model as Istio builds it (pilot/pkg/security/authz/builder/testdata)', () => {
  const conv = (spec: Record<string, unknown>, annotations?: Record<string, string>, opts: Partial<AuthzPolicyOptions> = {}) => {
    const c = authorizationPolicyFromIstio({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'foo', ...(annotations ? { annotations } : {}) }, spec }, { trustDomainBundle: CLUSTER_LOCAL_BUNDLE, ...opts });
    if ('refused' in c) throw new Error(c.refused);
    return c.policy;
  };
  const r = (o: Partial<AuthzRequest> = {}): AuthzRequest => ({ principal: 'cluster.local/ns/foo/sa/sleep', namespace: 'foo', method: 'GET', path: '/', host: 'httpbin.foo', port: 8000, http: true, ...o });

  it('multiple-policies-in.yaml: hosts match :authority case-insensitively (HostMatcher ignore_case)', () => {
    const p = conv({ rules: [{ to: [{ operation: { hosts: ['httpbin.org', '*.example.com'] } }] }] });
    expect(judge([p], r({ host: 'HTTPBIN.ORG' }))).toMatchObject({ allowed: true });
    expect(judge([p], r({ host: 'a.EXAMPLE.com' }))).toMatchObject({ allowed: true });
    expect(judge([p], r({ host: 'httpbin.org.evil' }))).toEqual({ allowed: false, policy: 'none' });
  });

  it('R4-H1: an ALLOW by hosts is unjudged, not denied, when the request names no host (methods, paths and their not* alike)', () => {
    const noHost = r({ host: undefined });
    const byHost = conv({ rules: [{ to: [{ operation: { hosts: ['echo.mesh.svc.cluster.local*'] } }] }] });
    expect(judge([byHost], noHost)).toEqual({ unjudged: expect.stringMatching(/rule\[0\]: hosts \(the request's :authority is not known\)/) });
    expect(judge([byHost], r({ host: 'echo.mesh.svc.cluster.local:8080' }))).toMatchObject({ allowed: true });
    // DENY notHosts: "deny everything but these hosts" must not fire on a guessed ''.
    const denyNotHosts = conv({ action: 'DENY', rules: [{ to: [{ operation: { notHosts: ['echo.mesh.svc.cluster.local*'] } }] }] });
    expect(judge([denyNotHosts], noHost)).toEqual({ unjudged: expect.stringContaining('notHosts') });
    const denyNotMethods = conv({ action: 'DENY', rules: [{ to: [{ operation: { notMethods: ['DELETE'] } }] }] });
    expect(judge([denyNotMethods], r({ method: undefined }))).toEqual({ unjudged: expect.stringContaining('notMethods') });
    const byPath = conv({ rules: [{ to: [{ operation: { paths: ['/api/*'] } }] }] });
    expect(judge([byPath], r({ path: undefined }))).toEqual({ unjudged: expect.stringContaining('paths') });
    // A decided answer that does not depend on the missing value stays decided: another operation grants, or the
    // port already rules the operation out.
    expect(judge([conv({ rules: [{ to: [{ operation: { hosts: ['x'] } }, { operation: { ports: ['8000'] } }] }] })], noHost)).toMatchObject({ allowed: true });
    expect(judge([conv({ rules: [{ to: [{ operation: { hosts: ['x'], ports: ['1'] } }] }] })], noHost)).toEqual({ allowed: false, policy: 'none' });
    // On a TCP chain a DENY rule's hosts are ignored (checkError): decided, whatever the host.
    expect(judge([denyNotHosts], r({ host: undefined, http: false }))).toMatchObject({ allowed: false });
  });

  it('dry-run-allow-in.yaml / dry-run-mix-in.yaml: a dry-run policy is a shadow rule, never enforced', () => {
    const dry = conv({ rules: [{ to: [{ operation: { paths: ['/exact'] } }] }] }, { 'istio.io/dry-run': 'true' });
    expect(dry.dryRun).toBe(true);
    expect(judge([dry], r({ path: '/other' }))).toMatchObject({ allowed: true });
    const notDry = conv({ rules: [{ to: [{ operation: { paths: ['/another'] } }] }] }, { 'istio.io/dry-run': 'false' });
    expect(judge([dry, notDry], r({ path: '/exact' }))).toEqual({ allowed: false, policy: 'none' });
  });

  it('audit-full-rule-in.yaml / tcp/audit-both-http-tcp-in.yaml: AUDIT (Envoy action LOG) never decides', () => {
    const audit = conv({ action: 'AUDIT', rules: [{}] });
    expect(judge([audit], r())).toMatchObject({ allowed: true });
    expect(judge([audit], r({ http: false }))).toMatchObject({ allowed: true });
  });

  it('custom-bad-out.yaml / custom-bad-multiple-providers: a bad CUSTOM provider turns the policy\'s rules into DENY rules', () => {
    const providers = [{ name: 'default', kind: 'envoyExtAuthzHttp', port: 999999 }];
    const bad = conv({ action: 'CUSTOM', provider: { name: 'default' }, rules: [{ to: [{ operation: { paths: ['/httpbin1'] } }] }] }, undefined, { providers });
    expect(bad.badProvider).toMatch(/port must be in the range/);
    expect(judge([bad], r({ path: '/httpbin1' }))).toMatchObject({ allowed: false });
    expect(judge([bad], r({ path: '/other' }))).toMatchObject({ allowed: true });
    expect(customJudge([bad], r({ path: '/httpbin1' }))).toBeUndefined();
    // custom-bad-out.yaml names it istio-ext-authz-default-ns[foo]-policy[httpbin-1]-rule[0]-deny-due-to-bad-CUSTOM-action.
    expect(judge([bad], r({ path: '/httpbin1' }))).toEqual({ allowed: false, policy: 'istio-ext-authz-default-ns[foo]-policy[p]-rule[0]-deny-due-to-bad-CUSTOM-action' });
    const two = forWorkload([conv({ action: 'CUSTOM', provider: { name: 'a' }, rules: [{}] }), conv({ action: 'CUSTOM', provider: { name: 'b' }, rules: [{}] })]);
    expect(two.every((p) => p.badProvider?.includes('PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS'))).toBe(true);
  });

  it('R4-M1: a bad HTTP ext_authz provider denies a TCP connection its rule matches (buildTCP calls getExtAuthz before the tcp==nil skip)', () => {
    const tcp = r({ http: false });
    const invalid = conv({ action: 'CUSTOM', provider: { name: 'default' }, rules: [{}] }, undefined, { providers: [{ name: 'default', kind: 'envoyExtAuthzHttp', port: 999999 }] });
    expect(invalid.providerKind).toBe('http');
    expect(judge([invalid], tcp)).toEqual({ allowed: false, policy: 'istio-ext-authz-default-ns[foo]-policy[p]-rule[0]-deny-due-to-bad-CUSTOM-action' });
    // Two HTTP providers on one workload: every CUSTOM rule becomes a DENY; on TCP its path is dropped (forTCP), so the
    // /admin rule denies every connection.
    const providers = [
      { name: 'a', kind: 'envoyExtAuthzHttp', port: 9000 },
      { name: 'b', kind: 'envoyExtAuthzHttp', port: 9000 },
    ];
    const two = forWorkload(
      [conv({ action: 'CUSTOM', provider: { name: 'a' }, rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] }, undefined, { providers }), conv({ action: 'CUSTOM', provider: { name: 'b' }, rules: [{ to: [{ operation: { ports: ['1'] } }] }] }, undefined, { providers })],
      { providers },
    );
    expect(judge(two, tcp)).toMatchObject({ allowed: false, policy: expect.stringContaining('deny-due-to-bad-CUSTOM-action') });
    // A GOOD HTTP provider's policy is still ignored on TCP (the tcp==nil skip).
    const good = conv({ action: 'CUSTOM', provider: { name: 'default' }, rules: [{}] }, undefined, { providers: [{ name: 'default', kind: 'envoyExtAuthzHttp', port: 9000 }] });
    expect(judge([good], tcp)).toEqual({ allowed: true });
    expect(customJudge([good], tcp)).toBeUndefined();
  });

  it('R4-M2: judge does not answer "allowed" for a request a dry-run CUSTOM rule matches (istiod enforces it as DENY)', () => {
    const providers = [{ name: 'default', kind: 'envoyExtAuthzHttp', port: 9000 }];
    const dry = conv({ action: 'CUSTOM', provider: { name: 'default' }, rules: [{}] }, { 'istio.io/dry-run': 'true' }, { providers });
    expect(judge([dry], r())).toEqual({ unjudged: `ns[foo]-policy[p]-rule[0]: ${DRY_RUN_CUSTOM}` });
    // May match (the host is not known): unjudged too, never "allowed".
    const byHost = conv({ action: 'CUSTOM', provider: { name: 'default' }, rules: [{ to: [{ operation: { hosts: ['x'] } }] }] }, { 'istio.io/dry-run': 'true' }, { providers });
    expect(judge([byHost], r({ host: undefined }))).toHaveProperty('unjudged');
    // A rule that surely does not match, or an HTTP provider on a TCP chain (skipped by buildTCP), leaves it decided.
    const admin = conv({ action: 'CUSTOM', provider: { name: 'default' }, rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] }, { 'istio.io/dry-run': 'true' }, { providers });
    expect(judge([admin], r({ path: '/' }))).toEqual({ allowed: true });
    expect(judge([dry], r({ http: false }))).toEqual({ allowed: true });
  });

  it('R4-L1: grantedBy lists every ALLOW rule that grants the request, sorted by Envoy\'s policy id', () => {
    const zzz = { ...conv({ rules: [{}, { to: [{ operation: { paths: ['/nope'] } }] }, {}] }), name: 'zzz', namespace: 'mesh' };
    const aaa = { ...conv({ rules: [{}] }), name: 'aaa', namespace: 'istio-system' };
    expect(judge([zzz, aaa], r())).toEqual({
      allowed: true,
      grantedBy: [
        { namespace: 'istio-system', name: 'aaa', rule: 0 },
        { namespace: 'mesh', name: 'zzz', rule: 0 },
        { namespace: 'mesh', name: 'zzz', rule: 2 },
      ],
    });
  });

  it('tcp/custom-both-http-tcp-in.yaml: a gRPC provider\'s CUSTOM applies on TCP, its HTTP-only fields ignored; an HTTP provider\'s does not', () => {
    const spec = { action: 'CUSTOM', provider: { name: 'default' }, rules: [{ to: [{ operation: { methods: ['GET'] } }] }] };
    const grpc = conv(spec, undefined, { providers: [{ name: 'default', kind: 'envoyExtAuthzGrpc', port: 9000 }] });
    const http = conv(spec, undefined, { providers: [{ name: 'default', kind: 'envoyExtAuthzHttp', port: 9000 }] });
    expect(customJudge([grpc], r({ http: false }))).toMatchObject({ provider: 'default' });
    expect(customJudge([http], r({ http: false }))).toBeUndefined();
  });

  it('allow-full-rule-in.yaml: serviceAccounts and trustDomains are matched as istiod generates them', () => {
    expect(serviceAccountMatch('my-ns/my-sa', 'td/ns/my-ns/sa/my-sa')).toBe(true);
    expect(serviceAccountMatch('my-ns/my-sa', 'td/ns/my-ns/x/sa/my-sa/y')).toBe(true);
    expect(serviceAccountMatch('my-ns/my-sa', 'td/ns/my-ns/sa/my-sa-junk')).toBe(false);
    const p = conv({ rules: [{ from: [{ source: { serviceAccounts: ['sa-only'] } }] }] });
    expect(judge([p], r({ principal: 'cluster.local/ns/foo/sa/sa-only' }))).toMatchObject({ allowed: true });
    expect(judge([p], r({ principal: 'cluster.local/ns/bar/sa/sa-only' }))).toMatchObject({ allowed: false });
    expect(trustDomainMatch('bad*', 'bad-td/ns/foo/sa/x')).toBe(true);
    expect(trustDomainMatch('bad*', 'good/ns/bad/sa/x')).toBe(false);
    expect(trustDomainMatch('cluster.local', 'cluster.localx/ns/foo/sa/x')).toBe(false);
  });

  it('single-policy-in.yaml / multiple-policies-in.yaml: what the model does not judge is refused by name unless the answer does not depend on it', () => {
    const p = conv({ rules: [{ from: [{ source: { remoteIpBlocks: ['10.0.0.0/8'] } }] }] });
    expect(judge([p], r())).toEqual({ unjudged: expect.stringContaining('remoteIpBlocks') });
    expect(() => evaluate([p], r())).toThrow(/not judged by the model/);
    // Decided whatever remoteIpBlocks says: the principal already fails.
    const q = conv({ rules: [{ from: [{ source: { principals: ['x'], remoteIpBlocks: ['10.0.0.0/8'] } }] }] });
    expect(judge([q], r())).toEqual({ allowed: false, policy: 'none' });
    // No JWT: requestPrincipals never match, notRequestPrincipals always do (the jwt_authn metadata is absent).
    expect(judge([conv({ rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] })], r())).toMatchObject({ allowed: false });
    expect(judge([conv({ rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] })], r({ jwt: true }))).toHaveProperty('unjudged');
    // ipBlocks judged on a known source IP only.
    const ip = conv({ rules: [{ from: [{ source: { ipBlocks: ['5.6.7.0/24'] } }] }] });
    expect(judge([ip], r({ sourceIp: '5.6.7.8' }))).toMatchObject({ allowed: true });
    expect(judge([ip], r({ sourceIp: '5.6.8.8' }))).toMatchObject({ allowed: false });
    expect(judge([ip], r())).toHaveProperty('unjudged');
  });

  it('tcp/allow-both-http-tcp-in.yaml: an ALLOW rule with requestPrincipals is dropped on TCP; tcp/deny-both-http-tcp-in.yaml: a DENY ignores them', () => {
    const allowRule = conv({ rules: [{ from: [{ source: { namespaces: ['ns-2'], requestPrincipals: ['id-2'] } }], to: [{ operation: { ports: ['9090'] } }] }] });
    expect(judge([allowRule], r({ principal: 'cluster.local/ns/ns-2/sa/x', port: 9090, http: false }))).toEqual({ allowed: false, policy: 'none' });
    const denyRule = conv({ action: 'DENY', rules: [{ from: [{ source: { requestPrincipals: ['id-1'] } }], to: [{ operation: { ports: ['80'] } }] }] });
    expect(judge([denyRule], r({ port: 80, http: false }))).toMatchObject({ allowed: false });
    expect(judge([denyRule], r({ port: 80 }))).toMatchObject({ allowed: true }); // HTTP, no JWT: requestPrincipals fail
  });

  it('tcp/deny-both-http-tcp-out.yaml: the denying policy is the first matching one by NAME, as Envoy\'s sorted policy map has it (rule[10] before rule[2])', () => {
    const rules = Array.from({ length: 11 }, (_, i) => (i === 2 || i === 10 ? {} : { from: [{ source: { principals: ['nobody'] } }] }));
    expect(judge([conv({ action: 'DENY', rules })], r())).toEqual({ allowed: false, policy: 'ns[foo]-policy[p]-rule[10]' });
  });

  it('the front end refuses what the model does not take, by name', () => {
    const refused = (o: Record<string, unknown>) => authorizationPolicyFromIstio({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'foo' }, spec: o }, { trustDomainBundle: CLUSTER_LOCAL_BUNDLE });
    expect(refused({ targetRefs: [{ kind: 'Gateway', name: 'w' }] })).toEqual({ refused: expect.stringContaining('spec.targetRefs') });
    expect(refused({ rules: [{ when: [{ key: 'request.bogus', values: ['x'] }] }] })).toEqual({ refused: expect.stringContaining('unknown attribute request.bogus') });
    expect(refused({ rules: [{ from: [{ source: { principalz: ['x'] } }] }] })).toEqual({ refused: expect.stringContaining('principalz: unknown field') });
  });
});

describe('issue 20: the lab enforces what the model says, over real sockets', () => {
  const lab = new LabTarget();
  const ECHO = { namespace: 'mesh', name: 'echo' };
  const posture = loadPosture('fixtures/secure');
  const dryDeny = {
    source: 'test: dry-run DENY',
    manifest: { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'dry-deny-all', namespace: 'mesh', annotations: { 'istio.io/dry-run': 'true' } }, spec: { action: 'DENY', rules: [{}] } },
  };
  beforeAll(() => lab.apply({ ...posture, objects: [...posture.objects, dryDeny as never] }));
  afterAll(() => lab.dispose());

  it('dry-run-allow-and-deny-in.yaml: a dry-run DENY policy is not enforced by the lab\'s sidecar (it would make an open port look blocked)', async () => {
    const authorized = await lab.probe({ namespace: 'mesh', name: 'authorized' });
    const d = await lab.address(ECHO, 8080, authorized);
    const { observations } = await authorized.run([{ kind: 'http', id: 'dry', dial: d.dial, authority: d.authority, path: '/', timeoutMs: 2_000 }]);
    expect(observations[0]!.http?.status).toBe(200);
    expect(observations[0]!.http?.echo?.nonce).toBe(observations[0]!.nonce);
  });
});

describe('issue 20: trust-domain aliases (builder_test.go trust-domain-* cases)', () => {
  it('simple-policy-td-aliases-in.yaml / simple-policy-principal-with-wildcard-in.yaml: principals are rewritten per trust domain of the bundle', () => {
    const bundle = ['td1', 'cluster.local', 'some-td'];
    expect(replaceTrustDomainAliases(['cluster.local/ns/a/sa/b'], bundle)).toEqual(['td1/ns/a/sa/b', 'cluster.local/ns/a/sa/b', 'some-td/ns/a/sa/b']);
    expect(replaceTrustDomainAliases(['*/ns/foo/sa/x', 'other/ns/a/sa/b', 'not-spiffe'], bundle)).toEqual(['*/ns/foo/sa/x', 'other/ns/a/sa/b', 'not-spiffe']);
    expect(replaceTrustDomainAliases(['*bar/ns/foo/sa/x'], ['td1', 'foobar'])).toEqual(['td1/ns/foo/sa/x', '*bar/ns/foo/sa/x']);
    const c = authorizationPolicyFromIstio(
      { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'foo' }, spec: { rules: [{ from: [{ source: { principals: ['cluster.local/ns/a/sa/b'] } }] }] } },
      { trustDomainBundle: { trustDomain: 'td1', aliases: ['cluster.local'] } },
    );
    if ('refused' in c) throw new Error(c.refused);
    const r = { port: 80, http: true, method: 'GET', path: '/', host: 'h' };
    expect(judge([c.policy], { ...r, principal: 'td1/ns/a/sa/b' })).toMatchObject({ allowed: true });
    expect(judge([c.policy], { ...r, principal: 'td2/ns/a/sa/b' })).toMatchObject({ allowed: false });
  });
});

describe('R4 H-2: istiod always migrates principals to the mesh trust domain', () => {
  const ap = (principals: string[], action = 'ALLOW') => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'mesh' }, spec: { action, rules: [{ from: [{ source: { principals } }] }] } });
  const req = { port: 8080, http: true, method: 'GET', path: '/', host: 'echo.mesh.svc.cluster.local:8080', principal: 'example.org/ns/mesh/sa/client', namespace: 'mesh' };

  it('R4-H2: with trustDomain example.org a cluster.local principal grants the example.org peer', () => {
    // I: pilot/pkg/security/authz/builder/builder.go `New` (MigrateTrustDomain with NewBundle(trustDomain, aliases));
    // trustdomain/bundle.go ReplaceTrustDomainAliases: `cluster.local` stands for the local trust domain.
    const bundle = { trustDomain: 'example.org', aliases: [] };
    const allow = authorizationPolicyFromIstio(ap(['cluster.local/ns/mesh/sa/client']), { trustDomainBundle: bundle });
    if ('refused' in allow) throw new Error(allow.refused);
    expect(judge([allow.policy], req)).toMatchObject({ allowed: true });
    expect(judge([allow.policy], { ...req, principal: 'cluster.local/ns/mesh/sa/client' })).toMatchObject({ allowed: false });
    const deny = authorizationPolicyFromIstio(ap(['cluster.local/ns/mesh/sa/client'], 'DENY'), { trustDomainBundle: bundle });
    if ('refused' in deny) throw new Error(deny.refused);
    expect(judge([deny.policy], req)).toMatchObject({ allowed: false });
    // On cluster.local itself the migration changes nothing.
    const local = authorizationPolicyFromIstio(ap(['cluster.local/ns/mesh/sa/client']), { trustDomainBundle: CLUSTER_LOCAL_BUNDLE });
    if ('refused' in local) throw new Error(local.refused);
    expect(local.policy.rules[0]!.from![0]!.source.principals).toEqual(['cluster.local/ns/mesh/sa/client']);
  });
});

describe('R4 M-5: CUSTOM provider validity (builder/extauthz.go processExtensionProvider)', () => {
  const custom = (name: string, providers: ExtensionProvider[]) => {
    const c = authorizationPolicyFromIstio(
      { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'ext', namespace: 'foo' }, spec: { action: 'CUSTOM', provider: { name }, rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] } },
      { trustDomainBundle: CLUSTER_LOCAL_BUNDLE, providers },
    );
    if ('refused' in c) throw new Error(c.refused);
    return c.policy;
  };
  const req = { principal: 'cluster.local/ns/foo/sa/sleep', namespace: 'foo', method: 'GET', path: '/admin', host: 'httpbin.foo', port: 8000, http: true };

  it('R4-M5: a provider named my_authz is bad: its CUSTOM rules deny (extauthz.go validateProviderName)', () => {
    const bad = custom('my_authz', [{ name: 'my_authz', kind: 'envoyExtAuthzHttp', port: 8000 }]);
    expect(bad.badProvider).toMatch(/invalid provider name "my_authz": invalid character '_' at position 2/);
    expect(judge([bad], req)).toEqual({ allowed: false, policy: 'istio-ext-authz-my_authz-ns[foo]-policy[ext]-rule[0]-deny-due-to-bad-CUSTOM-action' });
    expect(customJudge([bad], req)).toBeUndefined();
    for (const name of ['ExtAuthz', 'authz.example', '-authz', 'a'.repeat(64)]) expect(providerNameProblem(name), name).toBeDefined();
    expect(providerNameProblem('ext-authz-1')).toBeUndefined();
    const good = custom('my-authz', [{ name: 'my-authz', kind: 'envoyExtAuthzHttp', port: 8000 }]);
    expect(good.badProvider).toBeUndefined();
    expect(customJudge([good], req)).toBeDefined();
  });

  it('R4-M5: a duplicate provider name: the later entry carries the error and replaces the first', () => {
    const dup = custom('a', [{ name: 'a', kind: 'envoyExtAuthzHttp', port: 8000 }, { name: 'a', kind: 'envoyExtAuthzGrpc', port: 9000 }]);
    expect(dup.badProvider).toMatch(/extension provider name must be unique, found duplicate: a/);
    expect(dup.providerKind).toBe('grpc');
    expect(judge([dup], req)).toMatchObject({ allowed: false });
    // A non-authz provider of the same name is skipped by processExtensionProvider (`default: continue`).
    expect(custom('a', [{ name: 'a', kind: 'envoyExtAuthzHttp', port: 8000 }, { name: 'a', kind: 'envoyFileAccessLog' }]).badProvider).toBeUndefined();
  });

  it('R4-M5: extensionProvidersOf reads the mesh config as the sweep and the lab get it', () => {
    expect(extensionProvidersOf({ extensionProviders: [{ name: 'x', envoyExtAuthzHttp: { service: 's', port: '8000', pathPrefix: '/c' } }, { name: 'log', envoyFileAccessLog: {} }] })).toEqual([
      { name: 'x', kind: 'envoyExtAuthzHttp', port: 8000, pathPrefix: '/c' },
      { name: 'log', kind: 'envoyFileAccessLog' },
    ]);
  });
});
