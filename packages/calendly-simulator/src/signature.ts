import { createHmac } from 'node:crypto';

/**
 * The full `Calendly-Webhook-Signature` header value for `body` sent at unix second `t`.
 * Calendly keys the HMAC with the key string's UTF-8 bytes (never base64-decoded) and signs
 * `<t>.<raw body>`, so the receiver must verify the exact bytes it was sent.
 */
export function signWebhook(key: string, body: string, t: number): string {
  const digest = createHmac('sha256', Buffer.from(key, 'utf8'))
    .update(`${t}.`, 'utf8')
    .update(body, 'utf8')
    .digest('hex');
  return `t=${t},v1=${digest}`;
}
