// Runs the bundled CLI as a user would: a child process, real exit code, captured output.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export const CLI = path.resolve('dist/cli.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  pid: number;
}

export function cli(args: string[], opts: { onStart?: (child: ChildProcess) => void; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    opts.onStart?.(child);
    child.on('exit', (code) => resolve({ code, stdout, stderr, pid: child.pid! }));
  });
}
