import { defineCheck } from '../../harness/check.js';
import { plaintextRefused } from '../../harness/classify.js';
import { AUTHORIZED, filterChainNotFound, missing, OUTSIDE, plaintextAtFault, portOf, reachEchoControl } from './shared.js';

const ECHO = { namespace: 'mesh', name: 'echo' };

export const mtls001 = defineCheck({
  id: 'MTLS-001',
  title: 'Plaintext from outside the mesh to a STRICT workload is refused',
  suite: 'mtls',
  claim: 'A client without a sidecar cannot reach mesh/echo in plaintext: the connection is reset with no response bytes, and the destination records NR filter_chain_not_found.',
  categories: ['a'],
  weakenedBy: ['permissive-mtls.yaml', 'deny-principal-permissive.yaml', 'allow-notnamespaces-permissive.yaml'],
  method: 'TEST',
  plan: ({ view, target }) => {
    const absent = missing(view, [
      { kind: 'Service', ref: ECHO },
      { kind: 'Deployment', ref: AUTHORIZED },
      { kind: 'Deployment', ref: OUTSIDE },
    ]);
    if (absent) return { notApplicable: absent };
    const http = portOf(view, ECHO, 'http');
    if (!http) return { notApplicable: 'Service mesh/echo has no HTTP port' };
    return {
      cases: [
        {
          label: `outside → echo.mesh:${http.port} (${http.name})`,
          atFault: plaintextAtFault(view, ECHO, http.port),
          control: reachEchoControl(target, ECHO, http),
          attack: { from: OUTSIDE, to: ECHO, port: http.port, kind: 'http', via: 'service', classify: plaintextRefused, attacker: 'no-sidecar' },
          corroborate: filterChainNotFound,
        },
      ],
    };
  },
});
