// The evidence bundle as auditors and CI receive it: JUnit against the Jenkins XSD, OSCAL against NIST's schema,
// the HTML report in headless Chromium, the manifest and signature through `meshproof verify` (tampering
// included), the upgrade gate through `meshproof compare`, and a scan for secrets.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CATALOG, FORBIDDEN } from '../harness/controls.js';
import { reportHtml } from '../harness/report/html.js';
import { signManifest, writeManifest } from '../harness/report/manifest.js';
import { oscalDocument } from '../harness/report/oscal.js';
import { readBundle } from '../harness/report/rerender.js';
import { ALL_CHECKS, SUITES } from '../suites/index.js';
import { cli } from './support/cli.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'meshproof-bundle-'));
const secure = path.join(tmp, 'secure');
const weak = path.join(tmp, 'weak');
const mtlsOnly = path.join(tmp, 'mtls-only');
const swept = path.join(tmp, 'swept');
const keys = generateKeyPairSync('ed25519');
const privPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const pubPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const keyFile = path.join(tmp, 'sign.pem');
const pubFile = path.join(tmp, 'sign.pub.pem');
writeFileSync(keyFile, privPem);
writeFileSync(pubFile, pubPem);

/** A copy of a bundle with its signature taken away: the hashes still verify. */
function unsignedCopy(dir: string, name: string): string {
  const copy = path.join(tmp, name);
  execFileSync('cp', ['-r', dir, copy]);
  for (const f of ['manifest.sha256.sig', 'manifest.sha256.pub.pem']) rmSync(path.join(copy, f), { force: true });
  return copy;
}

/**
 * A copy of a signed bundle whose run.json (and sweep.json) `change` rewrites, re-hashed and re-signed with the
 * test's key: a bundle that verifies, holding the verdicts a test needs.
 */
interface RunDoc {
  target: { summary: string };
  scope: { namespaces: Record<string, string> };
  results: { id: string; title: string; verdict: string; reason: string }[];
}
interface SweepDoc {
  scope: { inScope: string[] };
  endpoints: { namespace: string; pod: string; port: number; verdicts: { check: string; outcome: string }[] }[];
  pods: { namespace: string }[];
}

function variant(dir: string, name: string, change: (run: RunDoc, sweep: SweepDoc) => void): string {
  const copy = path.join(tmp, name);
  execFileSync('cp', ['-r', dir, copy]);
  const run = JSON.parse(readFileSync(path.join(copy, 'run.json'), 'utf8')) as RunDoc;
  const sweepFile = path.join(copy, 'sweep.json');
  const sweep = existsSync(sweepFile) ? (JSON.parse(readFileSync(sweepFile, 'utf8')) as SweepDoc) : undefined;
  change(run, sweep as SweepDoc);
  writeFileSync(path.join(copy, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
  if (sweep) writeFileSync(sweepFile, `${JSON.stringify(sweep, null, 2)}\n`);
  writeManifest(copy);
  signManifest(copy, privPem);
  return copy;
}

function files(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel)).flatMap((n) => (statSync(path.join(dir, rel, n)).isDirectory() ? files(dir, path.join(rel, n)) : [path.join(rel, n)]));
}

beforeAll(async () => {
  // A secure baseline and a weakened candidate with fails, a not-applicable check and the certificate attacks
  // (which hand crafted keys to the agent), signed.
  const [a, b] = await Promise.all([
    cli(['run', '--suite', 'mtls,authz', '--sign-key', keyFile, '--out', secure]),
    cli(['run', '--suite', 'mtls,authz,certificates', '--overlay', 'fixtures/weakened/no-allow-policy.yaml', '--sign-key', keyFile, '--out', weak]),
  ]);
  expect(a.code, a.stderr).toBe(0);
  expect(b.code, b.stderr).toBe(1);
  // A candidate that ran less (only --suite mtls), and a sweep: what a gate must not mistake for a run.
  const [c, d] = await Promise.all([cli(['run', '--suite', 'mtls', '--sign-key', keyFile, '--out', mtlsOnly]), cli(['sweep', '--target', 'lab', '--estate', '6x1', '--sign-key', keyFile, '--out', swept])]);
  expect(c.code, c.stderr).toBe(0);
  expect(d.code, d.stderr).toBe(1); // the lab estate's planted holes are found
  expect(existsSync(path.join(swept, 'sweep.json'))).toBe(true);
});

