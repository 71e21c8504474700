// The SHA-256 of a bundle file, as the manifest, JUnit and OSCAL reference it. Its own module so the bundle and
// its reporters use one helper without importing each other.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
