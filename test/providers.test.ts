// Provisioned targets where no container engine exists: every missing piece is one line naming the tool and
// how to install it, exit 2, before anything is created.
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kindNodeImage } from '../cluster/providers/kind.js';
import { parseIstioctlVersion, versionMatches } from '../cluster/istio/install.js';
import { loadPosture } from '../harness/posture/load.js';
import { cli, interruptWhen } from './support/cli.js';
import { startLabCluster } from './support/lab-cluster.js';

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

/** A kind on the PATH that logs its arguments to `log` and runs `onCreate` for `kind create`. */
function fakeKind(onCreate: string): { env: NodeJS.ProcessEnv; log: string } {
  const env = pathWith({ docker: 0 });
  const bin = env.PATH!.split(':')[0]!;
  const log = path.join(bin, 'kind.log');
  writeFileSync(path.join(bin, 'kind'), `#!/bin/sh\necho "$*" >> ${log}\ncase "$1" in create) ${onCreate} ;; esac\nexit 0\n`);
  chmodSync(path.join(bin, 'kind'), 0o755);
  return { env, log };
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
    const { env, log } = fakeKind('sleep 5');
    const ctrlC = interruptWhen(() => existsSync(log) && readFileSync(log, 'utf8').includes('create cluster'));
    const r = await cli(['run', '--target', 'kind'], { env, onStart: ctrlC.onStart });
    expect(r.code).toBe(130);
    // kind works on its own kubeconfig file, never the user's (whose current context it would switch, §10).
    expect(readFileSync(log, 'utf8')).toMatch(/^create cluster --name (meshproof-[0-9a-f]{8}) --config \S+ --kubeconfig \S+\/\1\.kubeconfig --image kindest\/node:v1\.33\.1 --wait 180s$/m);
    expect(readFileSync(log, 'utf8')).toMatch(/^delete cluster --name (meshproof-[0-9a-f]{8}) --kubeconfig \S+\/\1\.kubeconfig$/m);
  });

  it('K-L9: kind writes its kubeconfig in a private directory, and a failed create leaves no cluster behind', async () => {
    // A create that fails after starting its node container (as a create killed at meshproof's time-out would).
    const { env, log } = fakeKind('exit 1');
    const r = await cli(['run', '--target', 'kind'], { env });
    expect(r.code).toBe(3);
    const text = readFileSync(log, 'utf8');
    const created = /^create cluster --name (meshproof-[0-9a-f]{8}) --config \S+ --kubeconfig (\S+) /m.exec(text)!;
    const dir = path.dirname(created[2]!);
    expect(dir).not.toBe(tmpdir()); // not a predictable name in the shared temporary directory
    expect(path.basename(dir)).toMatch(/^meshproof-kind-/);
    expect(text).toContain(`delete cluster --name ${created[1]} --kubeconfig ${created[2]}`);
  });

  it('bad gate and installer flags are usage errors', async () => {
    expect((await cli(['upgrade-gate', '--from', '1', '--to', '2', '--target', 'lab'])).stderr).toMatch(/the upgrade gate provisions its own cluster/);
    const r = await cli(['run', '--target', 'kind', '--installer', 'kustomize']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^meshproof: --installer kustomize: helm or istioctl\n$/);
  });
});

