import { describe, expect, it } from 'vitest';
import { formatAccessLog, formatJsonAccessLog, JSON_LOG_KEYS, parseAccessLog, parseStats, sameAddress, statPresent, sumStat } from '../harness/access-log.js';

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

describe('IPv6 addresses and the default JSON format (istio-behaviours.md §10)', () => {
  it('reads IPv6 addresses as Envoy writes them, unquoted in brackets', () => {
    const line =
      '[2026-11-28T10:00:00.000Z] "- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - [fd00::c]:8080 [fd00::1f]:54616 - -';
    const r = parseAccessLog(line)!;
    expect(r.startTime).toBe('2026-11-28T10:00:00.000Z');
    expect(r.downstreamLocalAddress).toBe('[fd00::c]:8080');
    expect(r.downstreamRemoteAddress).toBe('[fd00::1f]:54616');
    expect(r.responseFlags).toBe('NR');
  });

  it.each([
    { name: 'same IPv4', a: '10.0.0.9:51234', b: '10.0.0.9:51234', same: true },
    { name: 'other port', a: '10.0.0.9:51234', b: '10.0.0.9:51235', same: false },
    { name: 'IPv6, case folded', a: '[FD00::1F]:54616', b: '[fd00::1f]:54616', same: true },
    { name: 'IPv4-mapped IPv6 against IPv4', a: '[::ffff:127.0.0.1]:4000', b: '127.0.0.1:4000', same: true },
    { name: 'missing side', a: undefined, b: '127.0.0.1:4000', same: false },
    { name: 'IPv6 without brackets is not an address', a: 'fd00::1f:54616', b: '[fd00::1f]:54616', same: false },
  ])('sameAddress: $name', ({ a, b, same }) => {
    expect(sameAddress(a, b)).toBe(same);
  });

  it('round-trips a record in Istio\'s default JSON keys, numbers as numbers and empty values as null', () => {
    const line = formatJsonAccessLog({ startTime: '2026-11-28T10:00:00.000Z', method: 'GET', path: '/?nonce=n1', protocol: 'HTTP/1.1', responseCode: 403, responseCodeDetails: 'rbac_access_denied_matched_policy[none]', downstreamRemoteAddress: '[fd00::1f]:54616' });
    const o = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(o).sort()).toEqual(JSON_LOG_KEYS.map(([k]) => k).sort());
    expect(o.response_code).toBe(403);
    expect(o.upstream_host).toBeNull();
    expect(parseAccessLog(line)).toMatchObject({ method: 'GET', path: '/?nonce=n1', responseCode: 403, responseCodeDetails: 'rbac_access_denied_matched_policy[none]', downstreamRemoteAddress: '[fd00::1f]:54616', upstreamHost: '' });
  });

  it('parses a JSON record as a real istio-proxy writes it (key order and nulls as Envoy prints them)', () => {
    const line =
      '{"authority":null,"bytes_received":0,"bytes_sent":0,"connection_termination_details":null,"downstream_local_address":"10.244.0.12:8080","downstream_remote_address":"10.244.0.9:41234","duration":0,"method":null,"path":null,"protocol":null,"request_id":null,"requested_server_name":null,"response_code":0,"response_code_details":"filter_chain_not_found","response_flags":"NR","route_name":null,"start_time":"2026-11-28T10:00:00.123Z","upstream_cluster":null,"upstream_host":null,"upstream_local_address":null,"upstream_service_time":null,"upstream_transport_failure_reason":null,"user_agent":null,"x_forwarded_for":null}';
    expect(parseAccessLog(line)).toMatchObject({ responseCode: 0, responseFlags: 'NR', responseCodeDetails: 'filter_chain_not_found', downstreamRemoteAddress: '10.244.0.9:41234', method: '' });
    expect(parseAccessLog('{"level":"info","msg":"Envoy proxy is ready"}')).toBeUndefined();
  });

  it('tells an absent stat from a zero one', () => {
    const s = parseStats('cluster.outbound|8080||echo.mesh.svc.cluster.local.upstream_rq_pending_overflow: 0\n');
    expect(statPresent(s, 'upstream_rq_pending_overflow')).toBe(true);
    expect(statPresent(s, 'outlier_detection.ejections_enforced_consecutive_5xx')).toBe(false);
  });
});
