// Issue 21 item 7 through the built CLI (dist/cli.js; `npm run build` first): a weakened run lists every failed
// case with the object its posture changed ("at fault:") and a one-line remedy ("fix:") in the terminal, junit.xml,
// the CI summary (--summary-md) and the HTML.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'meshproof-atfault-'));

/** Every failed or inconclusive case in the evidence (checks/*.json). */
function failedCases(out: string): { check: string; label: string }[] {
  return readdirSync(path.join(out, 'checks')).flatMap((f) => {
    const j = JSON.parse(readFileSync(path.join(out, 'checks', f), 'utf8')) as { check: { id: string } | string; cases: { label: string; verdict: string }[] };
    const id = typeof j.check === 'string' ? j.check : j.check.id;
    return j.cases.filter((c) => c.verdict === 'fail' || c.verdict === 'error').map((c) => ({ check: id, label: c.label }));
  });
}

/** The terminal's "What failed" block: each FAIL/INCONCLUSIVE line with the two lines after it. */
function whatFailed(stdout: string): { head: string; atFault?: string; fix?: string }[] {
  const lines = stdout.slice(stdout.indexOf('What failed:')).split('\n');
  return lines.flatMap((l, i) => (/^ {2}(FAIL|INCONCLUSIVE) /.test(l) ? [{ head: l, atFault: /^ {4}at fault: (.*)$/.exec(lines[i + 1] ?? '')?.[1], fix: /^ {4}fix: (.*)$/.exec(lines[i + 2] ?? '')?.[1] }] : []));
}

async function weakenedRun(name: string, select: string, overlay: string) {
  const out = path.join(tmp, name);
  const md = path.join(tmp, `${name}.md`);
  // `select`: a suite, or one check (`--check`) where its suite holds slow checks the weakness does not touch.
  const which = /^[A-Z]+-\d{3}$/.test(select) ? ['--check', select] : ['--suite', select];
  const r = await cli(['run', '--target', 'lab', ...which, '--overlay', `fixtures/weakened/${overlay}`, '--out', out, '--summary-md', md]);
  return { r, out, cases: failedCases(out), listed: whatFailed(r.stdout), junit: readFileSync(path.join(out, 'junit.xml'), 'utf8'), summary: readFileSync(md, 'utf8'), html: readFileSync(path.join(out, 'report.html'), 'utf8') };
}

describe('issue 21 item 7: every failed case says what is at fault and how to fix it', () => {
  it.each([
    ['mtls', 'mtls', 'permissive-mtls.yaml', /^PeerAuthentication mesh\/default sets PERMISSIVE on container port \d+ of mesh\/echo/, /STRICT .*PeerAuthentication mesh\/default/],
    ['egress', 'boundary', 'egress-allow-any.yaml', /^Sidecar mesh\/default outboundTrafficPolicy\.mode = ALLOW_ANY for mesh\/authorized/, /REGISTRY_ONLY in Sidecar mesh\/default/],
    ['egress-se', 'boundary', 'egress-wildcard-serviceentry.yaml', /^ServiceEntry mesh\/any-external .*0\.0\.0\.0\/0/, /narrow .*mesh\/any-external/],
    ['audit', 'audit', 'logging-off-mesh.yaml', /^Telemetry mesh\/no-access-logs spec\.accessLogging/, /disabled: true .*Telemetry mesh\/no-access-logs/],
    ['edge', 'EDGE-001', 'edge-no-redirect.yaml', /^Gateway edge\/edge-gateway servers\[1\] \(HTTP port 80, hosts edge\.meshproof\.test\) tls\.httpsRedirect = unset/, /servers\[1\]\.tls\.httpsRedirect: true/],
    ['cert', 'CERT-001', 'workload-cert-90d.yaml', /^Deployment mesh\/echo .*proxyMetadata\.SECRET_TTL = 2160h$/, /SECRET_TTL to at most 24h/],
    ['mesh-wide', 'MTLS-003', 'mesh-wide-permissive.yaml', /^PeerAuthentication istio-system\/default sets PERMISSIVE on container port \d+ of bare\/echo/, /STRICT .*PeerAuthentication istio-system\/default/],
    ['chaos-outage', 'CHAOS-001', 'permissive-mtls.yaml', /^PeerAuthentication mesh\/default sets PERMISSIVE on container port \d+ of mesh\/echo/, /STRICT .*PeerAuthentication mesh\/default/],
    ['chaos-join', 'CHAOS-002', 'lab-injection-fail-open.yaml', /^LabFault istio-system\/injection-fail-open spec\.injectionFailOpen = true \(a lab-only fault; on a cluster: MutatingWebhookConfiguration istio-sidecar-injector/, /failurePolicy: Fail/],
  ])('%s: %s with %s: terminal, junit.xml, --summary-md and the HTML name the object and the fix', async (name, suite, overlay, object, fix) => {
    const run = await weakenedRun(name, suite, overlay);
    expect(run.r.code).toBe(1);
    expect(run.cases.length).toBeGreaterThan(0);
    // Terminal: one entry per failed case of the evidence, each with its object and fix.
    expect(run.listed).toHaveLength(run.cases.length);
    for (const c of run.cases) expect(run.listed.some((l) => l.head.includes(c.label)), c.label).toBe(true);
    for (const l of run.listed) {
      expect(l.atFault, l.head).toMatch(object);
      expect(l.fix, l.head).toMatch(fix);
    }
    // The same list in junit.xml, the CI summary and the HTML.
    const atFaults = [...new Set(run.listed.map((l) => l.atFault!))];
    const escHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
    const escXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
    expect(run.junit.match(/at fault: /g)).toHaveLength(run.cases.length);
    expect(run.summary.match(/- at fault: /g)).toHaveLength(run.cases.length);
    expect(run.summary.match(/- fix: /g)).toHaveLength(run.cases.length);
    for (const a of atFaults) {
      expect(run.junit.includes(`at fault: ${a}`) || run.junit.includes(`at fault: ${escXml(a)}`), a).toBe(true);
      expect(run.summary).toContain(a.split(' (')[0]);
      expect(run.html).toContain(escHtml(a).split(' (')[0]);
    }
  });
});
