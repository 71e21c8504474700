// What `run` and `sweep` both do beside the bundle, one implementation for both: options from a `--config` YAML
// file, and after the verdicts the CI summaries (`--summary-md`, GitHub's step summary and `::error` lines), the
// Prometheus metrics (`--metrics`, `--pushgateway`) and the PolicyReport (`--policy-report`).
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { writePolicyReport } from '../cluster/kube/policy-report.js';
import { ConfigError, messageOf } from '../harness/errors.js';
import { githubErrors, markdownSummary } from '../harness/report/ci-summary.js';
import { pushMetrics, writeMetrics } from '../harness/report/metrics.js';
import type { RunResult } from '../harness/result.js';

/**
 * A command's options with those a `--config` file sets: the same names as the flags (camelCase), strictly (a
 * typo is one line, exit 2); a flag given on the command line wins. Lists may be YAML sequences.
 */
export function withConfig<T extends object>(o: T, command: Command, file: string, schema: z.ZodType<Record<string, unknown>>, keepArrays: string[] = []): T {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8')) ?? {};
  } catch (e) {
    throw new ConfigError(`--config ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : messageOf(e).split('\n')[0]}`);
  }
  const r = schema.safeParse(parsed);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const where = i.code === 'unrecognized_keys' ? `${i.keys[0]}: not a ${command.name()} option` : `${i.path.join('.') || '(top level)'}: ${i.message}`;
    throw new ConfigError(`--config ${file}: ${where}`);
  }
  const out: Record<string, unknown> = { ...(o as Record<string, unknown>) };
  for (const [k, v] of Object.entries(r.data)) {
    if (v === undefined || command.getOptionValueSource(k) === 'cli') continue;
    out[k] = Array.isArray(v) && !keepArrays.includes(k) ? v.join(',') : typeof v === 'number' ? String(v) : v;
  }
  return out as unknown as T;
}

/** The Markdown summary to `--summary-md` and GitHub's step summary, and `::error` lines under GitHub Actions. */
export function writeCiSummaries(r: RunResult, file: string | undefined, json = false): void {
  const md = markdownSummary(r);
  for (const [target, append] of [
    [file, false],
    [process.env.GITHUB_STEP_SUMMARY, true],
  ] as const) {
    if (!target) continue;
    try {
      if (append) appendFileSync(target, md);
      else writeFileSync(target, md);
    } catch (e) {
      process.stderr.write(`meshproof: cannot write the summary to ${target}: ${messageOf(e)}\n`);
    }
  }
  // Under -o json on stderr: stdout holds the one document and nothing else.
  if (process.env.GITHUB_ACTIONS === 'true') for (const line of githubErrors(r)) (json ? process.stderr : process.stdout).write(`${line}\n`);
}

export interface OutputOptions {
  summaryMd?: string;
  metrics?: string;
  pushgateway?: string;
  /** Where the PolicyReport goes (--policy-report), once preflight has checked its CRD and permissions. */
  policyReportTo?: KubeConfig;
  /** -o json: stdout is kept for the one document. */
  json?: boolean;
}

/**
 * Everything written after the bundle. Returns what failed (reported by the caller, exit 3 unless a check
 * failed): a missing summary is only said, as the job page is not evidence.
 */
export async function writeOutputs(r: RunResult, o: OutputOptions): Promise<string[]> {
  const errors: string[] = [];
  writeCiSummaries(r, o.summaryMd, o.json);
  if (o.metrics) {
    try {
      writeMetrics(o.metrics, r);
    } catch (e) {
      errors.push(`writing --metrics ${o.metrics}: ${messageOf(e)}`);
    }
  }
  if (o.pushgateway) await pushMetrics(o.pushgateway, r).catch((e: unknown) => errors.push(`pushing to ${o.pushgateway}: ${messageOf(e)}`));
  if (o.policyReportTo) await writePolicyReport(o.policyReportTo, r).catch((e: unknown) => errors.push(messageOf(e)));
  return errors;
}
