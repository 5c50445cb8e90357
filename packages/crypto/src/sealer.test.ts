// Proves secrets are sealed with AES-256-GCM: unreadable without the key, tamper-evident with a
// full 16-byte tag (a short tag or malformed part is refused), bound to their purpose and row,
// still readable with an earlier key after a rotation, and legacy (v1) values still open.
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSealer, keyIdOf, type SealContext, SealError } from './sealer.ts';

const token: SealContext = { purpose: 'refresh_token', id: 'conn-1' };

describe('sealer', () => {
  const key = randomBytes(32);
  const sealer = createSealer([key]);

  it('round-trips and never shows the plaintext', () => {
    const sealed = sealer.seal('refresh-token-value', token);
    expect(sealed).not.toContain('refresh-token-value');
    expect(sealed.startsWith(`v2.${keyIdOf(key)}.`)).toBe(true);
    expect(sealer.open(sealed, token)).toBe('refresh-token-value');
    expect(sealer.isCurrent(sealed)).toBe(true);
  });

  it('uses a fresh IV every time', () => {
    expect(sealer.seal('same', token)).not.toBe(sealer.seal('same', token));
  });

  it('refuses a value moved to another row, column or purpose', () => {
    const sealed = sealer.seal('secret', token);
    expect(() => sealer.open(sealed, { purpose: 'refresh_token', id: 'conn-2' })).toThrow(
      /failed authentication/,
    );
    expect(() => sealer.open(sealed, { purpose: 'access_token', id: 'conn-1' })).toThrow(
      /failed authentication/,
    );
  });

  it('refuses a tampered value, a foreign key and a malformed one', () => {
    const sealed = sealer.seal('secret', token);
    const parts = sealed.split('.');
    const body = Buffer.from(parts[4]!, 'base64url');
    body[0] = (body[0] ?? 0) ^ 1;
    parts[4] = body.toString('base64url');
    expect(() => sealer.open(parts.join('.'), token)).toThrow(SealError);
    expect(() => createSealer([randomBytes(32)]).open(sealed, token)).toThrow(/unknown key/);
    for (const bad of ['plain-text', `${sealed}.extra`, sealed.replace('v2.', 'v3.')]) {
      expect(() => sealer.open(bad, token)).toThrow(SealError);
    }
  });

  it('refuses a tag shorter than 16 bytes, which GCM itself would accept', () => {
    const sealed = sealer.seal('secret', token);
    const parts = sealed.split('.');
    parts[3] = Buffer.from(parts[3]!, 'base64url').subarray(0, 4).toString('base64url');
    expect(() => sealer.open(parts.join('.'), token)).toThrow(/not a sealed value/);
    const shortIv = sealed.split('.');
    shortIv[2] = Buffer.from(shortIv[2]!, 'base64url').subarray(0, 8).toString('base64url');
    expect(() => sealer.open(shortIv.join('.'), token)).toThrow(/not a sealed value/);
  });

  it('opens a legacy v1 value (no context), which is not current', () => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([cipher.update('legacy', 'utf8'), cipher.final()]);
    const legacy = ['v1', keyIdOf(key), iv, cipher.getAuthTag(), body]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.');
    expect(sealer.open(legacy, token)).toBe('legacy');
    expect(sealer.isCurrent(legacy)).toBe(false);
  });

  it('reads values sealed with a previous key after rotation, and seals with the new one', () => {
    const sealedBefore = sealer.seal('old', token);
    const next = randomBytes(32);
    const rotated = createSealer([next, key]);
    expect(rotated.open(sealedBefore, token)).toBe('old');
    expect(rotated.isCurrent(sealedBefore)).toBe(false);
    expect(rotated.seal('new', token).split('.')[1]).toBe(keyIdOf(next));
  });

  it('refuses to start without a 32-byte key', () => {
    expect(() => createSealer([])).toThrow(SealError);
    expect(() => createSealer([randomBytes(16)])).toThrow(SealError);
  });
});
