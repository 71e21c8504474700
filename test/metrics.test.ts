// Alerts: the run's verdicts as Prometheus metrics, read back by a real exposition-format parser, written for
// node_exporter's textfile collector and pushed to a Pushgateway (a loopback server that records the push).
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import parsePrometheus from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'meshproof-metrics-'));

type Family = { name: string; type: string; metrics: { value: string; labels?: Record<string, string> }[] };

describe('--metrics and --pushgateway', () => {
  it('one-hot verdict gauges per check, durations, the run time and exit code; the same text pushed to the Pushgateway', async () => {
    const pushes: { method: string; url: string; type: string; body: string }[] = [];
    const gateway = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        pushes.push({ method: req.method!, url: req.url!, type: String(req.headers['content-type']), body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', () => r()));
    try {
      const file = path.join(tmp, 'meshproof.prom');
      const url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
      const r = await cli(['run', '--suite', 'mtls', '--overlay', 'fixtures/weakened/permissive-mtls.yaml', '--metrics', file, '--pushgateway', url, '--out', path.join(tmp, 'b')]);
      expect(r.code, r.stderr).toBe(1);
      const text = readFileSync(file, 'utf8');
      const families = parsePrometheus(text) as Family[];
      const verdicts = families.find((f) => f.name === 'meshproof_check_verdict')!;
      expect(verdicts.type).toBe('GAUGE');
      const one = (check: string) => verdicts.metrics.filter((m) => m.labels?.check === check && m.value === '1').map((m) => m.labels?.verdict);
      expect(one('MTLS-001')).toEqual(['fail']);
      expect(verdicts.metrics.filter((m) => m.labels?.check === 'MTLS-001')).toHaveLength(4);
      expect(families.find((f) => f.name === 'meshproof_run_exit_code')!.metrics[0]!.value).toBe('1');
      const ts = Number(families.find((f) => f.name === 'meshproof_run_timestamp_seconds')!.metrics[0]!.value);
      expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(120);
      expect(families.find((f) => f.name === 'meshproof_check_duration_seconds')!.metrics).toHaveLength(3);
      expect(pushes).toEqual([{ method: 'PUT', url: '/metrics/job/meshproof', type: 'text/plain; version=0.0.4', body: text }]);
    } finally {
      gateway.close();
    }
  });

  it('an unreachable Pushgateway is reported after the bundle is written: exit 3 for an otherwise passing run', async () => {
    const out = path.join(tmp, 'unreachable');
    const r = await cli(['run', '--suite', 'audit', '--pushgateway', 'http://127.0.0.1:1', '--out', out]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^meshproof: pushing to http:\/\/127\.0\.0\.1:1: /m);
    expect(readFileSync(path.join(out, 'run.json'), 'utf8')).toContain('"exitCode": 0');
  });

  it('21-5: sweep --metrics and --pushgateway: verdict gauges per sweep check and the sweep\'s own families (endpoints, outcomes, canary), pushed under job meshproof-sweep', async () => {
    const pushes: { method: string; url: string; body: string }[] = [];
    const gateway = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        pushes.push({ method: req.method!, url: req.url!, body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', () => r()));
    try {
      const file = path.join(tmp, 'sweep.prom');
      const out = path.join(tmp, 'sweep');
      const url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
      const r = await cli(['sweep', '--target', 'lab', '--estate', '6x1', '--metrics', file, '--pushgateway', url, '--out', out]);
      expect(r.code, r.stderr).toBe(1);
      const text = readFileSync(file, 'utf8');
      const families = parsePrometheus(text) as Family[];
      const value = (name: string, labels: Record<string, string> = {}) =>
        families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value;
      const verdicts = families.find((f) => f.name === 'meshproof_check_verdict')!;
      const sw = JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8')) as {
        counts: { endpoints: number; judged: number };
        endpoints: { role?: string; verdicts: { outcome: string }[] }[];
        pods: { role?: string; verdict: { outcome: string } }[];
      };
      for (const id of ['SWEEP-MTLS', 'SWEEP-INJECT', 'SWEEP-AUTHZ', 'SWEEP-CERT']) {
        expect(verdicts.metrics.filter((m) => m.labels?.check === id && m.value === '1').map((m) => m.labels?.verdict), id).toEqual(['fail']);
      }
      // Its own families, not the run's: beside a run's file in one textfile directory nothing collides.
      expect(families.some((f) => f.name.startsWith('meshproof_run_'))).toBe(false);
      expect(value('meshproof_sweep_exit_code')).toBe('1');
      expect(value('meshproof_sweep_endpoints', { state: 'in_scope' })).toBe(String(sw.counts.endpoints));
      expect(value('meshproof_sweep_endpoints', { state: 'judged' })).toBe(String(sw.counts.judged));
      const outcomes = [...sw.endpoints.filter((e) => e.role !== 'canary').flatMap((e) => e.verdicts.map((v) => v.outcome)), ...sw.pods.filter((p) => p.role !== 'canary').map((p) => p.verdict.outcome)];
      const findings = outcomes.filter((o) => o === 'finding').length;
      expect(findings).toBeGreaterThan(0);
      expect(value('meshproof_sweep_outcomes', { outcome: 'finding' })).toBe(String(findings));
      expect(value('meshproof_sweep_outcomes', { outcome: 'exempt' })).toBe('0');
      expect(value('meshproof_sweep_outcomes', { outcome: 'inconclusive' })).toBe('0');
      expect(value('meshproof_sweep_canary_flagged')).toBe('1');
      const ts = Number(value('meshproof_sweep_timestamp_seconds'));
      expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(120);
      // The same text, under its own job: the run's group (job meshproof) is left alone.
      expect(pushes).toEqual([{ method: 'PUT', url: '/metrics/job/meshproof-sweep', body: text }]);
    } finally {
      gateway.close();
    }
  });
});
