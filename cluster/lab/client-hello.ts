// Envoy's tls_inspector, in miniature: is the first flight a TLS ClientHello, and which ALPN protocols does it
// offer? Under PERMISSIVE, TLS without an Istio ALPN takes the passthrough chain (istio-behaviours.md §4b; I:
// pilot/pkg/networking/core/filterchain_options.go), so the lab must see the ALPN before choosing a chain.

export type Sniff = { kind: 'plaintext' } | { kind: 'incomplete' } | { kind: 'tls'; alpn: string[] };

export const ISTIO_ALPNS = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];

const TLS_HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
const EXT_ALPN = 0x0010;

export function sniff(buf: Buffer): Sniff {
  if (buf.length === 0) return { kind: 'incomplete' };
  if (buf[0] !== TLS_HANDSHAKE) return { kind: 'plaintext' };
  if (buf.length < 9) return { kind: 'incomplete' };
  if (buf[5] !== CLIENT_HELLO) return { kind: 'plaintext' };
  const recordLen = buf.readUInt16BE(3);
  if (buf.length < 5 + recordLen) return { kind: 'incomplete' };
  // A ClientHello larger than one record (post-quantum key shares) is still parsed from its first record: the
  // ALPN extension can be cut off there, which we then report as "no ALPN" (passthrough), like a short read.
  const hs = buf.subarray(5, 5 + recordLen);
  let p = 4 + 2 + 32; // handshake header, client_version, random
  const skip = (lenBytes: 1 | 2) => {
    if (p + lenBytes > hs.length) return false;
    const n = lenBytes === 1 ? hs[p]! : hs.readUInt16BE(p);
    p += lenBytes + n;
    return p <= hs.length;
  };
  if (!skip(1) || !skip(2) || !skip(1)) return { kind: 'tls', alpn: [] }; // session id, cipher suites, compression
  if (p + 2 > hs.length) return { kind: 'tls', alpn: [] };
  const extEnd = Math.min(hs.length, p + 2 + hs.readUInt16BE(p));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = hs.readUInt16BE(p);
    const len = hs.readUInt16BE(p + 2);
    const body = hs.subarray(p + 4, Math.min(extEnd, p + 4 + len));
    p += 4 + len;
    if (type !== EXT_ALPN || body.length < 2) continue;
    const alpn: string[] = [];
    for (let i = 2; i < body.length; ) {
      const n = body[i]!;
      alpn.push(body.subarray(i + 1, i + 1 + n).toString('latin1'));
      i += 1 + n;
    }
    return { kind: 'tls', alpn };
  }
  return { kind: 'tls', alpn: [] };
}
