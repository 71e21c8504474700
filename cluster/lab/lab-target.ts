// LabTarget: the built-in local lab. Every workload replica is a real process (the agent), every injected pod
// gets a lab sidecar, every socket is real TCP/TLS on loopback, every certificate is real X.509 from the lab CA.
// It is the harness's test bed and zero-setup demo; it is not a mesh.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { createInterface } from 'node:readline';
import type { Attack, ProbeBatch, ProbeReport } from '../../agent/protocol.js';
import { parseStats } from '../../harness/access-log.js';
import { ConfigError, InfraError } from '../../harness/errors.js';
import { AGENT_BUNDLE } from '../../harness/paths.js';
import type { Manifest, Posture } from '../../harness/posture/load.js';
import { type ControlPlanes, namespaceRequestsInjection, podOptsOut } from '../../harness/istio/injection.js';
import { type Estate, type EstatePod, gatewayClaim, gatewayReason, resolveScope, type SweepScope } from '../../harness/sweep/estate.js';
import { batchBudgetMs, type Dial, type Outage, type PodRef, type ProbeHandle, type Ref, type ScaleResult, type Target, type TargetDescription } from '../../harness/target.js';
import { BACKDATE_MS, CertificateAuthority, EdgeAuthority, type IssuedCert, spiffeId } from '../../harness/pki.js';
import { type ExtAuthzProvider, serverPort, startExtAuthzServer } from './envoy/ext-authz.js';
import { GatewayListeners, hostMatches, type ServerBinding } from './envoy/gateway.js';
import { applicable } from './authz.js';
import { ROOT_NAMESPACE, buildModel, loggingFor, destinationRuleFor, type TrafficPolicy, type DeploymentModel, effectiveMtls, type LabModel, selects, type ServiceModel } from './model.js';
import { type MeshView, Sidecar, type UpstreamEndpoint } from './sidecar.js';
import { type LogSetup, logSetup } from '../../harness/mesh-logging.js';

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

