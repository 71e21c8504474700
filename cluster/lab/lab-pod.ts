// A lab pod and the lab's table of them: the workloads start pods (workloads.ts), the applied posture lists them as
// endpoints (lab-posture.ts), the Target's operations find them (lab-target.ts). One small seam the three share
// without importing each other.
import type { ChildProcess } from 'node:child_process';
import { ConfigError } from '../../harness/errors.js';
import type { PodRef } from '../../harness/target.js';
import type { DeploymentModel } from './model.js';
import type { Sidecar } from './sidecar.js';

export interface LabPod extends PodRef {
  deployment: DeploymentModel;
  spiffeId: string;
  process?: ChildProcess;
  /** containerPort → the loopback port the app really bound. */
  appPorts: Map<number, number>;
  /** containerPort → the sidecar's inbound listener (what "podIP:containerPort" means in the lab). */
  inboundPorts: Map<number, number>;
  sidecar?: Sidecar;
  adminPort?: number;
  alive: boolean;
  /** The lab's own number for the pod's IP; `ipOf()` prefers the one a cluster gave it. */
  ip: string;
}

export class PodTable {
  /** Every pod the lab started and has not deleted, in start order (a dead pod stays until it is scaled away). */
  readonly list: LabPod[] = [];

  /** `podIp`: the pod IP a cluster gave a pod (the Kubernetes façade's); the lab numbers its own otherwise. */
  constructor(private readonly podIp?: (namespace: string, name: string) => string | undefined) {}

  /** The pod's IP as the cluster would give it (what a ServiceEntry's `addresses` and an egress dial name). */
  ipOf(p: LabPod): string {
    return this.podIp?.(p.namespace, p.name) ?? p.ip;
  }

  find(ref: PodRef): LabPod {
    const p = this.list.find((x) => x.namespace === ref.namespace && x.name === ref.name);
    if (!p) throw new ConfigError(`no lab pod ${ref.namespace}/${ref.name}`);
    return p;
  }

  /** What "podIP:containerPort" reaches without a capture: the inbound listener, or the app without a sidecar. */
  directAddress(p: LabPod, containerPort: number): string {
    const port = p.sidecar ? p.inboundPorts.get(containerPort) : p.appPorts.get(containerPort);
    return port === undefined || !p.alive ? '127.0.0.1:1' : `127.0.0.1:${port}`;
  }
}

export function podRef(p: LabPod): PodRef {
  return { namespace: p.namespace, name: p.name, workload: p.workload };
}
