// Every suite and its checks, in run order. Adding a check is adding it here.
import type { Check } from '../harness/check.js';
import { audit001 } from './audit/trail.js';
import { authz005 } from './authz/deny-sidecarless.js';
import { authz004 } from './authz/mesh-wide-deny.js';
import { authz002 } from './authz/outside-grant.js';
import { authz003 } from './authz/tcp-denied.js';
import { authz001 } from './authz/unauthorized-denied.js';
import { cert004 } from './certificates/expired-replay.js';
import { cert003 } from './certificates/foreign-ca.js';
import { cert001 } from './certificates/lifetime-and-identity.js';
import { cert005 } from './certificates/root-horizon.js';
import { cert002 } from './certificates/rotation.js';
import { edge004 } from './boundary/edge-backend-mtls.js';
import { edge003 } from './boundary/edge-cert.js';
import { edge001 } from './boundary/edge-plaintext.js';
import { edge002 } from './boundary/edge-tls.js';
import { egress001 } from './boundary/egress-registry.js';
import { chaos003 } from './chaos/expiry-refused.js';
import { chaos002 } from './chaos/no-unprotected-join.js';
import { chaos001 } from './chaos/outage-holds.js';
import { mtls002 } from './mtls/every-port.js';
import { mtls003 } from './mtls/mesh-wide-default.js';
import { mtls001 } from './mtls/plaintext-refused.js';
import { res001 } from './resilience/breaker.js';
import { res002 } from './resilience/ejection.js';

export const SUITES: Record<string, Check[]> = {
  mtls: [mtls001, mtls002, mtls003],
  authz: [authz001, authz002, authz003, authz004, authz005],
  certificates: [cert001, cert002, cert003, cert004, cert005],
  resilience: [res001, res002],
  audit: [audit001],
  // The mesh boundary: the ingress gateway's TLS and the egress lock (issue 12).
  boundary: [edge001, edge002, edge003, edge004, egress001],
  // Disturbs the whole mesh: on the lab and provisioned clusters by default, on an existing cluster only when named.
  chaos: [chaos001, chaos002, chaos003],
};

export const ALL_CHECKS: Check[] = Object.values(SUITES).flat();