interface LabPod extends PodRef {
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

export interface LabOptions {
  agentPath?: string;
  /**
   * Serve the echo app of many pods from one process (`echo-host`), each pod on its own loopback ports with its
   * own identity and sidecar, so a sweep's estate of a thousand pods fits one machine. Killing one such pod
   * (a test hook) kills its whole host process, so the conformance run keeps one process per pod.
   */
  podsPerProcess?: number;
  /** Called with each line a lab process writes to stderr (for --verbose). */
  onProcessLog?: (pod: string, line: string) => void;
  /** The pod IP a cluster gave a pod (the Kubernetes façade's); the lab numbers its own otherwise. */
  podIp?: (namespace: string, name: string) => string | undefined;
  /**
   * istiod's SubjectAccessReview for a gateway's credentialName (may service account `sa` list secrets in
   * `namespace`?), answered by a cluster's RBAC (the Kubernetes façade's); the lab answers from the posture's
   * RoleBindings otherwise.
   */
  sdsAuthorize?: (namespace: string, serviceAccount: string) => boolean;
  /** The Istio control planes (revisions, tags) whose webhooks decide injection; one default revision if absent. */
  controlPlanes?: ControlPlanes;
}

export class LabTarget implements Target, MeshView {
  readonly kind = 'lab' as const;
  private model?: LabModel;
  private posture?: Posture;
  private ca?: CertificateAuthority;
  private readonly pods: LabPod[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly outbound = new Map<string, Promise<number>>();
  /** A CA for the edge's certificates (meshproof.dev/generate: tls), created with the first one. */
  private edgeCa?: EdgeAuthority;
  private readonly credentials = new Map<string, { chainPem: string; keyPem: string }>();
  private readonly rr = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** The mesh config's envoyExtAuthzHttp providers, each served by the lab on loopback (envoy/ext-authz.ts). */
  private readonly extAuthzServers = new Map<string, { server: http.Server; provider: ExtAuthzProvider }>();
  /** Gates the echo app's /admin endpoints: only the harness knows it. */
  private readonly adminToken = randomUUID();
  private disposed = false;
  /** istiod is down: the CA refuses, the injection webhook cannot be called, sidecars keep what they have. */
  private controlPlaneDown = false;
  /** Scale-ups refused during an outage, created when it ends (the ReplicaSet controller retries). */
  private readonly pendingScale = new Map<string, number>();
  private readonly agentPath: string;
  private readonly killOnExit = () => {
    for (const c of this.children) c.kill('SIGKILL');
  };

  constructor(private readonly opts: LabOptions = {}) {
    this.agentPath = opts.agentPath ?? AGENT_BUNDLE;
    // Children also exit when their stdin closes; this covers a normal exit that skipped dispose().
    LIVE_LABS.add(this.killOnExit);
    if (LIVE_LABS.size === 1) process.once('exit', killAllLabs);
  }

  // ------------------------------------------------------------ MeshView (what istiod would push to sidecars)

  rootPem(): string {
    return this.requireCa().rootPem;
  }

  extAuthz(provider: string): ExtAuthzProvider | undefined {
    return this.extAuthzServers.get(provider)?.provider;
  }

  /** One loopback ext_authz server per envoyExtAuthzHttp provider, up before any sidecar can ask it. */
  private async startExtAuthzProviders(model: LabModel): Promise<void> {
    for (const p of model.meshConfig.extensionProviders ?? []) {
      if (!p.envoyExtAuthzHttp) continue;
      const server = await startExtAuthzServer();
      this.extAuthzServers.set(p.name, { server, provider: { port: serverPort(server), includeRequestHeadersInCheck: p.envoyExtAuthzHttp.includeRequestHeadersInCheck ?? [] } });
    }
  }

  trafficPolicy(clientNamespace: string, namespace: string, service: string): TrafficPolicy | undefined {
    return destinationRuleFor(this.requireModel(), clientNamespace, namespace, service)?.policy;
  }

  private backends(namespace: string, service: string, port: number): { pod: LabPod; address: string; ep: UpstreamEndpoint }[] {
    const svc = this.service({ namespace, name: service });
    const sp = svc.ports.find((p) => p.port === port);
    if (!sp) throw new ConfigError(`Service ${namespace}/${service} has no port ${port}`);
    const out: { pod: LabPod; address: string; ep: UpstreamEndpoint }[] = [];
    for (const pod of this.pods) {
      if (!pod.alive || pod.namespace !== namespace || !selects(svc.selector, pod.deployment.podLabels)) continue;
      const inbound = pod.inboundPorts.get(sp.targetPort);
      const app = pod.appPorts.get(sp.targetPort);
      const local = pod.sidecar ? inbound : app;
      if (local === undefined) continue;
      const address = `127.0.0.1:${local}`;
      // A gateway pod carries no `security.istio.io/tlsMode: istio` label: auto-mTLS sends it plaintext.
      const mtls = pod.sidecar !== undefined && pod.deployment.mode !== 'gateway' && effectiveMtls(this.requireModel(), pod.deployment, sp.targetPort) !== 'DISABLE';
      out.push({ pod, address, ep: { pod: pod.name, address, mtls, spiffeId: pod.spiffeId } });
    }
    return out;
  }

  upstreams(namespace: string, service: string, port: number): UpstreamEndpoint[] {
    return this.backends(namespace, service, port).map((e) => e.ep);
  }

  outboundPolicy(clientNamespace: string): 'REGISTRY_ONLY' | 'ALLOW_ANY' {
    // A Sidecar in the client's namespace, else one in the root namespace, else the mesh default (§7).
    const m = this.requireModel();
    return m.outboundPolicy.get(clientNamespace) ?? m.outboundPolicy.get(ROOT_NAMESPACE) ?? 'ALLOW_ANY';
  }

  registered(ip: string, port: number, protocol: 'http' | 'tcp', clientNamespace: string, hostHeader?: string): { host: string } | undefined {
    for (const se of this.requireModel().serviceEntries) {
      if (se.local && se.namespace !== clientNamespace) continue; // exportTo ["."]: invisible elsewhere
      const p = se.ports.find((x) => x.number === port);
      if (!p || (protocol === 'tcp' && p.protocol !== 'TCP') || (protocol === 'http' && p.protocol !== 'HTTP')) continue;
      const addresses = [...se.addresses, ...this.addressesOf(se.addressesOf)];
      const byAddress = addresses.some((a) => inCidr(ip, a));
      // HTTP routes by the request's authority: a virtual host per registered host, and per address VERBATIM: a
      // CIDR address is a domain no Host header equals (I-L2; I: pilot/pkg/networking/core/httproute.go
      // generateVirtualHostDomains, pilot/pkg/serviceregistry/serviceentry/conversion.go convertServices).
      const byHost = protocol === 'http' && hostHeader !== undefined && (se.hosts.some((h) => hostMatches(h, hostHeader)) || addresses.includes(hostHeader));
      if (protocol === 'tcp' ? byAddress : byHost) return { host: se.hosts[0]! };
    }
    return undefined;
  }

  original(ip: string, port: number): string | undefined {
    const p = this.pods.find((x) => x.alive && this.ipOf(x) === ip);
    if (!p) return undefined;
    const local = p.sidecar ? p.inboundPorts.get(port) : p.appPorts.get(port);
    return local === undefined ? undefined : `127.0.0.1:${local}`;
  }

  /** The pod IPs of `<ns>/<deployment>` (a ServiceEntry's meshproof.dev/addresses-of). */
  private addressesOf(ref: string | undefined): string[] {
    if (!ref) return [];
    const [ns, name] = ref.split('/') as [string, string];
    return this.pods.filter((p) => p.alive && p.namespace === ns && p.workload === name).map((p) => this.ipOf(p));
  }

  /** The pod's IP as the cluster would give it (what a ServiceEntry's `addresses` and an egress dial name). */
  private ipOf(p: LabPod): string {
    return this.opts.podIp?.(p.namespace, p.name) ?? p.ip;
  }

  // ------------------------------------------------------------ Target

  validate(posture: Posture): void {
    buildModel(posture, this.opts.controlPlanes);
  }

  async apply(posture: Posture): Promise<void> {
    if (this.model) throw new Error('the lab applies one posture per run');
    if (!existsSync(this.agentPath)) throw new InfraError(`agent bundle ${this.agentPath} is missing: run \`npm run build\``);
    const model = buildModel(posture, this.opts.controlPlanes);
    this.model = model;
    this.posture = posture;
    this.ca = await CertificateAuthority.create({ rootTtlMs: model.faults.rootCertTtlMs });
    await this.startExtAuthzProviders(model);
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
      spiffeId: spiffeId(this.requireCa().trustDomain, d.namespace, d.serviceAccount),
      appPorts: new Map(),
      inboundPorts: new Map(),
      alive: true,
      ip: `10.244.${Math.floor(this.pods.length / 250)}.${(this.pods.length % 250) + 2}`,
    };
    this.pods.push(pod);
    return pod;
  }

