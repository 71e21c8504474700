// <out>/junit.xml: one testcase per check. fail → <failure> with the claim and the observation that broke it;
// error (inconclusive) → <error>; not-applicable → <skipped> with the reason. Testcase <properties> carry the
// check id, controls, verdict and evidence file (read by Jenkins with keepProperties and by Testmo).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { create } from 'xmlbuilder2';
import type { CheckResult } from '../engine.js';
import type { RunResult } from '../run.js';
import { evidencePath } from './evidence.js';

const seconds = (ms: number) => (ms / 1000).toFixed(3);

function counts(rs: CheckResult[]) {
  return {
    tests: String(rs.length),
    failures: String(rs.filter((r) => r.verdict === 'fail').length),
    errors: String(rs.filter((r) => r.verdict === 'error').length),
    skipped: String(rs.filter((r) => r.verdict === 'not-applicable').length),
    time: seconds(rs.reduce((n, r) => n + r.durationMs, 0)),
  };
}

export function junitXml(run: RunResult): string {
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const root = doc.ele('testsuites', { name: 'meshproof', ...counts(run.results) });
  const suites = [...new Set(run.results.map((r) => r.suite))];
  for (const suite of suites) {
    const rs = run.results.filter((r) => r.suite === suite);
    const ts = root.ele('testsuite', { name: suite, ...counts(rs), timestamp: run.startedAt.replace(/\.\d+Z$/, '') });
    const props = ts.ele('properties');
    props.ele('property', { name: 'meshproof.run-id', value: run.runId });
    props.ele('property', { name: 'meshproof.target', value: run.target.summary });
    props.ele('property', { name: 'meshproof.posture', value: run.posture.join(' + ') });
    for (const r of rs) {
      const tc = ts.ele('testcase', { classname: suite, name: `${r.id} ${r.title}`, time: seconds(r.durationMs) });
      const p = tc.ele('properties');
      p.ele('property', { name: 'check.id', value: r.id });
      p.ele('property', { name: 'check.controls', value: r.controls.join(',') });
      p.ele('property', { name: 'check.verdict', value: r.verdict });
      p.ele('property', { name: 'check.evidence', value: evidencePath(r.id) });
      const detail = `claim: ${r.claim}\nobserved: ${r.reason}\nevidence: ${evidencePath(r.id)}`;
      if (r.verdict === 'fail') tc.ele('failure', { message: `${r.claim} — observed: ${r.reason}`, type: 'fail' }).txt(detail);
      else if (r.verdict === 'error') tc.ele('error', { message: `inconclusive: ${r.reason}`, type: 'inconclusive' }).txt(detail);
      else if (r.verdict === 'not-applicable') tc.ele('skipped', { message: `not applicable: ${r.reason}` });
      tc.ele('system-out').txt(`${r.verdict}: ${r.reason}\nevidence: ${evidencePath(r.id)}`);
    }
  }
  return doc.end({ prettyPrint: true });
}

export function writeJunit(outDir: string, run: RunResult): string {
  const file = path.join(outDir, 'junit.xml');
  writeFileSync(file, junitXml(run));
  return file;
}
