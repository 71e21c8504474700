// Issue 21 item 7: the documents the output cites ship in the repository (docs/), and every section the output
// cites exists there. Reasons name `docs/istio-behaviours.md §N[.M]`; classifier rules carry `§N[.M]`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Code lines only: comments may cite the reference however they like; output must cite the shipped file. */
const codeLines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => !/^\s*(\/\/|\*|\/\*\*)/.test(l))
    .map((l) => l.replace(/ \/\/ .*$/, ''));

const doc = readFileSync('docs/istio-behaviours.md', 'utf8');

/** `§9.3` → item 3 of section 9; `§4c`, `§10` → the heading. */
function sectionExists(ref: string): boolean {
  const [, head, item] = /^§(\d+[a-z]?)(?:\.(\d+))?$/.exec(ref) ?? [];
  if (!head) return false;
  const at = doc.indexOf(`\n## ${head}. `);
  if (at < 0) return false;
  if (!item) return true;
  const body = doc.slice(at).split('\n## ')[1] ?? '';
  return new RegExp(`\\n${item}\\. `).test(`\n${body}`);
}

describe('cited documents ship with meshproof', () => {
  const lines = ['harness', 'suites', 'cli', 'cluster', 'agent'].flatMap(sources).flatMap(codeLines);
  const cited = new Set(lines.flatMap((l) => [...l.matchAll(/(?:docs\/istio-behaviours\.md |rule: ')(§[0-9a-z.]+?)(?=[)',\s])/g)].map((m) => m[1]!)));

  it('the output cites sections of docs/istio-behaviours.md, each of which exists', () => {
    expect(cited.size).toBeGreaterThanOrEqual(8);
    expect([...cited].filter((s) => !sectionExists(s))).toEqual([]);
  });

  it('no output string cites a section without the file that holds it, or a document that does not ship', () => {
    const bare = lines.filter((l) => /§\d/.test(l) && !/docs\/istio-behaviours\.md §|rule: '§/.test(l));
    expect(bare).toEqual([]);
    expect(lines.filter((l) => /['`"].*\b(ARCHITECTURE\.md|controls\.md|istio-behaviours\.md)/.test(l) && !/docs\/(istio-behaviours|controls)\.md/.test(l))).toEqual([]);
    for (const f of ['docs/istio-behaviours.md', 'docs/controls.md']) expect(statSync(f).size).toBeGreaterThan(1000);
  });
});
