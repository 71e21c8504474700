import { defineCheck } from '../../harness/check.js';
import { tcpDenied } from '../../harness/classify.js';
import { AUTHORIZED, missing, portOf, reachEchoControl } from '../mtls/shared.js';
import { authzAtFault, ECHO, rbacDeniedTcp, UNAUTHORIZED } from './shared.js';

export const authz003 = defineCheck({
  id: 'AUTHZ-003',
  title: 'An identity without a grant is cut off on a TCP port',
  suite: 'authz',
  claim: 'mesh/unauthorized connecting to echo.mesh:9000 is closed on its first bytes with no nonce back and a tcp.rbac.denied at the destination, while mesh/authorized gets its nonce echoed through the same port.',
  categories: ['b'],
  weakenedBy: ['allow-all.yaml', 'no-allow-policy.yaml', 'deny-principal-permissive.yaml'],
  method: 'TEST',
  plan: ({ view, target }) => {
    const absent = missing(view, [
      { kind: 'Service', ref: ECHO },
      { kind: 'Deployment', ref: AUTHORIZED },
      { kind: 'Deployment', ref: UNAUTHORIZED },
    ]);
    if (absent) return { notApplicable: absent };
    const tcp = portOf(view, ECHO, 'tcp');
    if (!tcp) return { notApplicable: 'Service mesh/echo has no TCP port' };
    return {
      cases: [
        {
          label: `unauthorized → echo.mesh:${tcp.port} (${tcp.name})`,
          atFault: authzAtFault(view, target, { from: UNAUTHORIZED, to: ECHO, port: tcp.port, http: false }),
          control: reachEchoControl(target, ECHO, tcp),
          attack: { from: UNAUTHORIZED, to: ECHO, port: tcp.port, kind: 'tcp', via: 'service', classify: tcpDenied, attacker: 'sidecar' },
          corroborate: rbacDeniedTcp,
        },
      ],
    };
  },
});
