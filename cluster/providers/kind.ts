// A throwaway kind cluster (`kind create cluster --name --config --wait`), torn down unless --keep.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireTool, run } from './tools.js';

export interface Provisioned {
  name: string;
  kubeconfig: string;
  dispose(): Promise<void>;
}

const KIND_CONFIG = `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
`;

export async function createKindCluster(o: { name: string; keep?: boolean; log?: (l: string) => void }): Promise<Provisioned> {
  await requireTool('docker');
  await requireTool('kind');
  const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-kind-'));
  const config = path.join(dir, 'kind.yaml');
  writeFileSync(config, KIND_CONFIG);
  o.log?.(`kind create cluster --name ${o.name}`);
  await run('kind', ['create', 'cluster', '--name', o.name, '--config', config, '--wait', '180s'], { timeoutMs: 10 * 60_000 });
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, await run('kind', ['get', 'kubeconfig', '--name', o.name], { timeoutMs: 60_000 }), { mode: 0o600 });
  return {
    name: o.name,
    kubeconfig,
    dispose: async () => {
      if (!o.keep) await deleteKindCluster(o.name);
    },
  };
}

/** Also used when a run is interrupted while `kind create cluster` is still running. */
export async function deleteKindCluster(name: string): Promise<void> {
  await run('kind', ['delete', 'cluster', '--name', name], { timeoutMs: 5 * 60_000 });
}
