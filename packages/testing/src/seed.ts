import { randomBytes } from 'node:crypto';
import type { Sealer } from '@calhook/crypto';
import { connections, type Database, webhookHooks } from '@calhook/db';
import { eq } from 'drizzle-orm';

export interface SeededHook {
  connectionId: string;
  userId: string;
  calendlyUserUri: string;
  hookId: string;
  signingKey: string;
}

/**
 * Inserts a connected user with one active hook, as a finished connect would leave them.
 * For tests of the receiver and worker, which come before the connect flow in the pipeline.
 */
export async function seedConnectionWithHook(
  db: Database,
  sealer: Sealer,
  options: {
    userId?: string;
    calendlyUserUri?: string;
    status?: 'active' | 'disconnected';
    publicUrl?: string;
  } = {},
): Promise<SeededHook> {
  const tag = randomBytes(6).toString('hex');
  const userId = options.userId ?? `user-${tag}`;
  const calendlyUserUri =
    options.calendlyUserUri ?? `https://api.calendly.com/users/U${tag.toUpperCase()}`;
  const hookId = randomBytes(16).toString('base64url');
  const signingKey = randomBytes(32).toString('base64url');
  const [connection] = await db
    .insert(connections)
    .values({
      userId,
      status: options.status ?? 'active',
      calendlyUserUri,
      organizationUri: `https://api.calendly.com/organizations/O${tag}`,
      webhookState: 'active',
    })
    .returning({ id: connections.id });
  if (!connection) throw new Error('insert returned nothing');
  await db.insert(webhookHooks).values({
    id: hookId,
    connectionId: connection.id,
    scope: 'user',
    calendlyUserUri,
    callbackUrl: `${options.publicUrl ?? 'http://127.0.0.1:3000'}/webhooks/calendly/${hookId}`,
    state: 'active',
    signingKeyEnc: sealer.seal(signingKey),
    events: [
      'invitee.created',
      'invitee.canceled',
      'invitee_no_show.created',
      'invitee_no_show.deleted',
    ],
  });
  return { connectionId: connection.id, userId, calendlyUserUri, hookId, signingKey };
}

/**
 * What a re-subscribe leaves behind: `fresh` moved onto `old`'s connection as the hook that
 * replaces it, and `old` retired at `retiredAt` (its grace period runs from then).
 */
export async function replaceHook(
  db: Database,
  old: Pick<SeededHook, 'hookId' | 'connectionId'>,
  fresh: Pick<SeededHook, 'hookId'>,
  retiredAt: Date,
): Promise<void> {
  await db
    .update(webhookHooks)
    .set({ connectionId: old.connectionId, replacesHookId: old.hookId })
    .where(eq(webhookHooks.id, fresh.hookId));
  await db
    .update(webhookHooks)
    .set({ state: 'retired', retiredAt })
    .where(eq(webhookHooks.id, old.hookId));
}
