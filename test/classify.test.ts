// Table tests for every classifier rule of istio-behaviours.md §9 that the mTLS checks apply, and for the
// expectation combinators and the order of judgement.
import { describe, expect, it } from 'vitest';
import { deniedByMesh, either, plaintextRefused, tcpDenied } from '../harness/classify.js';
import { allOf, anyOf, identityIs, lastXfccUri, nonceBack, parseXfcc, reachedEcho } from '../harness/expect.js';
import { exitCodeOf, judgeCase, worst } from '../harness/verdict.js';
import { failed, httpAnswer, NONCE, obs } from './support/observations.js';
import { parseAccessLog } from '../harness/access-log.js';
import { rbacDeniedTcp } from '../suites/authz/shared.js';
import { filterChainNotFound } from '../suites/mtls/shared.js';

const AUTHZ = 'spiffe://cluster.local/ns/mesh/sa/authorized';
const xfccFor = (uri: string) => `By=spiffe://cluster.local/ns/mesh/sa/echo;Hash=ab12;Subject="";URI=${uri}`;

describe('plaintextRefused (§9.3, §9.8)', () => {
  it.each([
    ['reset with zero bytes', failed('reset'), 'blocked'],
    ['EOF with zero bytes', failed('eof'), 'blocked'],
    ['TCP reset with zero bytes', failed('reset', 0, 'tcp'), 'blocked'],
    ['HTTP 200 from the app', httpAnswer(200, '{}', {}, NONCE), 'allowed'],
    ['HTTP 403 (any status line means not blocked by mTLS)', httpAnswer(403, 'RBAC: access denied'), 'allowed'],
    ['HTTP 503', httpAnswer(503, 'upstream connect error'), 'allowed'],
    ['TCP nonce echoed', obs({ kind: 'tcp', bytesReceived: 37, tcp: { received: `${NONCE}\n`, nonceEchoed: true } }), 'allowed'],
    ['reset after some bytes', failed('reset', 12), 'allowed'],
    ['EOF after some bytes', failed('eof', 5), 'allowed'],
    ['timeout', failed('timeout'), 'inconclusive'],
    ['connection refused (dead target)', failed('refused'), 'inconclusive'],
    ['DNS failure', failed('dns'), 'inconclusive'],
    ['other socket error', failed('other'), 'inconclusive'],
    ['a TLS alert to plaintext is not an mTLS refusal shape', failed('tls-alert:unknown_ca'), 'inconclusive'],
    ['neither answer nor failure', obs(), 'inconclusive'],
  ] as const)('%s → %s', (_name, o, outcome) => {
    expect(plaintextRefused(o).outcome).toBe(outcome);
  });

  it('cites the rule it applied', () => {
    expect(plaintextRefused(failed('reset')).rule).toBe('§9.3');
    expect(plaintextRefused(failed('timeout')).rule).toBe('§9.8');
  });
});

describe('deniedByMesh (§9.4)', () => {
  it.each([
    ['403 with the exact RBAC body', httpAnswer(403, 'RBAC: access denied'), 'blocked'],
    ['403 with an app body (an app 403 means the request got through)', httpAnswer(403, '{"nonce":"x"}', {}, NONCE), 'allowed'],
    ['403 with a near-miss body', httpAnswer(403, 'RBAC: access denied\n'), 'allowed'],
    ['200', httpAnswer(200, '{}', {}, NONCE), 'allowed'],
    ['503 from the proxy', httpAnswer(503, 'upstream connect error'), 'allowed'],
    ['reset', failed('reset'), 'inconclusive'],
    ['timeout', failed('timeout'), 'inconclusive'],
  ] as const)('%s → %s', (_n, o, outcome) => {
    expect(deniedByMesh(o).outcome).toBe(outcome);
  });
});

