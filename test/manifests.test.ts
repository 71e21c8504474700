// Every manifest meshproof ships or applies validates against the real schemas: `kubernetes-models` (from
// Kubernetes' OpenAPI) and `@kubernetes-models/istio` (from Istio 1.29's CRDs). The lab-only LabFault kind is the
// one exception, and no cluster target accepts it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { renderForCluster } from '../cluster/kube/render.js';
import { loadPosture } from '../harness/posture/load.js';
import { validateManifest } from './support/schemas.js';

const yamlFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? yamlFiles(path.join(dir, e.name)) : e.name.endsWith('.yaml') ? [path.join(dir, e.name)] : []));

const docsOf = (file: string) =>
  parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as { apiVersion?: string; kind?: string; metadata?: { name?: string } } | null)
    .filter((d): d is { apiVersion: string; kind: string; metadata?: { name?: string } } => Boolean(d?.apiVersion && d.kind));

describe('manifests against the real schemas', () => {
  const files = [...yamlFiles('deploy'), ...yamlFiles('fixtures'), ...yamlFiles('test/fixtures')];
  it.each(files)('%s', async (file) => {
    for (const doc of docsOf(file)) {
      if (doc.apiVersion.startsWith('lab.meshproof.dev/')) continue;
      const r = await validateManifest(doc);
      expect(r, `${doc.kind} ${doc.metadata?.name}: no schema for ${doc.apiVersion}`).not.toBe('unknown-kind');
      expect(r, `${doc.kind} ${doc.metadata?.name}`).toEqual([]);
    }
  });

  it('what rendering applies to a cluster validates too', async () => {
    const rendered = renderForCluster(loadPosture('fixtures/secure'), { runId: '4f1c2a9e-7b3d-4c2e-9a1f-0123456789ab', trustDomain: 'cluster.local', provisioned: true, agentBundle: '/* agent */', adminToken: 't' });
    for (const m of rendered.objects) expect(await validateManifest(m), `${m.kind} ${m.metadata.name}`).toEqual([]);
  });

  it('the validator catches what a real API server would refuse', async () => {
    expect(await validateManifest({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'x' }, spec: { action: 'PERMIT' } } as never)).not.toEqual([]);
    expect(await validateManifest({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 'two' } } as never)).not.toEqual([]);
  });
});
