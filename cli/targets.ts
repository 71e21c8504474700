// Building Targets for the commands (the CLI is the composition root: ARCHITECTURE.md).
import type { EdgeAuthority } from '../harness/pki.js';
import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { KubeTarget } from '../cluster/kube/kube-target.js';
import type { PreflightReport } from '../cluster/kube/preflight.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { ConfigError } from '../harness/errors.js';
import { AGENT_BUNDLE } from '../harness/paths.js';
import type { Target } from '../harness/target.js';
import { KUBE_TIMEOUTS, LAB_TIMEOUTS, type Timeouts } from '../harness/timeouts.js';

export const TARGETS = ['lab', 'kubeconfig', 'kind', 'k3s'] as const;

export function checkTarget(name: string): void {
  if (!(TARGETS as readonly string[]).includes(name)) throw new ConfigError(`unknown target ${name} (available: ${TARGETS.join(', ')})`);
}

export function labTarget(verbose: boolean, podsPerProcess?: number): LabTarget {
  return new LabTarget({ podsPerProcess, onProcessLog: verbose ? (pod, line) => process.stderr.write(`[${pod}] ${line}\n`) : undefined });
}

/** Waits on a cluster; MESHPROOF_TIMEOUTS=lab is for the test façade only. */
export function kubeTimeouts(): Timeouts {
  return process.env.MESHPROOF_TIMEOUTS === 'lab' ? LAB_TIMEOUTS : KUBE_TIMEOUTS;
}

export interface KubeTargetFlags {
  istioNamespace: string;
  revision?: string;
  image?: string;
  imageRegistry?: string;
  keep?: boolean;
  stage?: 'apply' | 'resume' | 'restart';
  allowControlPlaneOutage?: boolean;
  /** `--ready-timeout <seconds>`: how long pods may take to be Ready (autoscaler scale-ups, cold image pulls). */
  readyTimeout?: string;
  /** The upgrade gate's stages share one run's edge CA (KubeTargetOptions.edgeAuthority). */
  edgeAuthority?: { authority?: EdgeAuthority };
}

/** A KubeTarget for one run id, after preflight has passed. */
export function kubeTarget(kc: KubeConfig, pre: PreflightReport, o: KubeTargetFlags & { runId: string; provisioned: boolean; onCall?: (what: string) => void }): Target {
  return new KubeTarget({
    kc,
    runId: o.runId,
    provisioned: o.provisioned,
    trustDomain: pre.trustDomain,
    agentBundle: readFileSync(AGENT_BUNDLE, 'utf8'),
    adminToken: crypto.randomUUID(),
    image: o.image,
    imageRegistry: o.imageRegistry,
    keep: o.keep,
    readyTimeoutMs: readyTimeoutMs(o.readyTimeout),
    deleteTimeoutMs: kubeTimeouts().namespaceDeleteMs,
    stage: o.stage,
    edgeAuthority: o.edgeAuthority,
    istio: { namespace: o.istioNamespace, caAddress: pre.caAddress, caServername: pre.caServername, meshConfigName: pre.meshConfigName, rootNamespace: pre.rootNamespace, revision: o.revision },
    versions: { kubernetes: pre.kubernetes, istiod: pre.istiod.image, 'istiod ready': pre.istiod.ready, 'istiod revision': `${pre.istiod.name} (${pre.istiod.revision}${pre.tag ? `, tag ${pre.tag}` : ''})`, 'trust domain': pre.trustDomain },
    onCall: o.onCall,
    istiodDeployment: pre.istiod.name,
    discoverySelectors: pre.discoverySelectors,
    allowControlPlaneOutage: o.allowControlPlaneOutage,
  });
}

/** `--ready-timeout` in seconds (default 180, KubeTarget's own); anything but a positive number is a usage error. */
export function readyTimeoutMs(flag: string | undefined): number | undefined {
  if (flag === undefined) return undefined;
  const s = Number(flag);
  if (!Number.isFinite(s) || s <= 0) throw new ConfigError(`--ready-timeout ${flag}: expected a number of seconds greater than 0`);
  return s * 1000;
}

/** The options every command that reaches an existing cluster shares (run, sweep, self-verify). */
export function clusterOptions(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <file>', 'with --target kubeconfig: kubeconfig file (default: KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--context <name>', 'with --target kubeconfig: kubeconfig context')
    .option('--istio-namespace <ns>', 'with --target kubeconfig: where istiod runs', 'istio-system')
    .option('--revision <rev>', 'with --target kubeconfig: the control-plane revision or revision tag to test (istiod-<rev>; run namespaces get istio.io/rev=<rev or tag>)')
    .option('--ready-timeout <seconds>', "with --target kubeconfig: how long meshproof's pods may take to be Ready (default 180; raise it for cluster-autoscaler scale-ups or cold image pulls)")
    .option('--image <image>', "Node image for meshproof's pods", 'node:22-alpine')
    .option('--image-registry <prefix>', 'pull images through this registry mirror (air-gapped clusters)');
}
