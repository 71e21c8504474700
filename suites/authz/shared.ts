// Pieces the authorization checks share: actors and the RBAC corroborations (istio-behaviours.md §2, §6).
import { sameAddress } from '../../harness/access-log.js';
import type { Corroboration } from '../../harness/check.js';
import type { Ref } from '../../harness/target.js';

export const ECHO: Ref = { namespace: 'mesh', name: 'echo' };
export const BARE_ECHO: Ref = { namespace: 'bare', name: 'echo' };
export const UNAUTHORIZED: Ref = { namespace: 'mesh', name: 'unauthorized' };

/** The destination's record of an HTTP denial, matched to the attempt by its nonce in the logged path. */
export const rbacDeniedHttp: Corroboration = {
  describe: '403 rbac_access_denied_matched_policy',
  counter: 'rbac.denied',
  require: 'record-or-counter',
  matches: (r, o) => r.responseCode === 403 && r.responseCodeDetails.startsWith('rbac_access_denied_matched_policy[') && r.path.includes(o.nonce),
};

/**
 * The destination's record of a TCP denial, keyed to the attempt: the inbound sees the client sidecar's hop, not
 * the probe, so the client's own record (downstream = the probe, upstream local = the hop) names the hop. Without
 * a client record (client-side logging off) records are matched by kind within the attack window.
 */
export const rbacDeniedTcp: Corroboration = {
  describe: 'rbac_access_denied_matched_policy connection termination',
  counter: 'tcp.rbac.denied',
  require: 'record-or-counter',
  keyByHop: true,
  matches: (r, _o, hop) => r.connectionTerminationDetails.startsWith('rbac_access_denied_matched_policy[') && (hop === undefined || sameAddress(r.downstreamRemoteAddress, hop)),
};