  private async startPod(d: DeploymentModel, i: number): Promise<void> {
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
        const protocol = this.protocolOf(d, containerPort);
        const port = await sidecar.inbound({ containerPort, appPort, protocol, mode: () => this.inboundMode(d, containerPort) });
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
    const model = this.requireModel();
    const d = pod.deployment;
    const sidecar = new Sidecar({
      namespace: d.namespace,
      pod: pod.name,
      cert: await this.requireCa().issue(d.namespace, d.serviceAccount, { ttlMs: d.secretTtlMs }),
      mesh: this,
      logging: loggingFor(model, d),
      statsMatcher: d.statsMatcher,
      podAnnotations: d.podAnnotations,
      suppressEnvoyHeaders: d.suppressEnvoyHeaders,
      policies: () => applicable(model.authorizationPolicies, d.namespace, d.podLabels),
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
    const model = this.requireModel();
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
        const credential = server.credentialName && sdsAllowed ? await this.credential(d.namespace, server.credentialName) : undefined;
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

  /** The certificate and key of a kubernetes.io/tls Secret: given, or generated by the lab's edge CA. */
  private async credential(namespace: string, name: string): Promise<{ chainPem: string; keyPem: string }> {
    const key = `${namespace}/${name}`;
    const known = this.credentials.get(key);
    if (known) return known;
    const s = this.requireModel().tlsSecrets.find((x) => x.namespace === namespace && x.name === name)!;
    if (s.given) {
      this.credentials.set(key, { chainPem: s.given.certPem, keyPem: s.given.keyPem });
    } else {
      this.edgeCa ??= await EdgeAuthority.create();
      const c = await this.edgeCa.issue(s.hosts, { validDays: s.validDays, chain: s.chain });
      this.credentials.set(key, { chainPem: c.chainPem, keyPem: c.keyPem });
    }
    return this.credentials.get(key)!;
  }

  /** The roots of the edge certificates this Target generated (EDGE-003's trust anchors for the posture's edge). */
  async edgeRoots(): Promise<string[]> {
    return this.edgeCa ? [this.edgeCa.rootPem] : [];
  }

  /** A pod's sidecar listener for `service:port` (its capture of that Service), created once. */
  private captureOf(fromPod: LabPod, service: Ref, port: number): Promise<number> {
    const sp = this.service(service).ports.find((p) => p.port === port);
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
   * The agent's rotation: a new certificate at about half the lifetime, SECRET_GRACE_PERIOD_RATIO 0.5 with
   * ±0.01 jitter (I: security/pkg/nodeagent/cache/secretcache.go).
   */
  private scheduleRotation(pod: LabPod, sidecar: Sidecar): void {
    if (this.requireModel().faults.disableRotation) return;
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
      if (this.disposed || !pod.alive) return;
      if (this.controlPlaneDown) {
        this.rotateAt(pod, sidecar, RETRY_CSR_MS);
        return;
      }
      void this.requireCa()
        .issue(pod.namespace, pod.deployment.serviceAccount, { ttlMs: pod.deployment.secretTtlMs })
        .then((next) => {
          if (this.disposed || !pod.alive) return;
          sidecar.setCert(next);
          this.scheduleRotation(pod, sidecar);
        });
    }, at);
    timer.unref();
    this.timers.add(timer);
  }

  /** The PeerAuthentication mode in force; the lab-only fault degrades it to PERMISSIVE while istiod is down. */
  private inboundMode(d: DeploymentModel, containerPort: number): ReturnType<typeof effectiveMtls> {
    const mode = effectiveMtls(this.requireModel(), d, containerPort);
    return this.controlPlaneDown && this.requireModel().faults.plaintextOnControlPlaneOutage && mode === 'STRICT' ? 'PERMISSIVE' : mode;
  }

  /** Protocol selection by Service port name (I: protocol sniffing is not emulated; schema.ts requires names). */
  private protocolOf(d: DeploymentModel, containerPort: number): 'http' | 'tcp' {
    for (const s of this.requireModel().services) {
      if (s.namespace !== d.namespace || !selects(s.selector, d.podLabels)) continue;
      const p = s.ports.find((x) => x.targetPort === containerPort);
      if (p) return p.protocol;
    }
    return 'tcp';
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

  async probe(workload: Ref): Promise<ProbeHandle> {
    const [first] = await this.probes(workload);
    return first!;
  }

  async probes(workload: Ref): Promise<ProbeHandle[]> {
    const pods = this.pods.filter((p) => p.namespace === workload.namespace && p.workload === workload.name && p.alive);
    if (pods.length === 0) throw new ConfigError(`the posture has no running probe ${workload.namespace}/${workload.name}`);
    return pods.map((pod) => {
      if (pod.deployment.mode !== 'probe') throw new ConfigError(`${workload.namespace}/${workload.name} is not a probe (agent mode ${pod.deployment.mode})`);
      return {
        workload,
        pod: podRef(pod),
        sidecar: pod.sidecar !== undefined,
        spiffeId: pod.spiffeId,
        run: (attacks: Attack[], opts?: Omit<ProbeBatch, 'attacks'>) => this.exec(pod, attacks, opts),
      };
    });
  }

  /**
   * The lab's estate, read as discovery reads a cluster: namespaces, Services, pods with ports and protocols by
   * the Service port names (the lab requires names, schema.ts), sidecar presence, and the policy snapshot.
   */
  async discover(scope: SweepScope): Promise<Estate> {
    const model = this.requireModel();
    const all = [...model.namespaces.entries()].map(([name, n]) => ({ name, labels: n.labels, injected: namespaceRequestsInjection(n.labels) }));
    if (!all.some((n) => n.name === ROOT_NAMESPACE)) all.push({ name: ROOT_NAMESPACE, labels: {}, injected: false });
    if (!all.some((n) => n.name === scope.runNamespace)) throw new ConfigError(`the lab posture has no run namespace ${scope.runNamespace}`);
    const { inScope, left } = resolveScope(all, scope, ROOT_NAMESPACE);
    const within = new Set(inScope);
    const services = model.services.filter((s) => within.has(s.namespace));
    const pods: EstatePod[] = this.pods
      .filter((p) => p.alive && within.has(p.namespace))
      .map((p) => {
        const labels = p.deployment.podLabels;
        const ports = p.deployment.containerPorts.map((port) => {
          const targeting = services.filter((s) => s.namespace === p.namespace && selects(s.selector, labels)).flatMap((s) => s.ports.filter((sp) => sp.targetPort === port).map((sp) => ({ s, sp })));
          const first = targeting[0];
          return {
            port,
            protocol: first ? first.sp.protocol : ('sniffed' as const),
            protocolFrom: first ? `port name ${first.sp.name}` : 'no declaration (Istio detects the protocol)',
            services: targeting.map(({ s, sp }) => `${s.namespace}/${s.name}:${sp.port}`),
            dial: this.directAddress(p, port),
          };
        });
        const role = labels['meshproof.dev/role'];
        return {
          namespace: p.namespace,
          name: p.name,
          serviceAccount: p.deployment.serviceAccount,
          labels,
          sidecar: p.sidecar !== undefined,
          injectedNamespace: model.namespaces.get(p.namespace)?.injected ?? false,
          optedOut: podOptsOut(labels, p.deployment.podAnnotations),
          ports: p.deployment.mode === 'gateway' ? [] : ports,
          // The lab's gateway pods are what the gateway injection template makes: Envoy run as `proxy router`.
          ...(p.deployment.mode === 'gateway' ? { gateway: gatewayReason(['proxy', 'router'], labels, p.deployment.podAnnotations) } : {}),
          ...(p.deployment.mode !== 'gateway' && gatewayClaim(labels, p.deployment.podAnnotations) ? { gatewayClaim: gatewayClaim(labels, p.deployment.podAnnotations) } : {}),
          ...(role === 'canary' || role === 'attacker' ? { role } : {}),
        };
      });
    const kinds = new Set(['PeerAuthentication', 'AuthorizationPolicy', 'DestinationRule', 'Sidecar', 'Telemetry']);
    const snapshot: Manifest[] = (this.posture?.objects ?? [])
      .map((o) => o.manifest)
      .filter((m) => kinds.has(m.kind) && (m.metadata.namespace === ROOT_NAMESPACE || within.has(m.metadata.namespace ?? '')));
    return {
      namespaces: all.filter((n) => within.has(n.name)),
      services: services.map((s) => ({ namespace: s.namespace, name: s.name, selector: s.selector })),
      pods,
      snapshot,
      rootNamespace: ROOT_NAMESPACE,
      runNamespace: scope.runNamespace,
      trustDomain: this.requireCa().trustDomain,
      listings: [
        { query: 'lab model: namespaces', items: all.length },
        { query: 'lab model: services in scope', items: services.length },
        { query: 'lab model: running pods in scope', items: pods.length },
        { query: 'lab model: policies in scope and root namespace', items: snapshot.length },
      ],
      left,
      skipped: [],
    };
  }

  /** Like `kubectl exec`: a fresh agent process in the pod, the batch on stdin, one JSON report on stdout. */
  private exec(pod: LabPod, attacks: Attack[], opts: Omit<ProbeBatch, 'attacks'> = {}): Promise<ProbeReport> {
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

  async address(service: Ref, port: number, from: ProbeHandle): Promise<Dial> {
    const svc = this.service(service);
    const sp = svc.ports.find((p) => p.port === port);
    if (!sp) throw new ConfigError(`Service ${service.namespace}/${service.name} has no port ${port}`);
    const authority = `${service.name}.${service.namespace}.svc.cluster.local:${port}`;
    const fromPod = this.pods.find((p) => p.namespace === from.pod.namespace && p.name === from.pod.name);
    if (fromPod?.sidecar) {
      // The client's sidecar captures the connection: in the lab, a per-destination outbound listener.
      return { dial: `127.0.0.1:${await this.captureOf(fromPod, service, port)}`, authority };
    }
    // No sidecar: the Service resolves to one endpoint per connection, round-robin (kube-proxy's job). Resolving
    // per call instead of proxying keeps a dead endpoint visible as a refused connection, never as a reset.
    const eps = this.backends(service.namespace, service.name, port);
    if (eps.length === 0) return { dial: '127.0.0.1:1', authority }; // nothing listening: refused, inconclusive
    const key = `${service.namespace}/${service.name}:${port}`;
    const i = this.rr.get(key) ?? 0;
    this.rr.set(key, i + 1);
    return { dial: eps[i % eps.length]!.address, authority };
  }

  async endpoints(service: Ref, port: number): Promise<{ pod: PodRef; dial: string }[]> {
    return this.backends(service.namespace, service.name, port).map((e) => ({ pod: podRef(e.pod), dial: e.address }));
  }

  /** Every pod with a sidecar. */
  async meshPods(): Promise<PodRef[]> {
    return this.pods.filter((p) => p.sidecar && p.alive).map(podRef);
  }

  /**
   * A genuine mesh certificate for the probe's own identity, as a sidecar-less pod gets one from istiod with its
   * own service-account token (istio-behaviours.md §4b). The lab CA stands for istiod's.
   */
  async mintCertificate(probe: ProbeHandle, ttlMs: number): Promise<Pick<IssuedCert, 'chainPem' | 'keyPem' | 'notBefore' | 'notAfter' | 'serialNumber' | 'spiffeId'>> {
    if (this.controlPlaneDown) throw new InfraError('istiod is down: CreateCertificate is unreachable');
    const pod = this.pod(probe.pod);
    return this.requireCa().issue(pod.namespace, pod.deployment.serviceAccount, { ttlMs });
  }

  /**
   * Where `from` connects to reach a pod no Service stands for, by its IP (egress, EGRESS-001): through the
   * client sidecar's capture of that address when it has one (§7), else straight to the pod.
   */
  async external(workload: Ref, port: number, from: ProbeHandle): Promise<Dial> {
    const pod = this.pods.find((p) => p.alive && p.namespace === workload.namespace && p.workload === workload.name);
    if (!pod) throw new ConfigError(`the posture has no running ${workload.namespace}/${workload.name}`);
    return { dial: await this.podAddress(podRef(pod), port, from), authority: `${this.ipOf(pod)}:${port}` };
  }

  /** Like `kubectl get pod -o jsonpath={.status.podIP}`. */
  podIp(ref: PodRef): string {
    return this.ipOf(this.pod(ref));
  }

  /**
   * What "podIP:containerPort" reaches in the lab: the pod's inbound listener, or its app without a sidecar; from a
   * probe with a sidecar, that sidecar's capture of the address.
   */
  async podAddress(ref: PodRef, containerPort: number, from?: ProbeHandle): Promise<string> {
    const fromPod = from ? this.pods.find((p) => p.namespace === from.pod.namespace && p.name === from.pod.name) : undefined;
    const p = this.pod(ref);
    if (fromPod?.sidecar) {
      const key = `${fromPod.namespace}/${fromPod.name}->${this.ipOf(p)}:${containerPort}`;
      let port = this.outbound.get(key);
      if (!port) {
        const model = this.requireModel();
        const http = model.services.some((s) => s.ports.some((x) => x.port === containerPort && x.protocol === 'http')) || model.serviceEntries.some((se) => se.ports.some((x) => x.number === containerPort && x.protocol === 'HTTP'));
        port = fromPod.sidecar.capture(this.ipOf(p), containerPort, http ? 'http' : 'tcp');
        this.outbound.set(key, port);
      }
      return `127.0.0.1:${await port}`;
    }
    return this.directAddress(p, containerPort);
  }

  private directAddress(p: LabPod, containerPort: number): string {
    const port = p.sidecar ? p.inboundPorts.get(containerPort) : p.appPorts.get(containerPort);
    return port === undefined || !p.alive ? '127.0.0.1:1' : `127.0.0.1:${port}`;
  }

  /** The lab CA signing a request's public key for an identity (what istiod's CA does for a valid token). */
  async signForIdentity(publicKeySpki: Buffer, namespace: string, serviceAccount: string, ttlMs: number): Promise<IssuedCert> {
    if (this.controlPlaneDown) throw new InfraError('istiod is down: the CA does not answer');
    return this.requireCa().issue(namespace, serviceAccount, { ttlMs, publicKeySpki });
  }

  /** A serving certificate from the lab CA (the façade's istiod). */
  async serverCert(dns: string[]): Promise<IssuedCert> {
    return this.requireCa().issue('istio-system', 'istiod', { dns });
  }

  async servicePods(service: Ref): Promise<PodRef[]> {
    const svc = this.service(service);
    return this.pods.filter((p) => p.namespace === svc.namespace && selects(svc.selector, p.deployment.podLabels)).map(podRef);
  }

  private pod(ref: PodRef): LabPod {
    const p = this.pods.find((x) => x.namespace === ref.namespace && x.name === ref.name);
    if (!p) throw new ConfigError(`no lab pod ${ref.namespace}/${ref.name}`);
    return p;
  }

  async accessLog(ref: PodRef, since: Date): Promise<string[]> {
    // Like `kubectl logs --since`: by when the line was written, not by what it says.
    return (this.pod(ref).sidecar?.log.entries ?? []).filter((e) => e.at >= since.getTime()).map((e) => e.line);
  }

  private async admin(ref: PodRef, path: string): Promise<string> {
    const p = this.pod(ref);
    if (!p.adminPort || !p.alive) throw new InfraError(`lab pod ${ref.namespace}/${ref.name} has no live sidecar admin port`);
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: p.adminPort, path, timeout: 5_000 }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => {
            body += d.toString();
          });
          res.on('end', () => resolve(body));
        })
        .on('error', (e) => reject(new InfraError(`admin ${path} of ${ref.namespace}/${ref.name}: ${e.message}`)));
    });
  }

  async appAdmin(ref: PodRef, path: string): Promise<unknown> {
    const p = this.pod(ref);
    const port = p.appPorts.get(p.deployment.containerPorts[0] ?? 8080);
    if (!port || !p.alive) throw new InfraError(`lab pod ${ref.namespace}/${ref.name} has no live app`);
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path, headers: { 'x-meshproof-admin': this.adminToken }, timeout: 5_000 }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => {
            body += d.toString();
          });
          res.on('end', () => {
            try {
              resolve(JSON.parse(body) as unknown);
            } catch {
              reject(new InfraError(`app admin ${path} of ${ref.namespace}/${ref.name} answered ${res.statusCode}`));
            }
          });
        })
        .on('error', (e) => reject(new InfraError(`app admin ${path} of ${ref.namespace}/${ref.name}: ${e.message}`)));
    });
  }

  async stats(ref: PodRef): Promise<Record<string, number>> {
    return parseStats(await this.admin(ref, '/stats'));
  }

  async workloadCert(ref: PodRef): Promise<unknown> {
    return JSON.parse(await this.admin(ref, '/certs')) as unknown;
  }

  async accessLogSetup(ref: PodRef, side: 'server' | 'client' = 'server'): Promise<LogSetup> {
    return logSetup(loggingFor(this.requireModel(), this.pod(ref).deployment), side);
  }

  async meshRoots(): Promise<string[]> {
    return [this.requireCa().rootPem];
  }

  identity(namespace: string, serviceAccount: string): string {
    return spiffeId(this.ca?.trustDomain ?? 'cluster.local', namespace, serviceAccount);
  }

  async describe(): Promise<TargetDescription> {
    const m = this.requireModel();
    return {
      kind: 'lab',
      summary: 'built-in lab (a local emulation of sidecar behaviour for testing the harness; not a mesh)',
      trustDomain: this.ca?.trustDomain ?? 'cluster.local',
      versions: { node: process.version, emulates: 'Istio 1.22–1.30 sidecar mode (docs/istio-behaviours.md)' },
      namespaces: Object.fromEntries([...m.namespaces.keys()].map((n) => [n, n])),
      notes: ['The lab is a test bed for meshproof itself. Its verdicts say nothing about any real mesh.'],
    };
  }

  async controlPlaneOutage(): Promise<Outage> {
    this.requireModel();
    this.controlPlaneDown = true;
    const startedAt = new Date();
    return {
      startedAt,
      restore: async () => {
        if (!this.controlPlaneDown) return;
        this.controlPlaneDown = false;
        // The ReplicaSet controller retries the pods the webhook refused.
        const pending = [...this.pendingScale];
        this.pendingScale.clear();
        for (const [key, replicas] of pending) {
          const [namespace, name] = key.split('/') as [string, string];
          await this.scale({ namespace, name }, replicas);
        }
      },
    };
  }

  /**
   * Scales a Deployment. Up: each new pod goes through the injection webhook, which istiod serves; while it is
   * down the webhook call fails and Istio's `failurePolicy: Fail` refuses the pod (FailedCreate; istio/istio#3724,
   * IO: ops/common-problems/injection), unless a lab fault makes the webhook fail open. Down: the newest pods go.
   */
  async scale(workload: Ref, replicas: number): Promise<ScaleResult> {
    const model = this.requireModel();
    const d = model.deployments.find((x) => x.namespace === workload.namespace && x.name === workload.name);
    if (!d) throw new ConfigError(`the posture has no Deployment ${workload.namespace}/${workload.name}`);
    const live = this.pods.filter((p) => p.namespace === d.namespace && p.workload === d.name && p.alive);
    if (replicas < live.length) {
      // Scaled-down pods are deleted: gone from every listing, their processes and sidecars stopped.
      for (const p of live.slice(replicas)) {
        p.alive = false;
        p.process?.kill('SIGTERM');
        await p.sidecar?.close();
        this.pods.splice(this.pods.indexOf(p), 1);
      }
      return { created: [] };
    }
    if (replicas === live.length) return { created: [] };
    if (this.controlPlaneDown && d.webhookCalled && !model.faults.injectionFailOpen) {
      this.pendingScale.set(`${d.namespace}/${d.name}`, replicas);
      return {
        created: [],
        refused: `ReplicaSet ${d.namespace}/${d.name}: FailedCreate: Internal error occurred: failed calling webhook "namespace.sidecar-injector.istio.io": failed to call webhook: Post "https://istiod.istio-system.svc:443/inject": no endpoints available for service "istiod"`,
      };
    }
    const created: PodRef[] = [];
    // A webhook that fails open lets the pod in uninjected: no sidecar, plaintext to its app.
    const spec = this.controlPlaneDown && d.injected ? { ...d, injected: false } : d;
    for (let i = 0; i < replicas - live.length; i++) {
      // The lowest free replica index, as the Kubernetes façade names pods (a real cluster gives random suffixes).
      const used = new Set(this.pods.filter((p) => p.namespace === d.namespace && p.workload === d.name).map((p) => p.name));
      let n = 0;
      while (used.has(`${d.name}-${n}`)) n++;
      await this.startPod(spec, n);
      created.push(podRef(this.pods[this.pods.length - 1]!));
    }
    return { created };
  }

  // ------------------------------------------------------------ test hooks (not part of Target)

  /** Kills a workload's processes and, unless `keepSidecar`, its sidecar: a dead target. */
  async kill(workload: Ref, opts: { keepSidecar?: boolean } = {}): Promise<void> {
    for (const p of this.pods.filter((x) => x.namespace === workload.namespace && x.workload === workload.name)) {
      p.process?.kill('SIGKILL');
      if (!opts.keepSidecar) {
        p.alive = false;
        await p.sidecar?.close();
      }
    }
  }

  /** Forgets a workload's outlier ejections (test hook: repeated RES-002 runs on one lab). */
  async resetOutlierDetection(workload: Ref): Promise<void> {
    for (const p of this.pods.filter((x) => x.namespace === workload.namespace && x.workload === workload.name)) p.sidecar?.resetOutlierDetection();
  }

  /** Resets every outbound connection of a workload's sidecars: a client whose path is broken. */
  breakOutbound(workload: Ref, broken = true): void {
    for (const p of this.pods.filter((x) => x.namespace === workload.namespace && x.workload === workload.name)) {
      if (p.sidecar) p.sidecar.outboundBroken = broken;
    }
  }

  sidecarOf(ref: PodRef): Sidecar | undefined {
    return this.pod(ref).sidecar;
  }

  // ------------------------------------------------------------ lifecycle

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.timers) clearTimeout(t);
    const errors: unknown[] = [];
    // Last in, first out; collect errors instead of stopping at the first (STYLE.md 8).
    for (const p of [...this.pods].reverse()) {
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
    for (const { server } of this.extAuthzServers.values()) {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    LIVE_LABS.delete(this.killOnExit);
    if (LIVE_LABS.size === 0) process.off('exit', killAllLabs);
    if (errors.length > 0) throw new InfraError(`lab teardown: ${errors.length} error(s), first: ${String(errors[0])}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  get liveProcesses(): number {
    return this.children.size;
  }

  private service(ref: Ref): ServiceModel {
    const s = this.requireModel().services.find((x) => x.namespace === ref.namespace && x.name === ref.name);
    if (!s) throw new ConfigError(`the posture has no Service ${ref.namespace}/${ref.name}`);
    return s;
  }

  private requireModel(): LabModel {
    if (!this.model) throw new Error('no posture applied to the lab yet');
    return this.model;
  }

  private requireCa(): CertificateAuthority {
    if (!this.ca) throw new Error('lab CA not created yet');
    return this.ca;
  }
}

/** Whether an IPv4 address (or a host header holding one) is `a` or inside CIDR `a`. */
export function inCidr(ip: string, a: string): boolean {
  const num = (x: string) => x.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return false;
  const [base, bits = '32'] = a.split('/') as [string, string?];
  const b = Number(bits);
  if (b === 0) return true;
  const mask = 2 ** 32 - 2 ** (32 - b);
  return (num(ip) & mask) >>> 0 === (num(base) & mask) >>> 0;
}

function portArg(args: string[], flag: string, fallback: number): number {
  const i = args.indexOf(flag);
  return i < 0 ? fallback : Number(args[i + 1]);
}

function podRef(p: LabPod): PodRef {
  return { namespace: p.namespace, name: p.name, workload: p.workload };
}
