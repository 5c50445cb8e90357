import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** What a secret is for; part of what its ciphertext is bound to. */
export type SealPurpose =
  | 'access_token'
  | 'refresh_token'
  | 'hook_signing_key'
  | 'oauth_code_verifier'
  | 'oauth_code'
  | 'endpoint_secret';

/**
 * Where a sealed value belongs: its purpose and the id of the row (or job) it is stored for.
 * It is authenticated with the ciphertext (AES-GCM associated data), so a value copied into
 * another row or column, or another purpose, does not open.
 */
export interface SealContext {
  purpose: SealPurpose;
  id: string;
}

/**
 * Encrypts secrets at rest (tokens, signing keys) with AES-256-GCM. A sealed value reads
 * `v2.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts), bound to its context; the key id lets
 * a rotation keep reading values sealed with an earlier key while new ones use the current key.
 * `v1` values (no context) are still read, until `pnpm reseal` has rewritten them.
 */
export interface Sealer {
  seal(plaintext: string, context: SealContext): string;
  open(sealed: string, context: SealContext): string;
  /** Id of the current key; values sealed with another key should be re-sealed. */
  readonly keyId: string;
  /** Whether a sealed value is already in the current format under the current key. */
  isCurrent(sealed: string): boolean;
}

export class SealError extends Error {
  override name = 'SealError';
}

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

const IV_BYTES = 12;
/** GCM accepts shorter tags; a 4-byte tag could be forged in about 2^32 tries. */
const TAG_BYTES = 16;
const KEY_ID = /^[0-9a-f]{12}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

const associatedData = (context: SealContext) =>
  Buffer.from(`calhook:v2:${context.purpose}:${context.id}`, 'utf8');

function decodePart(part: string, bytes?: number): Buffer {
  if (!BASE64URL.test(part)) throw new SealError('not a sealed value');
  const buffer = Buffer.from(part, 'base64url');
  if (bytes !== undefined && buffer.length !== bytes) throw new SealError('not a sealed value');
  return buffer;
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
    seal(plaintext, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(associatedData(context));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [
        'v2',
        currentId,
        iv.toString('base64url'),
        cipher.getAuthTag().toString('base64url'),
        body.toString('base64url'),
      ].join('.');
    },
    open(sealed, context) {
      const parts = sealed.split('.');
      const [version, keyId, ivPart, tagPart, bodyPart] = parts;
      if (
        parts.length !== 5 ||
        (version !== 'v1' && version !== 'v2') ||
        !keyId ||
        !KEY_ID.test(keyId) ||
        ivPart === undefined ||
        tagPart === undefined ||
        bodyPart === undefined
      ) {
        throw new SealError('not a sealed value');
      }
      const iv = decodePart(ivPart, IV_BYTES);
      const tag = decodePart(tagPart, TAG_BYTES);
      const body = decodePart(bodyPart);
      const key = byId.get(keyId);
      if (!key) throw new SealError(`sealed with unknown key ${keyId}`);
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAuthTag(tag);
      if (version === 'v2') decipher.setAAD(associatedData(context));
      try {
        return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
      } catch {
        throw new SealError('sealed value failed authentication');
      }
    },
    isCurrent(sealed) {
      return sealed.startsWith(`v2.${currentId}.`);
    },
  };
}
