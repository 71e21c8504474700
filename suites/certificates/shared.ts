// Pieces the certificate checks share: reading Envoy's /certs, the rogue's direct TLS attacks, the counter.
import type { Observation, TlsAttack } from '../../agent/protocol.js';
import type { Case, CheckContext, Corroboration } from '../../harness/check.js';
import { certRejected } from '../../harness/classify.js';
import { handshakeAccepted, reachedEcho } from '../../harness/expect.js';
import type { ProbeHandle, Ref } from '../../harness/target.js';

export const ROGUE: Ref = { namespace: 'outside', name: 'rogue' };
export const ECHO: Ref = { namespace: 'mesh', name: 'echo' };
/** The short-lived probe (SECRET_TTL in seconds) whose rotation CERT-002 watches and CHAOS-003 outlasts. */
export const ROTATING: Ref = { namespace: 'mesh', name: 'rotating' };

/**
 * One call from mesh/rotating through its sidecar to echo's HTTP port, judged by whether it reached echo as
 * rotating's own identity (the last XFCC URI): what both rotation checks need before, during and after.
 */
export function rotatingCall(ctx: Pick<CheckContext, 'target' | 'view' | 'timeouts'>, probe: ProbeHandle, port: number) {
  const expect = reachedEcho(ctx.target.identity(ROTATING.namespace, ctx.view.serviceAccountOf(ROTATING) ?? 'default'));
  return async (id: string): Promise<{ ok: boolean; reason?: string; o: Observation }> => {
    const d = await ctx.target.address(ECHO, port, probe);
    const [o] = (await probe.run([{ kind: 'http', id, dial: d.dial, authority: d.authority, timeoutMs: ctx.timeouts.attackMs }])).observations;
    const reason = expect(o!);
    return { ok: reason === undefined, reason, o: o! };
  };
}

/** The fields of Envoy's admin `/certs` (E: api/envoy/admin/v3/certs.proto) the checks read. */
export interface CertDetail {
  serial_number: string;
  subject_alt_names?: { uri?: string; dns?: string }[];
  valid_from?: string;
  expiration_time?: string;
}

export interface CertsDump {
  certificates?: { ca_cert?: CertDetail[]; cert_chain?: CertDetail[] }[];
}

/** The workload's own leaf and the roots it trusts, from a `/certs` dump. */
export function readCerts(dump: unknown): { leaves: CertDetail[]; roots: CertDetail[] } {
  const d = dump as CertsDump;
  const all = d.certificates ?? [];
  return { leaves: all.flatMap((c) => c.cert_chain?.slice(0, 1) ?? []), roots: all.flatMap((c) => c.ca_cert ?? []) };
}

/**
 * Failed handshakes leave no record in Istio's default access-log format; `ssl.fail_verify_error` is kept only
 * when the proxy's stats matcher includes `ssl` (istio-behaviours.md §4b), so it is optional corroboration.
 */
export const failVerify: Corroboration = {
  describe: 'ssl.fail_verify_error',
  counter: 'ssl.fail_verify_error',
  expectRecord: false,
  matches: () => false,
};

export function tlsAttack(id: string, dial: string, cert: { chainPem: string; keyPem: string }, timeoutMs: number): TlsAttack {
  return { kind: 'tls', id, dial, certChainPem: cert.chainPem, keyPem: cert.keyPem, alpn: ['istio-http/1.1'], timeoutMs };
}

type Pem = { chainPem: string; keyPem: string };

/**
 * The rogue's direct TLS to one echo pod (no sidecar of its own): a genuine certificate as the positive control,
 * a bad one as the attack, through the same path. `beforeAttack` may wait (for an expiry, say).
 */
export function directTlsCase(o: {
  label: string;
  dial: string;
  /** The Service port the endpoint stands behind (for the evidence; the dial is the pod's own address). */
  port: number;
  genuine: Pem;
  proves: string;
  bad: Pem;
  expectedAlerts: string[];
  timeoutMs: number;
  beforeAttack?: () => Promise<void>;
}): Case {
  const step = { from: ROGUE, to: ECHO, port: o.port, kind: 'http' as const };
  return {
    label: o.label,
    control: { ...step, expect: handshakeAccepted, proves: o.proves, build: async (_p, n) => [tlsAttack(`control-${n}`, o.dial, o.genuine, o.timeoutMs)] },
    attack: {
      ...step,
      via: 'endpoints',
      classify: certRejected(o.expectedAlerts),
      attacker: 'no-sidecar',
      build: async () => {
        await o.beforeAttack?.();
        return [tlsAttack('attack', o.dial, o.bad, o.timeoutMs)];
      },
    },
    corroborate: failVerify,
  };
}
