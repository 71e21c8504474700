// The job page: a Markdown summary that a CommonMark (+ GFM tables) parser reads as a verdict table with what
// broke and no links, appended to GitHub's step summary, and `::error` annotations escaped as GitHub requires.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import MarkdownIt from 'markdown-it';
import { describe, expect, it } from 'vitest';
import { githubErrors } from '../harness/report/ci-summary.js';
import type { RunResult } from '../harness/result.js';
import { cli } from './support/cli.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'meshproof-ci-summary-'));

describe('CI summaries', () => {
  it('a failed run: a Markdown verdict table and what broke, on GitHub also in the step summary and as ::error lines', async () => {
    const md = path.join(tmp, 'summary.md');
    const step = path.join(tmp, 'step-summary.md');
    writeFileSync(step, '## an earlier step\n');
    const r = await cli(['run', '--suite', 'mtls', '--overlay', 'fixtures/weakened/permissive-mtls.yaml', '--summary-md', md, '--out', path.join(tmp, 'bundle')], {
      env: { ...process.env, GITHUB_STEP_SUMMARY: step, GITHUB_ACTIONS: 'true' },
    });
    expect(r.code).toBe(1);
    const text = readFileSync(md, 'utf8');
    const tokens = new MarkdownIt().parse(text, {});
    expect(tokens.find((t) => t.type === 'heading_open') && tokens[1]?.content).toBe('meshproof FAILED');
    // One table row per check, verdicts as written.
    const rows = tokens.filter((t) => t.type === 'tr_open').length - 1;
    expect(rows).toBe(3);
    const cells = tokens.filter((t) => t.type === 'inline').map((t) => t.content);
    expect(cells).toContain('❌ fail');
    expect(text).toMatch(/### What broke\n\n- \*\*MTLS-001\*\* — /);
    expect(tokens.some((t) => t.type === 'inline' && t.children?.some((c) => c.type === 'link_open'))).toBe(false);
    // Appended to what earlier steps wrote.
    expect(readFileSync(step, 'utf8')).toBe(`## an earlier step\n${text}`);
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('::error '));
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors[0]).toMatch(/^::error title=MTLS-00\d failed::A client without a sidecar/);
  });

  it('escapes workflow-command data and properties as GitHub requires', () => {
    const run = { results: [{ id: 'X-001', verdict: 'fail', claim: '100% refused,\nalways', reason: 'a:b' }] } as unknown as RunResult;
    expect(githubErrors(run)).toEqual(['::error title=X-001 failed::100%25 refused,%0Aalways Observed: a:b']);
  });

  it('a passing run writes a summary too, and nothing when no file and no GitHub', async () => {
    const md = path.join(tmp, 'ok.md');
    const r = await cli(['run', '--suite', 'audit', '--summary-md', md, '--out', path.join(tmp, 'ok')], { env: { ...process.env, GITHUB_STEP_SUMMARY: '', GITHUB_ACTIONS: '' } });
    expect(r.code).toBe(0);
    expect(readFileSync(md, 'utf8')).toMatch(/^## meshproof passed\n/);
    expect(r.stdout).not.toMatch(/^::error/m);
  });
});