describe('run.json', () => {
  it('records the run id, tool, command, configuration hash, UTC times, scope and exclusions', () => {
    const run = JSON.parse(readFileSync(path.join(weak, 'run.json'), 'utf8'));
    expect(run.runId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(run.tool).toMatchObject({ name: 'meshproof', version: expect.any(String), commit: expect.stringMatching(/^([0-9a-f]{40}(-dirty)?|unknown)$/) });
    expect(run.command).toContain('--overlay');
    expect(run.repeat).toMatch(/^meshproof run --suite mtls,authz,certificates --overlay/);
    expect(run.configHash).toMatch(/^[0-9a-f]{64}$/);
    expect(run.startedAt).toMatch(/Z$/);
    expect(run.finishedAt).toMatch(/Z$/);
    expect(run.scope.spiffeIdsTested).toContain('spiffe://cluster.local/ns/mesh/sa/authorized');
    expect(run.scope.excluded).toContainEqual(expect.objectContaining({ check: 'AUTHZ-004', reason: expect.stringMatching(/^not applicable: /) }));
    expect(run.posture.policies.length).toBeGreaterThan(10);
    expect(run.results.find((r: { id: string }) => r.id === 'AUTHZ-001')).toMatchObject({ verdict: 'fail', evidence: 'checks/AUTHZ-001.json', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const secureRun = JSON.parse(readFileSync(path.join(secure, 'run.json'), 'utf8'));
    expect(secureRun.scope.excluded).toContainEqual(expect.objectContaining({ check: 'CERT-001', reason: 'not selected for this run (--suite)' }));
  });
});

describe('junit.xml', () => {
  it('validates against the Jenkins xUnit junit-10.xsd and stays far below GitLab\'s 30 MB', () => {
    for (const dir of [secure, weak]) {
      const out = execFileSync('xmllint', ['--noout', '--schema', 'test/data/junit-10.xsd', path.join(dir, 'junit.xml')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(out).toBe('');
      expect(statSync(path.join(dir, 'junit.xml')).size).toBeLessThan(1024 * 1024);
    }
  });

  it('carries controls, verdict, evidence and its hash; failure, error and skipped as JUnit expects', () => {
    const xml = readFileSync(path.join(weak, 'junit.xml'), 'utf8');
    const sha = execFileSync('sha256sum', [path.join(weak, 'checks/AUTHZ-001.json')], { encoding: 'utf8' }).split(' ')[0];
    expect(xml).toContain(`<property name="AUTHZ-001.evidence.sha256" value="${sha}"/>`);
    expect(xml).toContain('<property name="AUTHZ-001.verdict" value="fail"/>');
    expect(xml).toMatch(/<property name="AUTHZ-001.controls" value="[^"]*NIST-800-53r5:AC-3/);
    expect(xml).toMatch(/<testcase classname="authz" name="AUTHZ-001 [^"]+"[^>]*>\s*<failure message="mesh\/unauthorized[^"]*observed: /);
    expect(xml).toMatch(/<testcase classname="authz" name="AUTHZ-004 [^"]+"[^>]*>\s*<skipped message="not applicable: /);
  });
});

describe('oscal-assessment-results.json', () => {
  const schema = JSON.parse(readFileSync('test/data/oscal-complete-1.1.2.schema.json', 'utf8'));
  const ajv = new Ajv({ strict: false, unicodeRegExp: true, allErrors: true });
  // ajv-formats is CommonJS: under NodeNext its default export is the module object.
  (addFormatsModule as unknown as { default: (a: Ajv) => void }).default(ajv);
  const validate = ajv.compile(schema);
  const doc = () => JSON.parse(readFileSync(path.join(weak, 'oscal-assessment-results.json'), 'utf8'));

  it('validates against the official OSCAL 1.1.2 schema (and the validator does reject an extra property)', () => {
    const d = doc();
    expect(validate(d), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    d['assessment-results'].results[0].verdicts = [];
    expect(validate(d)).toBe(false);
  });

  it('21-4: a lab run claims no control: every finding is not assessed against the framework, with the reason', () => {
    const d = doc();
    expect(validate(d), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    const findings = d['assessment-results'].results[0].findings as { target: { 'target-id': string; status: { state: string; reason?: string; remarks?: string } }; props: { name: string; value: string }[] }[];
    expect(findings.length).toBeGreaterThan(3);
    for (const f of findings) {
      expect(f.target.status.state, f.target['target-id']).not.toBe('satisfied');
      expect(f.target.status.reason).toBe('not-assessed');
      expect(f.target.status.remarks).toMatch(/^Not assessed against the framework: a lab run \(built-in lab/);
      expect(f.props).toContainEqual(expect.objectContaining({ name: 'assessed', value: 'false' }));
    }
  });

  it('has findings per control (on a cluster target), evidence hashed in back-matter, and not-applicable checks as observations', () => {
    // The same verdicts as if a cluster had given them: only the target differs (the report's branch under test).
    const { run } = readBundle(weak, (id) => ALL_CHECKS.find((c) => c.id === id)?.categories ?? []);
    run.target = { ...run.target, kind: 'kubernetes', summary: 'Kubernetes cluster at https://127.0.0.1:6443 (context test)', notes: [] };
    const cluster = oscalDocument(run, weak);
    expect(validate(cluster), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    const ar = cluster['assessment-results'];
    expect(ar.metadata['oscal-version']).toBe('1.1.2');
    const result = ar.results[0]!;
    const findings = result.findings as { target: { 'target-id': string; status: { state: string } } }[];
    const ac3 = findings.find((f) => f.target['target-id'] === 'ac-3')!;
    expect(ac3.target.status.state).toBe('not-satisfied');
    const sc81 = findings.find((f) => f.target['target-id'] === 'sc-8.1')!;
    expect(sc81.target.status).toEqual({ state: 'satisfied' });
    for (const r of ar['back-matter'].resources) {
      const link = r.rlinks[0]!;
      const sha = execFileSync('sha256sum', [path.join(weak, link.href)], { encoding: 'utf8' }).split(' ')[0];
      expect(link.hashes[0]).toEqual({ algorithm: 'SHA-256', value: sha });
    }
    const na = (result.observations as { title: string; remarks?: string }[]).find((o) => o.title.startsWith('AUTHZ-004'))!;
    expect(na.remarks).toMatch(/^Not tested: /);
    // And the HTML shows control results for a cluster, none for the lab.
    expect(reportHtml(run, [])).toMatch(/<td><code>NIST-800-53r5:AC-3<\/code><\/td>[\s\S]*?<span class="v fail">FAIL<\/span>/);
    expect(readFileSync(path.join(weak, 'report.html'), 'utf8')).not.toMatch(/<td><code>NIST-800-53r5:AC-3<\/code><\/td>/);
  });
});

describe('report.html', () => {
  it('renders in headless Chromium without console errors or external requests, and shows the summary', async () => {
    expect(existsSync('/usr/bin/chromium'), 'Debian chromium is needed (.ci/run installs it)').toBe(true);
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`file://${path.join(weak, 'report.html')}`);
      expect(errors).toEqual([]);
      expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
      const summary = await page.locator('#summary + p.totals').innerText();
      expect(summary).toMatch(/\d+ passed\s*3 failed\s*0 inconclusive\s*1 not applicable/);
      expect(await page.locator('#not-tested + table').innerText()).toMatch(/AUTHZ-004/);
      // 21-4: a lab run shows no control results, and says why.
      expect(await page.locator('#controls-not-assessed').innerText()).toMatch(/^Not assessed against any framework\. This is a lab run/);
      expect(await page.locator('#AUTHZ-001').innerText()).toMatch(/Claim\.[\s\S]*Method\. TEST[\s\S]*Result\.[\s\S]*Evidence\. checks\/AUTHZ-001\.json/);
      const shot = path.join(tmp, 'report.png');
      await page.screenshot({ path: shot });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  });
});

describe('meshproof verify', () => {
  it('accepts an intact signed bundle with the right public key', async () => {
    const r = await cli(['verify', weak, '--public-key', pubFile]);
    expect(r.stdout).toMatch(/^OK: \d+ files checked, signature valid/m);
    expect(r.code).toBe(0);
  });

  it('exits 1 on a tampered file, an added file, or another signer', async () => {
    const copy = path.join(tmp, 'tampered');
    execFileSync('cp', ['-r', weak, copy]);
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    writeFileSync(path.join(tmp, 'other.pub.pem'), other);
    expect((await cli(['verify', copy, '--public-key', path.join(tmp, 'other.pub.pem')])).code).toBe(1);
    appendFileSync(path.join(copy, 'checks', 'AUTHZ-001.json'), ' ');
    writeFileSync(path.join(copy, 'checks', 'EXTRA.json'), '{}');
    const r = await cli(['verify', copy]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('MISMATCH changed: checks/AUTHZ-001.json');
    expect(r.stdout).toContain('MISMATCH not in the manifest: checks/EXTRA.json');
  });

  it('21-3: a bundle re-signed with another key is never "signature valid" without --public-key; --require-signature exits 1', async () => {
    const copy = path.join(tmp, 're-signed');
    execFileSync('cp', ['-r', weak, copy]);
    // Whoever alters a bundle re-hashes it and signs with a key of their own, shipping that key in the bundle.
    writeFileSync(path.join(copy, 'checks', 'AUTHZ-001.json'), readFileSync(path.join(copy, 'checks', 'AUTHZ-001.json'), 'utf8').replaceAll('"fail"', '"pass"'));
    writeManifest(copy);
    signManifest(copy, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const plain = await cli(['verify', copy]);
    expect(plain.stdout).toMatch(/^OK: \d+ files checked, signature present, not checked: no --public-key$/m);
    expect(plain.stdout).not.toMatch(/signature valid/);
    expect(plain.code).toBe(0);
    const required = await cli(['verify', copy, '--require-signature']);
    expect(required.stdout).toMatch(/^MISMATCH signature present, not checked: no --public-key \(--require-signature\)$/m);
    expect(required.code).toBe(1);
    const keyed = await cli(['verify', copy, '--public-key', pubFile]);
    expect(keyed.stdout).toMatch(/^MISMATCH signature does not verify with the given --public-key$/m);
    expect(keyed.code).toBe(1);
    // The genuine bundle with its key passes --require-signature; an unsigned one does not.
    expect((await cli(['verify', weak, '--public-key', pubFile, '--require-signature'])).code).toBe(0);
    const unsigned = await cli(['verify', unsignedCopy(secure, 'unsigned-secure'), '--require-signature']);
    expect(unsigned.stdout).toMatch(/^MISMATCH the bundle is not signed \(--require-signature\)$/m);
    expect(unsigned.code).toBe(1);
  });

  it('a directory that is not a bundle is a usage error', async () => {
    const r = await cli(['verify', tmpdir()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no manifest\.sha256: not a meshproof bundle/);
  });
});

describe('meshproof compare (the upgrade gate)', () => {
  it('exits 1 when a check regressed, with a per-check diff and compare.json', async () => {
    const out = path.join(tmp, 'compare.json');
    const r = await cli(['compare', secure, weak, '--public-key', pubFile, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/AUTHZ-001\s+pass\s+fail\s+REGRESSED/);
    expect(r.stdout).toMatch(/CERT-001\s+-\s+pass\s+added/);
    const c = JSON.parse(readFileSync(out, 'utf8'));
    // AUTHZ-001..003 fail, and AUTHZ-004 passed and stopped applying: a gate cannot go quietly green on it.
    expect(r.stdout).toMatch(/AUTHZ-004\s+pass\s+not-applicable\s+REGRESSED/);
    expect(c.regressions).toBe(4);
  });

  it('--allow-not-applicable makes pass → not-applicable a change, not a regression', async () => {
    const out = path.join(tmp, 'compare-na.json');
    const r = await cli(['compare', secure, weak, '--allow-not-applicable', '--public-key', pubFile, '--out', out]);
    expect(r.stdout).toMatch(/AUTHZ-004\s+pass\s+not-applicable\s+changed/);
    expect(JSON.parse(readFileSync(out, 'utf8')).regressions).toBe(3);
  });

  it('exits 0 when nothing regressed (improvements and not-applicable changes included; the removed certificate checks named in --allow-removed)', async () => {
    const certificates = SUITES.certificates!.map((c) => c.id);
    const r = await cli(['compare', weak, secure, '--allow-removed', certificates.join(','), '--public-key', pubFile, '--out', path.join(tmp, 'compare2.json')]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/AUTHZ-001\s+fail\s+pass\s+improved/);
    expect(r.stdout).toMatch(/CERT-001\s+pass\s+-\s+removed/);
  });

  it('21-1: a candidate that ran only --suite mtls: every check it did not run is a regression, named (exit 1), and each side\'s suites are shown', async () => {
    const out = path.join(tmp, 'compare-narrow.json');
    const r = await cli(['compare', secure, mtlsOnly, '--public-key', pubFile, '--out', out]);
    expect(r.code).toBe(1);
    const authz = SUITES.authz!.map((c) => c.id);
    for (const id of authz) expect(r.stdout).toMatch(new RegExp(`^  ${id}: not run by the candidate \\(its suites: mtls\\); name it in --allow-removed to accept$`, 'm'));
    expect(r.stdout).toMatch(/^baseline:\s+\S*secure: run [0-9a-f-]{36} on built-in lab .*; suites mtls, authz \(\d+ checks\)/m);
    expect(r.stdout).toMatch(/^candidate:\s+\S*mtls-only: run [0-9a-f-]{36} on built-in lab .*; suites mtls \(\d+ checks\)/m);
    expect(JSON.parse(readFileSync(out, 'utf8')).regressions).toBe(authz.length);
    // Named in --allow-removed, they are accepted; naming one that is not removed is a usage error.
    const allowed = await cli(['compare', secure, mtlsOnly, '--allow-removed', authz.join(','), '--public-key', pubFile, '--out', out]);
    expect(allowed.code, allowed.stdout).toBe(0);
    const stale = await cli(['compare', secure, mtlsOnly, '--allow-removed', 'MTLS-001', '--public-key', pubFile, '--out', out]);
    expect(stale.code).toBe(2);
    expect(stale.stderr).toMatch(/^meshproof: --allow-removed MTLS-001: not a check .*secure judged and .*mtls-only lacks\n$/);
  });

  it('21-1: a tampered candidate or baseline is not compared: exit 1, naming the bundle and the file', async () => {
    const copy = path.join(tmp, 'tampered-candidate');
    execFileSync('cp', ['-r', secure, copy]);
    appendFileSync(path.join(copy, 'run.json'), ' ');
    for (const args of [[secure, copy], [copy, secure]]) {
      const r = await cli(['compare', ...args, '--public-key', pubFile, '--out', path.join(tmp, 'compare-tampered.json')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^meshproof: .*tampered-candidate does not verify \(changed: run\.json\): nothing is compared\n$/);
    }
  });

  it('21-1: a run is never compared with a sweep (exit 2)', async () => {
    for (const args of [[secure, swept], [swept, secure]]) {
      const r = await cli(['compare', ...args, '--public-key', pubFile, '--out', path.join(tmp, 'compare-sweep.json')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^meshproof: cannot compare a (run|sweep) \(.*\) with a (sweep|run) \(.*\): their checks and populations differ\n$/);
    }
  });
});

describe('meshproof compare: what counts as a regression, whose bundles, and how much they cover', () => {
  const ids = () => [...SUITES.mtls!.map((c) => c.id), SUITES.authz![0]!.id];
  const setVerdicts = (v: Record<string, string>) => (run: RunDoc) => {
    for (const r of run.results) r.verdict = v[r.id] ?? r.verdict;
  };

  it('A-H3: any new fail regresses (error, not-applicable → fail, a check added as fail), not-applicable → error too; fail → error is a change, not an improvement', async () => {
    const [m1, m2, m3, m4] = ids();
    const base = variant(secure, 'h3-base', setVerdicts({ [m1!]: 'error', [m2!]: 'not-applicable', [m3!]: 'not-applicable', [m4!]: 'fail' }));
    const cand = variant(secure, 'h3-cand', (run) => {
      setVerdicts({ [m1!]: 'fail', [m2!]: 'fail', [m3!]: 'error', [m4!]: 'error' })(run);
      run.results.push({ ...run.results[0], id: 'ZZZ-001', title: 'a check only the candidate runs', verdict: 'fail', reason: 'plaintext got an HTTP 200' });
    });
    const out = path.join(tmp, 'compare-h3.json');
    const r = await cli(['compare', base, cand, '--public-key', pubFile, '--out', out]);
    expect(r.stdout).toMatch(new RegExp(`^${m1}\\s+error\\s+fail\\s+REGRESSED$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^${m2}\\s+not-applicable\\s+fail\\s+REGRESSED$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^${m3}\\s+not-applicable\\s+error\\s+REGRESSED$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^${m4}\\s+fail\\s+error\\s+changed$`, 'm'));
    expect(r.stdout).toMatch(/^ZZZ-001\s+-\s+fail\s+REGRESSED$/m);
    expect(r.stdout).toMatch(/^ {2}ZZZ-001: plaintext got an HTTP 200$/m);
    expect(JSON.parse(readFileSync(out, 'utf8')).regressions).toBe(4);
    expect(r.code).toBe(1);
    // The other way round: error → fail... is the baseline now; only a move to pass improves.
    const back = await cli(['compare', cand, base, '--public-key', pubFile, '--allow-removed', 'ZZZ-001', '--out', out]);
    expect(back.stdout).toMatch(new RegExp(`^${m4}\\s+error\\s+fail\\s+REGRESSED$`, 'm'));
    expect(back.stdout).toMatch(new RegExp(`^${m3}\\s+error\\s+not-applicable\\s+changed$`, 'm'));
  });

  it('A-M1: signatures are required: no --public-key and no --unsigned is a usage error; --unsigned is said in the verdict line; an unsigned or other-signed bundle under --public-key is exit 1, named', async () => {
    const out = path.join(tmp, 'compare-m1.json');
    const none = await cli(['compare', secure, mtlsOnly, '--allow-removed', SUITES.authz!.map((c) => c.id).join(','), '--out', out]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^meshproof: compare needs --public-key \(each bundle's signature checked\) or an explicit --unsigned: hashes alone can be regenerated by whoever edits run\.json\n$/);
    const plain = unsignedCopy(secure, 'm1-unsigned');
    const opted = await cli(['compare', plain, secure, '--unsigned', '--out', out]);
    expect(opted.code, opted.stderr).toBe(0);
    expect(opted.stdout).toMatch(/^0 regression\(s\); UNSIGNED: signatures not checked \(--unsigned\), hashes only$/m);
    const keyed = await cli(['compare', secure, secure, '--public-key', pubFile, '--out', out]);
    expect(keyed.stdout).toMatch(/^0 regression\(s\); both signatures valid$/m);
    for (const args of [[plain, secure], [secure, plain]]) {
      const r = await cli(['compare', ...args, '--public-key', pubFile, '--out', out]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^meshproof: \S*m1-unsigned does not verify \(a --public-key was given but the bundle is not signed\): nothing is compared\n$/);
    }
    // Whoever edits run.json and regenerates the manifest, signing with a key of their own, is not compared.
    const forged = variant(secure, 'm1-forged', setVerdicts({ [ids()[0]!]: 'pass' }));
    signManifest(forged, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const r = await cli(['compare', secure, forged, '--public-key', pubFile, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/m1-forged does not verify \(signature does not verify with the given --public-key\)/);
  });

  it('A-M2: a candidate that covers less than the baseline (a namespace, another target, a sweep scope) is refused (exit 2)', async () => {
    const out = path.join(tmp, 'compare-m2.json');
    const fewer = variant(secure, 'm2-fewer-ns', (run) => {
      run.scope.namespaces = Object.fromEntries(Object.entries(run.scope.namespaces).filter(([role]) => role !== 'edge'));
    });
    const r = await cli(['compare', secure, fewer, '--public-key', pubFile, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^meshproof: \S*m2-fewer-ns does not cover \S*secure's namespaces \(edge missing\): a narrower scope would pass the gate by omission\n$/);
    const other = variant(secure, 'm2-other-target', (run) => {
      run.target.summary = 'another lab';
    });
    const t = await cli(['compare', secure, other, '--public-key', pubFile, '--out', out]);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/^meshproof: cannot compare \S*secure \(built-in lab .*\) with \S*m2-other-target \(another lab\): another target proves nothing about this one\n$/);
    const narrower = variant(swept, 'm2-narrow-sweep', (_run, sweep) => {
      sweep.scope.inScope = sweep.scope.inScope.filter((n: string) => n !== 'estate-1');
      sweep.endpoints = sweep.endpoints.filter((e: { namespace: string }) => e.namespace !== 'estate-1');
      sweep.pods = sweep.pods.filter((p: { namespace: string }) => p.namespace !== 'estate-1');
    });
    const s = await cli(['compare', swept, narrower, '--public-key', pubFile, '--out', out]);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/m2-narrow-sweep does not cover \S*swept's namespaces \(estate-1 missing\)/);
  });

  it('A-M2: two sweeps endpoint by endpoint: ok → inconclusive or not tested regresses; a finding not tested again is "not re-tested", not resolved', async () => {
    const out = path.join(tmp, 'compare-m2-sweep.json');
    const cand = variant(swept, 'm2-sweep-cand', (_run, sweep) => {
      const at = sweep.endpoints.find((e) => e.pod === 'svc-0000-0' && e.port === 8080)!;
      at.verdicts.find((v) => v.check === 'SWEEP-MTLS')!.outcome = 'inconclusive';
      sweep.endpoints = sweep.endpoints.filter((e: { pod: string; port: number }) => !(e.pod === 'svc-0001-0' && e.port === 9000) && !(e.pod === 'svc-0004-0' && e.port === 8080));
    });
    const r = await cli(['compare', swept, cand, '--public-key', pubFile, '--out', out]);
    expect(r.stdout).toMatch(/^SWEEP-MTLS estate-1\/svc-0000:8080\s+ok\s+inconclusive\s+REGRESSED$/m);
    for (const check of ['SWEEP-MTLS', 'SWEEP-AUTHZ', 'SWEEP-CERT']) {
      expect(r.stdout).toMatch(new RegExp(`^${check} estate-1/svc-0001:9000\\s+ok\\s+-\\s+REGRESSED$`, 'm'));
      expect(r.stdout).toMatch(new RegExp(`^${check} estate-1/svc-0004:8080\\s+finding\\s+-\\s+changed$`, 'm'));
    }
    expect(r.stdout).not.toMatch(/improved/);
    const c = JSON.parse(readFileSync(out, 'utf8'));
    expect(c.rows.filter((x: { title: string }) => x.title === 'finding not re-tested')).toHaveLength(3);
    expect(c.regressions).toBe(4);
    expect(r.code).toBe(1);
  });
});

describe('no secrets in the bundle', () => {
  it('holds no private key, no signing key and no token', () => {
    const signingKeyBody = privPem.split('\n').slice(1, -2).join('');
    for (const f of files(weak)) {
      const text = readFileSync(path.join(weak, f), 'utf8');
      expect(text, f).not.toMatch(/PRIVATE KEY/);
      expect(text, f).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./); // JWT (service-account tokens)
      expect(text, f).not.toContain(signingKeyBody);
    }
  });
});

describe('control catalog', () => {
  it('every check claims only ids the catalog grants, and none that must never be cited', () => {
    const ids = new Set(CATALOG.map((c) => c.id));
    for (const c of ALL_CHECKS) {
      expect(c.controls.length).toBeGreaterThan(0);
      for (const id of c.controls) {
        expect(ids.has(id), `${c.id} claims ${id}`).toBe(true);
        expect(FORBIDDEN).not.toContain(id);
      }
    }
  });

  it('`meshproof controls` prints the catalog with caveats and each check\'s claims', async () => {
    const r = await cli(['controls']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/PCI-DSS-4\.0\.1:4\.2\.1\s+Strong cryptography .* — Public networks only/);
    expect(r.stdout).toMatch(/MTLS-001: .*PCI-DSS-4\.0\.1:4\.2\.1 \(supports\)/);
  });
});
