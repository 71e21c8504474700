// <out>/oscal-assessment-results.json: OSCAL 1.1.2 assessment-results (reference/controls.md "Report formats").
// One observation per check (not-applicable ones included, with the reason: coverage is evidence), relevant
// evidence pointing at back-matter resources that carry the SHA-256 of each bundle file, and one finding per
// control: satisfied when every decisive check claiming it passed, not-satisfied otherwise. UUID v4, zoned
// date-times, no empty arrays, no properties the schema does not define. A lab run claims no control: the lab
// is a test bed for meshproof, not a mesh, so its findings are marked not assessed against the framework, with
// the reason (OSCAL 1.1.2 finding-target status: `state` is only satisfied | not-satisfied and required, so the
// state that claims nothing, with `reason` the token `not-assessed`; the schema's reason is any token).
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { claimsFor, controlEntry } from '../controls.js';
import type { RunResult } from '../result.js';
import { sha256File } from './hash.js';
import { checkFile } from './checks.js';

const NS = 'https://meshproof.dev/ns/oscal';

/**
 * OSCAL control ids are tokens. NIST SP 800-53 ids map to the official OSCAL catalog form (`SC-8(1)` →
 * `sc-8.1`); frameworks without an official OSCAL catalog keep a prefixed token (controls.md: "use ids only").
 */
export function oscalControlId(id: string): string {
  const [fw, ctl] = id.split(':') as [string, string];
  if (fw.startsWith('NIST-800-53')) return ctl.toLowerCase().replace(/\((\d+)\)/g, '.$1');
  const token = (s: string) => s.toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
  return `${token(fw)}_${token(ctl)}`;
}

const nonEmpty = <T>(a: T[]) => (a.length > 0 ? a : undefined);

export function oscalDocument(run: RunResult, outDir: string) {
  const resources = new Map<string, { uuid: string; title: string; rlinks: { href: string; 'media-type': string; hashes: { algorithm: string; value: string }[] }[] }>();
  const resourceFor = (file: string, title: string, mediaType: string) => {
    let r = resources.get(file);
    if (!r) {
      r = { uuid: randomUUID(), title, rlinks: [{ href: file, 'media-type': mediaType, hashes: [{ algorithm: 'SHA-256', value: sha256File(path.join(outDir, file)) }] }] };
      resources.set(file, r);
    }
    return r;
  };
  const runResource = resourceFor('run.json', 'meshproof run record', 'application/json');

  const observations = run.results.map((r) => {
    const res = resourceFor(checkFile(r.id), `evidence of ${r.id}`, 'application/json');
    return {
      check: r,
      obs: {
        uuid: randomUUID(),
        title: `${r.id} ${r.title}`,
        description: `Claim: ${r.claim} Result: ${r.verdict} — ${r.reason}`,
        props: [
          { name: 'check-id', ns: NS, value: r.id },
          { name: 'verdict', ns: NS, value: r.verdict },
        ],
        methods: [r.method],
        types: [r.verdict === 'not-applicable' ? 'control-objective' : 'finding'],
        'relevant-evidence': [
          { href: `#${res.uuid}`, description: `${checkFile(r.id)}: observations, positive control, corroborating log lines and counters` },
          { href: `#${runResource.uuid}`, description: 'run.json: scope, tool version and commit, configuration hash, the command that repeats the run' },
        ],
        collected: r.startedAt,
        ...(r.verdict === 'not-applicable' ? { remarks: `Not tested: ${r.reason}` } : {}),
      },
    };
  });

  const controlIds = [...new Set(run.results.flatMap((r) => r.controls))];
  const lab = run.target.kind === 'lab';
  const labReason = `Not assessed against the framework: a lab run (${run.target.summary}). ${run.target.notes.join(' ')}`;
  const findings = controlIds.flatMap((id) => {
    const decisive = observations.filter((o) => o.check.controls.includes(id) && o.check.verdict !== 'not-applicable');
    if (decisive.length === 0) return [];
    const bad = decisive.filter((o) => o.check.verdict !== 'pass');
    const entry = controlEntry(id);
    const relation = decisive.every((o) => claimsFor(o.check.categories).find((c) => c.id === id)?.relation === 'supports') ? 'supports' : 'addresses';
    return [
      {
        uuid: randomUUID(),
        title: `${id} ${entry?.title ?? ''}`.trim(),
        description: lab
          ? `${labReason} Checks run against the lab: ${decisive.map((o) => `${o.check.id} ${o.check.verdict}`).join(', ')}.`
          : bad.length === 0
            ? `Every check claiming this control passed: ${decisive.map((o) => o.check.id).join(', ')}.`
            : `Not satisfied: ${bad.map((o) => `${o.check.id} ${o.check.verdict} (${o.check.reason})`).join('; ')}.`,
        props: [
          { name: 'framework', ns: NS, value: entry?.framework ?? id.split(':')[0]! },
          { name: 'relation', ns: NS, value: relation },
          { name: 'assessed', ns: NS, value: lab ? 'false' : 'true' },
        ],
        target: {
          type: 'objective-id',
          'target-id': oscalControlId(id),
          status: lab ? { state: 'not-satisfied', reason: 'not-assessed', remarks: labReason } : { state: bad.length === 0 ? 'satisfied' : 'not-satisfied' },
          ...(entry?.caveat ? { remarks: `Caveat: ${entry.caveat}` } : {}),
        },
        'related-observations': decisive.map((o) => ({ 'observation-uuid': o.obs.uuid })),
      },
    ];
  });

  return {
    'assessment-results': {
      uuid: randomUUID(),
      metadata: {
        title: `meshproof conformance run ${run.runId}`,
        'last-modified': run.finishedAt,
        version: `${run.tool.version}+${run.tool.commit.slice(0, 12)}`,
        'oscal-version': '1.1.2',
        props: [{ name: 'run-id', ns: NS, value: run.runId }],
        remarks: `Target: ${run.target.summary}. ${run.target.notes.join(' ')}`,
      },
      'import-ap': { href: 'run.json', remarks: 'No separate assessment plan: run.json records the scope, posture and method of this run.' },
      results: [
        {
          uuid: randomUUID(),
          title: `Attacks against ${run.target.summary}`,
          description: `meshproof attacked the mesh and recorded what it observed. Posture: ${run.posture.join(' + ')}.`,
          start: run.startedAt,
          end: run.finishedAt,
          'reviewed-controls': {
            'control-selections': [{ 'include-controls': controlIds.map((id) => ({ 'control-id': oscalControlId(id) })) }],
          },
          observations: nonEmpty(observations.map((o) => o.obs)),
          findings: nonEmpty(findings),
        },
      ],
      'back-matter': { resources: [...resources.values()] },
    },
  };
}

export function writeOscal(outDir: string, run: RunResult): void {
  writeFileSync(path.join(outDir, 'oscal-assessment-results.json'), `${JSON.stringify(oscalDocument(run, outDir), null, 2)}\n`);
}
