// <out>/matrix.json: the access matrix of a `sweep --matrix` (issue 22 item 3), the MatrixReport as the engine made
// it (harness/matrix/types.ts). The picture in report.html, JUnit's per-identity cases and `compare` all read this
// same model; in the bundle it is covered by manifest.sha256 like every other file.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { MatrixReport } from '../matrix/types.js';

export const MATRIX_FILE = 'matrix.json';
export const MATRIX_SCHEMA = 'meshproof.dev/matrix/v1';

export function writeMatrix(outDir: string, runId: string, matrix: MatrixReport): void {
  writeFileSync(path.join(outDir, MATRIX_FILE), `${JSON.stringify({ schema: MATRIX_SCHEMA, runId, ...matrix }, null, 2)}\n`);
}

/** A bundle's matrix, or undefined when it has none; a file that is not a matrix is a usage error, named. */
export function readMatrix(dir: string): MatrixReport | undefined {
  const file = path.join(dir, MATRIX_FILE);
  if (!existsSync(file)) return undefined;
  let v: Partial<MatrixReport> & { schema?: string; runId?: string };
  try {
    v = JSON.parse(readFileSync(file, 'utf8')) as typeof v;
  } catch (e) {
    throw new ConfigError(`${file}: not JSON (${(e as Error).message})`);
  }
  if (v.schema !== MATRIX_SCHEMA || !Array.isArray(v.identities) || !Array.isArray(v.services) || !Array.isArray(v.cells)) {
    throw new ConfigError(`${file}: not a meshproof access matrix (${MATRIX_SCHEMA})`);
  }
  const { schema: _s, runId: _r, ...matrix } = v;
  return matrix as MatrixReport;
}
