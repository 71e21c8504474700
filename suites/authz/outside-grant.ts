import { defineCheck } from '../../harness/check.js';
import { deniedByMesh } from '../../harness/classify.js';
import { AUTHORIZED, missing, portOf, reachEchoControl } from '../mtls/shared.js';
import { authzAtFault, ECHO, rbacDeniedHttp } from './shared.js';

/** A method and a path the secure posture's grant does not include. */
const OUTSIDE_GRANT = [
  { label: 'POST /', method: 'POST', path: '/' },
  { label: 'GET /meshproof/not-granted', method: 'GET', path: '/meshproof/not-granted' },
];

export const authz002 = defineCheck({
  id: 'AUTHZ-002',
  title: 'An authorized identity is denied outside its grant (L7)',
  suite: 'authz',
  claim: 'mesh/authorized gets 403 "RBAC: access denied" for a method and for a path its ALLOW policy does not grant, while GET / succeeds through the same port.',
  categories: ['b'],
  weakenedBy: ['allow-all.yaml', 'no-allow-policy.yaml', 'deny-principal-permissive.yaml'],
  method: 'TEST',
  plan: ({ view, target }) => {
    const absent = missing(view, [
      { kind: 'Service', ref: ECHO },
      { kind: 'Deployment', ref: AUTHORIZED },
    ]);
    if (absent) return { notApplicable: absent };
    const http = portOf(view, ECHO, 'http');
    if (!http) return { notApplicable: 'Service mesh/echo has no HTTP port' };
    return {
      cases: OUTSIDE_GRANT.map((g) => ({
        label: `authorized → echo.mesh:${http.port} ${g.label}`,
        atFault: authzAtFault(view, target, { from: AUTHORIZED, to: ECHO, port: http.port, http: true, method: g.method, path: g.path }),
        control: reachEchoControl(target, ECHO, http),
        attack: { from: AUTHORIZED, to: ECHO, port: http.port, kind: 'http' as const, method: g.method, path: g.path, via: 'service' as const, classify: deniedByMesh, attacker: 'sidecar' as const },
        corroborate: rbacDeniedHttp,
      })),
    };
  },
});
