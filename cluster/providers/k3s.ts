// A throwaway k3s cluster in a container (@testcontainers/k3s; its default command disables traefik), torn down
// unless --keep. testcontainers' reaper (Ryuk) removes it when meshproof exits, so --keep switches the reaper off
// for this process and says where the kubeconfig is (istio-behaviours.md §10).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InfraError, messageOf } from '../../harness/errors.js';
import type { Provisioned } from './kind.js';
import { requireTool } from './tools.js';

/** Istio 1.30 needs Kubernetes ≥ 1.32 (istio-behaviours.md §8). */
export const DEFAULT_K3S_IMAGE = 'rancher/k3s:v1.33.1-k3s1';

export async function createK3sCluster(o: { image?: string; keep?: boolean; log?: (l: string) => void }): Promise<Provisioned> {
  await requireTool('docker');
  if (o.keep) process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  const { K3sContainer } = await import('@testcontainers/k3s');
  let started: Awaited<ReturnType<InstanceType<typeof K3sContainer>['start']>>;
  try {
    started = await new K3sContainer(o.image ?? DEFAULT_K3S_IMAGE).start();
  } catch (e) {
    throw new InfraError(`k3s did not start: ${messageOf(e).split('\n')[0]}`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-k3s-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, started.getKubeConfig(), { mode: 0o600 });
  if (o.keep) (o.log ?? ((l) => process.stderr.write(`${l}\n`)))(`meshproof: k3s container ${started.getId().slice(0, 12)} is kept; its kubeconfig is ${kubeconfig} (docker rm -f ${started.getId().slice(0, 12)} removes it)`);
  return {
    name: started.getId().slice(0, 12),
    kubeconfig,
    dispose: async () => {
      if (!o.keep) await started.stop();
    },
  };
}
