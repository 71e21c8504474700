// A small Kubernetes API server for tests (test support, not product): the REST endpoints the preflight and
// the sweep call, over plain HTTP on loopback (the kubeconfig says insecure-skip-tls-verify, as client-node
// requires for http://), with state a test can bend (permissions, CRDs, istiod, webhook, namespaces). It records every
// call. The lab-backed façade for whole conformance runs (issue 5) grows from this.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface KubeApiState {
  version: string;
  /** `verb group/resource[/sub]` entries that are denied. */
  denied: Set<string>;
  crds: Set<string>;
  istiod?: { image: string; replicas: number; ready: number };
  webhooks: string[];
  namespaces: Map<string, { labels: Record<string, string>; created: string }>;
}

export function defaultState(): KubeApiState {
  return {
    version: 'v1.33.1',
    denied: new Set(),
    crds: new Set(['peerauthentications.security.istio.io', 'authorizationpolicies.security.istio.io', 'destinationrules.networking.istio.io', 'telemetries.telemetry.istio.io']),
    istiod: { image: 'docker.io/istio/pilot:1.30.1', replicas: 1, ready: 1 },
    webhooks: ['istio-sidecar-injector'],
    namespaces: new Map([['default', { labels: {}, created: '2026-01-01T00:00:00Z' }]]),
  };
}

export interface KubeApi {
  url: string;
  state: KubeApiState;
  calls: string[];
  kubeconfig(dir: string): string;
  close(): Promise<void>;
}

function selects(selector: string | null, labels: Record<string, string>): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return v === undefined ? k! in labels : labels[k!] === v;
  });
}

export async function startKubeApi(state: KubeApiState = defaultState()): Promise<KubeApi> {
  const calls: string[] = [];
  const json = (res: http.ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const notFound = (res: http.ServerResponse, what: string) => json(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${what} not found` });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://kube');
    calls.push(`${req.method} ${url.pathname}`);
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      const p = url.pathname;
      if (req.method === 'GET' && p === '/version') return json(res, 200, { major: '1', minor: '33', gitVersion: state.version });
      if (req.method === 'POST' && p === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
        const ra = (JSON.parse(body) as { spec: { resourceAttributes: { verb: string; group?: string; resource: string; subresource?: string } } }).spec.resourceAttributes;
        const key = `${ra.verb} ${ra.group ?? ''}/${ra.resource}${ra.subresource ? `/${ra.subresource}` : ''}`;
        return json(res, 201, { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: ra }, status: { allowed: !state.denied.has(key) } });
      }
      let m = /^\/apis\/apiextensions\.k8s\.io\/v1\/customresourcedefinitions\/([^/]+)$/.exec(p);
      if (req.method === 'GET' && m) {
        return state.crds.has(m[1]!) ? json(res, 200, { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: m[1] }, spec: {} }) : notFound(res, `crd ${m[1]}`);
      }
      if (req.method === 'GET' && p === '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations') {
        return json(res, 200, { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfigurationList', metadata: {}, items: state.webhooks.map((name) => ({ metadata: { name } })) });
      }
      if (req.method === 'GET' && p === '/apis/apps/v1/namespaces/istio-system/deployments/istiod') {
        const d = state.istiod;
        if (!d) return notFound(res, 'deployment istiod');
        return json(res, 200, {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'istiod', namespace: 'istio-system' },
          spec: { replicas: d.replicas, selector: {}, template: { spec: { containers: [{ name: 'discovery', image: d.image }] } } },
          status: { readyReplicas: d.ready },
        });
      }
      if (req.method === 'GET' && p === '/api/v1/namespaces') {
        const items = [...state.namespaces]
          .filter(([, n]) => selects(url.searchParams.get('labelSelector'), n.labels))
          .map(([name, n]) => ({ metadata: { name, labels: n.labels, creationTimestamp: n.created } }));
        return json(res, 200, { apiVersion: 'v1', kind: 'NamespaceList', metadata: {}, items });
      }
      m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(p);
      if (req.method === 'DELETE' && m) {
        if (!state.namespaces.delete(m[1]!)) return notFound(res, `namespace ${m[1]}`);
        return json(res, 200, { apiVersion: 'v1', kind: 'Status', status: 'Success' });
      }
      notFound(res, `${req.method} ${p}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    state,
    calls,
    kubeconfig: (dir: string) => {
      const file = `${dir}/kubeconfig-${(server.address() as AddressInfo).port}.yaml`;
      const text = `apiVersion: v1\nkind: Config\nclusters: [{name: facade, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]\nusers: [{name: tester, user: {token: test-token}}]\ncontexts: [{name: facade, context: {cluster: facade, user: tester}}]\ncurrent-context: facade\n`;
      writeFileSync(file, text);
      return file;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
