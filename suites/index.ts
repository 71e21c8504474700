// Every suite and its checks, in run order. Adding a check is adding it here.
import type { Check } from '../harness/check.js';
import { mtls002 } from './mtls/every-port.js';
import { mtls003 } from './mtls/mesh-wide-default.js';
import { mtls001 } from './mtls/plaintext-refused.js';

export const SUITES: Record<string, Check[]> = {
  mtls: [mtls001, mtls002, mtls003],
};

export const ALL_CHECKS: Check[] = Object.values(SUITES).flat();
