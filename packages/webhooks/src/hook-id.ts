import { randomBytes } from 'node:crypto';

/** A new hook id: 128 random bits, URL-safe, never derived from the user id. */
export function newHookId(): string {
  return randomBytes(16).toString('base64url');
}

/** A new subscription signing key: 256 random bits as URL-safe text (Calendly keys are text). */
export function newSigningKey(): string {
  return randomBytes(32).toString('base64url');
}
