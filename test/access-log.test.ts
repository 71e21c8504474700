import { describe, expect, it } from 'vitest';
import { formatAccessLog, parseAccessLog, parseStats, sumStat } from '../harness/access-log.js';

describe('Envoy TEXT access-log records (istio-behaviours.md §6)', () => {
  it('parses a real sidecar record in Istio\'s default format', () => {
    // Shape of a record from a real istio-proxy (an NR route_not_found line as published in user reports).
    const line =
      '[2024-06-02T13:35:27.116Z] "GET /realms/x HTTP/2" 404 NR route_not_found - "-" 0 0 0 - "192.168.0.24" "Mozilla/5.0 (X11)" "0b60ced5-f525-45e5-9233-171eb33b7c95" "auth.example" "-" - - 10.0.0.196:8443 192.168.0.24:41604 auth.example -';
    const r = parseAccessLog(line)!;
    expect(r).toMatchObject({
      method: 'GET',
      path: '/realms/x',
      protocol: 'HTTP/2',
      responseCode: 404,
      responseFlags: 'NR',
      responseCodeDetails: 'route_not_found',
      userAgent: 'Mozilla/5.0 (X11)',
      downstreamLocalAddress: '10.0.0.196:8443',
      downstreamRemoteAddress: '192.168.0.24:41604',
      requestedServerName: 'auth.example',
    });
  });

  it('round-trips a refused plaintext connection record', () => {
    const line = formatAccessLog({ startTime: '2026-11-27T10:00:00.000Z', responseFlags: 'NR', responseCodeDetails: 'filter_chain_not_found', downstreamLocalAddress: '10.0.0.5:8080', downstreamRemoteAddress: '10.0.0.9:51234' });
    expect(line).toBe('[2026-11-27T10:00:00.000Z] "- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - 10.0.0.5:8080 10.0.0.9:51234 - -');
    expect(parseAccessLog(line)).toMatchObject({ method: '', responseCode: 0, responseFlags: 'NR', responseCodeDetails: 'filter_chain_not_found', downstreamRemoteAddress: '10.0.0.9:51234' });
  });

  it('skips proxy log lines that are not access-log records', () => {
    expect(parseAccessLog('2026-11-27T10:00:00.000000Z\tinfo\tEnvoy proxy is ready')).toBeUndefined();
    expect(parseAccessLog('[2026-11-27T10:00:00.000Z] "GET')).toBeUndefined();
  });

  it('reads Envoy /stats text and sums counters by suffix', () => {
    const s = parseStats('listener.0.0.0.0_15006.no_filter_chain_match: 3\nlistener.10.0.0.5_8080.no_filter_chain_match: 2\ncluster.x.upstream_rq_time: P0(nan,1)\nserver.live: 1\n');
    expect(s['server.live']).toBe(1);
    expect(sumStat(s, 'no_filter_chain_match')).toBe(5);
    expect(sumStat(s, 'filter_chain_match')).toBe(0);
  });
});
