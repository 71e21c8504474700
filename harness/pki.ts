// A small X.509 CA (the lab's, and the harness's foreign CA for attacks): an ECDSA P-256 root and workload certificates shaped like istiod's (empty
// subject, a critical URI SAN `spiffe://<td>/ns/<ns>/sa/<sa>`, server+client auth), istio-behaviours.md §3–§4.
import 'reflect-metadata';
import { X509Certificate as NodeX509 } from 'node:crypto';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type KeyPair = webcrypto.CryptoKeyPair;
// biome-ignore lint/suspicious/noExplicitAny: @peculiar/x509 is typed against the DOM's Crypto
x509.cryptoProvider.set(webcrypto as any);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** istiod backdates NotBefore by two minutes for clock skew (security/pkg/pki/util/generate_cert.go). */
export const BACKDATE_MS = 2 * 60_000;

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_WORKLOAD_TTL_MS = 24 * 3600_000;
export const DEFAULT_ROOT_TTL_MS = 10 * 365 * 24 * 3600_000;

export interface IssuedCert {
  /** Leaf first, then the root (what Envoy presents). */
  chainPem: string;
  keyPem: string;
  certPem: string;
  serialNumber: string;
  spiffeId: string;
  notBefore: Date;
  notAfter: Date;
}

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function serial(): string {
  // 16 random bytes with the high bit clear: a positive DER INTEGER, like istiod's 128-bit serials.
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] ?? 0) & 0x7f;
  return Buffer.from(b).toString('hex');
}

/** What makes a certificate a CA's: basic constraints, certificate and CRL signing, a subject key id. */
async function caExtensions(k: KeyPair): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(k.publicKey),
  ];
}

export class CertificateAuthority {
  private constructor(
    readonly trustDomain: string,
    private readonly rootKeys: KeyPair,
    readonly root: x509.X509Certificate,
  ) {}

  static async create(opts: { trustDomain?: string; rootTtlMs?: number; now?: Date } = {}): Promise<CertificateAuthority> {
    const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    const now = opts.now ?? new Date();
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
    const root = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `O=${trustDomain}`,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + (opts.rootTtlMs ?? DEFAULT_ROOT_TTL_MS)),
      keys,
      signingAlgorithm: ALG,
      extensions: await caExtensions(keys),
    });
    return new CertificateAuthority(trustDomain, keys, root);
  }

  get rootPem(): string {
    return root2pem(this.root);
  }

  async issue(
    namespace: string,
    serviceAccount: string,
    opts: { ttlMs?: number; now?: Date; uri?: string; dns?: string[]; publicKeySpki?: Buffer } = {},
  ): Promise<IssuedCert> {
    const now = opts.now ?? new Date();
    // With a CSR's public key (a CA signing a request), no private key is made or returned.
    const keys = opts.publicKeySpki
      ? ({ publicKey: await webcrypto.subtle.importKey('spki', opts.publicKeySpki, ALG, true, ['verify']) } as KeyPair)
      : ((await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair);
    const id = opts.uri ?? spiffeId(this.trustDomain, namespace, serviceAccount);
    const notBefore = new Date(now.getTime() - BACKDATE_MS);
    const notAfter = new Date(now.getTime() + (opts.ttlMs ?? DEFAULT_WORKLOAD_TTL_MS));
    const sn = serial();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: sn,
      subject: '',
      issuer: this.root.subject,
      notBefore,
      notAfter,
      signingKey: this.rootKeys.privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.root, false),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id }, ...(opts.dns ?? []).map((value) => ({ type: 'dns' as const, value }))], true),
      ],
    });
    const certPem = root2pem(cert);
    return {
      certPem,
      chainPem: certPem + this.rootPem,
      keyPem: opts.publicKeySpki ? '' : await keyPem(keys.privateKey),
      serialNumber: sn,
      spiffeId: id,
      notBefore,
      notAfter,
    };
  }
}

function root2pem(c: x509.X509Certificate): string {
  return `${c.toString('pem').trim()}\n`;
}

/** Reads the URI SANs of a PEM or DER certificate with node:crypto (what a verifier would see). */
export function uriSans(cert: string | Buffer): string[] {
  const c = new NodeX509(cert);
  return (c.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}

/** A server certificate chain for an edge (ingress gateway) host, and its key. */
export interface ServerChain {
  /** Leaf first, then the intermediate unless left out. */
  chainPem: string;
  keyPem: string;
}

/**
 * A web-PKI-shaped CA for edge certificates: root → intermediate → leaf with DNS SANs (what a public or corporate
 * CA issues for an ingress host). A fresh one per run; its root is the trust anchor EDGE-003 verifies against.
 */
export class EdgeAuthority {
  private constructor(
    readonly root: x509.X509Certificate,
    private readonly intKeys: KeyPair,
    readonly intermediate: x509.X509Certificate,
  ) {}

  static async create(now = new Date()): Promise<EdgeAuthority> {
    const rootKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
    const root = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: 'CN=meshproof edge root, O=meshproof run',
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + DEFAULT_ROOT_TTL_MS),
      keys: rootKeys,
      signingAlgorithm: ALG,
      extensions: await caExtensions(rootKeys),
    });
    const intKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
    const intermediate = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: 'CN=meshproof edge intermediate, O=meshproof run',
      issuer: root.subject,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + DEFAULT_ROOT_TTL_MS / 2),
      signingKey: rootKeys.privateKey,
      publicKey: intKeys.publicKey,
      signingAlgorithm: ALG,
      extensions: [...(await caExtensions(intKeys)), await x509.AuthorityKeyIdentifierExtension.create(root, false)],
    });
    // The root's key signs only the intermediate, here, and is dropped with this scope.
    return new EdgeAuthority(root, intKeys, intermediate);
  }

  get rootPem(): string {
    return root2pem(this.root);
  }

  async issue(hosts: string[], opts: { validDays: number; chain: 'complete' | 'leaf-only'; now?: Date }): Promise<ServerChain> {
    const now = opts.now ?? new Date();
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
    const notAfter = new Date(now.getTime() + opts.validDays * 86_400_000);
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${hosts[0]}`,
      issuer: this.intermediate.subject,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter,
      signingKey: this.intKeys.privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.intermediate, false),
        new x509.SubjectAlternativeNameExtension(hosts.map((value) => ({ type: 'dns' as const, value }))),
      ],
    });
    const leafPem = root2pem(leaf);
    return { chainPem: opts.chain === 'complete' ? leafPem + root2pem(this.intermediate) : leafPem, keyPem: await keyPem(keys.privateKey) };
  }
}
