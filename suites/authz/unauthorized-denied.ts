import { defineCheck } from '../../harness/check.js';
import { deniedByMesh } from '../../harness/classify.js';
import { AUTHORIZED, missing, portOf, reachEchoControl } from '../mtls/shared.js';
import { authzAtFault, ECHO, rbacDeniedHttp, UNAUTHORIZED } from './shared.js';

export const authz001 = defineCheck({
  id: 'AUTHZ-001',
  title: 'An identity without a grant is denied by the mesh',
  suite: 'authz',
  claim: 'mesh/unauthorized (a valid mesh identity with no grant) gets 403 "RBAC: access denied" from mesh/echo, recorded by the destination, while mesh/authorized reaches echo with its identity proven.',
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
    const http = portOf(view, ECHO, 'http');
    if (!http) return { notApplicable: 'Service mesh/echo has no HTTP port' };
    return {
      cases: [
        {
          label: `unauthorized → echo.mesh:${http.port} GET /`,
          atFault: authzAtFault(view, target, { from: UNAUTHORIZED, to: ECHO, port: http.port, http: true }),
          control: reachEchoControl(target, ECHO, http),
          attack: { from: UNAUTHORIZED, to: ECHO, port: http.port, kind: 'http', via: 'service', classify: deniedByMesh, attacker: 'sidecar' },
          corroborate: rbacDeniedHttp,
        },
      ],
    };
  },
});
