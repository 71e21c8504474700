// What an auditor needs from each access-log record (PCI DSS v4.0.1 10.2.2: type of event, date and time,
// success or failure, origination, identity of the affected resource; NIST AU-3 likewise). Pure: a record in,
// the missing details out, so every rule has a table test.
import { type AccessLogRecord, splitAddress } from './access-log.js';

export function auditGaps(r: AccessLogRecord, kind: 'http' | 'connection'): string[] {
  const gaps: string[] = [];
  if (!Number.isFinite(Date.parse(r.startTime))) gaps.push('no parseable time');
  if (!splitAddress(r.downstreamRemoteAddress)) gaps.push('no source address');
  if (!splitAddress(r.downstreamLocalAddress)) gaps.push('no destination address and port');
  if (kind === 'http' && !r.protocol) gaps.push('no protocol');
  const outcome = r.responseCode > 0 || r.responseFlags !== '' || r.responseCodeDetails !== '' || r.connectionTerminationDetails !== '';
  if (!outcome) gaps.push('no response code or termination reason');
  return gaps;
}
