// The lab's workloads: every Deployment replica a real process (the agent, spawned as a pod would be), every
// injected pod its sidecar and every gateway pod its Envoy, configured from the applied posture as istiod would
// (lab-posture.ts); the agent's certificate rotation; `kubectl exec` as a fresh agent process.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Attack, ProbeBatch, ProbeReport } from '../../agent/protocol.js';
import { ConfigError, InfraError } from '../../harness/errors.js';
import { AGENT_BUNDLE } from '../../harness/paths.js';
import { BACKDATE_MS, spiffeId } from '../../harness/pki.js';
import { batchBudgetMs, type Ref } from '../../harness/target.js';
import { applicable } from './authz.js';
import { GatewayListeners, hostMatches, type ServerBinding } from './envoy/gateway.js';
import type { LabPod, PodTable } from './lab-pod.js';
import type { AppliedPosture } from './lab-posture.js';
import { type DeploymentModel, enforced, loggingFor, selects } from './model.js';
import { Sidecar } from './sidecar.js';

/** How long a lab pod may take to print its ready line. */
const READY_TIMEOUT_MS = 15_000;
/** setTimeout's ceiling (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How often an agent whose CSR failed tries again (the control plane is down). */
const RETRY_CSR_MS = 500;
/** Slack on top of a batch's own attack timeouts before an exec is abandoned. */
const EXEC_SLACK_MS = 10_000;

/** One process-exit hook for every live lab in this process. */
const LIVE_LABS = new Set<() => void>();
function killAllLabs(): void {
  for (const kill of LIVE_LABS) kill();
}

export interface WorkloadOptions {
  agentPath?: string;
  /**
   * Serve the echo app of many pods from one process (`echo-host`), each pod on its own loopback ports with its
   * own identity and sidecar, so a sweep's estate of a thousand pods fits one machine. Killing one such pod
   * (a test hook) kills its whole host process, so the conformance run keeps one process per pod.
   */
  podsPerProcess?: number;
  /** Called with each line a lab process writes to stderr (for --verbose). */
  onProcessLog?: (pod: string, line: string) => void;
  /**
   * istiod's SubjectAccessReview for a gateway's credentialName (may service account `sa` list secrets in
   * `namespace`?), answered by a cluster's RBAC (the Kubernetes façade's); the lab answers from the posture's
   * RoleBindings otherwise.
   */
  sdsAuthorize?: (namespace: string, serviceAccount: string) => boolean;
}

export class LabWorkloads {
  private readonly children = new Set<ChildProcess>();
  private readonly outbound = new Map<string, Promise<number>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Gates the echo app's /admin endpoints: only the harness knows it. */
  readonly adminToken = randomUUID();
  readonly agentPath: string;
  private closed = false;
  private readonly killOnExit = () => {
    for (const c of this.children) c.kill('SIGKILL');
  };

  /** `posture`: the applied posture (throws before one is applied). */
  constructor(
    private readonly pods: PodTable,
    private readonly posture: () => AppliedPosture,
    private readonly opts: WorkloadOptions = {},
  ) {
    this.agentPath = opts.agentPath ?? AGENT_BUNDLE;
    // Children also exit when their stdin closes; this covers a normal exit that skipped the lab's dispose().
    LIVE_LABS.add(this.killOnExit);
    if (LIVE_LABS.size === 1) process.once('exit', killAllLabs);
  }

