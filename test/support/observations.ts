// Builders for observations in classifier table tests: the shapes the agent really produces.
import type { Observation } from '../../agent/protocol.js';

export const NONCE = '11111111-2222-4333-8444-555555555555';

export function obs(o: Partial<Observation> = {}): Observation {
  return { id: 't', kind: 'http', dial: '127.0.0.1:1', nonce: NONCE, startedAt: new Date(0).toISOString(), durationMs: 1, bytesReceived: 0, ...o };
}

export function failed(cls: NonNullable<Observation['failure']>['class'], bytesReceived = 0, kind: Observation['kind'] = 'http'): Observation {
  return obs({ kind, bytesReceived, failure: { class: cls, message: cls } });
}

export function httpAnswer(status: number, body = '', headers: Record<string, string> = {}, echoNonce?: string | null, xfcc?: string): Observation {
  const echo =
    echoNonce === undefined
      ? undefined
      : { nonce: echoNonce, pod: 'echo-0', namespace: 'mesh', serviceAccount: 'echo', method: 'GET', path: '/', headers: xfcc ? { 'x-forwarded-client-cert': xfcc } : {} };
  return obs({ bytesReceived: 100 + body.length, http: { status, headers, body, echo } });
}
