import {
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/**
 * Mints hook ids the receiver can check without a database: 16 random bytes followed by the
 * first 8 bytes of an HMAC-SHA256 over them, base64url (32 characters). A forged id fails the
 * MAC and is refused before any query; a guess passes with odds of 2^-64 per key.
 */
export interface HookIds {
  /** A new hook id, tagged with the current encryption key's MAC key. */
  mint(): string;
  /** Whether `id` is a minted id whose tag matches one of the keys, current or previous. */
  verify(id: string): boolean;
}

const RANDOM_BYTES = 16;
const TAG_BYTES = 8;
/** Length of a minted id: base64url of 24 bytes, no padding. */
export const MINTED_HOOK_ID_LENGTH = 32;
/**
 * Length of a hook id minted before ids carried a MAC (16 random bytes, base64url, until
 * 2026-12-03). Calendly holds those URLs, so they stay valid; none is minted any more.
 */
export const LEGACY_HOOK_ID_LENGTH = 22;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
// Its own label: the MAC key is derived from the encryption key, never the cipher key itself.
const MAC_KEY_LABEL = 'calhook hook id mac v1';

function macKey(encryptionKey: Buffer): KeyObject {
  return createSecretKey(
    Buffer.from(hkdfSync('sha256', encryptionKey, Buffer.alloc(0), MAC_KEY_LABEL, 32)),
  );
}

function tag(key: KeyObject, random: Buffer): Buffer {
  return createHmac('sha256', key).update(random).digest().subarray(0, TAG_BYTES);
}

/**
 * Hook ids under the encryption keys (`keys[0]` mints; every key verifies, so ids minted before
 * a rotation stay valid while their key is kept among the previous keys).
 */
export function createHookIds(encryptionKeys: readonly Buffer[]): HookIds {
  if (encryptionKeys.length === 0) {
    throw new Error('no encryption key configured (ENCRYPTION_KEY)');
  }
  const keys = encryptionKeys.map(macKey);
  const current = keys[0] as KeyObject;
  return {
    mint() {
      const random = randomBytes(RANDOM_BYTES);
      return Buffer.concat([random, tag(current, random)]).toString('base64url');
    },
    verify(id) {
      if (id.length !== MINTED_HOOK_ID_LENGTH || !BASE64URL.test(id)) return false;
      // 32 characters carry exactly 24 bytes: no spare bits, so each id has one spelling.
      const bytes = Buffer.from(id, 'base64url');
      const random = bytes.subarray(0, RANDOM_BYTES);
      const given = bytes.subarray(RANDOM_BYTES);
      let ok = false;
      // Compared in constant time, and every key tried: the time taken says nothing about how
      // much of a guessed tag was right, or which key matched.
      for (const key of keys) {
        if (timingSafeEqual(tag(key, random), given)) ok = true;
      }
      return ok;
    },
  };
}

/** Whether `id` has the shape of an id minted before ids carried a MAC. */
export function isLegacyHookId(id: string): boolean {
  return id.length === LEGACY_HOOK_ID_LENGTH && BASE64URL.test(id);
}

/** A new subscription signing key: 256 random bits as URL-safe text (Calendly keys are text). */
export function newSigningKey(): string {
  return randomBytes(32).toString('base64url');
}