describe('tcpDenied (§9.5)', () => {
  const tcp = (cls: 'eof' | 'reset' | 'refused' | 'timeout', connected = true) =>
    obs({ kind: 'tcp', localAddress: connected ? '127.0.0.1:5000' : undefined, tcp: { received: '', nonceEchoed: false }, failure: { class: cls, message: cls } });
  it.each([
    ['closed after our bytes, no nonce', tcp('eof'), 'blocked'],
    ['reset after our bytes', tcp('reset'), 'blocked'],
    ['closed before a connection existed', tcp('eof', false), 'inconclusive'],
    ['nonce echoed', obs({ kind: 'tcp', localAddress: '127.0.0.1:1', tcp: { received: NONCE, nonceEchoed: true } }), 'allowed'],
    ['refused (dead target)', tcp('refused', false), 'inconclusive'],
    ['timeout (held open)', tcp('timeout'), 'inconclusive'],
  ] as const)('%s → %s', (_n, o, outcome) => {
    expect(tcpDenied(o).outcome).toBe(outcome);
  });
});

describe('either', () => {
  const c = either(plaintextRefused, deniedByMesh);
  it('is blocked when one layer blocked, allowed only when all let it through', () => {
    expect(c(failed('reset')).outcome).toBe('blocked');
    expect(c(httpAnswer(403, 'RBAC: access denied')).outcome).toBe('blocked');
    expect(c(httpAnswer(200, '{}', {}, NONCE)).outcome).toBe('allowed');
    expect(c(failed('timeout')).outcome).toBe('inconclusive');
  });
});

describe('positive-control expectations (§9.2)', () => {
  it('nonceBack needs a 200 from the echo app carrying this attack\'s nonce', () => {
    expect(nonceBack(httpAnswer(200, '{}', {}, NONCE))).toBeUndefined();
    expect(nonceBack(httpAnswer(200, '{}', {}, 'another-nonce'))).toMatch(/not this attack/);
    expect(nonceBack(httpAnswer(200, 'hello'))).toMatch(/not the echo app/);
    expect(nonceBack(httpAnswer(403, 'RBAC: access denied', {}, NONCE))).toMatch(/HTTP 403/);
    expect(nonceBack(failed('reset'))).toMatch(/no HTTP answer/);
    expect(nonceBack(obs({ kind: 'tcp', tcp: { received: '', nonceEchoed: false }, failure: { class: 'eof', message: 'x' } }))).toMatch(/TCP/);
  });

  it('identity is the LAST XFCC element: a forged earlier element does not count', () => {
    const forged = `By=x;URI=${AUTHZ},${xfccFor('spiffe://cluster.local/ns/mesh/sa/unauthorized')}`;
    expect(identityIs(AUTHZ)(httpAnswer(200, '{}', {}, NONCE, forged))).toMatch(/last XFCC URI is .*unauthorized/);
    expect(identityIs(AUTHZ)(httpAnswer(200, '{}', {}, NONCE, xfccFor(AUTHZ)))).toBeUndefined();
    expect(identityIs(AUTHZ)(httpAnswer(200, '{}', {}, NONCE))).toMatch(/not mTLS/);
  });

  it('reachedEcho needs both the nonce and the identity over HTTP', () => {
    expect(reachedEcho(AUTHZ)(httpAnswer(200, '{}', {}, NONCE, xfccFor(AUTHZ)))).toBeUndefined();
    expect(reachedEcho(AUTHZ)(httpAnswer(200, '{}', {}, 'old', xfccFor(AUTHZ)))).toBeDefined();
    expect(reachedEcho(AUTHZ)(httpAnswer(200, '{}', {}, NONCE))).toBeDefined();
  });

  it('parses XFCC with quoted subjects containing separators', () => {
    const h = 'By=spiffe://a;Hash=1;Subject="CN=x,O=y;z";URI=spiffe://b,By=spiffe://c;Hash=2;Subject="";URI=spiffe://d';
    expect(parseXfcc(h)).toEqual([
      { By: 'spiffe://a', Hash: '1', Subject: '"CN=x,O=y;z"', URI: 'spiffe://b' },
      { By: 'spiffe://c', Hash: '2', Subject: '""', URI: 'spiffe://d' },
    ]);
    expect(lastXfccUri(h)).toBe('spiffe://d');
    expect(lastXfccUri(undefined)).toBeUndefined();
  });
});

describe('combinators (istio once shipped an Or with And\'s body)', () => {
  const yes = () => undefined;
  const no = (r: string) => () => r;
  it('allOf reports the first unmet reason and passes only when all pass', () => {
    expect(allOf(yes, yes)(obs())).toBeUndefined();
    expect(allOf(yes, no('b'), no('c'))(obs())).toBe('b');
    expect(allOf()(obs())).toBeUndefined();
  });
  it('anyOf passes when one passes and reports all reasons otherwise', () => {
    expect(anyOf(no('a'), yes)(obs())).toBeUndefined();
    expect(anyOf(no('a'), no('b'))(obs())).toBe('a; and b');
  });
});

