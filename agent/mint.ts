// `mint` mode: obtain a genuine, short-lived mesh certificate for this pod's OWN identity, as any pod can, from
// istiod's CA (istio-behaviours.md §4b): gRPC `istio.v1.auth.IstioCertificateService/CreateCertificate` on
// istiod:15012, verified against the mesh root, with a service-account token for audience `istio-ca`. The SAN
// comes from the token; the CSR's SANs are ignored. Node has no CSR API, so the PKCS#10 request is built here.
import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import http2 from 'node:http2';

export interface MintRequest {
  /** host:port of istiod's CA. */
  address: string;
  /** TLS name istiod's certificate carries. */
  servername: string;
  rootPem: string;
  /** A TokenRequest token for this pod's service account, audience `istio-ca`. Never printed. */
  token: string;
  ttlSeconds: number;
  timeoutMs: number;
}

/**
 * What the harness sends by exec, one of two ways:
 * - `tokenPath` (the probe's OWN identity, `mintCertificate`): the pod reads its own projected service-account token
 *   (audience istio-ca) from the file the kubelet keeps fresh, as any pod can; no token travels on the exec stream.
 * - `token` (ANOTHER identity, the access matrix's `mintIdentityCertificate`): a TokenRequest token the runner
 *   obtained for that service account (audiences exactly `["istio-ca"]`, 600 s), carried INSIDE this JSON on the
 *   exec's stdin, never in argv, an environment variable or a file. The agent never prints it, nor the request.
 */
export type MintExecRequest = Omit<MintRequest, 'token'> & ({ tokenPath: string; token?: never } | { token: string; tokenPath?: never });

/**
 * The exec request from stdin, checked. A parse error never carries the text (Node's JSON.parse quotes the input
 * it choked on, which here holds a token): the message names only what is wrong.
 */
export function parseMintExecRequest(text: string): MintExecRequest {
  let r: Partial<MintExecRequest> & Record<string, unknown>;
  try {
    r = JSON.parse(text) as typeof r;
  } catch {
    throw new Error('mint: the request on stdin is not one line of JSON');
  }
  const hasToken = typeof r.token === 'string' && r.token.length > 0;
  const hasPath = typeof r.tokenPath === 'string' && r.tokenPath.length > 0;
  if (hasToken === hasPath) throw new Error('mint: the request needs exactly one of token and tokenPath');
  for (const k of ['address', 'servername', 'rootPem'] as const) if (typeof r[k] !== 'string') throw new Error(`mint: the request has no ${k}`);
  return r as MintExecRequest;
}

export interface MintResult {
  chainPem: string;
  keyPem: string;
  serialNumber: string;
  spiffeId: string;
  notBefore: string;
  notAfter: string;
}

// ---- DER, as little as a CSR needs
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}
/** ecdsa-with-SHA256, 1.2.840.10045.4.3.2 */
const ECDSA_SHA256 = Buffer.from([0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);

/** A PKCS#10 request with an empty subject for a new P-256 key (istiod takes the identity from the token). */
export function createCsr(): { csrPem: string; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const info = tlv(0x30, tlv(0x02, Buffer.from([0])), tlv(0x30), spki, tlv(0xa0));
  const signature = sign('sha256', info, privateKey);
  const der = tlv(0x30, info, tlv(0x30, ECDSA_SHA256), tlv(0x03, Buffer.from([0]), signature));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').trim();
  return { csrPem: `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----\n`, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

// ---- protobuf, as little as the CA service needs (istio/api security/v1alpha1/ca.proto)
export function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** The fields of a message: varints as numbers, length-delimited ones as bytes. */
export function readFields(msg: Buffer): { field: number; value: number | Buffer }[] {
  const out: { field: number; value: number | Buffer }[] = [];
  let i = 0;
  const readVarint = () => {
    let v = 0;
    let shift = 1;
    for (;;) {
      const b = msg[i++]!;
      v += (b & 0x7f) * shift;
      if (b < 0x80) return v;
      shift *= 128;
    }
  };
  while (i < msg.length) {
    const key = readVarint();
    const wire = key & 7;
    if (wire === 2) {
      const len = readVarint();
      out.push({ field: key >> 3, value: msg.subarray(i, i + len) });
      i += len;
    } else if (wire === 0) out.push({ field: key >> 3, value: readVarint() });
    else throw new Error(`unexpected protobuf wire type ${wire}`);
  }
  return out;
}

/** A length-delimited field. */
export function bytesField(field: number, b: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
}

/** IstioCertificateRequest { string csr = 1; int64 validity_duration = 3; } */
export function encodeRequest(csrPem: string, ttlSeconds: number): Buffer {
  return Buffer.concat([bytesField(1, Buffer.from(csrPem)), varint((3 << 3) | 0), varint(ttlSeconds)]);
}

/** IstioCertificateResponse { repeated string cert_chain = 1; } (leaf first, root last) */
export function decodeResponse(msg: Buffer): string[] {
  return readFields(msg)
    .filter((f) => f.field === 1 && Buffer.isBuffer(f.value))
    .map((f) => (f.value as Buffer).toString('utf8'));
}

/** gRPC framing: a 1-byte compression flag and a 4-byte big-endian length. */
export function grpcFrame(msg: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

export async function mint(r: MintRequest): Promise<MintResult> {
  const { csrPem, keyPem } = createCsr();
  const client = http2.connect(`https://${r.address}`, { ca: r.rootPem, servername: r.servername, ALPNProtocols: ['h2'] });
  try {
    const body = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`istiod CA did not answer within ${r.timeoutMs} ms`)), r.timeoutMs);
      client.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      const req = client.request({
        ':method': 'POST',
        ':path': '/istio.v1.auth.IstioCertificateService/CreateCertificate',
        'content-type': 'application/grpc',
        te: 'trailers',
        authorization: `Bearer ${r.token}`,
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      req.on('response', (h) => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      });
      req.on('trailers', (t) => {
        status = String(t['grpc-status'] ?? status);
        message = decodeURIComponent(String(t['grpc-message'] ?? ''));
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        clearTimeout(timer);
        if (status !== '0') reject(new Error(`CreateCertificate refused (grpc-status ${status ?? '?'}): ${message}`));
        else resolve(Buffer.concat(chunks));
      });
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.end(grpcFrame(encodeRequest(csrPem, r.ttlSeconds)));
    });
    const chain = decodeResponse(body.subarray(5, 5 + body.readUInt32BE(1)));
    if (chain.length === 0) throw new Error('CreateCertificate returned no certificate');
    const leaf = new X509Certificate(chain[0]!);
    const uri = (leaf.subjectAltName ?? '').split(/,\s*/).find((s) => s.startsWith('URI:'))?.slice(4) ?? '';
    return {
      chainPem: chain.map((c) => (c.endsWith('\n') ? c : `${c}\n`)).join(''),
      keyPem,
      serialNumber: leaf.serialNumber.toLowerCase(),
      spiffeId: uri,
      notBefore: new Date(leaf.validFrom).toISOString(),
      notAfter: new Date(leaf.validTo).toISOString(),
    };
  } finally {
    client.close();
  }
}
