// Provisioned targets where no container engine exists: every missing piece is one line naming the tool and
// how to install it, exit 2, before anything is created.
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';

/** A PATH holding only node and the fake tools given (each a shell script with the given exit code). */
function pathWith(tools: Record<string, number>): NodeJS.ProcessEnv {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-bin-'));
  for (const [name, code] of Object.entries(tools)) {
    const f = path.join(dir, name);
    writeFileSync(f, `#!/bin/sh\necho "${name} fake"\nexit ${code}\n`);
    chmodSync(f, 0o755);
  }
  return { ...process.env, PATH: `${dir}:${path.dirname(process.execPath)}` };
}

describe('--target kind and k3s without their tools', () => {
  it.each([
    ['kind, no docker CLI', ['run', '--target', 'kind'], {}, /^meshproof: docker is not installed \(not on PATH\): install Docker or Podman/],
    ['kind, docker CLI but no engine', ['run', '--target', 'kind'], { docker: 1 }, /^meshproof: no container engine answers the docker CLI/],
    ['kind, engine but no kind', ['run', '--target', 'kind'], { docker: 0 }, /^meshproof: kind is not installed \(not on PATH\): see https:\/\/kind\.sigs\.k8s\.io/],
    ['k3s, docker CLI but no engine', ['run', '--target', 'k3s'], { docker: 1 }, /^meshproof: no container engine answers the docker CLI/],
    ['the upgrade gate, no kind', ['upgrade-gate', '--from', '1.29.2', '--to', '1.30.1', '--out', path.join(tmpdir(), 'mp-gate')], { docker: 0 }, /^meshproof: kind is not installed/],
  ] as const)('%s: one line, exit 2', async (_n, args, tools, re) => {
    const r = await cli([...args], { env: pathWith(tools) });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('meshproof: ') && !l.includes('provisioning'))[0]).toMatch(re);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('Ctrl-C while kind is still creating the cluster deletes it', async () => {
    const env = pathWith({ docker: 0 });
    const bin = env.PATH!.split(':')[0]!;
    const log = path.join(bin, 'kind.log');
    const kind = path.join(bin, 'kind');
    writeFileSync(kind, `#!/bin/sh\necho "$*" >> ${log}\ncase "$1" in create) sleep 5 ;; esac\nexit 0\n`);
    chmodSync(kind, 0o755);
    const r = await cli(['run', '--target', 'kind'], {
      env,
      onStart: (child) => {
        const poll = setInterval(() => {
          if (existsSync(log) && readFileSync(log, 'utf8').includes('create cluster')) {
            clearInterval(poll);
            child.kill('SIGINT');
          }
        }, 50);
        child.once('exit', () => clearInterval(poll));
      },
    });
    expect(r.code).toBe(130);
    expect(readFileSync(log, 'utf8')).toMatch(/^delete cluster --name meshproof-[0-9a-f]{8}$/m);
  });

  it('bad gate and installer flags are usage errors', async () => {
    expect((await cli(['upgrade-gate', '--from', '1', '--to', '2', '--target', 'lab'])).stderr).toMatch(/the upgrade gate provisions its own cluster/);
    const r = await cli(['run', '--target', 'kind', '--installer', 'kustomize']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^meshproof: --installer kustomize: helm or istioctl\n$/);
  });
});
