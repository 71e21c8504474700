// `meshproof sweep` on the lab's generated estate: every planted hole is found with the right explanation and
// nothing else is flagged; the canary is flagged on every sweep, and a sweep whose canary is not flagged is
// `error`; exemptions, scope and the bundle (sweep.json, JUnit per Service against the XSD, OSCAL, HTML).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexEndpointSlices, podPorts, proxyArgs } from '../cluster/kube/discover.js';
import { estateHoles, estatePosture, parseEstate } from '../cluster/lab/estate.js';
import { EXT_AUTHZ_DENIED_BODY } from '../cluster/lab/envoy/ext-authz.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import type { Examined } from '../harness/check.js';
import { ConfigError } from '../harness/errors.js';
import { SWEEP_FIXTURES } from '../harness/paths.js';
import { loadPosture } from '../harness/posture/load.js';
import { convertProtocol, targetPortProtocol } from '../harness/istio/protocol.js';
import { effectivePeerAuthentication, gatewayClaim, gatewayReason, istioOwnPorts, parseLabelSelector, policyNote, resolveScope, selectingPolicies } from '../harness/sweep/estate.js';
import type { Observation } from '../agent/protocol.js';
import { type AccessLogRecord, formatAccessLog, parseAccessLog } from '../harness/access-log.js';
import type { Exemption } from '../harness/sweep/report.js';
import { customAsked, parseExemptions, recordOf, type SweepOptions, sweep } from '../harness/sweep/sweep.js';
import { agentsOf, cli } from './support/cli.js';

const SPEC = { services: 20, replicas: 2 };

let lab: LabTarget;

function options(over: Partial<SweepOptions> = {}): SweepOptions {
  return {
    target: lab,
    scope: { exclude: [], excludePorts: [], runNamespace: 'sweep' },
    attacker: { namespace: 'sweep', name: 'sweeper' },
    maxCertLifetimeMs: 24 * 3_600_000,
    attemptTimeoutMs: 3_000,
    concurrency: 16,
    ratePerSec: 2_000,
    batchEndpoints: 30,
    accessLogDelayMs: 50,
    exemptions: [],
    ...over,
  };
}

/** `check ns/pod:port` (or `check ns/pod` for SWEEP-INJECT) for every finding outside the canary. */
function findingsOf(r: Awaited<ReturnType<typeof sweep>>): string[] {
  const out: string[] = [];
  for (const e of r.report.endpoints) {
    if (e.role === 'canary') continue;
    for (const v of e.verdicts) if (v.outcome === 'finding') out.push(`${v.check} ${e.namespace}/${e.pod}:${e.port}`);
  }
  for (const p of r.report.pods) if (p.role !== 'canary' && p.verdict.outcome === 'finding') out.push(`SWEEP-INJECT ${p.namespace}/${p.pod}`);
  return out.sort();
}

function expectedFindings(): string[] {
  const out: string[] = [];
  for (const h of estateHoles(SPEC)) {
    for (let i = 0; i < SPEC.replicas; i++) {
      const pod = `${h.namespace}/${h.service}-${i}`;
      for (const [check, ports] of Object.entries(h.findings)) {
        if (ports.length === 0) out.push(`${check} ${pod}`);
        for (const port of ports) out.push(`${check} ${pod}:${port}`);
      }
    }
  }
  return out.sort();
}

