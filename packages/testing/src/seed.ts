import { randomBytes } from 'node:crypto';
import { MEETING_EVENTS } from '@calhook/calendly';
import type { Sealer } from '@calhook/crypto';
import { connectionRepo, type Database, hookRepo } from '@calhook/db';

/**
 * What seeding needs of a deployment's keys: the sealer for the signing key, and its hook ids
 * (`createHookIds` of @calhook/webhooks under the same keys), so the receiver admits the id.
 */
export interface SeedSecrets {
  sealer: Sealer;
  hookIds: { mint(): string };
}

export interface SeededHook {
  connectionId: string;
  userId: string;
  calendlyUserUri: string;
  hookId: string;
  signingKey: string;
}

/**
 * A connected user with one active hook, as a finished connect would leave them, written
 * through the tables' owners. For tests of the receiver and worker, which come before the
 * connect flow in the pipeline.
 */
export async function seedConnectionWithHook(
  db: Database,
  { sealer, hookIds }: SeedSecrets,
  options: {
    userId?: string;
    calendlyUserUri?: string;
    status?: 'active' | 'disconnected';
    publicUrl?: string;
    /** The hook's id instead of a minted one, e.g. one of the legacy shape. */
    hookId?: string;
  } = {},
): Promise<SeededHook> {
  const tag = randomBytes(6).toString('hex');
  const userId = options.userId ?? `user-${tag}`;
  const calendlyUserUri =
    options.calendlyUserUri ?? `https://api.calendly.com/users/U${tag.toUpperCase()}`;
  const organizationUri = `https://api.calendly.com/organizations/O${tag}`;
  const hookId = options.hookId ?? hookIds.mint();
  const signingKey = randomBytes(32).toString('base64url');
  const at = new Date();
  const connection = await connectionRepo.connectUser(
    db,
    userId,
    { calendlyUserUri, organizationUri },
    at,
  );
  await hookRepo.insert(db, {
    id: hookId,
    connectionId: connection.id,
    calendlyUserUri,
    organizationUri: null,
    callbackUrl: `${options.publicUrl ?? 'http://127.0.0.1:3000'}/webhooks/calendly/${hookId}`,
    events: MEETING_EVENTS,
    signingKeyEnc: sealer.seal(signingKey, { purpose: 'hook_signing_key', id: hookId }),
    replacesHookId: null,
    state: 'active',
  });
  await connectionRepo.recordSubscriptionCheck(
    db,
    connection.id,
    { state: 'active', kept: [], created: [], deleted: [], untouched: 0 },
    at,
  );
  if (options.status === 'disconnected') {
    await connectionRepo.clearCredentials(db, connection.id, { disconnect: true }, at);
  }
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
  await hookRepo.replace(
    db,
    { id: old.hookId, connectionId: old.connectionId },
    fresh.hookId,
    retiredAt,
  );
}
