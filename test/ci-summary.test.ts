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
