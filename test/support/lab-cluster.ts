// The Kubernetes API façade over the lab (test support, not product): what KubeTarget applies through the real
// client library becomes a lab posture; pods are the lab's processes; exec runs the agent inside the lab pod;
// pod logs are the lab sidecar's access log; `pilot-agent request GET stats|certs` reads the lab's admin port.
// Cluster networking is emulated at exec time: a batch's Service FQDNs and pod IPs are rewritten to the lab
// listeners that DNS, kube-proxy and the sidecar's capture would route them to.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { ProbeBatch } from '../../agent/protocol.js';
import { loadKubeConfig } from '../../cluster/kube/connect.js';
import { KubeTarget, type KubeTargetOptions } from '../../cluster/kube/kube-target.js';
import { RUN_LABEL } from '../../cluster/kube/render.js';
import { LabTarget } from '../../cluster/lab/lab-target.js';
import type { Manifest, PostureObject } from '../../harness/posture/load.js';
import { parseManifests } from '../../harness/posture/load.js';
import { AGENT_BUNDLE } from '../../harness/paths.js';
import type { Outage, PodRef } from '../../harness/target.js';
import { runProcess } from './cli.js';
import { type FakeIstiod, type IssuedToken, startFakeIstiod } from './fake-istiod.js';
import { allowedFor, controlPlanesOf, type KubeApi, pathFor, startKubeApi } from './kube-api.js';

type Obj = Manifest & { spec?: Record<string, unknown>; data?: unknown };

interface PodSpecLike {
  serviceAccountName?: string;
  volumes?: { name: string; projected?: { sources: { serviceAccountToken?: { audience?: string; path: string } }[] } }[];
  containers: { volumeMounts?: { name: string; mountPath: string }[] }[];
}

/** Where the pod's projected token for `audience` is mounted, if it has one. */
function projectedTokenDir(spec: PodSpecLike | undefined, audience: string): string | undefined {
  const vol = spec?.volumes?.find((v) => v.projected?.sources.some((s) => s.serviceAccountToken?.audience === audience && s.serviceAccountToken.path === 'token'));
  return vol && spec?.containers[0]?.volumeMounts?.find((m) => m.name === vol.name)?.mountPath;
}

const tokenDir = mkdtempSync(path.join(tmpdir(), 'meshproof-kubelet-'));

/**
 * Strips what only a cluster needs (delivery, security context, run labels) so the lab sees the fixture.
 * `stripStatsMatcher` removes the proxyStatsMatcher render added: a cluster whose pods keep only Istio's defaults.
 */
function unrender(o: Obj, opts: { stripStatsMatcher?: boolean } = {}): Obj | undefined {
  // Not posture: the agent's ConfigMap, meshproof's own PolicyReport. RBAC is the API's: the lab asks it (sdsAuthorize).
  if (o.kind === 'ConfigMap' || o.kind === 'PolicyReport' || o.kind === 'Role' || o.kind === 'RoleBinding') return undefined;
  // Otterize ClientIntents: a team's declared calls, which no sidecar reads (the Otterize operator, when installed,
  // turns them into AuthorizationPolicies, which the façade would serve as such); meshproof lists them for --intent.
  if (o.kind === 'ClientIntents') return undefined;
  const m = structuredClone(o);
  const strip = (labels?: Record<string, string>) => {
    if (!labels) return undefined;
    const { [RUN_LABEL]: _run, ...rest } = labels;
    return Object.keys(rest).length ? rest : undefined;
  };
  m.metadata = { name: m.metadata.name, ...(m.metadata.namespace ? { namespace: m.metadata.namespace } : {}), ...(strip(m.metadata.labels) ? { labels: strip(m.metadata.labels) } : {}), ...(m.metadata.annotations ? { annotations: m.metadata.annotations } : {}) };
  if (m.kind === 'Namespace' && m.metadata.labels) {
    // Labels render added for istiod's discoverySelectors: the façade's istiod honours them, the lab has none.
    m.metadata.labels = Object.fromEntries(Object.entries(m.metadata.labels).filter(([k]) => !k.startsWith('meshproof.dev/')));
  }
  if (m.kind === 'Deployment') {
    const t = (m.spec as { template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: Record<string, unknown> } }).template;
    const annotations = { ...(t.metadata.annotations ?? {}) };
    if (opts.stripStatsMatcher && annotations['proxy.istio.io/config']) {
      const { proxyStatsMatcher: _gone, ...rest } = JSON.parse(annotations['proxy.istio.io/config']) as Record<string, unknown>;
      if (Object.keys(rest).length > 0) annotations['proxy.istio.io/config'] = JSON.stringify(rest);
      else delete annotations['proxy.istio.io/config'];
    }
    t.metadata = { labels: strip(t.metadata.labels) ?? {}, ...(Object.keys(annotations).length ? { annotations } : {}) };
    const containers = (t.spec.containers as Record<string, unknown>[]).map((c) => ({ name: c.name, ...(c.image === 'auto' ? { image: 'auto' } : { command: c.command, args: c.args }), ...(c.ports ? { ports: c.ports } : {}) }));
    t.spec = { ...(t.spec.serviceAccountName ? { serviceAccountName: t.spec.serviceAccountName } : {}), containers };
  }
  if (m.kind === 'Gateway') {
    // The run label render added to the selector (its pod template labels are stripped above as well).
    const spec = m.spec as { selector: Record<string, string> };
    spec.selector = strip(spec.selector) ?? {};
  }
  return m;
}

