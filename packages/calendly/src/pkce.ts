// PKCE (RFC 7636) with S256, which Calendly recommends for every app.
import { createHash, randomBytes } from 'node:crypto';

export interface PkcePair {
  verifier: string;
  challenge: string;
}

/** base64url(sha256(verifier)), the S256 code challenge. */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/**
 * A fresh verifier (32 random bytes → 43 base64url characters, the RFC minimum length) and
 * its challenge. `bytes` is injectable so tests can pin the output.
 */
export function createPkcePair(bytes: Uint8Array = randomBytes(32)): PkcePair {
  const verifier = Buffer.from(bytes).toString('base64url');
  if (verifier.length < 43 || verifier.length > 128) {
    throw new RangeError('PKCE verifier must be 43 to 128 characters; pass 32 to 96 bytes');
  }
  return { verifier, challenge: pkceChallenge(verifier) };
}
