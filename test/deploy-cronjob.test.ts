// The in-cluster nightly as shipped (deploy/cronjob.yaml, deploy/evidence-reader.yaml): audit K-M11 and K-L10 of
// reference/audits/2026-12-06-kubernetes.md. The manifests validate against the real schemas in manifests.test.ts;
// these are the properties a real cluster depends on.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

type Obj = { kind: string; spec: Record<string, unknown> & { jobTemplate?: { spec: { template: { spec: PodSpec } } } } };
type Container = { name: string; command?: string[]; args?: string[]; env?: { name: string; value?: string }[]; resources?: { requests?: object; limits?: { memory?: string } }; securityContext?: Record<string, unknown>; volumeMounts?: { name: string; readOnly?: boolean }[] };
type PodSpec = { securityContext?: Record<string, unknown>; containers: Container[]; volumes?: { name: string; persistentVolumeClaim?: { claimName: string; readOnly?: boolean } }[]; terminationGracePeriodSeconds?: number };

const docs = (file: string) => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Obj);
const cronjob = docs('deploy/cronjob.yaml').find((d) => d.kind === 'CronJob')!;
const job = cronjob.spec.jobTemplate!.spec.template.spec;
const reader = docs('deploy/evidence-reader.yaml').find((d) => d.kind === 'Pod')!.spec as unknown as PodSpec;

/** Pod Security `restricted` for one container and its pod (kubernetes.io/docs/concepts/security/pod-security-standards). */
function restricted(pod: PodSpec, c: Container): void {
  expect(pod.securityContext?.runAsNonRoot).toBe(true);
  expect(pod.securityContext?.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
  expect(c.securityContext?.capabilities).toEqual({ drop: ['ALL'] });
}

describe('deploy/cronjob.yaml and the evidence reader', () => {
  it('K-M11: the evidence leaves through exec into a non-root reader mounting the volume read-only, never `kubectl run -i`', () => {
    const text = readFileSync('deploy/cronjob.yaml', 'utf8');
    expect(text).not.toMatch(/^#\s+kubectl \S.* run .*\s-i\b/m); // a command line, not the warning about it
    expect(text).toMatch(/kubectl -n meshproof exec meshproof-evidence -- tar c -C \/reports \. > evidence\.tar/);
    const [c] = reader.containers;
    restricted(reader, c!);
    expect(c!.volumeMounts).toEqual([{ name: 'reports', mountPath: '/reports', readOnly: true }]);
    expect(reader.volumes?.[0]?.persistentVolumeClaim).toEqual({ claimName: 'meshproof-reports', readOnly: true });
  });

  it('K-L10: resources, fsGroupChangePolicy OnRootMismatch, a retention, no preset Pushgateway, grace for the teardown', () => {
    const [c] = job.containers;
    restricted(job, c!);
    expect(c!.resources?.requests).toBeDefined();
    expect(c!.resources?.limits?.memory).toBeDefined();
    expect(job.securityContext?.fsGroupChangePolicy).toBe('OnRootMismatch');
    const env = Object.fromEntries((c!.env ?? []).map((e) => [e.name, e.value]));
    expect(env.MESHPROOF_PUSHGATEWAY).toBe('');
    expect(Number(env.MESHPROOF_KEEP_DAYS)).toBeGreaterThanOrEqual(366); // PCI DSS 10.5.1: twelve months of history
    expect(c!.args?.join(' ')).toMatch(/find \/reports -mindepth 1 -maxdepth 1 -type d -mtime "\+\$MESHPROOF_KEEP_DAYS"/);
    // Teardown waits up to 120 s for the run's namespaces after SIGTERM (cluster/kube/cleanup.ts).
    expect(job.terminationGracePeriodSeconds).toBeGreaterThan(120);
  });
});
