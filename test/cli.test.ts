// The CLI as a user runs it: the bundled dist/cli.js in a child process, real exit codes, real files.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ALL_CHECKS } from '../suites/index.js';
import { describe, expect, it } from 'vitest';
import { agentsOf, cli, eventually, interruptWhen, runProcess } from './support/cli.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'meshproof-cli-'));
const rsaKey = path.join(tmp, 'rsa.pem');
const emptyFile = path.join(tmp, 'empty.yaml');
const commentsOnly = path.join(tmp, 'comments.yaml');
const templated = path.join(tmp, 'templated.yaml');
writeFileSync(emptyFile, '');
writeFileSync(commentsOnly, '# nothing here yet\n---\n# still nothing\n');
writeFileSync(templated, 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: {{ .Release.Namespace }}\nspec:\n  mtls:\n    mode: STRICT\n');
writeFileSync(rsaKey, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));


describe('meshproof run', () => {
  it('secure posture: exit 0, a summary per check, junit.xml and evidence written into --out', async () => {
    const out = path.join(tmp, 'secure');
    const r = await cli(['run', '--target', 'lab', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/MTLS-001\s+PASS/);
    expect(r.stdout).toMatch(new RegExp(`${ALL_CHECKS.length} passed, 0 failed, 0 inconclusive`));
    const junit = readFileSync(path.join(out, 'junit.xml'), 'utf8');
    expect(junit.match(/<testcase /g)).toHaveLength(ALL_CHECKS.length);
    expect(junit).toContain('<property name="MTLS-001.evidence" value="checks/MTLS-001.json"/>');
    expect(junit).not.toContain('<failure');
    for (const f of ['run.json', 'report.html', 'oscal-assessment-results.json', 'manifest.sha256']) expect(existsSync(path.join(out, f)), f).toBe(true);
    const ev = JSON.parse(readFileSync(path.join(out, 'checks', 'MTLS-001.json'), 'utf8')) as { verdict: string; controls: { id: string; caveat?: string }[] };
    expect(ev.verdict).toBe('pass');
    expect(ev.controls.find((c) => c.id === 'PCI-DSS-4.0.1:4.2.1')?.caveat).toMatch(/does not require in-mesh mTLS/);
    expect(agentsOf(r.pid)).toEqual([]);
  });

  it('--edge: EDGE-001..003 attack the named edge; with the public roots as anchors a private CA fails EDGE-003, never passes', async () => {
    const out = path.join(tmp, 'edge');
    const r = await cli(['run', '--target', 'lab', '--suite', 'boundary', '--edge', 'edge/ingressgateway', '--edge-host', 'edge.meshproof.test', '--out', out]);
    expect(r.code).toBe(1);
    const verdicts = Object.fromEntries(['EDGE-001', 'EDGE-002', 'EDGE-003', 'EDGE-004', 'EGRESS-001'].map((id) => [id, (JSON.parse(readFileSync(path.join(out, 'checks', `${id}.json`), 'utf8')) as { verdict: string }).verdict]));
    expect(verdicts).toEqual({ 'EDGE-001': 'pass', 'EDGE-002': 'pass', 'EDGE-003': 'fail', 'EDGE-004': 'pass', 'EGRESS-001': 'pass' });
    const e3 = readFileSync(path.join(out, 'checks', 'EDGE-003.json'), 'utf8');
    expect(e3).toMatch(/public root store/);
    expect(e3).toMatch(/do not lead to a trust anchor/);
    expect(agentsOf(r.pid)).toEqual([]);
  });

  it('a weakened overlay: exit 1, MTLS-001 failed in junit.xml with the claim and the observation', async () => {
    const out = path.join(tmp, 'weak');
    const r = await cli(['run', '--target', 'lab', '--suite', 'mtls', '--overlay', 'fixtures/weakened/permissive-mtls.yaml', '--out', out]);
    expect(r.code).toBe(1);
    const junit = readFileSync(path.join(out, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<testcase classname="mtls" name="MTLS-001[^"]*"[^>]*>[\s\S]*?<failure message="A client without a sidecar cannot reach mesh\/echo in plaintext[^"]*observed: [^"]*HTTP 403 answer/);
  });

  it.each([
    ['an unknown suite', ['run', '--suite', 'nope'], /^meshproof: unknown suite nope \(known: mtls, authz, certificates, resilience, audit, boundary, chaos\)\n$/],
    ['an unreadable --sign-key', ['run', '--sign-key', '/nonexistent/key.pem'], /^meshproof: --sign-key \/nonexistent\/key\.pem: cannot read \(ENOENT\)\n$/],
    ['a --sign-key that is no key, refused before the run', ['run', '--sign-key', 'README.md'], /^meshproof: --sign-key README\.md: not a PEM private key/],
    ['a --sign-key that is not Ed25519', ['run', '--sign-key', rsaKey], /^meshproof: --sign-key .*rsa\.pem: an rsa key; meshproof signs with Ed25519\n$/],
    ['a bad --max-cert-lifetime', ['run', '--max-cert-lifetime', 'a day'], /^meshproof: --max-cert-lifetime a day: not a duration/],
    ['a bad --max-pool (item 11)', ['run', '--max-pool', 'lots'], /^meshproof: --max-pool lots: not a whole number/],
    ['a bad --max-consecutive-5xx (item 11)', ['run', '--max-consecutive-5xx', '0'], /^meshproof: --max-consecutive-5xx 0: not a whole number ≥ 1/],
    ['an unknown target', ['run', '--target', 'minikube'], /^meshproof: unknown target minikube/],
    ['--edge-host without --edge', ['run', '--edge-host', 'shop.example.com'], /^meshproof: --edge-host needs --edge <namespace>\/<service>\n$/],
    ['--edge without --edge-host', ['run', '--edge', 'istio-ingress/gw'], /^meshproof: --edge needs --edge-host <host>\[:port\]/],
    ['a bad --edge-cert-horizon-days', ['run', '--edge-cert-horizon-days', 'soon'], /^meshproof: --edge-cert-horizon-days soon: not a whole number of days\n$/],
    ['a missing posture', ['run', '--posture', '/nonexistent/posture'], /^meshproof: posture \/nonexistent\/posture: no such file or directory\n$/],
    ['a malformed overlay', ['run', '--overlay', 'package.json'], /^meshproof: package\.json#1: /],
    ['an unsupported Istio field', ['run', '--overlay', 'test/fixtures/unsupported-field.yaml'], /^meshproof: test\/fixtures\/unsupported-field\.yaml#1: PeerAuthentication mesh\/default: field spec\.targetRefs is not implemented by the lab\n$/],
    ['an unwritable --out', ['run', '--out', '/proc/meshproof'], /^meshproof: --out \/proc\/meshproof: not a writable directory/],
    ['an unknown flag', ['run', '--frobnicate'], /unknown option '--frobnicate'/],
    ['21-6: --out that is a file', ['run', '--out', 'package.json'], /^meshproof: --out package\.json: a file, not a directory\n$/],
    ['21-6: a suite named twice', ['run', '--suite', 'mtls,authz,mtls'], /^meshproof: --suite mtls,authz,mtls: mtls named more than once\n$/],
    ['21-6: an empty overlay file', ['run', '--overlay', emptyFile], /^meshproof: .*empty\.yaml: holds no manifest \(empty, or only comments\)\n$/],
    ['21-6: an overlay of comments only', ['run', '--overlay', commentsOnly], /^meshproof: .*comments\.yaml: holds no manifest \(empty, or only comments\)\n$/],
    ['21-6: an unrendered template', ['run', '--posture', templated], /^meshproof: .*templated\.yaml:5: an unrendered template \(\{\{ … \}\}\): render it first/],
    ['21-6: --edge naming a Service the posture lacks (was: ~30 s to an error)', ['run', '--suite', 'boundary', '--edge', 'edge/nope', '--edge-host', 'edge.meshproof.test'], /^meshproof: --edge edge\/nope: no such Service in the posture \(the lab runs only the posture's Services: [^)]*\)\n$/],
    ['21-6: --edge whose Service lacks the --edge-host port', ['run', '--suite', 'boundary', '--edge', 'edge/ingressgateway', '--edge-host', 'edge.meshproof.test:8443'], /^meshproof: --edge edge\/ingressgateway: the Service has no port 8443 \(the --edge-host port; it has [0-9, ]+\)\n$/],
    ['21-9: --check with an unknown id names the close matches', ['run', '--check', 'MTLS-001,mtls-01'], /^meshproof: --check MTLS-01: no such check \(did you mean MTLS-001[^)]*\?\); see meshproof list\n$/],
    ['21-9: --check with --suite', ['run', '--check', 'MTLS-001', '--suite', 'mtls'], /^meshproof: --check and --suite: give one of them/],
    ['21-9: an unknown --output', ['run', '-o', 'yaml'], /^meshproof: --output yaml: text or json\n$/],
  ])('%s: one line, exit 2, no stack trace, nothing left running', async (_n, args, re) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(agentsOf(r.pid)).toEqual([]);
  });

  it('an apply failure ends the process with exit 3, nothing left running (6 runs: a race once left a listener open)', async () => {
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => cli(['run', '--target', 'lab', '--overlay', 'test/fixtures/echo-wrong-port.yaml', '--out', path.join(tmp, `apply-failed-${i}`)])),
    );
    for (const [i, r] of runs.entries()) {
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/lab pod bare\/echo-0 did not bind container port 8080/);
      expect(agentsOf(r.pid)).toEqual([]);
      expect(existsSync(path.join(tmp, `apply-failed-${i}`)), '21-2: a failed run leaves no empty folder').toBe(false);
    }
  });

  it('--out with {run} writes each run to its own directory named by its run id (the nightly CronJob\'s layout)', async () => {
    const root = path.join(tmp, 'nightly');
    const r = await cli(['run', '--target', 'lab', '--suite', 'audit', '--out', path.join(root, '{run}')]);
    expect(r.code, r.stderr).toBe(0);
    const [only] = readdirSync(root);
    expect(only).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(readFileSync(path.join(root, only!, 'run.json'), 'utf8')).runId).toBe(only);
  });

  it('21-2: one run, one bundle: a reused --out is refused before any work (exit 2); --force empties it, saying so, and the manifest seals only the new run', async () => {
    const out = path.join(tmp, 'reused');
    const first = await cli(['run', '--suite', 'audit', '--out', out]);
    expect(first.code, first.stderr).toBe(0);
    writeFileSync(path.join(out, 'stray.txt'), 'left over');
    const again = await cli(['run', '--suite', 'audit', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^meshproof: --out .*reused: not empty \(\d+ entries, e\.g\. [^)]+\): one run, one bundle; use a new directory, \{run\}, or --force to empty it\n$/);
    expect(agentsOf(again.pid)).toEqual([]);
    expect(readFileSync(path.join(out, 'stray.txt'), 'utf8')).toBe('left over');
    const forced = await cli(['run', '--suite', 'mtls', '--out', out, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/^meshproof: --force: emptied --out .*reused \(\d+ entries removed\)$/m);
    const manifest = readFileSync(path.join(out, 'manifest.sha256'), 'utf8');
    expect(manifest).not.toMatch(/stray\.txt|AUDIT-/);
    expect(manifest).toMatch(/checks\/MTLS-001\.json/);
    expect(existsSync(path.join(out, 'stray.txt'))).toBe(false);
  }); // four CLI runs, each waiting on the lab: a loaded machine slows them, the assertions do not change

  it('A-L6: --force empties only a previous bundle: never the working directory, the home directory or /, nor a directory without a manifest.sha256', async () => {
    const work = mkdtempSync(path.join(tmp, 'work-'));
    writeFileSync(path.join(work, 'notes.txt'), 'mine');
    writeFileSync(path.join(work, 'manifest.sha256'), ''); // even a directory that looks like a bundle, when it is the cwd
    const cwd = await cli(['run', '--suite', 'audit', '--out', '.', '--force'], { cwd: work });
    expect(cwd.code).toBe(2);
    expect(cwd.stderr).toMatch(/^meshproof: --out \. --force: refusing to empty \S+ \(the working directory, a parent of it, the home directory or \/\); use a directory of its own\n$/);
    const home = await cli(['run', '--suite', 'audit', '--out', work, '--force'], { env: { ...process.env, HOME: work } });
    expect(home.code).toBe(2);
    expect(home.stderr).toMatch(/refusing to empty \S+ \(the working directory, a parent of it, the home directory or \/\)/);
    // `/` is refused by the same rule (cli/common.ts refuseToEmpty); not run here: a broken build would empty it.
    const parent = await cli(['run', '--suite', 'audit', '--out', '..', '--force'], { cwd: work });
    expect(parent.code).toBe(2);
    const mine = path.join(tmp, 'not-a-bundle');
    mkdirSync(mine);
    writeFileSync(path.join(mine, 'thesis.tex'), 'years of work');
    const other = await cli(['run', '--suite', 'audit', '--out', mine, '--force']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/^meshproof: --out \S+not-a-bundle --force: refusing to empty it: it holds no manifest\.sha256, so it is not a previous bundle \(1 entry, e\.g\. thesis\.tex\)\n$/);
    expect(readFileSync(path.join(mine, 'thesis.tex'), 'utf8')).toBe('years of work');
    expect(readFileSync(path.join(work, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('A-L6: two runs given the same fixed --out at once: exactly one writes its bundle, the other is refused when it comes to write (exit 2), and the bundle verifies', async () => {
    const out = path.join(tmp, 'contested');
    const [a, b] = await Promise.all([cli(['run', '--suite', 'mtls', '--out', out]), cli(['run', '--suite', 'audit', '--out', out])]);
    expect([a.code, b.code].sort()).toEqual([0, 2]);
    const loser = a.code === 2 ? a : b;
    expect(loser.stderr).toMatch(/^meshproof: --out \S+contested: no longer empty when the bundle was to be written \([^)]+\): another run wrote there meanwhile; nothing written, one run, one bundle\n$/);
    const v = await cli(['verify', out]);
    expect(v.code, v.stdout).toBe(0);
    const manifest = readFileSync(path.join(out, 'manifest.sha256'), 'utf8');
    expect(/checks\/MTLS-/.test(manifest) && /checks\/AUDIT-/.test(manifest)).toBe(false); // one run's files only
  });

  it('21-2: refused, failed and interrupted runs leave no folder under reports/, so `history reports/*/` reads only bundles', async () => {
    const root = path.join(tmp, 'reports-root');
    const out = path.join(root, '{run}');
    const refused = await cli(['run', '--suite', 'mtls,mtls', '--out', out]);
    expect(refused.code).toBe(2);
    const failed = await cli(['run', '--overlay', 'test/fixtures/echo-wrong-port.yaml', '--out', out]);
    expect(failed.code).toBe(3);
    const ctrlC = interruptWhen((child) => agentsOf(child.pid!).length > 3);
    const interrupted = await cli(['run', '--out', out], { onStart: ctrlC.onStart });
    expect(ctrlC.sent()).toBe(true);
    expect(interrupted.code).toBe(130);
    expect(existsSync(root) ? readdirSync(root) : []).toEqual([]);
    const ok = await cli(['run', '--suite', 'audit', '--out', out]);
    expect(ok.code, ok.stderr).toBe(0);
    const dirs = readdirSync(root).map((d) => path.join(root, d));
    expect(dirs).toHaveLength(1);
    const h = await cli(['history', ...dirs, '--unsigned', '--out', path.join(tmp, 'reports-history')]);
    expect(h.stdout).toMatch(/^1 verified run\(s\)/);
    expect(h.code, h.stdout + h.stderr).toBe(0);
  }); // five CLI runs and a history

  it('--require: a required check that is not applicable fails the run (exit 1) with its reason, in run.json too', async () => {
    const out = path.join(tmp, 'required');
    const r = await cli(['run', '--suite', 'resilience', '--overlay', 'test/fixtures/no-destination-rule.yaml', '--require', 'RES-001', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/required check RES-001 was not applicable, which fails the run: no DestinationRule in scope for mesh\/echo/);
    const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
    expect(run.exitCode).toBe(1);
    expect(run.requirements.unmet.map((u: { id: string }) => u.id)).toEqual(['RES-001']);
    // Without --require the same run is green: not-applicable alone never fails.
    expect((await cli(['run', '--suite', 'resilience', '--overlay', 'test/fixtures/no-destination-rule.yaml', '--out', path.join(tmp, 'not-required')])).code).toBe(0);
  });

  it('--config: the same options from a YAML file, with flags given on the command line winning', async () => {
    const config = path.join(tmp, 'nightly.yaml');
    writeFileSync(config, 'suite: resilience\nrequire: [RES-001]\noverlay: [test/fixtures/no-destination-rule.yaml]\n');
    const r = await cli(['run', '--config', config, '--out', path.join(tmp, 'configured')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/required check RES-001 was not applicable/);
    // The command line wins over the file: no requirement left, so not-applicable is not a failure.
    const overridden = await cli(['run', '--config', config, '--require', '', '--out', path.join(tmp, 'configured-2')]);
    expect(overridden.code, overridden.stderr).toBe(0);
    writeFileSync(config, 'suites: mtls\n');
    const typo = await cli(['run', '--config', config]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^meshproof: --config .*nightly\.yaml: suites: not a run option\n$/);
  });

  it.each([
    { name: 'an unknown check', arg: 'RES-999', re: /^meshproof: --require RES-999: no such check or suite \(see meshproof list\)\n$/ },
    { name: 'a check the suites do not select', arg: 'CERT-001', re: /^meshproof: --require CERT-001: not selected by --suite or --check, so it could never be judged\n$/ },
  ])('--require with $name is a usage error', async ({ arg, re }) => {
    const r = await cli(['run', '--suite', 'mtls', '--require', arg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
  });

  it('the README\'s way to run the CLI from a checkout works (`npx meshproof` finds no bin there)', async () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain('`npm run --silent meshproof -- …`');
    const r = await runProcess('npm', ['run', '--silent', 'meshproof', '--', '--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    for (const example of ['examples/github-actions.yml', 'examples/gitlab-ci.yml']) expect(readFileSync(example, 'utf8')).not.toContain('npx meshproof');
  });

  it('Ctrl-C mid-run tears the lab down and exits 130', async () => {
    const out = path.join(tmp, 'interrupted');
    let seenRunning = 0;
    // Interrupt once the lab is up (its processes are visible), whatever the machine's load.
    const ctrlC = interruptWhen((child) => {
      seenRunning = agentsOf(child.pid!).length;
      return seenRunning > 3;
    });
    const r = await cli(['run', '--out', out], { onStart: ctrlC.onStart });
    expect(seenRunning).toBeGreaterThan(3); // the sweep below can see lab processes at all
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/SIGINT: tearing down/);
    // Processes re-parented at exit take a moment to go: wait for that, bounded, then name any left.
    await eventually(() => agentsOf(r.pid).length === 0, 120_000);
    expect(agentsOf(r.pid)).toEqual([]);
    expect(existsSync(path.join(out, 'junit.xml'))).toBe(false);
  });

  it('21-9: -o json, --check and --quiet: one JSON document on stdout, a --check run recorded as a narrower scope that compare names (exit 1 with -o json too), a one-line verdict under -q', async () => {
    const suite = path.join(tmp, 'json-suite');
    const single = path.join(tmp, 'json-check');
    const [a, b] = await Promise.all([cli(['run', '--suite', 'mtls', '-o', 'json', '--out', suite]), cli(['run', '--check', 'mtls-001', '--quiet', '--out', single])]);
    // -o json: stdout is exactly one document; progress went nowhere near it.
    expect(a.code, a.stderr).toBe(0);
    const doc = JSON.parse(a.stdout) as { schema: string; status: string; exitCode: number; scope: { selectedBy: string; checks: string[] }; counts: Record<string, number>; checks: { id: string; status: string; reason: string; cases: { label: string; status: string }[] }[] };
    expect(doc.schema).toBe('meshproof.dev/cli-run/v1');
    expect([doc.status, doc.exitCode, doc.scope.selectedBy]).toEqual(['pass', 0, 'suite']);
    expect(doc.checks.map((c) => [c.id, c.status])).toEqual([['MTLS-001', 'pass'], ['MTLS-002', 'pass'], ['MTLS-003', 'pass']]);
    expect(doc.counts).toEqual({ pass: 3, fail: 0, error: 0, notApplicable: 0 });
    for (const c of doc.checks) expect(c.cases.length, c.id).toBeGreaterThan(0);
    expect(doc.checks[0]!.cases.every((k) => k.status === 'pass' && k.label.length > 0)).toBe(true);
    // --quiet: one line on stdout, nothing on stderr; --check ran that check only and the bundle says so.
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toBe('');
    expect(b.stdout).toMatch(/^meshproof: run PASS: 1 passed, 0 failed, 0 inconclusive, 0 not applicable — reports in \S+json-check\n$/);
    const run = JSON.parse(readFileSync(path.join(single, 'run.json'), 'utf8'));
    expect(run.results.map((r: { id: string }) => r.id)).toEqual(['MTLS-001']);
    expect(run.scope).toMatchObject({ selectedBy: '--check', checks: ['MTLS-001'], suites: ['mtls'] });
    expect(run.scope.excluded).toContainEqual({ check: 'MTLS-002', suite: 'mtls', reason: 'not selected for this run (--check)' });
    // compare names the narrower scope, and the checks the candidate did not judge are regressions.
    const text = await cli(['compare', suite, single, '--unsigned', '--out', path.join(tmp, 'json-compare-text.json')]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^candidate:\s+\S+json-check: run \S+ on built-in lab .*; --check MTLS-001 only \(single checks, not whole suites\), namespaces /m);
    expect(text.stdout).toMatch(/^ {2}MTLS-002: not run by the candidate \(--check MTLS-001 only \(single checks, not whole suites\)\); name it in --allow-removed to accept$/m);
    const cmp = await cli(['compare', suite, single, '--unsigned', '-o', 'json', '--out', path.join(tmp, 'json-compare.json')]);
    expect(cmp.code).toBe(1);
    const c = JSON.parse(cmp.stdout) as { schema: string; exitCode: number; exitReason: string; regressed: string[]; candidate: { selectedBy: string }; baseline: { selectedBy: string } };
    expect(c.schema).toBe('meshproof.dev/cli-compare/v1');
    expect([c.exitCode, c.regressed, c.baseline.selectedBy, c.candidate.selectedBy]).toEqual([1, ['MTLS-002', 'MTLS-003'], '--suite', '--check']);
    expect(c.exitReason).toBe('2 regression(s): MTLS-002, MTLS-003');
  });

  it('21-9: sweep -o json: one document with counts and every finding, exit code unchanged; sweep -q: one verdict line, no progress', async () => {
    const [j, q] = await Promise.all([
      cli(['sweep', '--target', 'lab', '--estate', '6x1', '-o', 'json', '--out', path.join(tmp, 'sweep-json')]),
      cli(['sweep', '--target', 'lab', '--estate', '6x1', '-q', '--out', path.join(tmp, 'sweep-quiet')]),
    ]);
    expect([1, 0]).toContain(j.code);
    expect(j.stderr).not.toMatch(/swept \d+\/\d+ endpoints/);
    const doc = JSON.parse(j.stdout) as { schema: string; exitCode: number; status: string; incomplete: boolean; counts: { endpoints: number; judged: number }; canary: { flagged: boolean }; checks: { id: string; status: string }[]; findings: { check: string; namespace: string; pod: string; reason: string }[] };
    expect(doc.schema).toBe('meshproof.dev/cli-sweep/v1');
    expect(doc.exitCode).toBe(j.code);
    expect(doc.canary.flagged).toBe(true);
    expect(doc.incomplete).toBe(false);
    expect(doc.counts.judged).toBe(doc.counts.endpoints);
    expect(doc.findings.length > 0).toBe(j.code === 1);
    expect(doc.findings.every((f) => f.check.startsWith('SWEEP-') && f.reason.length > 0 && !f.namespace.startsWith('sweep'))).toBe(true);
    expect(doc.checks.some((c) => c.status === 'fail')).toBe(j.code === 1);
    // --quiet: the verdict line only, the same verdict.
    expect(q.code).toBe(j.code);
    expect(q.stderr).toBe('');
    expect(q.stdout).toMatch(new RegExp(`^meshproof: sweep ${j.code === 1 ? 'FAIL' : 'PASS'}: \\d+ passed, \\d+ failed, 0 inconclusive, \\d+ not applicable — reports in \\S+sweep-quiet\\n$`));
  });

  it('21-9: list and controls -o json: arrays on stdout, every check and every control', async () => {
    const l = await cli(['list', '-o', 'json']);
    expect(l.code).toBe(0);
    const checks = JSON.parse(l.stdout) as { id: string; suite: string; command: string; weakenedBy: string[] }[];
    expect(checks.filter((c) => c.command === 'run').map((c) => c.id)).toEqual(ALL_CHECKS.map((c) => c.id));
    expect(checks.find((c) => c.id === 'MTLS-001')).toMatchObject({ suite: 'mtls', weakenedBy: expect.arrayContaining([expect.stringMatching(/permissive-mtls/)]) });
    expect(checks.some((c) => c.suite === 'sweep' && c.id === 'SWEEP-MTLS')).toBe(true);
    const k = await cli(['controls', '--output', 'json']);
    expect(k.code).toBe(0);
    const controls = JSON.parse(k.stdout) as { id: string; title: string; claimedBy: { check: string; relation: string }[] }[];
    expect(controls.find((c) => c.id === 'PCI-DSS-4.0.1:4.2.1')?.claimedBy).toContainEqual({ check: 'MTLS-001', relation: expect.stringMatching(/^(addresses|supports)$/) });
    expect((await cli(['list', '-o', 'xml'])).code).toBe(2);
  });

  it('--help documents the run command and exit codes', async () => {
    const r = await cli(['run', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--overlay <file>/);
    expect(r.stdout).toMatch(/Exit codes: 0 all checks pass, 1 a check failed, 2 usage/);
  });
});
