// Proves the PKCE challenge is base64url(sha256(verifier)) and verifiers meet RFC 7636.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPkcePair, pkceChallenge } from './pkce.ts';

describe('PKCE', () => {
  it('matches the RFC 7636 appendix B example', () => {
    expect(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  it('creates a 43+ character base64url verifier whose challenge is its S256 digest', () => {
    const { verifier, challenge } = createPkcePair();
    expect(verifier.length).toBeGreaterThanOrEqual(43);
    expect(verifier).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(challenge).toBe(createHash('sha256').update(verifier).digest('base64url'));
    expect(challenge).not.toMatch(/[+/=]/);
  });

  it('is deterministic for given bytes and fresh otherwise', () => {
    const bytes = new Uint8Array(32).fill(7);
    expect(createPkcePair(bytes)).toEqual(createPkcePair(bytes));
    expect(createPkcePair().verifier).not.toBe(createPkcePair().verifier);
  });

  it('refuses too few bytes', () => {
    expect(() => createPkcePair(new Uint8Array(16))).toThrow(RangeError);
  });
});
