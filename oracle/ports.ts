// Every ported Istio test, in the order the oracle prints them. Add a port here and it runs in `npm run
// istio-oracle` and in `npm test` (test/istio-oracle.test.ts).
import { accesslog } from './accesslog.js';
import { authzBuilder } from './authz-builder.js';
import { authzGenerator, authzGeneratorTable } from './authz-generator.js';
import { conversion } from './conversion.js';
import { inject } from './inject.js';
import { peerAuthentication } from './peer-authentication.js';
import { stats } from './stats.js';
import { telemetry } from './telemetry.js';
import type { OraclePort } from './types.js';

export const ports: OraclePort[] = [conversion, telemetry, accesslog, stats, peerAuthentication, inject, authzBuilder, authzGenerator, authzGeneratorTable];
