// Which declared calls speak of a matrix cell (audit 2026-12-06 M22-M2, M22-M3), through the lab: Otterize's
// generated AuthorizationPolicy selects the declared Service's pods and names no ports, so a second Service over the
// same pods is covered by the declaration; intent workloads resolve through the pods' owners, not their names' shape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estatePosture } from '../cluster/lab/estate.js';
import { LabTarget } from '../cluster/lab/lab-target.js';
import { SWEEP_FIXTURES } from '../harness/paths.js';
import { loadPosture, type Manifest, type PostureObject } from '../harness/posture/load.js';
import { ownerWorkload } from '../cluster/kube/discover.js';
import { parseIntents, resolveIntent } from '../harness/matrix/intent.js';
import type { MatrixIntent } from '../harness/matrix/matrix.js';
import { type SweepOptions, sweep } from '../harness/sweep/sweep.js';
import { matrixSweepOptions } from './support/matrix-sweep.js';

const options = (target: LabTarget, over: Partial<SweepOptions> = {}): SweepOptions => matrixSweepOptions(target, { matrix: { perPod: false, probeGrants: false }, ...over });

describe('declared calls and the cells they speak of', () => {
  let lab: LabTarget;
  beforeAll(async () => {
    const objects: PostureObject[] = [...estatePosture({ services: 6, replicas: 1, holes: false }), ...loadPosture(SWEEP_FIXTURES, []).objects];
    // A second Service over svc-0001's pods (same selector, same port): a blue/green alias.
    const svc = objects.find((o) => o.manifest.kind === 'Service' && o.manifest.metadata.name === 'svc-0001')!.manifest as Manifest & { spec: Record<string, unknown> };
    const alias = { ...svc, metadata: { ...svc.metadata, name: 'svc-0001-alias' } } as Manifest;
    objects.push({ manifest: alias, source: 'test: alias Service' });
    lab = new LabTarget({ podsPerProcess: 250 });
    await lab.apply({ origin: ['estate with an alias Service'], objects });
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('M22-M2: a declaration of Service svc-0001 covers the cells of a second Service over the same pods (not beyond intent); other Services stay beyond', async () => {
    const ns = 'estate-1';
    const estate = await lab.discover({ exclude: [], excludePorts: [], runNamespace: 'sweep' });
    const identities = [...new Set(estate.pods.filter((p) => p.namespace !== 'sweep' && p.role === undefined).map((p) => `${p.namespace}/${p.serviceAccount}`))];
    const intent: MatrixIntent = {
      source: 'test: every identity declares the whole of svc-0001 only',
      namespaces: [...new Set(identities.map((i) => i.split('/')[0]!))],
      calls: identities.map((identity) => ({ identity, namespace: identity.split('/')[0]!, service: 'svc-0001', calls: [] })),
    };
    const r = await sweep(options(lab, { matrix: { perPod: false, probeGrants: false, intent } }));
    const cells = r.report.matrix!.cells.filter((c) => c.role !== 'canary');
    const aliasCells = cells.filter((c) => c.namespace === ns && c.service === 'svc-0001-alias');
    const own = cells.filter((c) => c.namespace === ns && c.service === 'svc-0001');
    expect(aliasCells.length).toBeGreaterThan(0);
    expect(aliasCells.length).toBe(own.length);
    // Not vacuous: some identity is granted on the alias, exactly as on svc-0001 (the same pods, the same policies).
    expect(aliasCells.some((c) => c.grant.kind !== 'none')).toBe(true);
    for (const c of aliasCells) {
      expect(c.intent.status, `${c.identity} → ${c.service}:${c.port}`).toBe('declared');
      expect(c.intent.beyond, `${c.identity} → ${c.service}:${c.port}`).toEqual([]);
      expect(c.state).not.toBe('beyond-intent');
    }
    // A grant on a Service over other pods is still beyond the intent (the rule is about pods, not a blanket).
    const elsewhere = cells.filter((c) => c.service !== 'svc-0001' && c.service !== 'svc-0001-alias' && c.grant.kind !== 'none' && c.grant.kind !== 'not-judged');
    expect(elsewhere.length).toBeGreaterThan(0);
    for (const c of elsewhere) expect(c.state, `${c.identity} → ${c.namespace}/${c.service}:${c.port}`).toBe('beyond-intent');
  });
});

/** A ServiceAccount, an echo Deployment and its Service, all named `name`, in namespace shop. */
function app(name: string): PostureObject[] {
  const ns = 'shop';
  const ms: Manifest[] = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { serviceAccountName: name, containers: [{ name: 'app', image: 'node:22-alpine', command: ['node', '/opt/meshproof/agent.mjs'], args: ['echo', '--http-port', '8080'], ports: [{ containerPort: 8080, name: 'http-web' }] }] },
        },
      },
    } as Manifest,
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app: name }, ports: [{ name: 'http-web', port: 8080, targetPort: 8080 }] } } as Manifest,
  ];
  return ms.map((manifest) => ({ manifest, source: `test: ${name}` }));
}

