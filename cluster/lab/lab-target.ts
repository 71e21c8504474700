// LabTarget: the built-in local lab. Every workload replica is a real process (the agent), every injected pod
// gets a lab sidecar, every socket is real TCP/TLS on loopback, every certificate is real X.509 from the lab CA.
// It is the harness's test bed and zero-setup demo; it is not a mesh.
// This file holds the Target's operations (what the harness calls); applying a posture's objects is
// lab-posture.ts (the model, the CA, what istiod pushes to sidecars), the pods' processes and proxies are
// workloads.ts, and the pod table they share is lab-pod.ts.
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { Attack, ProbeBatch } from '../../agent/protocol.js';
import { parseStats } from '../../harness/access-log.js';
import { ConfigError, InfraError } from '../../harness/errors.js';
import { type LogSetup, logSetup } from '../../harness/mesh-logging.js';
import { type CertificateAuthority, type IssuedCert, spiffeId } from '../../harness/pki.js';
import type { Manifest, Posture } from '../../harness/posture/load.js';
import { type ControlPlanes, namespaceRequestsInjection, podOptsOut } from '../../harness/istio/injection.js';
import { type Estate, type EstatePod, gatewayClaim, gatewayReason, resolveScope, type SweepScope } from '../../harness/sweep/estate.js';
import type { Dial, Outage, PodRef, ProbeHandle, Ref, ScaleResult, Target, TargetDescription } from '../../harness/target.js';
import { PodTable, podRef } from './lab-pod.js';
import { AppliedPosture } from './lab-posture.js';
import { extensionProvidersOf } from '../../harness/istio/authz-policy.js';
import { buildModel, loggingFor, ROOT_NAMESPACE, selects, type TrafficPolicy } from './model.js';
import type { Sidecar } from './sidecar.js';
import { LabWorkloads, type WorkloadOptions } from './workloads.js';

export interface LabOptions extends WorkloadOptions {
  /** The pod IP a cluster gave a pod (the Kubernetes façade's); the lab numbers its own otherwise. */
  podIp?: (namespace: string, name: string) => string | undefined;
  /** The Istio control planes (revisions, tags) whose webhooks decide injection; one default revision if absent. */
  controlPlanes?: ControlPlanes;
  /**
   * istiod's MAX_WORKLOAD_CERT_TTL (default 90 days, istio security/pkg/cmd/constants.go `DefaultMaxWorkloadCertTTL`;
   * pilot/pkg/bootstrap/istio_ca.go `maxWorkloadCertTTL`): a longer requested TTL is refused, not capped.
   */
  maxWorkloadCertTtlMs?: number;
}

/** istio security/pkg/cmd/constants.go `DefaultMaxWorkloadCertTTL = 90 * 24 * time.Hour`. */
const DEFAULT_MAX_WORKLOAD_CERT_TTL_MS = 90 * 24 * 3_600_000;

