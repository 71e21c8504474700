// The agent's `mint`: a real PKCS#10 request (checked by openssl), gRPC CreateCertificate over HTTP/2 + TLS to
// an istiod-like CA, and the identity taken from the token, never from the request.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr, decodeResponse, encodeRequest, mint } from '../agent/mint.js';
import { CertificateAuthority, uriSans } from '../harness/pki.js';
import { csrPublicKey, type FakeIstiod, startFakeIstiod } from './support/fake-istiod.js';

let ca: CertificateAuthority;
let istiod: FakeIstiod;
beforeAll(async () => {
  ca = await CertificateAuthority.create();
  istiod = await startFakeIstiod({
    cert: await ca.issue('istio-system', 'istiod', { dns: ['istiod.istio-system.svc'] }),
    sign: (spki, ns, sa, ttlMs) => ca.issue(ns, sa, { publicKeySpki: spki, ttlMs }),
  });
  istiod.tokens.set('token-rogue', { namespace: 'mp-1-outside', serviceAccount: 'rogue', audiences: ['istio-ca'], expiresAt: Date.now() + 600_000 });
});
afterAll(() => istiod.close());

describe('the agent\'s certificate request', () => {
  it('is a PKCS#10 request openssl verifies, with the key it returns', () => {
    const { csrPem, keyPem } = createCsr();
    const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-csr-'));
    writeFileSync(path.join(dir, 'r.pem'), csrPem);
    const r = spawnSync('openssl', ['req', '-in', path.join(dir, 'r.pem'), '-verify', '-noout'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/verify OK/i);
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(csrPublicKey(csrPem).length).toBeGreaterThan(60);
  });

  it('round-trips the protobuf fields CreateCertificate uses', () => {
    expect(encodeRequest('x', 300).equals(Buffer.from([0x0a, 1, 0x78, 0x18, 0xac, 0x02]))).toBe(true);
    expect(decodeResponse(Buffer.from([0x0a, 1, 0x61, 0x0a, 1, 0x62]))).toEqual(['a', 'b']);
  });
});

describe('mint against istiod\'s CA', () => {
  it('gets a genuine certificate for the token\'s identity, verified against the mesh root', async () => {
    const r = await mint({ address: istiod.address, servername: istiod.servername, rootPem: ca.rootPem, token: 'token-rogue', ttlSeconds: 60, timeoutMs: 5_000 });
    expect(r.spiffeId).toBe('spiffe://cluster.local/ns/mp-1-outside/sa/rogue');
    expect(uriSans(r.chainPem.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n')).toEqual([r.spiffeId]);
    expect(Date.parse(r.notAfter) - Date.now()).toBeLessThanOrEqual(61_000);
    expect(r.keyPem).toMatch(/PRIVATE KEY/);
  });

  it('is refused without a valid token, and does not trust a CA other than the mesh root', async () => {
    await expect(mint({ address: istiod.address, servername: istiod.servername, rootPem: ca.rootPem, token: 'forged', ttlSeconds: 60, timeoutMs: 5_000 })).rejects.toThrow(/grpc-status 16/);
    const other = await CertificateAuthority.create();
    await expect(mint({ address: istiod.address, servername: istiod.servername, rootPem: other.rootPem, token: 'token-rogue', ttlSeconds: 60, timeoutMs: 5_000 })).rejects.toThrow();
  });
});
