// A throwaway kind cluster (`kind create cluster --name --config --wait`), torn down unless --keep. It never
// touches the user's kubeconfig: without --kubeconfig kind writes into it, switches its current context, and
// `kind delete` then blanks current-context (istio-behaviours.md §10); every kind call here names its own file.
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

/**
 * kindest/node images by Istio minor: a Kubernetes version that Istio release supports (Istio 1.30 needs
 * Kubernetes >= 1.32, istio-behaviours.md §8). Pinned by tag; kind's release notes list the digests to pin by.
 */
export const KIND_NODE_IMAGES: Record<string, string> = {
  '1.28': 'kindest/node:v1.32.5',
  '1.29': 'kindest/node:v1.33.1',
  '1.30': 'kindest/node:v1.33.1',
};

/** The node image for an Istio version (`1.30.1`, `~1.30.0`); undefined lets kind choose its default. */
export function kindNodeImage(istioVersion: string): string | undefined {
  const minor = /(\d+\.\d+)/.exec(istioVersion)?.[1];
  return minor ? KIND_NODE_IMAGES[minor] : undefined;
}

let privateDir: string | undefined;

/**
 * The kubeconfig a kind cluster of this name is written to: meshproof's own, never the user's, in a directory of
 * this process's own (mkdtemp: mode 0700, an unpredictable name), so nobody else on a shared runner can plant a
 * link at it or read the cluster's admin credentials.
 */
export function kindKubeconfig(name: string): string {
  privateDir ??= mkdtempSync(path.join(tmpdir(), 'meshproof-kind-'));
  return path.join(privateDir, `${name}.kubeconfig`);
}

export async function createKindCluster(o: { name: string; istioVersion?: string; image?: string; keep?: boolean; log?: (l: string) => void }): Promise<Provisioned> {
  await requireTool('docker');
  await requireTool('kind');
  const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-kind-'));
  const config = path.join(dir, 'kind.yaml');
  writeFileSync(config, KIND_CONFIG);
  const kubeconfig = kindKubeconfig(o.name);
  const image = o.image ?? (o.istioVersion ? kindNodeImage(o.istioVersion) : undefined);
  o.log?.(`kind create cluster --name ${o.name}`);
  try {
    await run('kind', ['create', 'cluster', '--name', o.name, '--config', config, '--kubeconfig', kubeconfig, ...(image ? ['--image', image] : []), '--wait', '180s'], { timeoutMs: 10 * 60_000 });
  } catch (e) {
    // kind removes a cluster whose creation failed, but not one whose `create` we killed at the time-out.
    if (!o.keep) await deleteKindCluster(o.name).catch(() => {});
    throw e;
  }
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
  await run('kind', ['delete', 'cluster', '--name', name, '--kubeconfig', kindKubeconfig(name)], { timeoutMs: 5 * 60_000 });
}