/** A Go time.Duration's String() for whole seconds (what istiod's TTL error prints), e.g. 1h0m0s. */
function goDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${m}m${s % 60}s` : m > 0 ? `${m}m${s % 60}s` : `${s}s`;
}

export class LabTarget implements Target {
  readonly kind = 'lab' as const;
  private readonly pods: PodTable;
  private readonly workloads: LabWorkloads;
  /** The posture applied to the lab (one per run). */
  private current?: AppliedPosture;
  private readonly rr = new Map<string, number>();
  private disposed = false;
  /** Service accounts deleted after the posture was applied (deleteServiceAccount). */
  private readonly deletedServiceAccounts = new Set<string>();
  /** Scale-ups refused during an outage, created when it ends (the ReplicaSet controller retries). */
  private readonly pendingScale = new Map<string, number>();

  constructor(private readonly opts: LabOptions = {}) {
    this.pods = new PodTable(opts.podIp);
    this.workloads = new LabWorkloads(this.pods, () => this.applied(), opts);
  }

  // ------------------------------------------------------------ Target

  validate(posture: Posture): void {
    buildModel(posture, this.opts.controlPlanes);
  }

  async apply(posture: Posture): Promise<void> {
    if (this.current) throw new Error('the lab applies one posture per run');
    if (!existsSync(this.workloads.agentPath)) throw new InfraError(`agent bundle ${this.workloads.agentPath} is missing: run \`npm run build\``);
    const applied = new AppliedPosture(posture, this.pods, this.opts.controlPlanes);
    this.current = applied;
    this.deletedServiceAccounts.clear();
    await applied.start();
    await this.workloads.startAll();
  }

  /** The DestinationRule traffic policy a client namespace's sidecars get for a Service (what istiod pushes). */
  trafficPolicy(clientNamespace: string, namespace: string, service: string): TrafficPolicy | undefined {
    return this.applied().trafficPolicy(clientNamespace, namespace, service);
  }

  async probe(workload: Ref): Promise<ProbeHandle> {
    const [first] = await this.probes(workload);
    return first!;
  }

  async probes(workload: Ref): Promise<ProbeHandle[]> {
    const pods = this.pods.list.filter((p) => p.namespace === workload.namespace && p.workload === workload.name && p.alive);
    if (pods.length === 0) throw new ConfigError(`the posture has no running probe ${workload.namespace}/${workload.name}`);
    return pods.map((pod) => {
      if (pod.deployment.mode !== 'probe') throw new ConfigError(`${workload.namespace}/${workload.name} is not a probe (agent mode ${pod.deployment.mode})`);
      return {
        workload,
        pod: podRef(pod),
        sidecar: pod.sidecar !== undefined,
        spiffeId: pod.spiffeId,
        run: (attacks: Attack[], opts?: Omit<ProbeBatch, 'attacks'>) => this.workloads.exec(pod, attacks, opts),
      };
    });
  }

  /**
   * The lab's estate, read as discovery reads a cluster: namespaces, Services, pods with ports and protocols by
   * the Service port names (the lab requires names, schema.ts), sidecar presence, and the policy snapshot.
   */
  async discover(scope: SweepScope): Promise<Estate> {
    const model = this.applied().model;
    const all = [...model.namespaces.entries()].map(([name, n]) => ({ name, labels: n.labels, injected: namespaceRequestsInjection(n.labels) }));
    if (!all.some((n) => n.name === ROOT_NAMESPACE)) all.push({ name: ROOT_NAMESPACE, labels: {}, injected: false });
    if (!all.some((n) => n.name === scope.runNamespace)) throw new ConfigError(`the lab posture has no run namespace ${scope.runNamespace}`);
    const { inScope, left } = resolveScope(all, scope, ROOT_NAMESPACE);
    const within = new Set(inScope);
    const services = model.services.filter((s) => within.has(s.namespace));
    const pods: EstatePod[] = this.pods.list
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
            dial: this.pods.directAddress(p, port),
          };
        });
        const role = labels['meshproof.dev/role'];
        return {
          namespace: p.namespace,
          name: p.name,
          serviceAccount: p.deployment.serviceAccount,
          // The lab's pods belong to their Deployment (what a cluster's ownerReferences say, cluster/kube/discover.ts).
          workload: p.deployment.name,
          workloadKind: 'Deployment',
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
    const snapshot: Manifest[] = (this.current?.posture.objects ?? [])
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
      // The lab's mesh config refuses trustDomainAliases (schema.ts meshConfigSchema).
      trustDomainAliases: [],
      extensionProviders: extensionProvidersOf(model.meshConfig),
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

  async address(service: Ref, port: number, from: ProbeHandle): Promise<Dial> {
    const svc = this.applied().service(service);
    const sp = svc.ports.find((p) => p.port === port);
    if (!sp) throw new ConfigError(`Service ${service.namespace}/${service.name} has no port ${port}`);
    const authority = `${service.name}.${service.namespace}.svc.cluster.local:${port}`;
    const fromPod = this.pods.list.find((p) => p.namespace === from.pod.namespace && p.name === from.pod.name);
    if (fromPod?.sidecar) {
      // The client's sidecar captures the connection: in the lab, a per-destination outbound listener.
      return { dial: `127.0.0.1:${await this.workloads.captureOf(fromPod, service, port)}`, authority };
    }
    // No sidecar: the Service resolves to one endpoint per connection, round-robin (kube-proxy's job). Resolving
    // per call instead of proxying keeps a dead endpoint visible as a refused connection, never as a reset.
    const eps = this.applied().backends(service.namespace, service.name, port);
    if (eps.length === 0) return { dial: '127.0.0.1:1', authority }; // nothing listening: refused, inconclusive
    const key = `${service.namespace}/${service.name}:${port}`;
    const i = this.rr.get(key) ?? 0;
    this.rr.set(key, i + 1);
    return { dial: eps[i % eps.length]!.address, authority };
  }

  async endpoints(service: Ref, port: number): Promise<{ pod: PodRef; dial: string }[]> {
    return this.applied().backends(service.namespace, service.name, port).map((e) => ({ pod: podRef(e.pod), dial: e.address }));
  }

  /** Every pod with a sidecar. */
  async meshPods(): Promise<PodRef[]> {
    return this.pods.list.filter((p) => p.sidecar && p.alive).map(podRef);
  }

  /**
   * A genuine mesh certificate for the probe's own identity, as a sidecar-less pod gets one from istiod with its
   * own service-account token (istio-behaviours.md §4b). The lab CA stands for istiod's.
   */
  async mintCertificate(probe: ProbeHandle, ttlMs: number): Promise<Pick<IssuedCert, 'chainPem' | 'keyPem' | 'notBefore' | 'notAfter' | 'serialNumber' | 'spiffeId'>> {
    if (this.current?.controlPlaneDown) throw new InfraError('istiod is down: CreateCertificate is unreachable');
    const pod = this.pods.find(probe.pod);
    return this.requireCa().issue(pod.namespace, pod.deployment.serviceAccount, { ttlMs });
  }

  /**
   * A mesh certificate for an identity of the estate (the access matrix): the lab CA stands for istiod's, which
   * signs for the service account a valid TokenRequest token names. A service account the posture does not define
   * is refused, as the TokenRequest API refuses one (404 NotFound: the token subresource's Create looks the service
   * account up first, kubernetes pkg/registry/core/serviceaccount/storage/token.go `TokenREST.Create`). `default`
   * exists in every namespace (the service account controller creates it).
   */
  async mintIdentityCertificate(probe: ProbeHandle, identity: { namespace: string; serviceAccount: string }, ttlMs: number): Promise<Pick<IssuedCert, 'chainPem' | 'keyPem' | 'notBefore' | 'notAfter' | 'serialNumber' | 'spiffeId'>> {
    if (this.current?.controlPlaneDown) throw new InfraError('istiod is down: CreateCertificate is unreachable');
    this.pods.find(probe.pod);
    const model = this.applied().model;
    const { namespace, serviceAccount } = identity;
    const exists = model.namespaces.has(namespace) && (serviceAccount === 'default' || model.serviceAccounts.has(`${namespace}/${serviceAccount}`));
    if (!exists || this.deletedServiceAccounts.has(`${namespace}/${serviceAccount}`)) throw new ConfigError(`serviceaccounts "${serviceAccount}" not found in namespace ${namespace}: no token can be requested for it`);
    // istiod refuses (never caps) a TTL over its maximum: istio security/pkg/pki/ca/ca.go `IstioCA.sign` ("requested
    // TTL %s is greater than the max allowed TTL %s", caerror.TTLError → gRPC InvalidArgument = status 3), reached from
    // security/pkg/server/ca/server.go `CreateCertificate` (TTL = request.ValidityDuration seconds).
    const max = this.opts.maxWorkloadCertTtlMs ?? DEFAULT_MAX_WORKLOAD_CERT_TTL_MS;
    const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
    if (seconds * 1000 > max) throw new InfraError(`CreateCertificate refused (grpc-status 3): CSR signing error (requested TTL ${goDuration(seconds * 1000)} is greater than the max allowed TTL ${goDuration(max)})`);
    return this.requireCa().issue(namespace, serviceAccount, { ttlMs: seconds * 1000 });
  }

  /**
   * `kubectl delete serviceaccount`: its pods keep running with the identity they have (nothing restarts them), but
   * no token can be requested for it any more (TokenRequest answers 404), so no new certificate can be minted.
   */
  deleteServiceAccount(namespace: string, serviceAccount: string): void {
    this.deletedServiceAccounts.add(`${namespace}/${serviceAccount}`);
  }

  /**
   * Where `from` connects to reach a pod no Service stands for, by its IP (egress, EGRESS-001): through the
   * client sidecar's capture of that address when it has one (§7), else straight to the pod.
   */
  async external(workload: Ref, port: number, from: ProbeHandle): Promise<Dial> {
    const pod = this.pods.list.find((p) => p.alive && p.namespace === workload.namespace && p.workload === workload.name);
    if (!pod) throw new ConfigError(`the posture has no running ${workload.namespace}/${workload.name}`);
    return { dial: await this.podAddress(podRef(pod), port, from), authority: `${this.pods.ipOf(pod)}:${port}` };
  }

  /** Like `kubectl get pod -o jsonpath={.status.podIP}`. */
  podIp(ref: PodRef): string {
    return this.pods.ipOf(this.pods.find(ref));
  }

  /**
   * What "podIP:containerPort" reaches in the lab: the pod's inbound listener, or its app without a sidecar; from a
   * probe with a sidecar, that sidecar's capture of the address.
   */
  async podAddress(ref: PodRef, containerPort: number, from?: ProbeHandle): Promise<string> {
    const fromPod = from ? this.pods.list.find((p) => p.namespace === from.pod.namespace && p.name === from.pod.name) : undefined;
    const p = this.pods.find(ref);
    if (fromPod?.sidecar) return `127.0.0.1:${await this.workloads.captureAddress(fromPod, this.pods.ipOf(p), containerPort)}`;
    return this.pods.directAddress(p, containerPort);
  }

  /** The lab CA signing a request's public key for an identity (what istiod's CA does for a valid token). */
  async signForIdentity(publicKeySpki: Buffer, namespace: string, serviceAccount: string, ttlMs: number): Promise<IssuedCert> {
    if (this.current?.controlPlaneDown) throw new InfraError('istiod is down: the CA does not answer');
    return this.requireCa().issue(namespace, serviceAccount, { ttlMs, publicKeySpki });
  }

  /** A serving certificate from the lab CA (the façade's istiod). */
  async serverCert(dns: string[]): Promise<IssuedCert> {
    return this.requireCa().issue('istio-system', 'istiod', { dns });
  }

  /** The roots of the edge certificates this Target generated (EDGE-003's trust anchors for the posture's edge). */
  async edgeRoots(): Promise<string[]> {
    return this.current ? this.current.edgeRoots() : [];
  }

  async servicePods(service: Ref): Promise<PodRef[]> {
    const svc = this.applied().service(service);
    return this.pods.list.filter((p) => p.namespace === svc.namespace && selects(svc.selector, p.deployment.podLabels)).map(podRef);
  }

  async accessLog(ref: PodRef, since: Date): Promise<string[]> {
    // Like `kubectl logs --since`: by when the line was written, not by what it says.
    return (this.pods.find(ref).sidecar?.log.entries ?? []).filter((e) => e.at >= since.getTime()).map((e) => e.line);
  }

  private async admin(ref: PodRef, path: string): Promise<string> {
    const p = this.pods.find(ref);
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
    const p = this.pods.find(ref);
    const port = p.appPorts.get(p.deployment.containerPorts[0] ?? 8080);
    if (!port || !p.alive) throw new InfraError(`lab pod ${ref.namespace}/${ref.name} has no live app`);
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path, headers: { 'x-meshproof-admin': this.workloads.adminToken }, timeout: 5_000 }, (res) => {
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
    return logSetup(loggingFor(this.applied().model, this.pods.find(ref).deployment), side);
  }

  /** The mesh's root certificate, as istiod distributes it (the façade's istio-ca-root-cert). */
  rootPem(): string {
    return this.requireCa().rootPem;
  }

  async meshRoots(): Promise<string[]> {
    return [this.requireCa().rootPem];
  }

  identity(namespace: string, serviceAccount: string): string {
    return spiffeId(this.current?.ca?.trustDomain ?? 'cluster.local', namespace, serviceAccount);
  }

  async describe(): Promise<TargetDescription> {
    const m = this.applied().model;
    return {
      kind: 'lab',
      summary: 'built-in lab (a local emulation of sidecar behaviour for testing the harness; not a mesh)',
      trustDomain: this.current?.ca?.trustDomain ?? 'cluster.local',
      versions: { node: process.version, emulates: 'Istio 1.22–1.30 sidecar mode (docs/istio-behaviours.md)' },
      namespaces: Object.fromEntries([...m.namespaces.keys()].map((n) => [n, n])),
      notes: ['The lab is a test bed for meshproof itself. Its verdicts say nothing about any real mesh.'],
    };
  }

  async controlPlaneOutage(): Promise<Outage> {
    const applied = this.applied();
    applied.controlPlaneDown = true;
    const startedAt = new Date();
    return {
      startedAt,
      restore: async () => {
        if (!applied.controlPlaneDown) return;
        applied.controlPlaneDown = false;
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
    const model = this.applied().model;
    const d = model.deployments.find((x) => x.namespace === workload.namespace && x.name === workload.name);
    if (!d) throw new ConfigError(`the posture has no Deployment ${workload.namespace}/${workload.name}`);
    const live = this.pods.list.filter((p) => p.namespace === d.namespace && p.workload === d.name && p.alive);
    if (replicas < live.length) {
      // Scaled-down pods are deleted: gone from every listing, their processes and sidecars stopped.
      for (const p of live.slice(replicas)) {
        p.alive = false;
        p.process?.kill('SIGTERM');
        await p.sidecar?.close();
        this.pods.list.splice(this.pods.list.indexOf(p), 1);
      }
      return { created: [] };
    }
    if (replicas === live.length) return { created: [] };
    if (this.applied().controlPlaneDown && d.webhookCalled && !model.faults.injectionFailOpen) {
      this.pendingScale.set(`${d.namespace}/${d.name}`, replicas);
      // The webhook the model says admission calls, posting to its revision's istiod (istiod-<rev> for a revision).
      const hook = d.webhook ?? { name: 'namespace.sidecar-injector.istio.io', revision: 'default' };
      const istiod = hook.revision === 'default' ? 'istiod' : `istiod-${hook.revision}`;
      return {
        created: [],
        refused: `ReplicaSet ${d.namespace}/${d.name}: FailedCreate: Internal error occurred: failed calling webhook "${hook.name}": failed to call webhook: Post "https://${istiod}.istio-system.svc:443/inject": no endpoints available for service "${istiod}"`,
      };
    }
    const created: PodRef[] = [];
    // A webhook that fails open lets the pod in uninjected: no sidecar, plaintext to its app.
    const spec = this.applied().controlPlaneDown && d.injected ? { ...d, injected: false } : d;
    for (let i = 0; i < replicas - live.length; i++) {
      // The lowest free replica index, as the Kubernetes façade names pods (a real cluster gives random suffixes).
      const used = new Set(this.pods.list.filter((p) => p.namespace === d.namespace && p.workload === d.name).map((p) => p.name));
      let n = 0;
      while (used.has(`${d.name}-${n}`)) n++;
      await this.workloads.startPod(spec, n);
      created.push(podRef(this.pods.list[this.pods.list.length - 1]!));
    }
    return { created };
  }

  // ------------------------------------------------------------ test hooks (not part of Target)

  /** Kills a workload's processes and, unless `keepSidecar`, its sidecar: a dead target. */
  async kill(workload: Ref, opts: { keepSidecar?: boolean } = {}): Promise<void> {
    for (const p of this.pods.list.filter((x) => x.namespace === workload.namespace && x.workload === workload.name)) {
      p.process?.kill('SIGKILL');
      if (!opts.keepSidecar) {
        p.alive = false;
        await p.sidecar?.close();
      }
    }
  }

  /** Forgets a workload's outlier ejections (test hook: repeated RES-002 runs on one lab). */
  async resetOutlierDetection(workload: Ref): Promise<void> {
    for (const p of this.pods.list.filter((x) => x.namespace === workload.namespace && x.workload === workload.name)) p.sidecar?.resetOutlierDetection();
  }

  /** Resets every outbound connection of a workload's sidecars: a client whose path is broken. */
  breakOutbound(workload: Ref, broken = true): void {
    for (const p of this.pods.list.filter((x) => x.namespace === workload.namespace && x.workload === workload.name)) {
      if (p.sidecar) p.sidecar.outboundBroken = broken;
    }
  }

  sidecarOf(ref: PodRef): Sidecar | undefined {
    return this.pods.find(ref).sidecar;
  }

  // ------------------------------------------------------------ lifecycle

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const errors = await this.workloads.close();
    await this.current?.close();
    if (errors.length > 0) throw new InfraError(`lab teardown: ${errors.length} error(s), first: ${String(errors[0])}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  get liveProcesses(): number {
    return this.workloads.liveProcesses;
  }

  private applied(): AppliedPosture {
    if (!this.current) throw new Error('no posture applied to the lab yet');
    return this.current;
  }

  private requireCa(): CertificateAuthority {
    if (!this.current?.ca) throw new Error('lab CA not created yet');
    return this.current.ca;
  }
}
