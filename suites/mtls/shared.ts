// Pieces the mTLS checks share: the fixture topology's actors and the `NR` corroboration.
import { sameAddress } from '../../harness/access-log.js';
import type { ControlStep, Corroboration } from '../../harness/check.js';
import { reachedEcho } from '../../harness/expect.js';
import type { PostureView, ServicePort } from '../../harness/posture/view.js';
import type { Ref, Target } from '../../harness/target.js';

/** Fixture topology (ARCHITECTURE.md): the in-mesh client with a grant, and the sidecar-less attacker. */
export const AUTHORIZED: Ref = { namespace: 'mesh', name: 'authorized' };
export const OUTSIDE: Ref = { namespace: 'outside', name: 'outside' };
export const AUTHORIZED_SA = 'authorized';

/**
 * The destination's record of a refused plaintext connection: flag `NR`, details `filter_chain_not_found`, and
 * the attacker's own address as downstream remote (istio-behaviours.md §1, §6).
 */
export const filterChainNotFound: Corroboration = {
  describe: 'NR filter_chain_not_found',
  counter: 'no_filter_chain_match',
  matches: (r, o) =>
    r.responseFlags.split(',').includes('NR') &&
    r.responseCodeDetails === 'filter_chain_not_found' &&
    sameAddress(r.downstreamRemoteAddress, o.localAddress),
};

/** The positive control: the authorized in-mesh probe reaches the echo app through the same Service port. */
export function reachEchoControl(target: Target, to: Ref, p: ServicePort): ControlStep {
  const id = target.identity(AUTHORIZED.namespace, AUTHORIZED_SA);
  return {
    from: AUTHORIZED,
    to,
    port: p.port,
    kind: p.protocol,
    expect: reachedEcho(id),
    orMeshDenial: true,
    proves:
      (p.protocol === 'http' ? `reached the echo app with its nonce; last XFCC URI = ${id}` : 'reached the echo app: the nonce came back over TCP') +
      ' (or, where every call is denied by design, a mesh denial with a rising rbac.denied at the destination)',
  };
}

export function missing(view: PostureView, refs: { kind: string; ref: Ref }[]): string | undefined {
  const absent = refs.filter((x) => !view.has(x.kind, x.ref)).map((x) => `${x.kind} ${x.ref.namespace}/${x.ref.name}`);
  return absent.length > 0 ? `the posture lacks ${absent.join(', ')}` : undefined;
}

/** The first port of `protocol` the posture declares for a Service. */
export function portOf(view: PostureView, service: Ref, protocol: ServicePort['protocol']): ServicePort | undefined {
  return view.port(service, protocol);
}
