// Proves secrets are sealed with AES-256-GCM: unreadable without the key, tamper-evident,
// and still readable with an earlier key after a rotation.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSealer, keyIdOf, SealError } from './sealer.ts';

describe('sealer', () => {
  const key = randomBytes(32);
  const sealer = createSealer([key]);

  it('round-trips and never shows the plaintext', () => {
    const sealed = sealer.seal('refresh-token-value');
    expect(sealed).not.toContain('refresh-token-value');
    expect(sealed.startsWith(`v1.${keyIdOf(key)}.`)).toBe(true);
    expect(sealer.open(sealed)).toBe('refresh-token-value');
  });

  it('uses a fresh IV every time', () => {
    expect(sealer.seal('same')).not.toBe(sealer.seal('same'));
  });

  it('refuses a tampered value and a foreign key', () => {
    const sealed = sealer.seal('secret');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[4]!, 'base64url');
    body[0] = (body[0] ?? 0) ^ 1;
    parts[4] = body.toString('base64url');
    expect(() => sealer.open(parts.join('.'))).toThrow(SealError);
    expect(() => createSealer([randomBytes(32)]).open(sealed)).toThrow(/unknown key/);
    expect(() => sealer.open('plain-text')).toThrow(SealError);
  });

  it('reads values sealed with a previous key after rotation, and seals with the new one', () => {
    const sealedBefore = sealer.seal('old');
    const next = randomBytes(32);
    const rotated = createSealer([next, key]);
    expect(rotated.open(sealedBefore)).toBe('old');
    expect(rotated.seal('new').split('.')[1]).toBe(keyIdOf(next));
  });

  it('refuses to start without a 32-byte key', () => {
    expect(() => createSealer([])).toThrow(SealError);
    expect(() => createSealer([randomBytes(16)])).toThrow(SealError);
  });
});