describe('sweep of the lab estate', () => {
  beforeAll(async () => {
    lab = new LabTarget({ podsPerProcess: 250 });
    await lab.apply({ origin: ['test estate'], objects: [...estatePosture(SPEC), ...loadPosture(SWEEP_FIXTURES, []).objects] });
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('finds exactly the planted holes, each with the explanation from the snapshot, and flags the canary', async () => {
    const r = await sweep(options());
    // + the canary's two pods, the matrix canary's canary-target:8080, the server-first app's one port and the
    // CUSTOM-protected app's (awkwardWorkloads).
    expect(r.report.counts.endpoints).toBe(SPEC.services * SPEC.replicas * 2 + 4 + 1 + 2);
    expect(r.report.canary).toMatchObject({ flagged: true, missing: [] });
    expect(findingsOf(r)).toEqual(expectedFindings());
    for (const c of r.run.results) expect(c.verdict, `${c.id}: ${c.reason}`).toBe('fail');
    // Nothing inconclusive: every denial was corroborated by the destination's own record.
    const inconclusive = r.report.endpoints.flatMap((e) => e.verdicts.filter((v) => v.outcome === 'inconclusive').map((v) => `${e.pod}:${e.port} ${v.check} ${v.reason}`));
    expect(inconclusive).toEqual([]);
    const holes = Object.fromEntries(estateHoles(SPEC).map((h) => [h.kind, h]));
    const at = (kind: string, port: number) => r.report.endpoints.find((e) => e.pod === `${holes[kind]!.service}-0` && e.port === port)!;
    expect(at('permissive-port', 8080).explanation?.peerAuthentication).toEqual({ mode: 'PERMISSIVE', setBy: `PeerAuthentication ${holes['permissive-port']!.namespace}/${holes['permissive-port']!.service}-legacy-port portLevelMtls 8080` });
    expect(at('permissive-port', 9000).verdicts.every((v) => v.outcome === 'ok')).toBe(true);
    expect(at('open-to-any-identity', 8080).verdicts.find((v) => v.check === 'SWEEP-AUTHZ')?.reason).toMatch(/open to any mesh identity: HTTP 200/);
    expect(at('open-to-any-identity', 9000).verdicts.find((v) => v.check === 'SWEEP-AUTHZ')?.reason).toMatch(/open to any mesh identity/);
    expect(at('open-to-any-identity', 8080).explanation?.authorizationPolicies).toContain(`AuthorizationPolicy ${holes['open-to-any-identity']!.namespace}/${holes['open-to-any-identity']!.service}-callers (ALLOW)`);
    expect(at('long-lived-cert', 8080).verdicts.find((v) => v.check === 'SWEEP-CERT')?.reason).toMatch(/lives 2160 h, longer than 24 h/);
    expect(at('long-lived-cert', 8080).mtls?.cert?.uriSans).toEqual([`spiffe://cluster.local/ns/${holes['long-lived-cert']!.namespace}/sa/${holes['long-lived-cert']!.service}`]);
    expect(at('no-sidecar', 8080).explanation?.peerAuthentication.mode).toBe('STRICT'); // the policy says STRICT; nothing enforces it
    // No sidecar, no certificate to judge: SWEEP-CERT makes no case of that Service (never a pass by default).
    const bare = `${holes['no-sidecar']!.namespace}/${holes['no-sidecar']!.service}`;
    expect(r.run.results.find((c) => c.id === 'SWEEP-CERT')!.cases.map((c) => c.label)).not.toContain(bare);
    // A secure endpoint: refused plaintext, denied the stranger (recorded), presented an exact 24 h certificate.
    const ok = r.report.endpoints.find((e) => e.pod === 'svc-0000-0' && e.port === 8080)!;
    expect(ok.verdicts.map((v) => [v.check, v.outcome])).toEqual([
      ['SWEEP-MTLS', 'ok'],
      ['SWEEP-AUTHZ', 'ok'],
      ['SWEEP-CERT', 'ok'],
    ]);
    expect(ok.explanation).toBeUndefined();
    // Sharded: both probes worked, one exec per batch.
    expect(r.report.counts.execs).toBe(Math.ceil(r.report.counts.endpoints / 30));
  });

  it('is `error` when its canary is not flagged: a sweep that cannot show a failure proves nothing', async () => {
    // Leaving out port 8080 hides the canary's PERMISSIVE port from the sweep.
    const r = await sweep(options({ scope: { exclude: [], excludePorts: [8080], runNamespace: 'sweep' } }));
    expect(r.report.canary.flagged).toBe(false);
    expect(r.report.canary.missing).toEqual(['canary-bare: SWEEP-MTLS@8080', 'canary-permissive: SWEEP-MTLS@8080']);
    for (const c of r.run.results) {
      expect(c.verdict).toBe('error');
      expect(c.reason).toMatch(/canary was not flagged/);
    }
    expect(r.run.exitCode).toBe(3);
  });

  it('turns an exempted SWEEP-AUTHZ finding into `exempt` with its reason, and scopes by namespace', async () => {
    const open = estateHoles(SPEC).find((h) => h.kind === 'open-to-any-identity')!;
    const bare = estateHoles(SPEC).find((h) => h.kind === 'no-sidecar')!;
    const exemptions: Exemption[] = [
      { check: 'SWEEP-AUTHZ', namespace: open.namespace, service: open.service, reason: 'health aggregator, reviewed in CHG-1234' },
      { check: 'SWEEP-AUTHZ', namespace: bare.namespace, service: bare.service, reason: 'legacy batch job, decommissioned in Q1' },
    ];
    const r = await sweep(options({ exemptions, scope: { namespaces: [open.namespace], exclude: [], excludePorts: [], runNamespace: 'sweep' } }));
    const authz = r.run.results.find((c) => c.id === 'SWEEP-AUTHZ')!;
    expect(authz.verdict, authz.reason).toBe('pass');
    const c = authz.cases.find((x) => x.label === `${open.namespace}/${open.service}`)!;
    expect(c.verdict).toBe('pass');
    expect(JSON.stringify((c as Examined).observed)).toContain('exempted: health aggregator, reviewed in CHG-1234');
    expect(new Set(r.report.endpoints.map((e) => e.namespace))).toEqual(new Set([open.namespace, 'sweep']));
    // Exemptions cover authorization only: the bare service still fails SWEEP-MTLS.
    expect(r.run.results.find((x) => x.id === 'SWEEP-MTLS')!.verdict).toBe('fail');
  });
});

describe('sweep of an estate without holes', () => {
  it('passes every check (nothing but the canary is flagged), so a pass is reachable and earned', async () => {
    const clean = new LabTarget({ podsPerProcess: 250 });
    try {
      await clean.apply({ origin: ['clean estate'], objects: [...estatePosture({ services: 8, replicas: 2, holes: false }), ...loadPosture(SWEEP_FIXTURES, []).objects] });
      const r = await sweep({ ...options(), target: clean });
      for (const c of r.run.results) expect(c.verdict, `${c.id}: ${c.reason}`).toBe('pass');
      expect(r.run.exitCode).toBe(0);
      expect(r.report.canary.flagged).toBe(true);
      expect(findingsOf(r)).toEqual([]);
      // Every endpoint was judged on its own evidence: a corroborated denial and an exact, short certificate.
      for (const e of r.report.endpoints.filter((x) => x.role !== 'canary')) {
        expect(e.verdicts.map((v) => v.outcome), `${e.pod}:${e.port}`).toEqual(['ok', 'ok', 'ok']);
        expect(e.mtls?.cert?.lifetimeHours).toBeLessThanOrEqual(24);
      }
    } finally {
      await clean.dispose();
    }
  });
});

describe('sweep of an estate whose access logging is off', () => {
  let quiet: LabTarget;
  let r: Awaited<ReturnType<typeof sweep>>;
  const verdict = (pod: string, port: number, check: string) => r.report.endpoints.find((e) => e.pod === pod && e.port === port)?.verdicts.find((v) => v.check === check);
  beforeAll(async () => {
    quiet = new LabTarget({ podsPerProcess: 250 });
    const objects = estatePosture({ services: 6, replicas: 1, holes: false }).filter((o) => o.manifest.kind !== 'Telemetry');
    await quiet.apply({ origin: ['quiet estate'], objects: [...objects, ...loadPosture(SWEEP_FIXTURES, []).objects] });
    r = await sweep({ ...options(), target: quiet });
  });
  afterAll(async () => {
    await quiet?.dispose();
  });

  it('cannot corroborate a denial, so SWEEP-AUTHZ and SWEEP-MTLS are inconclusive, never a pass (§9.4; item 2: no record, no verdict)', () => {
    const authz = r.run.results.find((c) => c.id === 'SWEEP-AUTHZ')!;
    expect(authz.verdict).toBe('error');
    expect(verdict('svc-0000-0', 8080, 'SWEEP-AUTHZ')).toMatchObject({ outcome: 'inconclusive', reason: expect.stringMatching(/HTTP 403 "RBAC: access denied" \(the mesh RBAC body\) but uncorroborated: the destination's access log cannot be read back/) });
    // I-H1: a server-first app's greeting is neither access nor, without the record, a denial.
    // Whether the greeting reaches the sweeper before the RBAC close on its first bytes is a race (tcp_proxy
    // connects upstream at accept, RBAC decides on the client's data), in the lab as in Envoy: both ways the
    // verdict is inconclusive, and a greeting that did arrive is named as not access.
    const serverFirst = r.report.endpoints.find((e) => e.pod === 'server-first-0' && e.port === 3306)!;
    expect(verdict('server-first-0', 3306, 'SWEEP-AUTHZ')).toMatchObject({ outcome: 'inconclusive', reason: expect.stringMatching(/: bytes are not access and a close is not a denial without the destination's record/) });
    if (serverFirst.mtls!.bytesReceived > 0) expect(verdict('server-first-0', 3306, 'SWEEP-AUTHZ')?.reason).toMatch(/^\d+ bytes back without our nonce: bytes are not access/);
    // A refused plaintext attempt without the destination's NR record does not say which layer refused.
    const mtls = r.run.results.find((c) => c.id === 'SWEEP-MTLS')!;
    expect(mtls.verdict).toBe('error');
    expect(verdict('svc-0000-0', 8080, 'SWEEP-MTLS')).toMatchObject({ outcome: 'inconclusive', reason: expect.stringMatching(/plaintext refused \(.*\) but not by a layer the destination recorded/) });
    // Nothing is a finding and nothing passes: no record, no verdict.
    const outcomes = r.report.endpoints.filter((e) => e.role !== 'canary').flatMap((e) => e.verdicts.filter((v) => v.check !== 'SWEEP-CERT').map((v) => v.outcome));
    expect(new Set(outcomes)).toEqual(new Set(['inconclusive']));
    expect(r.run.exitCode).toBe(3);
  });

  it('I-M6: a CUSTOM (ext_authz) provider\'s 403, in its own words, is inconclusive without the destination record, never a finding', () => {
    const e = r.report.endpoints.find((x) => x.pod === 'ext-authz-protected-0' && x.port === 8080)!;
    // The provider really answered: its status and body, not the mesh's RBAC body.
    expect(e.mtls?.status).toBe(403);
    expect(verdict('ext-authz-protected-0', 8080, 'SWEEP-AUTHZ')).toMatchObject({ outcome: 'inconclusive', reason: expect.stringContaining(`HTTP 403 ${JSON.stringify(EXT_AUTHZ_DENIED_BODY.slice(0, 40))} (a CUSTOM (ext_authz) policy selects this workload`) });
    expect(verdict('ext-authz-protected-0', 8080, 'SWEEP-AUTHZ')?.reason).toMatch(/uncorroborated/);
  });
});

describe('matching an attempt to its destination record', () => {
  const rec = (r: Partial<AccessLogRecord>) => parseAccessLog(formatAccessLog({ startTime: '2026-01-01T00:00:00.000Z', ...r }))!;
  const obs = (o: Partial<Observation>): Observation => ({ id: 'm0', kind: 'tls', dial: '10.0.0.5:5432', nonce: 'n-5432', startedAt: '2026-01-01T00:00:00.000Z', durationMs: 5, localAddress: '10.0.0.9:40000', bytesReceived: 0, ...o });

  it('M1: two connections from one source port to two ports of a pod each get their own record, never the other\'s denial', () => {
    const records = [
      // Port 3306 denied the stranger; port 5432 (server-first, really open) relayed it to the app.
      rec({ responseCodeDetails: '-', connectionTerminationDetails: 'rbac_access_denied_matched_policy[none]', downstreamLocalAddress: '10.0.0.5:3306', downstreamRemoteAddress: '10.0.0.9:40000' }),
      rec({ upstreamHost: '127.0.0.6:5432', downstreamLocalAddress: '10.0.0.5:5432', downstreamRemoteAddress: '10.0.0.9:40000' }),
    ];
    expect(recordOf(records, obs({ bytesReceived: 30 }))?.layer).toBe('upstream');
    expect(recordOf(records, obs({ dial: '10.0.0.5:3306' }))?.layer).toBe('rbac');
    // Only the other port's record: none of this attempt's own.
    expect(recordOf(records.slice(0, 1), obs({}))).toBeUndefined();
  });

  it('M1: an HTTP answer takes no record of another request (its path lacks the nonce, or its status differs)', () => {
    const http = { status: 200, headers: {}, body: 'ok' };
    const denied = { method: 'GET', responseCode: 403, responseCodeDetails: 'ext_authz_denied', downstreamLocalAddress: '10.0.0.5:8080', downstreamRemoteAddress: '10.0.0.9:40000' };
    const o = obs({ kind: 'http', dial: '10.0.0.5:8080', nonce: 'n-mine', http });
    expect(recordOf([rec({ ...denied, path: '/?nonce=n-other' })], o)).toBeUndefined();
    expect(recordOf([rec({ ...denied, path: '/?nonce=n-mine' })], o)).toBeUndefined(); // a 403 record is not this 200's
    expect(recordOf([rec({ ...denied, path: '/?nonce=n-mine' })], { ...o, http: { ...http, status: 403 } })?.layer).toBe('ext-authz');
  });
});

describe('which CUSTOM policies the sweep\'s own request reaches', () => {
  const OPA = [{ name: 'opa', kind: 'envoyExtAuthzHttp', port: 9191 }];
  const pod = { namespace: 'pay', name: 'api-0', serviceAccount: 'api', labels: { app: 'api' }, sidecar: true, injectedNamespace: true, optedOut: false, ports: [] };
  const port = { port: 8080, protocol: 'http' as const, protocolFrom: 'port name http', services: [], dial: '10.0.0.5:8080' };
  const custom = (spec: Record<string, unknown>, annotations?: Record<string, string>) => ({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'ext', namespace: 'pay', ...(annotations ? { annotations } : {}) },
    spec: { selector: { matchLabels: { app: 'api' } }, action: 'CUSTOM', provider: { name: 'opa' }, ...spec },
  });
  const estate = (...snapshot: ReturnType<typeof custom>[]) => ({ snapshot, rootNamespace: 'istio-system', trustDomain: 'cluster.local', trustDomainAliases: [], extensionProviders: OPA }) as never;
  const asked = (...snapshot: ReturnType<typeof custom>[]) => customAsked(estate(...snapshot), pod, port, 'spiffe://cluster.local/ns/sweep/sa/sweeper');

  it('M4: a CUSTOM policy whose rules cannot match GET / on this port leaves a non-200 answer the app\'s, not the provider\'s', () => {
    expect(asked(custom({ rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] }))).toBe(false);
    expect(asked(custom({ rules: [{ to: [{ operation: { ports: ['9090'] } }] }] }))).toBe(false);
    expect(asked(custom({ rules: [{ to: [{ operation: { methods: ['POST'] } }] }] }))).toBe(false);
    expect(asked(custom({ rules: [{ from: [{ source: { principals: ['cluster.local/ns/pay/sa/web'] } }] }] }))).toBe(false);
    expect(asked(custom({}))).toBe(false); // no rules: asks its provider about nothing
    // A dry-run CUSTOM policy is NOT inert: istiod puts its rules in the RBAC filter's enforced `rules` (action DENY)
    // before ext_authz (I: pilot/pkg/security/authz/builder/builder.go selectProviderRuleSet and buildHTTP,
    // `rbac.Rules = providerShadowRules`), so a non-200 may be the mesh's; the model refuses to judge it.
    expect(asked(custom({ rules: [{}] }, { 'istio.io/dry-run': 'true' }))).toBe(true);
    // What the model does not judge (a header the sweep does not know) counts as asked.
    expect(asked(custom({ rules: [{ when: [{ key: 'request.headers[x-user]', values: ['a'] }] }] }))).toBe(true);
    // Rules the sweep's request does match: the answer may be the provider's.
    expect(asked(custom({ rules: [{}] }))).toBe(true);
    expect(asked(custom({ rules: [{ to: [{ operation: { paths: ['/*'], ports: ['8080'], methods: ['GET'] } }] }] }))).toBe(true);
    expect(asked(custom({ rules: [{ from: [{ source: { notPrincipals: ['cluster.local/ns/pay/sa/web'] } }] }] }))).toBe(true);
    expect(asked(custom({ rules: [{ from: [{ source: { namespaces: ['sweep'] } }] }] }))).toBe(true);
  });

  it('R4-M5: a CUSTOM policy whose provider istiod rejects (name my_authz, a duplicate, none) is not asked: its rules deny in the mesh', () => {
    // I: pilot/pkg/security/authz/builder/extauthz.go processExtensionProvider (validateProviderName, duplicates);
    // builder.go buildHTTP turns a bad provider's rules into DENY rules (getBadCustomDenyRules), ext_authz never called.
    const withProviders = (extensionProviders: unknown[], name: string) =>
      customAsked({ snapshot: [custom({ provider: { name }, rules: [{}] })], rootNamespace: 'istio-system', trustDomain: 'cluster.local', trustDomainAliases: [], extensionProviders } as never, pod, port, 'spiffe://cluster.local/ns/sweep/sa/sweeper');
    expect(withProviders([{ name: 'my-authz', kind: 'envoyExtAuthzHttp', port: 9191 }], 'my-authz')).toBe(true);
    expect(withProviders([{ name: 'my_authz', kind: 'envoyExtAuthzHttp', port: 9191 }], 'my_authz')).toBe(false);
    expect(withProviders([...OPA, { name: 'opa', kind: 'envoyExtAuthzGrpc', port: 9000 }], 'opa')).toBe(false);
    expect(withProviders([], 'opa')).toBe(false);
  });

  it('R4-H2: on a mesh with trust domain example.org, a CUSTOM rule on a cluster.local principal is asked about the sweep\'s example.org identity', () => {
    // istiod migrates the policy's `cluster.local/…` principal to the estate's trust domain (builder.go `New`,
    // MigrateTrustDomain; trustdomain/bundle.go ReplaceTrustDomainAliases), and to its aliases.
    const policy = custom({ rules: [{ from: [{ source: { principals: ['cluster.local/ns/sweep/sa/sweeper'] } }] }] });
    const onTd = (trustDomain: string, trustDomainAliases: string[], id: string) =>
      customAsked({ snapshot: [policy], rootNamespace: 'istio-system', trustDomain, trustDomainAliases, extensionProviders: OPA } as never, pod, port, id);
    expect(onTd('example.org', [], 'spiffe://example.org/ns/sweep/sa/sweeper')).toBe(true);
    expect(onTd('example.org', ['old.example'], 'spiffe://old.example/ns/sweep/sa/sweeper')).toBe(true);
    expect(onTd('example.org', [], 'spiffe://other.example/ns/sweep/sa/sweeper')).toBe(false);
  });

  it('R4-H1: a CUSTOM policy scoped by hosts is judged on the Host the sweep sends (its Service name), never on an empty one', () => {
    const svcPort = { ...port, services: ['pay/api:8080'] };
    const at = (p: typeof svcPort, ...snapshot: ReturnType<typeof custom>[]) => customAsked(estate(...snapshot), pod, p, 'spiffe://cluster.local/ns/sweep/sa/sweeper');
    expect(at(svcPort, custom({ rules: [{ to: [{ operation: { hosts: ['api.pay.svc.cluster.local*'] } }] }] }))).toBe(true);
    expect(at(svcPort, custom({ rules: [{ to: [{ operation: { hosts: ['other.example'] } }] }] }))).toBe(false);
    // No Service: the sweep sends the address it dials as the Host.
    expect(at(port, custom({ rules: [{ to: [{ operation: { hosts: ['10.0.0.5*'] } }] }] }))).toBe(true);
  });
});

describe('sweep scope, protocol and policy resolution', () => {
  const ns = (name: string, labels: Record<string, string> = {}) => ({ name, labels, injected: labels['istio-injection'] === 'enabled' || labels['istio.io/rev'] !== undefined });
  const all = [ns('payments', { 'istio-injection': 'enabled', team: 'pay' }), ns('ledger', { 'istio.io/rev': 'canary', team: 'pay' }), ns('legacy', { 'istio-injection': 'disabled', team: 'pay' }), ns('istio-system'), ns('kube-system'), ns('mp-x-sweep', { 'istio-injection': 'enabled' })];
  const scope = { exclude: [], excludePorts: [], runNamespace: 'mp-x-sweep' };

  it('defaults to injected namespaces, never system ones unless named, always the run namespace', () => {
    expect(resolveScope(all, scope, 'istio-system').inScope).toEqual(['ledger', 'mp-x-sweep', 'payments']);
    expect(resolveScope(all, { ...scope, selector: 'team=pay,istio-injection!=disabled' }, 'istio-system').inScope).toEqual(['ledger', 'mp-x-sweep', 'payments']);
    expect(resolveScope(all, { ...scope, namespaces: ['kube-system'] }, 'istio-system').inScope).toEqual(['kube-system', 'mp-x-sweep']);
    expect(resolveScope(all, { ...scope, exclude: ['ledger'] }, 'istio-system').inScope).toEqual(['mp-x-sweep', 'payments']);
    expect(() => resolveScope(all, { ...scope, namespaces: ['nope'] }, 'istio-system')).toThrow(ConfigError);
    expect(() => parseLabelSelector('team=')).not.toThrow();
    expect(() => parseLabelSelector('a b c')).toThrow(/cannot read/);
    expect(parseLabelSelector('tier in (web, api),!legacy')({ tier: 'api' })).toBe(true);
    expect(parseLabelSelector('tier notin (web)')({ tier: 'web' })).toBe(false);
  });

  it('I-M7: Istio\'s own plaintext ports (status port from its annotation) and gateway pods are named, not judged', () => {
    expect([...istioOwnPorts({}).keys()].sort()).toEqual([15020, 15021, 15090]);
    expect([...istioOwnPorts({ 'status.sidecar.istio.io/port': '15999' }).keys()].sort()).toEqual([15021, 15090, 15999]);
  });

  it('L7: status.sidecar.istio.io/port "0" binds and excludes no status port, so an app on 15020 is attacked', () => {
    expect([...istioOwnPorts({ 'status.sidecar.istio.io/port': '0' }).keys()].sort()).toEqual([15021, 15090]);
    const router = ['proxy', 'router', '--domain', '$(POD_NAMESPACE).svc.cluster.local'];
    expect(gatewayReason(router, {}, { 'inject.istio.io/templates': 'sidecar, gateway' })).toBe('istio-proxy runs proxy router; inject.istio.io/templates: gateway');
    expect(gatewayReason(router, { istio: 'eastwestgateway' }, {})).toBe('istio-proxy runs proxy router; label istio: eastwestgateway');
    expect(gatewayClaim({ 'gateway.istio.io/managed': 'istio.io-gateway-controller' }, {})).toMatch(/gateway\.istio\.io\/managed/);
    expect(gatewayClaim({ app: 'gateway-api-client', istio: 'pilot' }, {})).toBeUndefined();
  });

  it('M2: a gateway label makes no gateway: only an istio-proxy running `proxy router` does', () => {
    const pod = (containers: { name: string; args?: string[] }[]) => ({ metadata: { name: 'fake-gw-0', labels: { istio: 'ingressgateway' } }, spec: { containers } }) as never;
    const labels = { istio: 'ingressgateway' };
    // Sidecar-less, labelled like the ingress gateway: a workload (its plaintext port is attacked), the label noted.
    expect(gatewayReason(proxyArgs(pod([{ name: 'app' }])), labels, {})).toBeUndefined();
    expect(gatewayClaim(labels, {})).toBe('label istio: ingressgateway');
    // A sidecar (`proxy sidecar`) under the same label: still a workload.
    expect(gatewayReason(proxyArgs(pod([{ name: 'app' }, { name: 'istio-proxy', args: ['proxy', 'sidecar'] }])), labels, {})).toBeUndefined();
    // The gateway template's Envoy: a gateway.
    expect(gatewayReason(proxyArgs(pod([{ name: 'istio-proxy', args: ['proxy', 'router'] }])), labels, {})).toMatch(/^istio-proxy runs proxy router/);
  });

  it('I-L8: a policy\'s effect in words: rule-less means something different per action; dry-run is not enforced', () => {
    const ap = (spec: Record<string, unknown>, annotations?: Record<string, string>) => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'n', ...(annotations ? { annotations } : {}) }, spec });
    expect(policyNote(ap({}))).toBe('ALLOW, no rules: allows nothing');
    expect(policyNote(ap({ action: 'DENY' }))).toBe('DENY, no rules: denies nothing');
    expect(policyNote(ap({ action: 'CUSTOM', provider: { name: 'opa' }, rules: [{}] }))).toBe('CUSTOM, provider opa');
    expect(policyNote(ap({ action: 'DENY', rules: [{}] }, { 'istio.io/dry-run': 'true' }))).toBe('DENY, istio.io/dry-run: not enforced');
  });

  it('issue 20: dry-run is read as istiod reads it (strconv.ParseBool), and a dry-run CUSTOM policy is still matched', () => {
    const ap = (spec: Record<string, unknown>, annotations?: Record<string, string>) => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'n', ...(annotations ? { annotations } : {}) }, spec });
    expect(policyNote(ap({ action: 'DENY', rules: [{}] }, { 'istio.io/dry-run': 'True' }))).toBe('DENY, istio.io/dry-run: not enforced');
    expect(policyNote(ap({ action: 'DENY', rules: [{}] }, { 'istio.io/dry-run': 'yes' }))).toBe('DENY');
    expect(policyNote(ap({ action: 'CUSTOM', provider: { name: 'opa' }, rules: [{}] }, { 'istio.io/dry-run': 'true' }))).toBe('CUSTOM, provider opa, istio.io/dry-run: still matched before ext_authz');
  });

  it('I-L1: appProtocol replaces the name, kubernetes.io/* values, well-known ports, the oldest Service wins', () => {
    expect(convertProtocol(8080, 'http-web', 'TCP', 'custom')).toBe('UnsupportedProtocol'); // no fallback to the name
    expect(convertProtocol(8080, 'x', 'TCP', 'http-v2')).toBe('HTTP'); // appProtocol split at '-'
    expect(convertProtocol(8080, undefined, 'TCP', 'kubernetes.io/ws')).toBe('HTTP');
    expect(convertProtocol(8443, undefined, 'TCP', 'kubernetes.io/wss')).toBe('HTTPS');
    expect(convertProtocol(25, undefined, 'TCP', undefined)).toBe('TCP');
    expect(convertProtocol(27017, 'db', 'TCP', undefined)).toBe('TCP');
    expect(convertProtocol(8080, 'h2c', 'TCP', undefined)).toBe('UnsupportedProtocol'); // not an Istio name
    const young = { created: '2026-02-01T00:00:00.000Z', label: 'ns/b:80', port: 80, name: 'tcp' };
    const old = { created: '2026-01-01T00:00:00.000Z', label: 'ns/a:80', port: 80, name: 'http' };
    expect(targetPortProtocol([young, old])?.protocol).toBe('HTTP');
  });

  it('reads a pod\'s ports from its containers and the EndpointSlices that list it, protocol from the Service port', () => {
    const pod = {
      metadata: { name: 'api-7f9-x', namespace: 'pay', labels: { app: 'api' } },
      spec: { containers: [{ name: 'app', ports: [{ containerPort: 8443, name: 'web' }, { containerPort: 9090 }, { containerPort: 5353, protocol: 'UDP' }] }, { name: 'istio-proxy', ports: [{ containerPort: 15090 }] }] },
      status: { podIP: 'fd00::c' },
    };
    const svc = { metadata: { name: 'api', namespace: 'pay' }, spec: { selector: { app: 'api' }, ports: [{ name: 'grpc-api', port: 443, targetPort: 'web' }, { name: 'metrics', port: 9090, appProtocol: 'http' }] } };
    const slice = {
      metadata: { labels: { 'kubernetes.io/service-name': 'api' } },
      addressType: 'IPv6',
      ports: [{ name: 'grpc-api', port: 8443, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP', appProtocol: 'http' }],
      endpoints: [{ addresses: ['fd00::c'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'api-7f9-x' } }],
    };
    const ports = podPorts(pod as never, indexEndpointSlices([svc as never], [slice as never]));
    expect(ports).toEqual([
      { port: 8443, protocol: 'http', protocolFrom: 'port name grpc-api of pay/api:443 → GRPC', services: ['pay/api:443'], dial: '[fd00::c]:8443' },
      { port: 9090, protocol: 'http', protocolFrom: 'appProtocol http of pay/api:9090 → HTTP', services: ['pay/api:9090'], dial: '[fd00::c]:9090' },
    ]);
    // A pod no slice lists as ready keeps only its declared ports, with their own names.
    const notReady = { ...slice, endpoints: [{ ...slice.endpoints[0], conditions: { ready: false } }] };
    expect(podPorts(pod as never, indexEndpointSlices([svc as never], [notReady as never])).map((p) => [p.port, p.protocol, p.services.length])).toEqual([
      [8443, 'sniffed', 0],
      [9090, 'sniffed', 0],
    ]);
  });

  it('resolves the PeerAuthentication in force: workload port level, workload, namespace, mesh, default PERMISSIVE', () => {
    const pa = (namespace: string, name: string, spec: Record<string, unknown>) => ({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { namespace, name }, spec });
    const snap = [pa('istio-system', 'default', { mtls: { mode: 'STRICT' } }), pa('pay', 'ns', { mtls: { mode: 'PERMISSIVE' } }), pa('pay', 'api', { selector: { matchLabels: { app: 'api' } }, mtls: { mode: 'UNSET' }, portLevelMtls: { '9000': { mode: 'DISABLE' } } })];
    const api = { namespace: 'pay', labels: { app: 'api' } };
    expect(effectivePeerAuthentication(snap, 'istio-system', api, 9000)).toEqual({ mode: 'DISABLE', setBy: 'PeerAuthentication pay/api portLevelMtls 9000' });
    expect(effectivePeerAuthentication(snap, 'istio-system', api, 8080)).toEqual({ mode: 'PERMISSIVE', setBy: 'PeerAuthentication pay/ns' });
    expect(effectivePeerAuthentication(snap, 'istio-system', { namespace: 'other', labels: {} }, 8080)).toEqual({ mode: 'STRICT', setBy: 'PeerAuthentication istio-system/default' });
    expect(effectivePeerAuthentication([], 'istio-system', api, 8080).mode).toBe('PERMISSIVE');
  });

  it('explains the PeerAuthentication with Istio\'s composition: the oldest wins at a level, equal times go by name, a root-namespace selector is ignored', () => {
    const pa = (namespace: string, name: string, spec: Record<string, unknown>, creationTimestamp?: string) => ({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { namespace, name, ...(creationTimestamp ? { creationTimestamp } : {}) }, spec });
    const api = { namespace: 'pay', labels: { app: 'api' } };
    // The old explanation took the first workload policy by name; istiod takes the oldest (ComposePeerAuthentication).
    const older = [pa('pay', 'b-old', { selector: { matchLabels: { app: 'api' } }, mtls: { mode: 'STRICT' } }, '2024-01-01T00:00:00Z'), pa('pay', 'a-new', { selector: { matchLabels: { app: 'api' } }, mtls: { mode: 'DISABLE' } }, '2024-01-02T00:00:00Z')];
    expect(effectivePeerAuthentication(older, 'istio-system', api, 8080)).toEqual({ mode: 'STRICT', setBy: 'PeerAuthentication pay/b-old', note: 'PeerAuthentication pay/a-new: PeerAuthentication pay/b-old is older at the workload level' });
    const tied = [pa('pay', 'z', { mtls: { mode: 'DISABLE' } }), pa('pay', 'a', { mtls: { mode: 'STRICT' } })];
    expect(effectivePeerAuthentication(tied, 'istio-system', api, 8080).note).toMatch(/equal creation times at the namespace level: PeerAuthentication pay\/a wins by name over PeerAuthentication pay\/z/);
    const rootSel = [pa('istio-system', 'sel', { selector: { matchLabels: { app: 'api' } }, mtls: { mode: 'DISABLE' } })];
    expect(effectivePeerAuthentication(rootSel, 'istio-system', api, 8080)).toMatchObject({ mode: 'PERMISSIVE', note: 'PeerAuthentication istio-system/sel: a selector in the root namespace is ignored' });
  });

  it('lists the AuthorizationPolicies istiod attaches: root then own namespace, by selector; targetRefs never attach to a sidecar', () => {
    const ap = (namespace: string, name: string, spec: Record<string, unknown>) => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { namespace, name }, spec });
    const snap = [
      ap('pay', 'own', { selector: { matchLabels: { app: 'api' } }, action: 'DENY', rules: [{}] }),
      ap('pay', 'other', { selector: { matchLabels: { app: 'web' } } }),
      ap('pay', 'gateway-only', { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], action: 'DENY', rules: [{}] }),
      ap('istio-system', 'mesh', { selector: { matchLabels: { app: 'api' } }, action: 'DENY', rules: [{}] }),
      ap('elsewhere', 'x', {}),
    ];
    expect(selectingPolicies(snap, 'istio-system', { namespace: 'pay', labels: { app: 'api' } })).toEqual(['AuthorizationPolicy istio-system/mesh (DENY)', 'AuthorizationPolicy pay/own (DENY)']);
  });

  it('refuses exemptions without a reason, for other checks, or with unknown fields', () => {
    expect(() => parseExemptions({ exemptions: [{ namespace: 'a', reason: 'short' }] }, 'x.yaml')).toThrow(/reason of at least 10/);
    expect(() => parseExemptions({ exemptions: [{ namespace: 'a', check: 'SWEEP-MTLS', reason: 'long enough reason' }] }, 'x.yaml')).toThrow(/only SWEEP-AUTHZ/);
    expect(() => parseExemptions({ exemptions: [{ namespace: 'a', services: 'b', reason: 'long enough reason' }] }, 'x.yaml')).toThrow(/unknown field services/);
    expect(parseExemptions({ exemptions: [{ namespace: 'a', port: 8080, reason: 'long enough reason' }] }, 'x.yaml')).toEqual([{ check: 'SWEEP-AUTHZ', namespace: 'a', port: 8080, reason: 'long enough reason' }]);
    expect(() => parseEstate('3x1')).toThrow(/at least 6/);
    expect(() => parseEstate('lots')).toThrow(/expected <services>x<replicas>/);
  });
});

