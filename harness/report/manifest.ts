// manifest.sha256 over every file of the bundle, in `sha256sum` format (so `sha256sum -c manifest.sha256`
// works too), an optional detached Ed25519 signature of the manifest, and `meshproof verify`.
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { sha256File } from './hash.js';

export const MANIFEST = 'manifest.sha256';
export const SIGNATURE = 'manifest.sha256.sig';
export const PUBLIC_KEY = 'manifest.sha256.pub.pem';
const UNHASHED = new Set([MANIFEST, SIGNATURE, PUBLIC_KEY]);

function listFiles(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel))
    .sort()
    .flatMap((name) => {
      const r = rel ? `${rel}/${name}` : name;
      return statSync(path.join(dir, r)).isDirectory() ? listFiles(dir, r) : [r];
    });
}

export function writeManifest(dir: string): string[] {
  const files = listFiles(dir).filter((f) => !UNHASHED.has(f));
  writeFileSync(path.join(dir, MANIFEST), files.map((f) => `${sha256File(path.join(dir, f))}  ${f}\n`).join(''));
  return files;
}

/** Signs the manifest with an Ed25519 private key (PEM). The private key is never written; the public one is. */
export function signManifest(dir: string, privateKeyPem: string): void {
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch {
    throw new ConfigError('--sign-key: not a PEM private key');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new ConfigError(`--sign-key: an Ed25519 key is needed, got ${key.asymmetricKeyType}`);
  const sig = sign(null, readFileSync(path.join(dir, MANIFEST)), key);
  writeFileSync(path.join(dir, SIGNATURE), `${sig.toString('base64')}\n`);
  writeFileSync(path.join(dir, PUBLIC_KEY), createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString());
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  problems: string[];
  /** `unchecked`: signed, but no key was given to check it against (the key in the bundle proves nothing). */
  signature: 'valid' | 'invalid' | 'absent' | 'unchecked';
}

/** How a report names the signature state, plainly. */
export function signatureText(s: VerifyReport['signature']): string {
  return s === 'unchecked' ? 'present, not checked: no --public-key' : s;
}

/**
 * Re-checks every hash, looks for files the manifest does not list, and checks the signature against the key the
 * user gives, never against the one shipped in the bundle (whoever re-signs a tampered bundle ships their own).
 * `requireSignature`: a bundle whose signature is absent or was not checked does not verify.
 */
export function verifyBundle(dir: string, publicKeyPem?: string, o: { requireSignature?: boolean } = {}): VerifyReport {
  const manifestPath = path.join(dir, MANIFEST);
  if (!existsSync(manifestPath)) throw new ConfigError(`${dir}: no ${MANIFEST}: not a meshproof bundle`);
  const problems: string[] = [];
  const listed = new Map<string, string>();
  for (const line of readFileSync(manifestPath, 'utf8').split('\n').filter(Boolean)) {
    const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!m) {
      problems.push(`malformed manifest line: ${line.slice(0, 80)}`);
      continue;
    }
    listed.set(m[2]!, m[1]!);
  }
  for (const [f, want] of listed) {
    const p = path.join(dir, f);
    if (!existsSync(p)) problems.push(`missing: ${f}`);
    else if (sha256File(p) !== want) problems.push(`changed: ${f}`);
  }
  for (const f of listFiles(dir)) if (!UNHASHED.has(f) && !listed.has(f)) problems.push(`not in the manifest: ${f}`);
  let signature: VerifyReport['signature'] = 'absent';
  const sigPath = path.join(dir, SIGNATURE);
  if (existsSync(sigPath) && publicKeyPem) {
    let ok = false;
    try {
      ok = verify(null, readFileSync(manifestPath), createPublicKey(publicKeyPem), Buffer.from(readFileSync(sigPath, 'utf8').trim(), 'base64'));
    } catch {
      ok = false;
    }
    signature = ok ? 'valid' : 'invalid';
    if (!ok) problems.push('signature does not verify with the given --public-key');
  } else if (existsSync(sigPath)) {
    signature = 'unchecked';
    if (o.requireSignature) problems.push('signature present, not checked: no --public-key (--require-signature)');
  } else if (publicKeyPem) {
    problems.push('a --public-key was given but the bundle is not signed');
  } else if (o.requireSignature) {
    problems.push('the bundle is not signed (--require-signature)');
  }
  return { ok: problems.length === 0, checked: listed.size, problems, signature };
}
