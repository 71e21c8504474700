// External tools a provider needs. A missing one is a one-line usage error naming it and how to install it.
import { execa } from 'execa';
import { ConfigError, InfraError } from '../../harness/errors.js';

const HOW: Record<string, string> = {
  docker: 'install Docker or Podman (docker CLI) and start its engine',
  kind: 'see https://kind.sigs.k8s.io/docs/user/quick-start/#installation',
  helm: 'see https://helm.sh/docs/intro/install/',
  istioctl: 'see https://istio.io/latest/docs/setup/getting-started/#download',
};

export async function requireTool(name: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  try {
    await execa(name, name === 'helm' ? ['version', '--short'] : name === 'istioctl' ? ['version', '--remote=false'] : ['version'], { env, timeout: 15_000 });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new ConfigError(`${name} is not installed (not on PATH): ${HOW[name] ?? `install ${name}`}`);
    if (name === 'docker') throw new ConfigError(`no container engine answers the docker CLI (\`docker version\` failed): ${HOW.docker}`);
    throw new ConfigError(`${name} does not run: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Runs a tool; its failure is an infrastructure error with the tool's last line of output. */
export async function run(cmd: string, args: string[], o: { timeoutMs: number; env?: NodeJS.ProcessEnv; input?: string }): Promise<string> {
  const r = await execa(cmd, args, { timeout: o.timeoutMs, env: o.env, input: o.input, reject: false, all: true });
  if (r.exitCode !== 0 || r.timedOut) {
    const last = String(r.all ?? '').trim().split('\n').pop() ?? '';
    throw new InfraError(`${cmd} ${args.slice(0, 3).join(' ')} ${r.timedOut ? `timed out after ${o.timeoutMs / 1000}s` : `exited ${r.exitCode}`}: ${last}`);
  }
  return String(r.stdout);
}
