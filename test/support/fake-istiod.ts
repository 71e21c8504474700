// istiod's CA for tests: gRPC CreateCertificate over HTTP/2 + TLS, the identity taken from the bearer token
// (never from the CSR), the certificate issued for the CSR's public key by a CertificateAuthority.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { bytesField, decodeResponse, grpcFrame, readFields } from '../../agent/mint.js';

/** Reads a DER TLV at `at`: tag, header length, body length. */
function tlvAt(b: Buffer, at: number): { tag: number; start: number; end: number } {
  const tag = b[at]!;
  let len = b[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[at + 2 + i]!;
    start += n;
  }
  return { tag, start, end: start + len };
}

/** The SubjectPublicKeyInfo of a PKCS#10 request (CertificationRequest → info → [version, subject, spki]). */
export function csrPublicKey(csrPem: string): Buffer {
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const req = tlvAt(der, 0);
  const info = tlvAt(der, req.start);
  const version = tlvAt(der, info.start);
  const subject = tlvAt(der, version.end);
  const spki = tlvAt(der, subject.end);
  return der.subarray(subject.end, spki.end);
}

/** IstioCertificateRequest fields 1 (csr) and 3 (validity_duration). */
function decodeRequest(msg: Buffer): { csr: string; ttl: number } {
  const fields = readFields(msg);
  const csr = fields.find((f) => f.field === 1)?.value;
  const ttl = fields.find((f) => f.field === 3)?.value;
  return { csr: Buffer.isBuffer(csr) ? csr.toString('utf8') : '', ttl: typeof ttl === 'number' ? ttl : 0 };
}

/** A token as the API server issued it: whose it is, the audiences it is bound to, when it expires. */
export interface IssuedToken {
  namespace: string;
  serviceAccount: string;
  audiences: string[];
  expiresAt: number;
}

/** The audiences istiod reviews a token for (istio pkg/security `TokenAudiences`, TOKEN_AUDIENCES, default istio-ca). */
export const ISTIOD_TOKEN_AUDIENCES = ['istio-ca'];

export interface FakeIstiod {
  address: string;
  servername: string;
  /** The tokens the API server issued, with what its TokenReview would answer for them. */
  tokens: Map<string, IssuedToken>;
  close(): Promise<void>;
}

export async function startFakeIstiod(o: {
  cert: { chainPem: string; keyPem: string };
  sign: (spki: Buffer, namespace: string, serviceAccount: string, ttlMs: number) => Promise<{ certPem: string; chainPem: string }>;
}): Promise<FakeIstiod> {
  const tokens = new Map<string, IssuedToken>();
  const server = http2.createSecureServer({ cert: o.cert.chainPem, key: o.cert.keyPem, allowHTTP1: false });
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const fail = (code: number, message: string) => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) }));
        stream.end();
      };
      if (headers[':path'] !== '/istio.v1.auth.IstioCertificateService/CreateCertificate') return fail(12, 'unimplemented');
      const who = tokens.get(String(headers.authorization ?? '').replace(/^Bearer /, ''));
      // I: security/pkg/server/ca/server.go `CreateCertificate` — the caller's identity comes from its token, and
      // an unauthenticated caller gets Unauthenticated "request authenticate failure". The token is reviewed as
      // security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go `authenticate` has it reviewed: a TokenReview with
      // audiences security.TokenAudiences (`istio-ca`), which the API server accepts only for a token bound to one
      // of them and not expired (the identity is the review's service account, never the CSR's SANs).
      const reviewed = who && who.expiresAt > Date.now() && who.audiences.some((a) => ISTIOD_TOKEN_AUDIENCES.includes(a));
      if (!who || !reviewed) return fail(16, 'request authenticate failure');
      const body = Buffer.concat(chunks);
      const req = decodeRequest(body.subarray(5, 5 + body.readUInt32BE(1)));
      void o.sign(csrPublicKey(req.csr), who.namespace, who.serviceAccount, req.ttl * 1000).then((c) => {
        const leaf = Buffer.from(c.certPem);
        const root = Buffer.from(c.chainPem.slice(c.certPem.length));
        const msg = Buffer.concat([bytesField(1, leaf), bytesField(1, root)]);
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(grpcFrame(msg));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    servername: 'istiod.istio-system.svc',
    tokens,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export { decodeResponse };
