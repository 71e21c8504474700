// The project's own module structure, read from the source with the TypeScript compiler's import scanner:
// no import cycle (STYLE.md: "two modules importing each other for one helper: move the helper down") and the
// one-way arrows of ARCHITECTURE.md ("harness/ imports neither cluster/ nor suites/"; harness/istio/ is the pure
// model of Istio's semantics: no I/O, nothing from the lab, the suites or the CLI).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
/** The project's own source (tests, bench and scripts may reach into any part). */
const SOURCE_DIRS = ['agent', 'cli', 'harness', 'cluster', 'suites', 'oracle'];

interface Module {
  /** Project-relative path, e.g. `harness/run.ts`. */
  file: string;
  /** Every specifier it imports or re-exports, type-only ones too (a type import is still a dependency). */
  specifiers: string[];
  /** The project files those specifiers resolve to. */
  imports: string[];
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(ROOT, dir))) {
    const rel = path.posix.join(dir, name);
    if (statSync(path.join(ROOT, rel)).isDirectory()) out.push(...sourceFiles(rel));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** A relative specifier (`./x.js`, `../y/index.js`) to the project file it names; undefined for packages. */
function resolve(from: string, specifier: string, known: Set<string>): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  const candidates = [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, `${base}/index.ts`];
  return candidates.find((c) => known.has(c));
}

function readModules(): Module[] {
  const files = SOURCE_DIRS.flatMap(sourceFiles);
  const known = new Set(files);
  return files.map((file) => {
    // preProcessFile lists static imports, re-exports, `import type` and dynamic `import()` alike.
    const info = ts.preProcessFile(readFileSync(path.join(ROOT, file), 'utf8'), true, true);
    const specifiers = info.importedFiles.map((f) => f.fileName);
    const imports = specifiers.map((s) => resolve(file, s, known)).filter((f): f is string => f !== undefined);
    return { file, specifiers, imports: [...new Set(imports)] };
  });
}

/** Tarjan's strongly connected components; a component of more than one file is an import cycle. */
function cycles(modules: Module[]): string[][] {
  const edges = new Map(modules.map((m) => [m.file, m.imports]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const m of modules) if (!index.has(m.file)) visit(m.file);
  return out;
}

/** One concrete path around a cycle, for the failure message: a → b → … → a. */
function cyclePath(component: string[], modules: Module[]): string {
  const inside = new Set(component);
  const edges = new Map(modules.map((m) => [m.file, m.imports.filter((i) => inside.has(i))]));
  const start = component[0]!;
  // Breadth-first from start's successors back to start: the shortest loop through start.
  const prev = new Map<string, string>();
  const queue = [...edges.get(start)!];
  for (const q of queue) prev.set(q, start);
  while (queue.length > 0) {
    const v = queue.shift()!;
    if (v === start) break;
    for (const w of edges.get(v) ?? []) {
      if (prev.has(w)) continue;
      prev.set(w, v);
      queue.push(w);
    }
  }
  const loop = [start];
  for (let v = prev.get(start)!; v !== start; v = prev.get(v)!) loop.unshift(v);
  loop.unshift(start);
  return loop.join(' → ');
}

/** The imports of `dir`'s modules that break a rule: project files under `forbiddenDirs`, or forbidden packages. */
function violations(modules: Module[], dir: string, forbiddenDirs: string[], forbiddenPackages: string[] = []): string[] {
  const out: string[] = [];
  for (const m of modules.filter((x) => x.file.startsWith(`${dir}/`))) {
    for (const i of m.imports) if (forbiddenDirs.some((d) => i.startsWith(`${d}/`))) out.push(`${m.file} imports ${i}`);
    for (const s of m.specifiers) if (forbiddenPackages.includes(s.replace(/^node:/, ''))) out.push(`${m.file} imports ${s}`);
  }
  return out;
}

describe('module structure', () => {
  const modules = readModules();

  it('reads the whole source tree (the scan is not vacuous)', () => {
    expect(modules.length).toBeGreaterThan(100);
    const run = modules.find((m) => m.file === 'harness/run.ts');
    expect(run?.imports).toContain('harness/engine.ts');
  });

  it('finds a cycle when there is one (the detector itself)', () => {
    const made: Module[] = [
      { file: 'a.ts', specifiers: [], imports: ['b.ts'] },
      { file: 'b.ts', specifiers: [], imports: ['c.ts'] },
      { file: 'c.ts', specifiers: [], imports: ['a.ts', 'd.ts'] },
      { file: 'd.ts', specifiers: [], imports: [] },
    ];
    const found = cycles(made);
    expect(found).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    expect(cyclePath(found[0]!, made)).toBe('a.ts → b.ts → c.ts → a.ts');
  });

  it('has no import cycle in agent/ cli/ harness/ cluster/ suites/ oracle/ (type-only imports included)', () => {
    const found = cycles(modules).map((c) => cyclePath(c, modules));
    expect(found, `import cycles:\n${found.join('\n')}`).toEqual([]);
  });

  it('harness/ imports nothing from cluster/ or suites/ (ARCHITECTURE.md: arrows point one way)', () => {
    expect(violations(modules, 'harness', ['cluster', 'suites', 'cli'])).toEqual([]);
  });

  it('harness/istio/ is pure: nothing from cluster/, suites/, cli/, and no file, socket or process I/O', () => {
    const io = ['fs', 'fs/promises', 'net', 'tls', 'http', 'https', 'http2', 'child_process', 'dgram', 'dns'];
    expect(violations(modules, 'harness/istio', ['cluster', 'suites', 'cli'], io)).toEqual([]);
  });
});
