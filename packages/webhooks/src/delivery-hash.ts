import { createHash } from 'node:crypto';

/**
 * The identity of a delivery: Calendly sends no delivery id, and a retried or duplicated
 * delivery is byte-identical, so the connection and the body are the key. The receiver uses it
 * to answer a repeat without queuing it again, the inbox as its idempotency key.
 */
export function deliveryContentHash(connectionId: string, body: string): string {
  return createHash('sha256').update(`${connectionId}\n`).update(body).digest('hex');
}
