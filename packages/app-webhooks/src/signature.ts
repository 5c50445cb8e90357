// Standard Webhooks signing (https://www.standardwebhooks.com): the secret is `whsec_` and the
// base64 of the key; each signature is `v1,` and the base64 HMAC-SHA256 of
// `<webhook-id>.<webhook-timestamp>.<body>`; several are separated by spaces.
import { createHmac, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';
/** Random bytes of a new secret: the specification asks for 24 to 64. */
const SECRET_BYTES = 32;

export function newSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/** The HMAC key of a secret: the base64-decoded part after `whsec_`. */
export function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  return Buffer.from(encoded, 'base64');
}

export interface SignedMessage {
  id: string;
  /** Unix seconds of this attempt. */
  timestamp: number;
  body: string;
}

/** The `webhook-signature` header: one `v1,` signature per secret, space-separated. */
export function signatureHeader(message: SignedMessage, secrets: readonly string[]): string {
  const content = `${message.id}.${message.timestamp}.${message.body}`;
  return secrets
    .map(
      (secret) => `v1,${createHmac('sha256', secretKey(secret)).update(content).digest('base64')}`,
    )
    .join(' ');
}

/** The three Standard Webhooks headers of one attempt. */
export function webhookHeaders(
  message: SignedMessage,
  secrets: readonly string[],
): Record<string, string> {
  return {
    'webhook-id': message.id,
    'webhook-timestamp': String(message.timestamp),
    'webhook-signature': signatureHeader(message, secrets),
  };
}
