// The access matrix's declared intent (harness/matrix/intent.ts): Otterize ClientIntents v2beta1 and v1alpha3, resolved
// against an estate, and the coverage rule of the AuthorizationPolicy Otterize generates from them.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ESTATE_DECLARED_HTTP, estateIntent, estateIntentYaml, estatePosture } from '../cluster/lab/estate.js';
import { ConfigError } from '../harness/errors.js';
import { callsCover, declaredFor, intentWarnings, type IntentScope, loadIntentFiles, parseIntents, podOfWorkload, resolveIntent } from '../harness/matrix/intent.js';

const V2 = `apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata: { name: frontend, namespace: shop }
spec:
  workload: { name: frontend, kind: Deployment }
  targets:
    - kubernetes: { name: catalog, kind: Service, http: [{ path: /api/*, methods: [GET] }] }
    - kubernetes: { name: ledger.bank }
    - service: { name: cart }
    - kafka: { name: orders.kafka, topics: [{ name: orders, operations: [produce] }] }
    - internet: { domains: [example.com] }
`;

const V1 = `apiVersion: k8s.otterize.com/v1alpha3
kind: ClientIntents
metadata: { name: batch, namespace: shop }
spec:
  service: { name: batch }
  calls:
    - name: svc:catalog
      type: http
      HTTPResources: [{ path: /reports, methods: [GET, POST] }]
    - name: cart.shop
    - name: warehouse-db
      type: database
`;

const SCOPE: IntentScope = {
  namespaces: [{ name: 'shop' }, { name: 'bank' }],
  services: [
    { namespace: 'shop', name: 'catalog', selector: { app: 'catalog' } },
    { namespace: 'shop', name: 'cart', selector: { app: 'cart' } },
    { namespace: 'bank', name: 'ledger', selector: { app: 'ledger' } },
    { namespace: 'bank', name: 'ledger-admin', selector: { app: 'ledger', tier: 'admin' } },
  ],
  pods: [
    { namespace: 'shop', name: 'frontend-7d4f9c8b6d-x2k9q', serviceAccount: 'frontend-sa', labels: { app: 'frontend' } },
    { namespace: 'shop', name: 'batch-0', serviceAccount: 'batch', labels: { app: 'batch' } },
    { namespace: 'shop', name: 'catalog-0', serviceAccount: 'catalog', labels: { app: 'catalog' } },
    { namespace: 'shop', name: 'cart-0', serviceAccount: 'cart', labels: { app: 'cart' } },
    { namespace: 'shop', name: 'idle-0', serviceAccount: 'idle', labels: { app: 'idle' } },
    { namespace: 'bank', name: 'ledger-5c6b7d8f9-abcde', serviceAccount: 'ledger', labels: { app: 'ledger', tier: 'admin' } },
  ],
};

function configError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const m = (e as Error).message;
    expect(m).not.toContain('\n'); // one line: the CLI prints it and exits 2
    return m;
  }
  throw new Error('no ConfigError');
}