describe('meshproof sweep (CLI)', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'meshproof-sweep-'));

  it('refuses what it cannot do with one line and exit 2', async () => {
    for (const [args, msg] of [
      [['--target', 'kind'], /holds no estate of yours/],
      [['--estate', '2x1'], /at least 6 services/],
      [['--exclude-ports', 'http'], /--exclude-ports http/],
      [['--namespaces', 'a', '--namespace-selector', 'b=c'], /give one of them/],
      [['--policy-report'], /--policy-report writes into a cluster: use it with --target kubeconfig/],
    ] as const) {
      const r = await cli(['sweep', ...args, '--out', path.join(tmp, 'x')]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
  });

  it('21-6: an exemption that matches nothing in scope is one line and exit 2, before any attack, and leaves no bundle', async () => {
    const exemptions = path.join(tmp, 'stale-exemptions.yaml');
    writeFileSync(exemptions, 'exemptions:\n  - namespace: estate-1\n    service: no-such-service\n    reason: reviewed in CHG-1234, service since renamed\n');
    const out = path.join(tmp, 'stale');
    const r = await cli(['sweep', '--target', 'lab', '--estate', '6x1', '--exemptions', exemptions, '--out', out]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/\nmeshproof: --exemptions: SWEEP-AUTHZ estate-1 service no-such-service matches no endpoint in scope\n$/); // after the lab's start line
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).not.toMatch(/swept/);
    expect(existsSync(out)).toBe(false);
    expect(agentsOf(r.pid)).toEqual([]);
  });

  it('21-5: sweep --config: options from a YAML file (lists as sequences), flags win, an unknown key is one line and exit 2', async () => {
    const config = path.join(tmp, 'sweep-config.yaml');
    const md = path.join(tmp, 'from-config.md');
    writeFileSync(config, `estate: 6x1\nprobes: 1\nexcludePorts: [9000]\nattemptTimeout: 3s\nsummaryMd: ${md}\n`);
    const out = path.join(tmp, 'configured');
    const r = await cli(['sweep', '--config', config, '--out', out], { env: { ...process.env, GITHUB_STEP_SUMMARY: '', GITHUB_ACTIONS: '' } });
    expect(r.code, r.stderr).toBe(1);
    const sw = JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8')) as { counts: { probes: number }; scope: { excludePorts: number[] }; endpoints: { port: number }[]; settings: { attemptTimeoutMs: number } };
    expect(sw.counts.probes).toBe(1);
    expect(sw.scope.excludePorts).toEqual([9000]);
    expect(sw.endpoints.some((e) => e.port === 9000)).toBe(false);
    expect(sw.settings.attemptTimeoutMs).toBe(3_000);
    expect(readFileSync(md, 'utf8')).toMatch(/^## meshproof FAILED\n/);
    // The command line wins over the file.
    const flags = await cli(['sweep', '--config', config, '--probes', '2', '--out', path.join(tmp, 'configured-2')], { env: { ...process.env, GITHUB_STEP_SUMMARY: '', GITHUB_ACTIONS: '' } });
    expect(flags.code, flags.stderr).toBe(1);
    expect((JSON.parse(readFileSync(path.join(tmp, 'configured-2', 'sweep.json'), 'utf8')) as { counts: { probes: number } }).counts.probes).toBe(2);
    // A typo: one line, exit 2, before any attack, no bundle.
    writeFileSync(config, 'estate: 6x1\nexcludePort: 9000\n');
    const typo = await cli(['sweep', '--config', config, '--out', path.join(tmp, 'typo')]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^meshproof: --config .*sweep-config\.yaml: excludePort: not a sweep option\n$/);
    expect(existsSync(path.join(tmp, 'typo'))).toBe(false);
  });

  it('Ctrl-C writes what was judged, marked incomplete, tears the lab down and exits 130', async () => {
    const out = path.join(tmp, 'interrupted');
    // Slow on purpose (a low rate, small batches), so the interrupt lands mid-sweep.
    const r = await cli(['sweep', '--target', 'lab', '--estate', '30x2', '--rate', '40', '--batch', '10', '--probes', '1', '--out', out], {
      onStart: (child) => {
        let seen = '';
        child.stderr?.on('data', (d: Buffer) => {
          seen += d.toString();
          if (/swept [1-9]\d*\/\d+ endpoints/.test(seen) && !child.killed) child.kill('SIGINT');
        });
      },
    });
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/SIGINT: stopping the sweep/);
    const sw = JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8')) as { incomplete: boolean; counts: { judged: number; endpoints: number } };
    expect(sw.incomplete).toBe(true);
    expect(sw.counts.judged).toBeGreaterThan(0);
    expect(sw.counts.judged).toBeLessThan(sw.counts.endpoints);
    const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')) as { scope: { population: string } };
    expect(run.scope.population).toMatch(/INCOMPLETE/);
    await new Promise((res) => setTimeout(res, 300));
    expect(agentsOf(r.pid)).toEqual([]);
  });

  it('writes a bundle: sweep.json per endpoint, JUnit one testcase per Service (valid against the XSD), the heat map', async () => {
    const out = path.join(tmp, 'bundle');
    const exemptions = path.join(tmp, 'exemptions.yaml');
    writeFileSync(exemptions, 'exemptions:\n  - namespace: estate-1\n    service: svc-0010\n    reason: health aggregator, reviewed in CHG-1234\n');
    const r = await cli(['sweep', '--target', 'lab', '--estate', '12x1', '--exemptions', exemptions, '--attempt-timeout', '3s', '--out', out]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/canary flagged/);
    const sw = JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8')) as { endpoints: unknown[]; canary: { flagged: boolean }; exemptions: unknown[] };
    expect(sw.endpoints).toHaveLength(12 * 2 + 4 + 1 + 2); // + canary-target:8080 (the matrix canary), server-first:3306 and ext-authz-protected:8080
    expect(sw.canary.flagged).toBe(true);
    expect(sw.exemptions).toHaveLength(1);
    execFileSync('xmllint', ['--noout', '--schema', 'test/data/junit-10.xsd', path.join(out, 'junit.xml')], { stdio: 'pipe' });
    const junit = readFileSync(path.join(out, 'junit.xml'), 'utf8');
    // Every Service of the estate is a testcase under each endpoint check (the canary is judged apart).
    expect(junit.match(/classname="sweep\.SWEEP-MTLS"/g)).toHaveLength(12 + 2); // + server-first and ext-authz-protected
    expect(junit).toMatch(/<testcase classname="sweep\.SWEEP-MTLS" name="estate-1\/svc-0003"[^>]*>\s*<failure/);
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('class="sweep-heat-map"');
    expect(html).toMatch(/data-namespace="estate-1" data-check="SWEEP-INJECT" data-findings="1"/);
    expect(existsSync(path.join(out, 'policies'))).toBe(true);
    // OSCAL: valid against NIST's schema, with findings per control for the sweep's checks.
    const ajv = new Ajv({ strict: false, unicodeRegExp: true, allErrors: true });
    (addFormatsModule as unknown as { default: (a: Ajv) => void }).default(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync('test/data/oscal-complete-1.1.2.schema.json', 'utf8')));
    const oscal = JSON.parse(readFileSync(path.join(out, 'oscal-assessment-results.json'), 'utf8'));
    expect(validate(oscal), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    expect(JSON.stringify(oscal)).toContain('SWEEP-AUTHZ');
    expect(JSON.stringify(oscal)).toContain('NIST-800-53r5:AC-3');
    // The bundle verifies like any other, and re-renders with its heat map.
    const v = await cli(['verify', out]);
    expect(v.code, v.stdout).toBe(0);
    const again = await cli(['report', out, '--out', path.join(tmp, 'rerendered')]);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(path.join(tmp, 'rerendered', 'report.html'), 'utf8')).toMatch(/data-namespace="estate-1" data-check="SWEEP-INJECT" data-findings="1"/);
    // The minted certificate's key never reaches the bundle.
    for (const f of ['sweep.json', 'run.json', 'checks/SWEEP-AUTHZ.json']) expect(readFileSync(path.join(out, f), 'utf8')).not.toMatch(/PRIVATE KEY/);
  });

  it('compare: a finding new in the candidate sweep is a regression, even when its check was failing already', async () => {
    const base = path.join(tmp, 'bundle'); // the sweep above, with svc-0010 exempted
    const cand = path.join(tmp, 'no-exemptions');
    const r = await cli(['sweep', '--target', 'lab', '--estate', '12x1', '--attempt-timeout', '3s', '--out', cand]);
    expect(r.code, r.stderr).toBe(1);
    const c = await cli(['compare', base, cand, '--unsigned', '--out', path.join(tmp, 'compare.json')]);
    expect(c.code, c.stdout).toBe(1);
    expect(c.stdout).toMatch(/^SWEEP-AUTHZ estate-1\/svc-0010:8080\s+exempt\s+finding\s+REGRESSED$/m);
    expect(c.stdout).toMatch(/^SWEEP-AUTHZ estate-1\/svc-0010:9000\s+exempt\s+finding\s+REGRESSED$/m);
    expect(c.stdout).toMatch(/^SWEEP-AUTHZ\s+fail\s+fail\s+same$/m);
    expect(c.stdout).toMatch(/^2 regression\(s\); UNSIGNED: signatures not checked \(--unsigned\), hashes only$/m);
    // The other way round nothing regressed, but an exempted finding is not a resolved one: a change, not an improvement.
    const back = await cli(['compare', cand, base, '--unsigned', '--out', path.join(tmp, 'compare-back.json')]);
    expect(back.code, back.stdout).toBe(0);
    expect(back.stdout).toMatch(/^SWEEP-AUTHZ estate-1\/svc-0010:8080\s+finding\s+exempt\s+changed$/m);
  });
});