  /** Every replica of every Deployment of the applied posture, echo pods grouped per process when asked. */
  async startAll(): Promise<void> {
    const model = this.posture().model;
    const starts: Promise<void>[] = [];
    const hosted: [DeploymentModel, number][] = [];
    const perProcess = this.opts.podsPerProcess ?? 1;
    for (const d of model.deployments) {
      for (let i = 0; i < d.replicas; i++) {
        if (perProcess > 1 && d.mode === 'echo') hosted.push([d, i]);
        else starts.push(this.startPod(d, i));
      }
    }
    for (let i = 0; i < hosted.length; i += perProcess) starts.push(this.startHosted(hosted.slice(i, i + perProcess)));
    // Every start settles before the first failure is reported: a start still in flight when teardown runs would
    // open its listeners after it, and a listener left open keeps the process from ever exiting.
    const failed = (await Promise.allSettled(starts)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private newPod(d: DeploymentModel, i: number): LabPod {
    const pod: LabPod = {
      namespace: d.namespace,
      name: `${d.name}-${i}`,
      workload: d.name,
      deployment: d,
      spiffeId: spiffeId(this.posture().requireCa().trustDomain, d.namespace, d.serviceAccount),
      appPorts: new Map(),
      inboundPorts: new Map(),
      alive: true,
      ip: `10.244.${Math.floor(this.pods.list.length / 250)}.${(this.pods.list.length % 250) + 2}`,
    };
    this.pods.list.push(pod);
    return pod;
  }

  async startPod(d: DeploymentModel, i: number): Promise<void> {
    const pod = this.newPod(d, i);
    if (d.mode === 'gateway') {
      await this.attachGateway(pod);
      return;
    }
    const child = this.spawnAgent(pod, [d.mode, ...d.args]);
    pod.process = child;
    const ready = await this.awaitReady(pod, child, d.mode === 'echo');
    for (const [k, v] of Object.entries(ready)) pod.appPorts.set(Number(k), v);
    await this.attachSidecar(pod);
  }

  /** Many echo pods in one `echo-host` process; each still gets its own ports, identity and sidecar. */
  private async startHosted(group: [DeploymentModel, number][]): Promise<void> {
    const pods = group.map(([d, i]) => this.newPod(d, i));
    const host: LabPod = { ...pods[0]!, name: `echo-host(${pods[0]!.name}…)` };
    const child = this.spawnAgent(host, ['echo-host']);
    for (const p of pods) p.process = child;
    const spec = pods.map((p) => ({
      name: p.name,
      namespace: p.namespace,
      serviceAccount: p.deployment.serviceAccount,
      httpPort: portArg(p.deployment.args, '--http-port', 8080),
      tcpPort: portArg(p.deployment.args, '--tcp-port', 9000),
      ...(p.deployment.args.includes('--tcp-banner') ? { tcpBanner: p.deployment.args[p.deployment.args.indexOf('--tcp-banner') + 1] } : {}),
    }));
    child.stdin!.write(`${JSON.stringify(spec)}\n`);
    const ready = (await this.awaitReady(host, child, true)) as unknown as Record<string, Record<string, number>>;
    for (const p of pods) {
      for (const [k, v] of Object.entries(ready[`${p.namespace}/${p.name}`] ?? {})) p.appPorts.set(Number(k), v);
    }
    for (const p of pods) await this.attachSidecar(p);
  }

  private async attachSidecar(pod: LabPod): Promise<void> {
    const d = pod.deployment;
    const name = pod.name;
    if (d.injected) {
      const sidecar = await this.startProxy(pod);
      for (const containerPort of d.containerPorts) {
        const appPort = pod.appPorts.get(containerPort);
        if (appPort === undefined) throw new InfraError(`lab pod ${d.namespace}/${name} did not bind container port ${containerPort}`);
        const protocol = this.posture().protocolOf(d, containerPort);
        const port = await sidecar.inbound({ containerPort, appPort, protocol, mode: () => this.posture().inboundMode(d, containerPort) });
        pod.inboundPorts.set(containerPort, port);
      }
    }
  }

  /**
   * The pod's Envoy, as istiod configures it: its own identity (rotating), the access logging and stats in force
   * for it, the AuthorizationPolicies that select it, every Service port as an outbound cluster (Envoy creates
   * their stats on CDS), and its admin port. A sidecar and a gateway alike; the listeners are the caller's.
   */
  private async startProxy(pod: LabPod): Promise<Sidecar> {
    const model = this.posture().model;
    const d = pod.deployment;
    const sidecar = new Sidecar({
      namespace: d.namespace,
      pod: pod.name,
      cert: await this.posture().requireCa().issue(d.namespace, d.serviceAccount, { ttlMs: d.secretTtlMs }),
      mesh: this.posture(),
      logging: loggingFor(model, d),
      statsMatcher: d.statsMatcher,
      podAnnotations: d.podAnnotations,
      suppressEnvoyHeaders: d.suppressEnvoyHeaders,
      // A LabFault skipAuthorizationPolicy drops a policy from what this proxy enforces (never from the model).
      policies: () => applicable(enforced(model), d.namespace, d.podLabels),
      faults: () => model.faults,
    });
    pod.sidecar = sidecar;
    for (const s of model.services) for (const sp of s.ports) sidecar.cluster(s.namespace, s.name, sp.port);
    this.scheduleRotation(pod, sidecar);
    pod.adminPort = await sidecar.admin();
    return sidecar;
  }

  /**
   * An ingress gateway pod: Envoy only (the injector's gateway template), with its own identity, outbound clusters
   * and access log as any sidecar, and listeners built from the Gateway servers that select it (envoy/gateway.ts).
   */
  private async attachGateway(pod: LabPod): Promise<void> {
    const model = this.posture().model;
    const d = pod.deployment;
    const sidecar = await this.startProxy(pod);
    const listeners = new GatewayListeners(sidecar, {
      // A VirtualService exported only to its namespace (exportTo ["."]) configures only gateway pods there.
      route: (gateways, host) => model.virtualServices.find((vs) => (!vs.local || vs.namespace === d.namespace) && vs.gateways.some((g) => gateways.includes(g)) && vs.hosts.some((h) => hostMatches(h, host)))?.destination,
      outbound: (namespace, service, port) => this.captureOf(pod, { namespace, name: service }, port),
    });
    // A Gateway server's port is the Service port in front of the pod; Envoy listens on its targetPort.
    const services = model.services.filter((s) => s.namespace === d.namespace && selects(s.selector, d.podLabels));
    const containerPortOf = (n: number) => services.flatMap((s) => s.ports).find((p) => p.port === n)?.targetPort ?? n;
    const byPort = new Map<number, ServerBinding[]>();
    // istiod's SDS sends a credentialName Secret only when the gateway's service account may `list secrets` in its
    // namespace (istio pilot/pkg/xds/sds.go `filterAuthorizedResources` → pilot/pkg/credentials/kube/secrets.go
    // `Authorize`: a SubjectAccessReview {verb: list, resource: secrets, namespace}, asked unconditionally);
    // unauthorized resources are dropped, and the HTTPS filter chain is left without a certificate.
    const sdsAllowed = this.opts.sdsAuthorize ? this.opts.sdsAuthorize(d.namespace, d.serviceAccount) : model.secretReaders.has(`${d.namespace}/${d.serviceAccount}`);
    for (const g of model.gateways.filter((x) => selects(x.selector, d.podLabels))) {
      for (const server of g.servers) {
        const cp = containerPortOf(server.port);
        const credential = server.credentialName && sdsAllowed ? await this.posture().credential(d.namespace, server.credentialName) : undefined;
        byPort.set(cp, [...(byPort.get(cp) ?? []), { gateway: `${g.namespace}/${g.name}`, server, credential }]);
      }
    }
    for (const [cp, bindings] of byPort) {
      try {
        pod.inboundPorts.set(cp, await listeners.listen(cp, bindings));
      } catch (e) {
        throw new ConfigError(`gateway pod ${d.namespace}/${pod.name}: ${(e as Error).message}`);
      }
    }
  }

  /** A pod's sidecar listener for `service:port` (its capture of that Service), created once. */
  captureOf(fromPod: LabPod, service: Ref, port: number): Promise<number> {
    const sp = this.posture().service(service).ports.find((p) => p.port === port);
    if (!sp) throw new ConfigError(`Service ${service.namespace}/${service.name} has no port ${port}`);
    const key = `${fromPod.namespace}/${fromPod.name}->${service.namespace}/${service.name}:${port}`;
    let p = this.outbound.get(key);
    if (!p) {
      p = fromPod.sidecar!.outbound(service.namespace, service.name, port, sp.protocol);
      this.outbound.set(key, p);
    }
    return p;
  }

  /**
   * A pod's sidecar listener for `ip:containerPort` (its capture of that address; HTTP when a Service or a
   * ServiceEntry declares the port HTTP), created once.
   */
  captureAddress(fromPod: LabPod, ip: string, containerPort: number): Promise<number> {
    const key = `${fromPod.namespace}/${fromPod.name}->${ip}:${containerPort}`;
    let port = this.outbound.get(key);
    if (!port) {
      const model = this.posture().model;
      const http = model.services.some((s) => s.ports.some((x) => x.port === containerPort && x.protocol === 'http')) || model.serviceEntries.some((se) => se.ports.some((x) => x.number === containerPort && x.protocol === 'HTTP'));
      port = fromPod.sidecar!.capture(ip, containerPort, http ? 'http' : 'tcp');
      this.outbound.set(key, port);
    }
    return port;
  }

  /**
   * The agent's rotation: a new certificate at about half the lifetime, SECRET_GRACE_PERIOD_RATIO 0.5 with
   * ±0.01 jitter (I: security/pkg/nodeagent/cache/secretcache.go).
   */
  private scheduleRotation(pod: LabPod, sidecar: Sidecar): void {
    if (this.posture().model.faults.disableRotation) return;
    const cert = sidecar.currentCert;
    const lifetime = cert.notAfter.getTime() - (cert.notBefore.getTime() + BACKDATE_MS);
    const at = lifetime * (0.5 + (Math.random() * 0.02 - 0.01));
    if (at > MAX_TIMER_MS) return; // a 90-day certificate rotates long after any lab run has ended
    this.rotateAt(pod, sidecar, at);
  }

  /**
   * One rotation attempt. While the control plane is down the CSR fails and the agent keeps its certificate (even
   * past expiry) and retries (I: security/pkg/nodeagent/cache/secretcache.go retries with backoff; the lab retries
   * every RETRY_CSR_MS).
   */
  private rotateAt(pod: LabPod, sidecar: Sidecar, at: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed || !pod.alive) return;
      if (this.posture().controlPlaneDown) {
        this.rotateAt(pod, sidecar, RETRY_CSR_MS);
        return;
      }
      void this.posture().requireCa()
        .issue(pod.namespace, pod.deployment.serviceAccount, { ttlMs: pod.deployment.secretTtlMs })
        .then((next) => {
          if (this.closed || !pod.alive) return;
          sidecar.setCert(next);
          this.scheduleRotation(pod, sidecar);
        });
    }, at);
    timer.unref();
    this.timers.add(timer);
  }

  private spawnAgent(pod: LabPod, args: string[]): ChildProcess {
    const child = spawn(process.execPath, [this.agentPath, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        MESHPROOF_LAB: '1',
        // Lets a sweep (and the tests) find every process a lab started, even after a crash re-parents them.
        MESHPROOF_LAB_OWNER: String(process.pid),
        POD_NAME: pod.name,
        POD_NAMESPACE: pod.namespace,
        SERVICE_ACCOUNT: pod.deployment.serviceAccount,
        MESHPROOF_ADMIN_TOKEN: this.adminToken,
      },
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.stdin?.on('error', () => {});
    if (child.stderr) {
      createInterface({ input: child.stderr }).on('line', (l) => this.opts.onProcessLog?.(`${pod.namespace}/${pod.name}`, l));
    }
    return child;
  }

  private awaitReady(pod: LabPod, child: ChildProcess, expectPorts: boolean): Promise<Record<string, number>> {
    if (!expectPorts) return Promise.resolve({});
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new InfraError(`lab pod ${pod.namespace}/${pod.name} not ready after ${READY_TIMEOUT_MS / 1000}s`)), READY_TIMEOUT_MS);
      const lines = createInterface({ input: child.stdout! });
      lines.once('line', (l) => {
        clearTimeout(timer);
        try {
          resolve((JSON.parse(l) as { ready: Record<string, number> }).ready);
        } catch {
          reject(new InfraError(`lab pod ${pod.namespace}/${pod.name} printed ${JSON.stringify(l.slice(0, 200))} instead of its ready line`));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new InfraError(`lab pod ${pod.namespace}/${pod.name} exited with code ${code} before it was ready`));
      });
    });
  }

  /** Like `kubectl exec`: a fresh agent process in the pod, the batch on stdin, one JSON report on stdout. */
  exec(pod: LabPod, attacks: Attack[], opts: Omit<ProbeBatch, 'attacks'> = {}): Promise<ProbeReport> {
    const limit = batchBudgetMs(attacks, opts) + EXEC_SLACK_MS;
    return new Promise((resolve, reject) => {
      const child = this.spawnAgent(pod, ['probe']);
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new InfraError(`exec in lab pod ${pod.namespace}/${pod.name} did not finish within ${limit} ms`));
      }, limit);
      // 'close', not 'exit': stdout may still hold the report when the process has exited.
      child.once('close', (code) => {
        clearTimeout(timer);
        if (code !== 0) {
          reject(new InfraError(`exec in lab pod ${pod.namespace}/${pod.name} exited ${code}: ${err.trim().split('\n').pop() ?? ''}`));
          return;
        }
        try {
          resolve(JSON.parse(out) as ProbeReport);
        } catch {
          reject(new InfraError(`exec in lab pod ${pod.namespace}/${pod.name} printed no report`));
        }
      });
      child.stdin!.end(JSON.stringify({ attacks, ...opts }));
    });
  }

  /**
   * Stops every workload: rotation timers, sidecars, then the processes (SIGTERM, SIGKILL after a grace). Returns
   * the sidecars' errors.
   */
  async close(): Promise<unknown[]> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    const errors: unknown[] = [];
    // Last in, first out; collect errors instead of stopping at the first (STYLE.md 8).
    for (const p of [...this.pods.list].reverse()) {
      try {
        await p.sidecar?.close();
      } catch (e) {
        errors.push(e);
      }
    }
    const exits = [...this.children].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once('exit', r))));
    for (const c of this.children) {
      c.stdin?.destroy();
      c.kill('SIGTERM');
    }
    const grace = setTimeout(() => this.killOnExit(), 2_000);
    await Promise.all(exits);
    clearTimeout(grace);
    LIVE_LABS.delete(this.killOnExit);
    if (LIVE_LABS.size === 0) process.off('exit', killAllLabs);
    return errors;
  }

  get liveProcesses(): number {
    return this.children.size;
  }
}

function portArg(args: string[], flag: string, fallback: number): number {
  const i = args.indexOf(flag);
  return i < 0 ? fallback : Number(args[i + 1]);
}