export interface LabCluster {
  api: KubeApi;
  lab(): LabTarget | undefined;
  /** A KubeTarget for a fresh run id through this API (its kubeconfig written into `dir`), as the CLI would make one. */
  kubeTarget(dir: string, o?: Partial<KubeTargetOptions>): KubeTarget;
  close(): Promise<void>;
}

export async function startLabCluster(
  o: {
    meshWide?: string;
    stripStatsMatcher?: boolean;
    meshConfig?: string;
    extraRootPem?: string;
    /** Objects the cluster's own users applied before meshproof came (a sweep's estate). */
    existing?: PostureObject[];
    /** Echo pods per lab process (an estate of hundreds of pods); 1 keeps one process per pod. */
    podsPerProcess?: number;
    /**
     * Objects only the lab knows (LabFault: an emulated broken proxy, e.g. estateLabFaults), handed to the lab on every
     * rebuild and never served by the API: a cluster has no such kind, and meshproof must find their effect by attack.
     */
    labOnly?: PostureObject[];
  } = {},
): Promise<LabCluster> {
  const api = await startKubeApi();
  if (o.meshConfig !== undefined) api.state.meshConfig = o.meshConfig;
  // The cluster's own mesh-wide posture, as its operators applied it (meshproof never writes to istio-system).
  const meshWide: PostureObject[] = o.meshWide ? parseManifests(readFileSync(o.meshWide, 'utf8'), o.meshWide) : [];
  for (const x of o.existing ?? []) {
    const m = x.manifest;
    if (m.kind === 'ConfigMap' && m.metadata.namespace === 'istio-system' && m.metadata.name === 'istio') {
      // The cluster's mesh config, as its operators set it: the façade serves it as ConfigMap istio-system/istio.
      if (o.meshConfig !== undefined) throw new Error('startLabCluster: the mesh config is given twice (meshConfig and an existing ConfigMap istio-system/istio)');
      api.state.meshConfig = (m as unknown as { data: { mesh: string } }).data.mesh;
      continue;
    }
    if (m.kind === 'Namespace') api.state.namespaces.set(m.metadata.name, { labels: m.metadata.labels ?? {}, created: '2026-01-01T00:00:00Z', phase: 'Active' });
    api.state.objects.set(pathFor(m), m as unknown as Record<string, unknown>);
  }
  for (const x of meshWide) api.state.objects.set(pathFor(x.manifest), x.manifest as unknown as Record<string, unknown>);
  let lab: LabTarget | undefined;
  let builtAt = -1;
  let building: Promise<void> | undefined;
  const rebuild = async () => {
    if (builtAt === api.state.generation) return;
    const gen = api.state.generation;
    await lab?.dispose();
    const objects = [...api.state.objects.values()].map((v) => unrender(v as Obj, o)).filter((x): x is Obj => x !== undefined);
    // The cluster's mesh config, which istiod (and so the lab's sidecars) reads for access logging.
    // discoverySelectors are the façade's istiod's (which namespaces get the root): the lab has no such field.
    const mesh = api.state.meshConfig === undefined ? undefined : (parseYaml(api.state.meshConfig) as Record<string, unknown> | null);
    if (mesh && 'discoverySelectors' in mesh) delete mesh.discoverySelectors;
    if (api.state.meshConfig !== undefined) objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: 'istio-system' }, data: { mesh: mesh && Object.keys(mesh).length > 0 ? stringifyYaml(mesh) : '' } });
    lab = new LabTarget({
      podsPerProcess: o.podsPerProcess,
      // The cluster's control planes: the lab decides injection with the same model and webhooks as the façade.
      controlPlanes: controlPlanesOf(api.state),
      podIp: (namespace, name) => api.state.podIPs.get(`${namespace}/${name}`),
      // istiod's SubjectAccessReview for a gateway's credentialName, answered by this API's RBAC authorizer.
      sdsAuthorize: (namespace, name) => allowedFor(api.state, { namespace, name }, { verb: 'list', group: '', resource: 'secrets', namespace }),
    });
    await lab.apply({ origin: ['kube-api'], objects: [...objects.map((manifest, i) => ({ manifest, source: `kube-api#${i + 1}` })), ...(o.labOnly ?? [])] });
    // istiod's CA for this lab: CreateCertificate over gRPC, identities from the tokens this API issued.
    await istiod?.close();
    const l = lab;
    istiod = await startFakeIstiod({ cert: await l.serverCert(['istiod.istio-system.svc']), sign: (spki, ns, sa, ttl) => l.signForIdentity(spki, ns, sa, ttl) });
    for (const [t, who] of tokens) istiod.tokens.set(t, who);
    builtAt = gen;
  };
  let istiod: FakeIstiod | undefined;
  const tokens = new Map<string, IssuedToken>();
  api.state.issueToken = (namespace, serviceAccount, audiences, expirationSeconds) => {
    const t = `token-${randomUUID()}`;
    const issued = { namespace, serviceAccount, audiences: [...audiences], expiresAt: Date.now() + expirationSeconds * 1000 };
    tokens.set(t, issued);
    istiod?.tokens.set(t, issued);
    return t;
  };
  // Before the lab's CA exists (the lab is still starting) there is no root to distribute yet.
  api.state.rootPem = () => {
    try {
      // During a root rotation istiod distributes both roots in one bundle (istio-behaviours.md §10).
      const root = lab?.rootPem();
      return root && o.extraRootPem ? `${root.trimEnd()}\n${o.extraRootPem}` : root;
    } catch {
      return undefined;
    }
  };
  // A scale follows into the lab without a rebuild: istiod to 0 is a control-plane outage (CA and webhook down,
  // sidecars keep what they have), back up ends it; a run Deployment's scale adds or deletes lab pods.
  let outage: Outage | undefined;
  api.state.onScale = async (namespace, name, replicas) => {
    if (!lab) return;
    if (namespace === 'istio-system' && name.startsWith('istiod')) {
      if (replicas === 0 && !outage) outage = await lab.controlPlaneOutage();
      else if (replicas > 0 && outage) {
        await outage.restore();
        outage = undefined;
      }
      return;
    }
    await lab.scale({ namespace, name }, replicas);
  };
  api.state.beforePods = () => {
    building ??= rebuild().finally(() => {
      building = undefined;
    });
    return building;
  };
  const podOf = (namespace: string, name: string): PodRef => ({ namespace, name, workload: name.replace(/-\d+$/, '') });
  const ipToPod = (ip: string) => [...api.state.podIPs].find(([, v]) => v === ip)?.[0];
  api.state.logs = async (ns, pod, container, since) => {
    if (container !== 'istio-proxy' || !lab) return '';
    return (await lab.accessLog(podOf(ns, pod), since ?? new Date(0))).join('\n');
  };
  api.state.exec = async (c) => {
    if (!lab) return { stderr: 'no lab', exitCode: 1 };
    const pod = podOf(c.namespace, c.pod);
    try {
      if (c.container === 'istio-proxy' && c.command[0] === 'pilot-agent') {
        const what = c.command[3];
        if (what === 'stats') return { stdout: Object.entries(await lab.stats(pod)).map(([k, v]) => `${k}: ${v}`).join('\n'), exitCode: 0 };
        if (what === 'certs') return { stdout: JSON.stringify(await lab.workloadCert(pod)), exitCode: 0 };
      }
      if (c.container === 'agent' && c.command[2] === 'mint') {
        const asked = JSON.parse(c.stdin) as { tokenPath?: string; token?: string; address?: string };
        // Cluster DNS: only istiod's own Service resolves (istiod, or istiod-<rev> for a revision).
        const service = `${api.state.istiod?.revision ? `istiod-${api.state.istiod.revision}` : 'istiod'}.istio-system.svc:15012`;
        if (asked.address !== service) return { stderr: `dial tcp: lookup ${asked.address}: no such host`, exitCode: 1 };
        let req: Record<string, unknown>;
        if (asked.token !== undefined) {
          // A token the runner obtained (TokenRequest) and handed over in the request: the real agent's mint, fed the
          // same stdin, with istiod's address resolved to the fake CA (what cluster DNS would do). No file holds it.
          req = { ...(JSON.parse(c.stdin) as Record<string, unknown>), address: istiod!.address };
        } else {
          // The kubelet's projected service-account token: only a pod whose spec mounts one (audience istio-ca) at
          // the path asked for has the file; its identity is the pod's own service account.
          const deployment = [...api.state.objects.values()].find((o) => (o as Obj).kind === 'Deployment' && (o as Obj).metadata.namespace === c.namespace && (o as Obj).metadata.name === pod.workload) as Obj | undefined;
          const spec = (deployment?.spec as { template: { spec: PodSpecLike } } | undefined)?.template.spec;
          const dir = projectedTokenDir(spec, 'istio-ca');
          if (!spec || !dir || `${dir}/token` !== asked.tokenPath) return { stderr: `open ${asked.tokenPath}: no such file or directory`, exitCode: 1 };
          const tokenFile = path.join(tokenDir, `${c.namespace}-${c.pod}.token`);
          writeFileSync(tokenFile, api.state.issueToken!(c.namespace, spec.serviceAccountName ?? 'default', ['istio-ca'], 3600), { mode: 0o600 });
          req = { ...(JSON.parse(c.stdin) as Record<string, unknown>), address: istiod!.address, tokenPath: tokenFile };
        }
        // Asynchronously: the fake CA answers from this same process.
        const r = await runProcess(process.execPath, [AGENT_BUNDLE, 'mint'], { input: JSON.stringify(req) });
        return { stdout: r.stdout, stderr: r.stderr, exitCode: r.code ?? 1 };
      }
      if (c.container === 'agent' && c.command[2] === 'admin') return { stdout: JSON.stringify(await lab.appAdmin(pod, c.command[3]!)), exitCode: 0 };
      if (c.container === 'agent' && c.command[2] === 'probe') {
        // The exec'd pod itself (a sweep shards across the replicas of its attacker).
        const probe = (await lab.probes({ namespace: c.namespace, name: pod.workload })).find((p) => p.pod.name === c.pod);
        if (!probe) return { stderr: `no probe pod ${c.namespace}/${c.pod}`, exitCode: 1 };
        const batch = JSON.parse(c.stdin) as ProbeBatch;
        for (const a of batch.attacks) {
          const svc = /^([^.]+)\.([^.]+)\.svc\.cluster\.local:(\d+)$/.exec(a.dial);
          const ip = /^(10\.244\.\d+\.\d+):(\d+)$/.exec(a.dial);
          if (svc) a.dial = (await lab.address({ namespace: svc[2]!, name: svc[1]! }, Number(svc[3]), probe)).dial;
          else if (ip) {
            const key = ipToPod(ip[1]!);
            // The probe's own sidecar captures a pod IP it dials (egress, §7); a sidecar-less probe reaches the pod.
            a.dial = key ? await lab.podAddress(podOf(key.split('/')[0]!, key.split('/')[1]!), Number(ip[2]), probe) : '127.0.0.1:1';
          }
        }
        const { attacks: _a, ...opts } = batch;
        return { stdout: JSON.stringify(await probe.run(batch.attacks, opts)), exitCode: 0 };
      }
      return { stderr: `unknown command ${c.command.join(' ')}`, exitCode: 127 };
    } catch (e) {
      return { stderr: (e as Error).message, exitCode: 1 };
    }
  };
  return {
    api,
    lab: () => lab,
    kubeTarget: (dir, opts = {}) => {
      const { kc } = loadKubeConfig({ kubeconfig: api.kubeconfig(dir), env: {} });
      // A cluster meshproof provisioned (kind, k3s) is driven with its admin's kubeconfig, which deploy/confine.yaml
      // does not bind (it confines meshproof's service account): root-namespace fixtures are then admitted.
      if (opts.provisioned ?? true) api.state.user = 'kubernetes-admin';
      return new KubeTarget({ kc, runId: crypto.randomUUID(), agentBundle: readFileSync(AGENT_BUNDLE, 'utf8'), adminToken: 'token', provisioned: true, readyTimeoutMs: 30_000, ...opts });
    },
    close: async () => {
      await building?.catch(() => {});
      await lab?.dispose();
      await istiod?.close();
      await api.close();
    },
  };
}
