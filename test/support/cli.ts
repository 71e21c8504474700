// Runs the bundled CLI as a user would: a child process, real exit code, captured output.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const CLI = path.resolve('dist/cli.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  pid: number;
}

/** Runs a process to its end, capturing output; optional stdin, environment, and a hook on start. */
export function runProcess(
  cmd: string,
  args: string[],
  opts: { onStart?: (child: ChildProcess) => void; env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    opts.onStart?.(child);
    child.stdin?.end(opts.input);
    child.on('close', (code) => resolve({ code, stdout, stderr, pid: child.pid! }));
  });
}

export function cli(args: string[], opts: { onStart?: (child: ChildProcess) => void; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return runProcess(process.execPath, [CLI, ...args], opts);
}

/** Live processes a lab started for this CLI process (they carry its pid in MESHPROOF_LAB_OWNER, even once re-parented). */
export function agentsOf(pid: number): string[] {
  const marker = `MESHPROOF_LAB_OWNER=${pid}\0`;
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/environ`, 'latin1').includes(marker);
      } catch {
        return false; // exited meanwhile
      }
    });
}

/**
 * Ctrl-C at the right moment: polls `when(child)` every `everyMs` and sends SIGINT the first time it holds. Pass
 * `onStart` to the run; `sent()` tells whether the moment came.
 */
export function interruptWhen(when: (child: ChildProcess) => boolean, everyMs = 50): { onStart: (child: ChildProcess) => void; sent: () => boolean } {
  let sent = false;
  return {
    sent: () => sent,
    onStart: (child) => {
      const poll = setInterval(() => {
        if (!sent && when(child)) {
          sent = true;
          clearInterval(poll);
          child.kill('SIGINT');
        }
      }, everyMs);
      child.once('exit', () => clearInterval(poll));
    },
  };
}

/**
 * Waits for a condition rather than a fixed time: polls `cond` every `everyMs` until it holds or `withinMs` has
 * passed (a bound, not a budget: a loaded machine takes longer, a broken one never gets there). Returns whether it held.
 */
export async function eventually(cond: () => boolean, withinMs: number, everyMs = 50): Promise<boolean> {
  const until = Date.now() + withinMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= until) return false;
    await new Promise((res) => setTimeout(res, everyMs));
  }
}
