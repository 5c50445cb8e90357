// Proves minted hook ids fit the route's id pattern, verify under the keys that minted them
// (a previous key too, after a rotation) and under no other, that any changed character or a
// legacy id fails the MAC, and that the MAC key is not the encryption key itself.
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createHookIds } from './hook-id.ts';

const HOOK_ID = /^[A-Za-z0-9_-]{16,64}$/;

describe('createHookIds', () => {
  const key = randomBytes(32);
  const ids = createHookIds([key]);

  it('mints distinct 32-character ids that verify', () => {
    const minted = Array.from({ length: 100 }, () => ids.mint());
    expect(new Set(minted).size).toBe(100);
    for (const id of minted) {
      expect(id).toMatch(HOOK_ID);
      expect(id).toHaveLength(32);
      expect(ids.verify(id)).toBe(true);
    }
  });

  it('refuses an id with any one character changed', () => {
    const id = ids.mint();
    for (let i = 0; i < id.length; i += 1) {
      const other = id[i] === 'A' ? 'B' : 'A';
      expect(ids.verify(`${id.slice(0, i)}${other}${id.slice(i + 1)}`)).toBe(false);
    }
  });

  it('refuses ids minted under other keys, legacy ids and other shapes', () => {
    expect(ids.verify(createHookIds([randomBytes(32)]).mint())).toBe(false);
    expect(ids.verify(randomBytes(16).toString('base64url'))).toBe(false);
    expect(ids.verify(`${ids.mint()}A`)).toBe(false);
    expect(ids.verify(ids.mint().slice(1))).toBe(false);
    expect(ids.verify(`${ids.mint().slice(0, 31)}=`)).toBe(false);
    expect(ids.verify('')).toBe(false);
  });

  it('mints under the current key and still verifies ids of a previous one', () => {
    const next = randomBytes(32);
    const before = ids.mint();
    const rotated = createHookIds([next, key]);
    expect(rotated.verify(before)).toBe(true);
    const after = rotated.mint();
    expect(createHookIds([next]).verify(after)).toBe(true);
    expect(ids.verify(after)).toBe(false);
    // Dropping the previous key drops its ids.
    expect(createHookIds([next]).verify(before)).toBe(false);
  });

  it('tags with a key derived from the encryption key, not the key itself', () => {
    const bytes = Buffer.from(ids.mint(), 'base64url');
    const random = bytes.subarray(0, 16);
    const direct = createHmac('sha256', key).update(random).digest().subarray(0, 8);
    expect(direct.equals(bytes.subarray(16))).toBe(false);
  });

  it('needs a key', () => {
    expect(() => createHookIds([])).toThrow(/ENCRYPTION_KEY/);
  });
});