const clientIntents = (workload: string, kind: string, target: string) =>
  `apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\nmetadata: {name: ${workload.slice(0, 50)}, namespace: shop}\nspec:\n  workload: {name: ${workload}, kind: ${kind}}\n  targets:\n  - kubernetes: {name: ${target}, kind: Service}\n`;

describe('intent workloads resolved by their owners (M22-M3)', () => {
  it('M22-M3: pods as Kubernetes names them resolve through ownerReferences: a long Deployment name (pod name truncated to 58 + 5) resolves; cart does not absorb StatefulSet cart-worker\'s pod cart-worker-0', () => {
    // A 56-character Deployment name: its ReplicaSet is `<name>-<hash>` (kubernetes pkg/controller/deployment/sync.go
    // getNewReplicaSet), the pod's generateName `<rs>-` is cut to 58 characters before the 5 random ones
    // (k8s.io/apiserver pkg/storage/names/generate.go simpleNameGenerator.GenerateName), losing the hash.
    const long = 'payments-platform-settlement-reconciliation-worker-green';
    const hash = '7d4b9c6f5';
    const longPod = { name: `${`${long}-${hash}-`.slice(0, 58)}x2x7q`, labels: { app: long, 'pod-template-hash': hash }, ownerReferences: [{ kind: 'ReplicaSet', name: `${long}-${hash}`, controller: true }] };
    expect(longPod.name).toHaveLength(63);
    const cartPod = { name: 'cart-6b8f7c9d5-qwert', labels: { app: 'cart', 'pod-template-hash': '6b8f7c9d5' }, ownerReferences: [{ kind: 'ReplicaSet', name: 'cart-6b8f7c9d5', controller: true }] };
    const workerPod = { name: 'cart-worker-0', labels: { app: 'cart-worker' }, ownerReferences: [{ kind: 'StatefulSet', name: 'cart-worker', controller: true }] };
    const bare = { name: 'debug', labels: { app: 'debug' } };
    expect(ownerWorkload(longPod)).toEqual({ workload: long, workloadKind: 'Deployment' });
    expect(ownerWorkload(workerPod)).toEqual({ workload: 'cart-worker', workloadKind: 'StatefulSet' });
    expect(ownerWorkload(bare)).toEqual({ workload: 'debug', workloadKind: 'Pod' });
    const pods = [longPod, cartPod, workerPod].map((p) => ({ namespace: 'shop', name: p.name, serviceAccount: p.labels.app, labels: p.labels, ...ownerWorkload(p) }));
    const services = ['api', 'cart', 'cart-worker', long].map((name) => ({ namespace: 'shop', name, selector: { app: name } }));
    const docs = [...parseIntents(clientIntents(long, 'Deployment', 'api'), 'long.yaml'), ...parseIntents(clientIntents('cart', 'Deployment', 'api'), 'cart.yaml')];
    const r = resolveIntent(docs, { pods, services });
    expect(r.unresolved).toEqual([]);
    expect([...r.declared.keys()].sort()).toEqual(['shop/cart', `shop/${long}`].sort());
    // The kind is honoured: a StatefulSet named in an intent as a Deployment is not its workload.
    const wrongKind = resolveIntent(parseIntents(clientIntents('cart-worker', 'Deployment', 'api'), 'w.yaml'), { pods, services });
    expect(wrongKind.declared.size).toBe(0);
  });

  it('M22-M3: in the lab, discovery says each pod\'s Deployment, so an intent for `cart` resolves to cart\'s identity only, not cart-worker\'s (pod cart-worker-0)', async () => {
    const lab = new LabTarget({ podsPerProcess: 250 });
    try {
      const ns: PostureObject = { manifest: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio-injection': 'enabled' } } } as Manifest, source: 'test' };
      await lab.apply({ origin: ['cart and cart-worker'], objects: [ns, ...app('cart'), ...app('cart-worker'), ...app('api'), ...loadPosture(SWEEP_FIXTURES, []).objects] });
      const estate = await lab.discover({ exclude: [], excludePorts: [], runNamespace: 'sweep' });
      const worker = estate.pods.find((p) => p.name === 'cart-worker-0')!;
      expect(worker).toMatchObject({ workload: 'cart-worker', workloadKind: 'Deployment' });
      const r = resolveIntent(parseIntents(clientIntents('cart', 'Deployment', 'api'), 'cart.yaml'), estate);
      expect([...r.declared.keys()]).toEqual(['shop/cart']);
    } finally {
      await lab.dispose();
    }
  });
});