describe('order of judgement (ARCHITECTURE.md "Verdict")', () => {
  const blocked = { outcome: 'blocked' as const, rule: '§9.3', reason: 'reset' };
  const allowed = { outcome: 'allowed' as const, rule: '§9.3', reason: 'HTTP 200' };
  const unsure = { outcome: 'inconclusive' as const, rule: '§9.8', reason: 'timeout' };
  const ok = { ok: true };
  const bad = { ok: false, reason: 'HTTP 503' };
  it.each([
    ['all blocked, control ok', { attacks: [blocked, blocked], control: ok }, 'pass'],
    ['an attack got through, whatever the control did', { attacks: [blocked, allowed], control: bad }, 'fail'],
    ['blocked but control failed', { attacks: [blocked], control: bad }, 'error'],
    ['inconclusive attempt', { attacks: [blocked, unsure], control: ok }, 'error'],
    ['attacker has a sidecar', { attackerProblem: 'has istio-proxy', attacks: [allowed], control: ok }, 'error'],
    ['blocked, but no audit record with logging on', { attacks: [blocked], control: ok, unaudited: 'no NR record' }, 'fail'],
    ['no attack made', { attacks: [], control: ok }, 'error'],
    ['blocked, but neither a record nor a counter proves it was the mesh', { attacks: [blocked], control: ok, unproven: 'no record' }, 'error'],
  ] as const)('%s → %s', (_n, inputs, verdict) => {
    expect(judgeCase(inputs).verdict).toBe(verdict);
  });

  it('fail outranks error outranks pass; exit codes follow', () => {
    expect(worst(['pass', 'error', 'fail'])).toBe('fail');
    expect(worst(['pass', 'error'])).toBe('error');
    expect(worst(['pass', 'not-applicable'])).toBe('pass');
    expect(worst([])).toBe('not-applicable');
    expect(exitCodeOf(['pass', 'not-applicable'])).toBe(0);
    expect(exitCodeOf(['error', 'fail'])).toBe(1);
    expect(exitCodeOf(['pass', 'error'])).toBe(3);
  });
});

describe('corroboration matching over IPv6 records (istio-behaviours.md §10: `[fd00::c]:54616`)', () => {
  const nr = (remote: string) =>
    parseAccessLog(`[2026-11-28T10:00:00.000Z] "- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - [fd00::c]:8080 ${remote} - -`)!;
  const tcpDeny = (remote: string) =>
    parseAccessLog(`[2026-11-28T10:00:00.000Z] "- - -" 0 - - rbac_access_denied_matched_policy[none] "-" 37 0 0 - "-" "-" "-" "-" "-" inbound|9000|| - [fd00::c]:9000 ${remote} outbound_.9000_._.echo.mesh.svc.cluster.local -`)!;
  it.each([
    { name: 'NR record from the attacker\'s own IPv6 address', ok: filterChainNotFound.matches(nr('[fd00::1f]:54616'), { ...failed('reset'), localAddress: '[fd00::1f]:54616' }), want: true },
    { name: 'NR record from another port of that address', ok: filterChainNotFound.matches(nr('[fd00::1f]:54617'), { ...failed('reset'), localAddress: '[fd00::1f]:54616' }), want: false },
    { name: 'NR record for an attempt whose address is unknown', ok: filterChainNotFound.matches(nr('[fd00::1f]:54616'), failed('reset')), want: false },
    { name: 'TCP denial from the client sidecar\'s hop', ok: rbacDeniedTcp.matches(tcpDeny('[fd00::2a]:40100'), failed('eof', 0, 'tcp'), '[fd00::2a]:40100'), want: true },
    { name: 'TCP denial from another hop (another attempt)', ok: rbacDeniedTcp.matches(tcpDeny('[fd00::2a]:40101'), failed('eof', 0, 'tcp'), '[fd00::2a]:40100'), want: false },
  ])('$name → $want', ({ ok, want }) => {
    expect(ok).toBe(want);
  });
});
