import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Encrypts secrets at rest (tokens, signing keys) with AES-256-GCM. A sealed value reads
 * `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts); the key id lets a rotation keep
 * reading values sealed with an earlier key while new ones use the current key.
 */
export interface Sealer {
  seal(plaintext: string): string;
  open(sealed: string): string;
  /** Id of the current key; values sealed with another key should be re-sealed. */
  readonly keyId: string;
}

export class SealError extends Error {
  override name = 'SealError';
}

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/** `keys[0]` seals; every key opens. Keys are 32 raw bytes. */
export function createSealer(keys: readonly Buffer[]): Sealer {
  const current = keys[0];
  if (!current) throw new SealError('no encryption key configured (ENCRYPTION_KEY)');
  for (const key of keys) {
    if (key.length !== 32) throw new SealError('encryption keys must be 32 bytes');
  }
  const byId = new Map(keys.map((key) => [keyIdOf(key), key]));
  const currentId = keyIdOf(current);
  return {
    keyId: currentId,
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [
        'v1',
        currentId,
        iv.toString('base64url'),
        tag.toString('base64url'),
        body.toString('base64url'),
      ].join('.');
    },
    open(sealed) {
      const [version, keyId, iv, tag, body] = sealed.split('.');
      if (
        version !== 'v1' ||
        !keyId ||
        iv === undefined ||
        tag === undefined ||
        body === undefined
      ) {
        throw new SealError('not a sealed value');
      }
      const key = byId.get(keyId);
      if (!key) throw new SealError(`sealed with unknown key ${keyId}`);
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      try {
        return Buffer.concat([
          decipher.update(Buffer.from(body, 'base64url')),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        throw new SealError('sealed value failed authentication');
      }
    },
  };
}