describe('ClientIntents parsing', () => {
  it('reads v2beta1: kubernetes and service targets, svc.ns names, http entries; non-Kubernetes targets are ignored, not errors', () => {
    const [d] = parseIntents(V2, 'intent.yaml');
    expect(d!.source).toBe('intent.yaml#1');
    expect(d!.workload).toEqual({ name: 'frontend', kind: 'Deployment' });
    expect(d!.targets).toEqual([
      { name: 'catalog', namespace: 'shop', service: true, kind: 'Service', calls: [{ path: '/api/*', methods: ['GET'] }] },
      { name: 'ledger', namespace: 'bank', service: false, calls: [{}] },
      { name: 'cart', namespace: 'shop', service: true, kind: 'Service', calls: [{}] },
    ]);
    expect(d!.ignored.map((i) => `${i.type} ${i.name}`)).toEqual(['kafka orders.kafka', 'internet internet']);
  });

  it('reads v1alpha3: service/calls, the svc: prefix, HTTPResources; database calls are ignored', () => {
    const [d] = parseIntents(V1, 'old.yaml');
    expect(d!.workload).toEqual({ name: 'batch' });
    expect(d!.targets).toEqual([
      { name: 'catalog', namespace: 'shop', service: true, calls: [{ path: '/reports', methods: ['GET', 'POST'] }] },
      { name: 'cart', namespace: 'shop', service: false, calls: [{}] },
    ]);
    expect(d!.ignored).toEqual([{ source: 'old.yaml#1', type: 'database', name: 'warehouse-db' }]);
  });

  it('refuses malformed documents in one line naming file, document and field (exit 2)', () => {
    const cases: [string, RegExp][] = [
      [`${V2}---\nkind: ClientIntents\napiVersion: k8s.otterize.com/v2beta1\nmetadata: { name: x, namespace: shop }\nspec: { workload: {}, targets: [] }\n`, /^--intent f\.yaml#2: spec\.workload\.name: /],
      ['apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\nmetadata: { name: x }\nspec: { workload: { name: a }, targets: [] }\n', /^--intent f\.yaml#1: metadata\.namespace: /],
      ['apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\nmetadata: { name: x, namespace: a }\nspec: { workload: { name: a }, targets: [{ kubernetes: { name: b, http: [{ path: /x, methods: [FETCH] }] } }] }\n', /^--intent f\.yaml#1: spec\.targets\[0\]\.kubernetes\.http\[0\]\.methods\[0\]: /],
      ['apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\nmetadata: { name: x, namespace: a }\nspec: { workload: { name: a }, targets: [{ kubernetes: { name: b, htttp: [] } }] }\n', /^--intent f\.yaml#1: spec\.targets\[0\]\.kubernetes: .*htttp/],
      ['apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\nmetadata: { name: x, namespace: a }\nspec: { workload: { name: a }, targets: [{ kubernetes: { name: b }, service: { name: c } }] }\n', /^--intent f\.yaml#1: spec\.targets\[0\]: exactly one of/],
      ['apiVersion: k8s.otterize.com/v1alpha3\nkind: ClientIntents\nmetadata: { name: x, namespace: a }\nspec: { service: { name: a }, calls: [{ name: b, type: grpc }] }\n', /^--intent f\.yaml#1: spec\.calls\[0\]\.type: /],
      ['apiVersion: k8s.otterize.com/v1\nkind: ClientIntents\nmetadata: { name: x, namespace: a }\n', /^--intent f\.yaml#1: apiVersion: expected k8s\.otterize\.com\/v2beta1 or /],
      ['apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: x, namespace: a }\n', /^--intent f\.yaml#1: kind: expected ClientIntents, got "AuthorizationPolicy"$/],
      ['a: [b\n', /^--intent f\.yaml#1: malformed YAML: /],
      ['- 1\n', /^--intent f\.yaml#1: a ClientIntents must be a mapping$/],
    ];
    for (const [text, want] of cases) expect(configError(() => parseIntents(text, 'f.yaml'))).toMatch(want);
  });

  it('loads a directory of .yaml files in name order, and names a missing path', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'intent-'));
    writeFileSync(path.join(dir, 'b.yaml'), V1);
    writeFileSync(path.join(dir, 'a.yml'), V2);
    writeFileSync(path.join(dir, 'notes.txt'), 'not an intent');
    expect(loadIntentFiles(dir).map((d) => d.name)).toEqual(['frontend', 'batch']);
    expect(configError(() => loadIntentFiles(path.join(dir, 'nope')))).toMatch(/no such file or directory$/);
  });
});

describe('ClientIntents resolution against the estate', () => {
  const r = resolveIntent([...parseIntents(V2, 'v2.yaml'), ...parseIntents(V1, 'v1.yaml')], SCOPE);

  it('resolves a workload to its pods’ service account and a target to Services (by name, or every Service selecting the workload)', () => {
    expect(Object.fromEntries([...r.declared].map(([id, m]) => [id, Object.fromEntries(m)]))).toEqual({
      'shop/frontend-sa': { 'shop/catalog': [{ path: '/api/*', methods: ['GET'] }], 'bank/ledger': [{}], 'bank/ledger-admin': [{}], 'shop/cart': [{}] },
      'shop/batch': { 'shop/catalog': [{ path: '/reports', methods: ['GET', 'POST'] }], 'shop/cart': [{}] },
    });
    expect(r.calls).toBe(6);
    expect(r.namespaces).toEqual(['shop']);
    expect(r.ignored).toHaveLength(3);
  });

  it('no-intent outside namespaces with ClientIntents; declared-nothing for an identity there without one', () => {
    expect(declaredFor(r, 'bank/ledger', 'shop/cart')).toBeUndefined();
    expect(declaredFor(r, 'shop/idle', 'shop/cart')).toEqual([]);
    expect(declaredFor(r, 'shop/frontend-sa', 'shop/catalog')).toEqual([{ path: '/api/*', methods: ['GET'] }]);
  });

  it('reports an intent naming a workload or Service that does not exist in scope, with a warning line; out-of-scope namespaces are skipped', () => {
    const text = `apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata: { name: ghost, namespace: shop }
spec: { workload: { name: ghost }, targets: [{ service: { name: cart } }] }
---
apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata: { name: frontend, namespace: shop }
spec: { workload: { name: frontend }, targets: [{ service: { name: gone } }, { kubernetes: { name: api.elsewhere } }] }
`;
    const u = resolveIntent(parseIntents(text, 'u.yaml'), SCOPE);
    expect(u.unresolved).toEqual([
      { source: 'u.yaml#1', kind: 'workload', ref: 'shop/ghost', reason: 'no running pod of that workload in scope' },
      { source: 'u.yaml#2', kind: 'target', ref: 'shop/gone', reason: 'no such Service in scope' },
    ]);
    expect(intentWarnings(u)).toEqual([
      'meshproof: --intent u.yaml#1: workload shop/ghost: no running pod of that workload in scope (ignored)',
      'meshproof: --intent u.yaml#2: target shop/gone: no such Service in scope (ignored)',
    ]);
    expect(u.namespaces).toEqual(['shop']);
  });

  it('matches pods to workloads by the controllers’ pod names, never by a shared prefix', () => {
    expect(podOfWorkload({ name: 'svc-0001-0' }, 'svc-0001')).toBe(true);
    expect(podOfWorkload({ name: 'svc-0001-0' }, 'svc')).toBe(false);
    expect(podOfWorkload({ name: 'web-7d4f9c8b6d-x2k9q' }, 'web')).toBe(true);
    expect(podOfWorkload({ name: 'web-api-7d4f9c8b6d-x2k9q' }, 'web')).toBe(false);
    expect(podOfWorkload({ name: 'anything', workload: 'web' }, 'web')).toBe(true);
  });
});

describe('coverage of a request by declared calls (the rule Otterize generates: one operation per http entry)', () => {
  it('matches methods exactly and paths as Istio does; an http call never covers TCP; {} covers everything', () => {
    const api = [{ path: '/api/*', methods: ['GET'] }];
    expect(callsCover(api, { http: true, method: 'GET', path: '/api/x' })).toBe(true);
    expect(callsCover(api, { http: true, method: 'POST', path: '/api/x' })).toBe(false);
    expect(callsCover(api, { http: true, method: 'GET', path: '/admin' })).toBe(false);
    expect(callsCover(api, { http: false })).toBe(false);
    expect(callsCover([{ path: '/x' }], { http: true, method: 'DELETE', path: '/x' })).toBe(true); // no methods: any
    expect(callsCover([{}], { http: false })).toBe(true);
    expect(callsCover([], { http: true, method: 'GET', path: '/' })).toBe(false);
  });
});

describe('the lab estate’s own intent', () => {
  it('is valid ClientIntents v2beta1 that resolves every caller to its one Service, with no unresolved reference', () => {
    const spec = { services: 8, replicas: 1 };
    const docs = parseIntents(estateIntentYaml(spec), 'intent.yaml');
    expect(docs).toHaveLength(estateIntent(spec).length);
    const manifests = estatePosture(spec).map((o) => o.manifest) as unknown as { kind: string; metadata: { name: string; namespace: string }; spec: Record<string, unknown> }[];
    const scope: IntentScope = {
      services: manifests.filter((m) => m.kind === 'Service').map((m) => ({ namespace: m.metadata.namespace, name: m.metadata.name, selector: m.spec.selector as Record<string, string> })),
      pods: manifests
        .filter((m) => m.kind === 'Deployment')
        .flatMap((m) => {
          const s = m.spec as { replicas: number; template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string } } };
          return Array.from({ length: s.replicas }, (_, i) => ({ namespace: m.metadata.namespace, name: `${m.metadata.name}-${i}`, serviceAccount: s.template.spec.serviceAccountName, labels: s.template.metadata.labels }));
        }),
    };
    const r = resolveIntent(docs, scope);
    expect(r.unresolved).toEqual([]);
    expect(declaredFor(r, 'estate-1/svc-0001', 'estate-1/svc-0002')).toEqual(ESTATE_DECLARED_HTTP); // the all-methods service (index 2 at 8 services)
    expect(declaredFor(r, 'estate-1/svc-0002', 'estate-1/svc-0003')).toEqual([{}]);
    expect(declaredFor(r, 'estate-1/svc-0000', 'estate-1/server-first')).toEqual([{}]);
    expect(declaredFor(r, 'estate-1/svc-0007', 'estate-1/svc-0000')).toEqual([{}]);
    expect(declaredFor(r, 'estate-1/svc-0001', 'estate-1/svc-0003')).toEqual([]);
  });
});
