// The evidence bundle a run leaves in <out>/ (see reports/README.md): what auditors receive and CI gates on.
// Written in dependency order: checks and policies first, then files that reference their hashes, then the
// manifest over everything, then the optional signature.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Check } from '../check.js';
import { claimsFor } from '../controls.js';
import type { Posture } from '../posture/load.js';
import type { RunResult } from '../result.js';
import { checkFile, writeChecks } from './checks.js';
import { sha256File } from './hash.js';
import { writeHtml } from './html.js';
import { writeMatrix } from './matrix-json.js';
import { writeJunit } from './junit.js';
import { signManifest, writeManifest } from './manifest.js';
import { writeOscal } from './oscal.js';

export interface BundleInputs {
  outDir: string;
  run: RunResult;
  posture: Posture;
  /** Every check meshproof has, to list the ones this run did not select. */
  allChecks: Check[];
  signKeyPem?: string;
  /** How the run chose its checks: whole suites (`--suite`, the default) or single checks (`--check`, a narrower scope). */
  selectedBy?: '--suite' | '--check';
  /** `sweep --matrix`: the declared calls the grants were held against, as read (ClientIntents YAML), for `intent.yaml`. */
  intentYaml?: string;
}

function policyFile(m: Posture['objects'][number]['manifest']): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `policies/${safe(m.kind)}--${safe(m.metadata.namespace ?? '_cluster')}--${safe(m.metadata.name)}.yaml`;
}

export function writeBundle(b: BundleInputs): { files: string[] } {
  const { outDir, run } = b;
  for (const d of ['checks', 'policies']) mkdirSync(path.join(outDir, d), { recursive: true });
  writeChecks(outDir, run);
  const policies = b.posture.objects.map((o) => {
    const file = policyFile(o.manifest);
    writeFileSync(path.join(outDir, file), `# source: ${o.source}\n${stringify(o.manifest)}`);
    return { file, source: o.source, sha256: sha256File(path.join(outDir, file)) };
  });
  const ran = new Set(run.results.map((r) => r.id));
  const excluded = [
    ...b.allChecks.filter((c) => !ran.has(c.id)).map((c) => ({ check: c.id, suite: c.suite, reason: `not selected for this run (${b.selectedBy ?? '--suite'})` })),
    ...run.results.filter((r) => r.verdict === 'not-applicable').map((r) => ({ check: r.id, suite: r.suite, reason: `not applicable: ${r.reason}` })),
  ];
  const spiffeIds = [...new Set(JSON.stringify(run.results).match(/spiffe:\/\/[A-Za-z0-9._-]+\/ns\/[A-Za-z0-9._-]+\/sa\/[A-Za-z0-9._-]+/g) ?? [])].sort();
  const runJson = {
    schema: 'meshproof.dev/run/v1',
    runId: run.runId,
    tool: run.tool,
    command: run.command,
    repeat: run.command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' '),
    configHash: run.configHash,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    target: run.target,
    scope: {
      namespaces: run.target.namespaces,
      spiffeIdsTested: spiffeIds,
      suites: [...new Set(run.results.map((r) => r.suite))],
      // `compare` says which scope each side had: a --check run judged these checks only, not whole suites.
      ...(b.selectedBy ? { selectedBy: b.selectedBy, checks: run.results.map((r) => r.id) } : {}),
      excluded,
      population: run.sweep
        ? `every ready pod and port in the swept namespaces (${run.sweep.counts.endpoints} endpoints, ${run.sweep.counts.pods} pods), listed in sweep.json${run.sweep.incomplete ? '; INCOMPLETE: interrupted' : ''}`
        : 'every workload, Service port and endpoint the posture declares, as listed per check',
    },
    posture: { origin: run.posture, policies },
    results: run.results.map((r) => ({
      id: r.id,
      suite: r.suite,
      title: r.title,
      method: r.method,
      verdict: r.verdict,
      reason: r.reason,
      claims: claimsFor(r.categories),
      evidence: checkFile(r.id),
      sha256: sha256File(path.join(outDir, checkFile(r.id))),
    })),
    requirements: run.requirements,
    exitCode: run.exitCode,
  };
  if (run.sweep) {
    // Per-endpoint results: every (pod, port), both attempts, the certificate seen, and why for every finding.
    const { matrix, ...sweep } = run.sweep;
    writeFileSync(path.join(outDir, 'sweep.json'), `${JSON.stringify({ schema: 'meshproof.dev/sweep/v1', runId: run.runId, ...sweep }, null, 2)}\n`);
    // `sweep --matrix`: identities × Service ports, each cell's grant with its rules, attack, record and state. Written
    // before the manifest, so `verify` and `compare` check it like every other file of the bundle.
    if (matrix) writeMatrix(outDir, run.runId, matrix);
    // The intent SWEEP-LEASTPRIV judged against, exactly as read, so a reviewer sees what "declared" meant.
    if (matrix && b.intentYaml !== undefined) writeFileSync(path.join(outDir, 'intent.yaml'), b.intentYaml);
  }
  writeFileSync(path.join(outDir, 'run.json'), `${JSON.stringify(runJson, null, 2)}\n`);
  writeJunit(outDir, run);
  writeOscal(outDir, run);
  writeHtml(outDir, run, excluded);
  const files = writeManifest(outDir);
  if (b.signKeyPem) signManifest(outDir, b.signKeyPem);
  return { files };
}