describe('CI summaries of a sweep (21-5)', () => {
  it('21-5: sweep --summary-md: counts and each finding per namespace/Service/port with the reason; under GitHub Actions the step summary and one ::error per finding', async () => {
    const md = path.join(tmp, 'sweep.md');
    const step = path.join(tmp, 'sweep-step.md');
    writeFileSync(step, '## an earlier step\n');
    const r = await cli(['sweep', '--target', 'lab', '--estate', '6x1', '--summary-md', md, '--out', path.join(tmp, 'sweep-bundle')], {
      env: { ...process.env, GITHUB_STEP_SUMMARY: step, GITHUB_ACTIONS: 'true' },
    });
    expect(r.code, r.stderr).toBe(1);
    const text = readFileSync(md, 'utf8');
    expect(readFileSync(step, 'utf8')).toBe(`## an earlier step\n${text}`);
    const sw = JSON.parse(readFileSync(path.join(tmp, 'sweep-bundle', 'sweep.json'), 'utf8')) as {
      counts: { endpoints: number; judged: number };
      endpoints: { namespace: string; pod: string; port: number; role?: string; services: string[]; verdicts: { check: string; outcome: string; reason: string }[] }[];
      pods: { namespace: string; pod: string; role?: string; service?: string; verdict: { outcome: string; reason: string } }[];
    };
    // The counts, from the bundle's own sweep.json.
    const findings = sw.endpoints.filter((e) => e.role !== 'canary').flatMap((e) => e.verdicts.filter((v) => v.outcome === 'finding')).length + sw.pods.filter((p) => p.role !== 'canary' && p.verdict.outcome === 'finding').length;
    expect(findings).toBeGreaterThan(0);
    expect(text).toContain(`Judged ${sw.counts.judged} of ${sw.counts.endpoints} endpoints`);
    expect(text).toMatch(new RegExp(`: ${findings} findings, 0 exempt, 0 inconclusive; the canary was flagged\\.`));
    // One table row per finding (one pod per Service here), each with namespace, Service, port, check and why.
    const tokens = new MarkdownIt().parse(text, {});
    const rows: string[][] = [];
    let row: string[] | undefined;
    for (const t of tokens) {
      if (t.type === 'tr_open') row = [];
      else if (t.type === 'inline' && row) row.push(t.content);
      else if (t.type === 'tr_close' && row) {
        rows.push(row);
        row = undefined;
      }
    }
    const sweepTable = rows.filter((x) => x.length === 7);
    expect(sweepTable[0]).toEqual(['Namespace', 'Service', 'Port', 'Check', 'Outcome', 'Pods', 'Why']);
    const expected: string[] = [];
    for (const e of sw.endpoints) {
      if (e.role === 'canary') continue;
      for (const v of e.verdicts) if (v.outcome === 'finding') expected.push(`${e.namespace} ${e.services[0]!.split('/')[1]!.replace(/:\d+$/, '')} ${e.port} ${v.check} ${e.pod}: ${v.reason}`);
    }
    for (const p of sw.pods) if (p.role !== 'canary' && p.verdict.outcome === 'finding') expected.push(`${p.namespace} ${p.service!.split('/')[1]}  SWEEP-INJECT ${p.pod}: ${p.verdict.reason}`);
    const listed = sweepTable.slice(1).map(([ns, svc, port, check, outcome, pods, why]) => {
      expect(outcome).toBe('❌ finding');
      expect(pods).toBe('1');
      return `${ns} ${svc} ${port} ${check} ${why}`;
    });
    expect(listed.sort()).toEqual(expected.sort());
    // Under GitHub Actions each finding is an annotation naming its check and namespace/Service:port.
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('::error '));
    expect(errors).toHaveLength(findings);
    expect(errors).toContain('::error title=SWEEP-MTLS estate-1/svc-0003%3A9000::svc-0003-0: plaintext accepted: plaintext TCP reached the app: the nonce came back');
  });

  it('21-5: a sweep with more findings than GitHub shows annotates ten, the last saying how many more the summary holds', () => {
    const endpoints = Array.from({ length: 12 }, (_, i) => ({ namespace: 'team', pod: `svc-${i}-0`, port: 8080, services: [`team/svc-${i}:8080`], verdicts: [{ check: 'SWEEP-MTLS', outcome: 'finding', reason: 'plaintext accepted' }] }));
    const run = { results: [], sweep: { endpoints, pods: [] } } as unknown as RunResult;
    const lines = githubErrors(run);
    expect(lines).toHaveLength(10);
    expect(lines[0]).toBe('::error title=SWEEP-MTLS team/svc-0%3A8080::svc-0-0: plaintext accepted');
    expect(lines[9]).toMatch(/^::error title=3 more sweep findings::/);
  });
});
