// <out>/junit.xml, strict flavour: it validates against the Jenkins xUnit plugin's junit-10.xsd, which allows
// <properties> on <testsuite> only. So per-check facts (controls, verdict, evidence file and its SHA-256) are
// suite properties keyed by check id, and each testcase repeats them in <system-out>. One testcase per check;
// fail → <failure> quoting the claim and the observation that broke it; error (inconclusive) → <error>;
// not-applicable → <skipped> with the reason.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { create } from 'xmlbuilder2';
import type { Examined } from '../check.js';
import type { CheckResult } from '../engine.js';
import type { RunResult } from '../result.js';
import { sha256File } from './hash.js';
import { MATRIX_CHECK_IDS } from '../matrix/checks.js';
import { checkFile } from './checks.js';
import { failureLines, failuresOf } from './failures.js';

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/** A sweep check that did not apply at all (SWEEP-LEASTPRIV without an intent): one skipped testcase says why. */
const skippedSweepCheck = (r: CheckResult) => r.verdict === 'not-applicable' && r.cases.length === 0;

function counts(rs: CheckResult[], sweep = false) {
  if (sweep) {
    const cases = rs.flatMap((r) => r.cases);
    const sweepWide = rs.filter((r) => r.verdict === 'error' && r.cases.every((c) => c.verdict !== 'error')).length;
    return {
      tests: String(cases.length + sweepWide + rs.filter(skippedSweepCheck).length),
      failures: String(cases.filter((c) => c.verdict === 'fail').length),
      errors: String(cases.filter((c) => c.verdict === 'error').length + sweepWide),
      time: seconds(rs.reduce((n, r) => n + r.durationMs, 0)),
    };
  }
  return {
    tests: String(rs.length),
    failures: String(rs.filter((r) => r.verdict === 'fail').length),
    errors: String(rs.filter((r) => r.verdict === 'error').length),
    time: seconds(rs.reduce((n, r) => n + r.durationMs, 0)),
  };
}

export function junitXml(run: RunResult, outDir: string): string {
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const root = doc.ele('testsuites', { name: 'meshproof', ...counts(run.results, run.sweep !== undefined) });
  for (const suite of [...new Set(run.results.map((r) => r.suite))]) {
    const rs = run.results.filter((r) => r.suite === suite);
    const ts = root.ele('testsuite', {
      name: suite,
      ...counts(rs, run.sweep !== undefined),
      skipped: String(run.sweep ? rs.filter(skippedSweepCheck).length + rs.flatMap((r) => r.cases).filter((c) => c.verdict === 'not-applicable').length : rs.filter((r) => r.verdict === 'not-applicable').length),
      timestamp: run.startedAt.replace(/\.\d+Z$/, ''),
      id: run.runId,
    });
    const props = ts.ele('properties');
    const prop = (name: string, value: string) => props.ele('property', { name, value });
    prop('meshproof.run-id', run.runId);
    prop('meshproof.version', `${run.tool.version} (${run.tool.commit})`);
    prop('meshproof.target', run.target.summary);
    prop('meshproof.posture', run.posture.join(' + '));
    const facts = new Map<string, string>();
    for (const r of rs) {
      const sha = sha256File(path.join(outDir, checkFile(r.id)));
      const f = { id: r.id, controls: r.controls.join(','), verdict: r.verdict, evidence: checkFile(r.id), 'evidence.sha256': sha };
      for (const [k, v] of Object.entries(f)) prop(`${r.id}.${k}`, v);
      facts.set(r.id, Object.entries(f).map(([k, v]) => `${k}: ${v}`).join('\n'));
    }
    for (const r of rs) {
      if (run.sweep && r.suite === 'sweep') {
        // A sweep: one testcase per Service (or per pod without one); a failure lists its pods and ports. The matrix
        // checks (SWEEP-ENFORCE, SWEEP-LEASTPRIV): one testcase per identity, its cells in matrix.json.
        const evidence = (MATRIX_CHECK_IDS as string[]).includes(r.id) ? 'matrix.json' : 'sweep.json';
        for (const c of r.cases as Examined[]) {
          const tc = ts.ele('testcase', { classname: `${suite}.${r.id}`, name: c.label, time: '0.000' });
          const detail = `claim: ${r.claim}\nobserved: ${c.reason}${c.atFault ? `\nat fault: ${c.atFault.object}\nfix: ${c.atFault.remedy}` : ''}\nevidence: ${checkFile(r.id)}, ${evidence}`;
          if (c.verdict === 'fail') tc.ele('failure', { message: `${r.id}: ${c.reason}`.slice(0, 1000), type: 'fail' }).txt(detail);
          else if (c.verdict === 'error') tc.ele('error', { message: `inconclusive: ${c.reason}`.slice(0, 1000), type: 'inconclusive' }).txt(detail);
          // A matrix identity none of whose cells was attacked proves nothing: skipped, with why (M22-H1).
          else if (c.verdict === 'not-applicable') tc.ele('skipped', { message: `not applicable: ${c.reason}`.slice(0, 1000) });
          tc.ele('system-out').txt(`${facts.get(r.id)}\nreason: ${c.reason}`);
        }
        if (r.verdict === 'error' && r.cases.every((c) => c.verdict !== 'error')) {
          // A sweep-wide error (the canary was not flagged, or it was interrupted) is its own testcase.
          ts.ele('testcase', { classname: `${suite}.${r.id}`, name: `${r.id} sweep`, time: seconds(r.durationMs) }).ele('error', { message: `inconclusive: ${r.reason}`, type: 'inconclusive' });
        }
        if (skippedSweepCheck(r)) {
          const tc = ts.ele('testcase', { classname: `${suite}.${r.id}`, name: `${r.id} sweep`, time: seconds(r.durationMs) });
          tc.ele('skipped', { message: `not applicable: ${r.reason}` });
          tc.ele('system-out').txt(`${facts.get(r.id)}\nreason: ${r.reason}`);
        }
        continue;
      }
      const tc = ts.ele('testcase', { classname: suite, name: `${r.id} ${r.title}`, time: seconds(r.durationMs) });
      // Every failed case, with the object at fault and the remedy where the check names them (issue 21 item 7).
      const every = failuresOf(r).flatMap((f) => failureLines(f, '  '));
      const detail = `claim: ${r.claim}\nobserved: ${r.reason}${every.length > 1 || every.some((l) => l.includes('at fault:')) ? `\nfailed cases:\n${every.join('\n')}` : ''}\nevidence: ${checkFile(r.id)}`;
      if (r.verdict === 'fail') tc.ele('failure', { message: `${r.claim} — observed: ${r.reason}`, type: 'fail' }).txt(detail);
      else if (r.verdict === 'error') tc.ele('error', { message: `inconclusive: ${r.reason}`, type: 'inconclusive' }).txt(detail);
      else if (r.verdict === 'not-applicable') tc.ele('skipped', { message: `not applicable: ${r.reason}` });
      tc.ele('system-out').txt(`${facts.get(r.id)}\nreason: ${r.reason}`);
    }
  }
  return doc.end({ prettyPrint: true });
}

export function writeJunit(outDir: string, run: RunResult): string {
  const file = path.join(outDir, 'junit.xml');
  writeFileSync(file, junitXml(run, outDir));
  return file;
}