describe('istioctl versions and kind node images', () => {
  it.each([
    { out: 'client version: 1.30.1\n', wanted: '1.30.1', ok: true },
    { out: 'client version: 1.30.1\n', wanted: '~1.30.0', ok: true },
    { out: 'client version: 1.29.2\n', wanted: '~1.30.0', ok: false },
    { out: '1.30.0\n', wanted: '1.30', ok: true },
    { out: 'client version: 1.30.1\n', wanted: '1.30.0', ok: false },
  ])('istioctl printing $out for $wanted: $ok', ({ out, wanted, ok }) => {
    const v = parseIstioctlVersion(out);
    expect(v).toMatch(/^1\.\d+\.\d+$/);
    expect(versionMatches(v!, wanted)).toBe(ok);
  });

  it('a node image each supported Istio runs on (Istio 1.30 needs Kubernetes >= 1.32)', () => {
    expect(kindNodeImage('~1.30.0')).toBe('kindest/node:v1.33.1');
    expect(kindNodeImage('1.29.2')).toMatch(/^kindest\/node:v1\.3[2-9]\./);
    expect(kindNodeImage('2.0.0')).toBeUndefined();
  });

  it('--installer istioctl refuses an istioctl of another version, naming it and --istioctl', async () => {
    const env = pathWith({ docker: 0 });
    const bin = env.PATH!.split(':')[0]!;
    writeFileSync(path.join(bin, 'kind'), '#!/bin/sh\nexit 0\n');
    writeFileSync(path.join(bin, 'istioctl'), '#!/bin/sh\necho "client version: 1.29.2"\nexit 0\n');
    chmodSync(path.join(bin, 'kind'), 0o755);
    chmodSync(path.join(bin, 'istioctl'), 0o755);
    const r = await cli(['run', '--target', 'kind', '--installer', 'istioctl', '--istio-version', '1.30.1'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^meshproof: istioctl is 1\.29\.2, not 1\.30\.1: istioctl installs its own version; pass --istioctl with the right one or use --installer helm$/m);
  });
});

describe('the upgrade gate, end to end through fake kind and helm against the API façade', () => {
  it('runs before, between (old proxies, new istiod) and after the workload restart, compares all three, and deletes everything', async () => {
    const cluster = await startLabCluster();
    // The gate's kind cluster is driven with its admin's kubeconfig, which deploy/confine.yaml does not confine.
    cluster.api.state.user = 'kubernetes-admin';
    try {
      const facadeConfig = cluster.api.kubeconfig(mkdtempSync(path.join(tmpdir(), 'meshproof-gate-kc-')));
      const env = pathWith({ docker: 0, helm: 0 });
      const bin = env.PATH!.split(':')[0]!;
      const log = path.join(bin, 'calls.log');
      // kind "creates" the cluster by writing the façade's kubeconfig where it is told to (its own file, never the user's).
      writeFileSync(
        path.join(bin, 'kind'),
        `#!/bin/sh\necho "kind $*" >> ${log}\nif [ "$1" = create ]; then while [ $# -gt 0 ]; do if [ "$1" = --kubeconfig ]; then cp ${facadeConfig} "$2"; fi; shift; done; fi\nexit 0\n`,
      );
      writeFileSync(path.join(bin, 'helm'), `#!/bin/sh\necho "helm $*" >> ${log}\nexit 0\n`);
      chmodSync(path.join(bin, 'kind'), 0o755);
      chmodSync(path.join(bin, 'helm'), 0o755);
      const out = mkdtempSync(path.join(tmpdir(), 'meshproof-gate-'));
      const r = await cli(['upgrade-gate', '--from', '1.29.2', '--to', '1.30.1', '--suite', 'mtls,authz', '--out', out], { env: { ...env, MESHPROOF_TIMEOUTS: 'lab' } });
      expect(r.code, r.stderr).toBe(0);
      for (const stage of ['from', 'upgraded', 'to']) expect(JSON.parse(readFileSync(path.join(out, stage, 'run.json'), 'utf8')).exitCode).toBe(0);
      const compare = JSON.parse(readFileSync(path.join(out, 'compare.json'), 'utf8')) as { upgraded: { regressions: number }; restarted: { regressions: number } };
      expect([compare.upgraded.regressions, compare.restarted.regressions]).toEqual([0, 0]);
      expect(r.stdout).toMatch(/control plane upgraded, old proxies/);
      const calls = readFileSync(log, 'utf8');
      expect(calls).toMatch(/helm upgrade --install istiod istiod .*--version 1\.29\.2/);
      expect(calls).toMatch(/helm upgrade istiod istiod .*--version 1\.30\.1/);
      expect(calls).toMatch(/kind delete cluster --name meshproof-gate-/);
      // The stages shared one run: its namespaces were taken up, not re-created, and are gone at the end.
      const runIds = ['from', 'upgraded', 'to'].map((s) => JSON.parse(readFileSync(path.join(out, s, 'run.json'), 'utf8')).runId);
      expect(new Set(runIds).size).toBe(1);
      expect(cluster.api.calls.filter((c) => c === 'POST /api/v1/namespaces')).toHaveLength(4); // mesh, bare, outside, edge: created once, by the first stage
      const deploymentPatches = cluster.api.calls.filter((c) => c.startsWith('PATCH') && c.includes('/deployments/'));
      const deployments = loadPosture('fixtures/secure').objects.filter((o) => o.manifest.kind === 'Deployment').length;
      expect(deploymentPatches.length).toBe(2 * deployments); // applied by the first stage, restarted by the last
      expect([...cluster.api.state.namespaces.keys()].filter((n) => n.startsWith('mp-'))).toEqual([]);
    } finally {
      await cluster.close();
    }
  });
});
