// Disconnect: delete this user's subscriptions at Calendly, revoke the tokens, clear them
// locally; meetings stay. Repeatable. What Calendly cannot take now is left to the
// `disconnect-cleanup` job, which carries the sealed tokens it needs.
import { CalendlyError, resourcePath } from '@calhook/calendly';
import { type ConnectionRow, connectionRepo, hookRepo } from '@calhook/db';
import { type JobPayload, PermanentJobError } from '@calhook/queue';
import type { ConnectionDeps } from './deps.ts';
import { withUserLock } from './user-lock.ts';

export type CleanupPayload = JobPayload<'disconnect-cleanup'>;

export async function disconnect(
  deps: ConnectionDeps,
  userId: string,
): Promise<{ found: boolean; remoteCleanupPending: boolean }> {
  return withUserLock(deps, userId, async () => {
    const existing = await connectionRepo.findByUser(deps.db, userId);
    if (!existing) return { found: false, remoteCleanupPending: false };
    if (existing.status === 'disconnected' && !existing.accessTokenEnc) {
      return { found: true, remoteCleanupPending: false };
    }
    const pending = await detach(deps, existing, 'disconnect');
    return { found: true, remoteCleanupPending: pending };
  });
}

/**
 * Clears a connection's credentials and hooks locally, then tries to delete its
 * subscriptions and revoke its tokens at Calendly; whatever fails is left to a
 * `disconnect-cleanup` job. Used by disconnect, and by a reconnect as another Calendly user.
 * Call with the user's lock held. Returns whether a clean-up job was left.
 */
export async function detach(
  deps: ConnectionDeps,
  connection: ConnectionRow,
  why: 'disconnect' | 'calendly user changed',
): Promise<boolean> {
  // A fresh access token makes the remote clean-up likely to work; failing to get one is fine.
  let accessToken: string | null = null;
  if (connection.status === 'active' && connection.accessTokenEnc) {
    accessToken = await deps.tokens.getAccessToken(connection.id).catch(() => null);
  }
  const current = await connectionRepo.findById(deps.db, connection.id);
  const hooks = await hookRepo.allOf(deps.db, connection.id);
  const payload: CleanupPayload = {
    connectionId: connection.id,
    subscriptionUris: hooks.map((h) => h.subscriptionUri).filter((u): u is string => u !== null),
    accessTokenEnc: accessToken
      ? deps.sealer.seal(accessToken, { purpose: 'access_token', id: connection.id })
      : (current?.accessTokenEnc ?? null),
    refreshTokenEnc: current?.refreshTokenEnc ?? null,
  };
  await deps.tokens.cancelRefresh(connection.id);
  const at = deps.now();
  await deps.db.transaction(async (tx) => {
    await hookRepo.retireAllOf(tx, connection.id, at);
    await connectionRepo.clearCredentials(
      tx,
      connection.id,
      { disconnect: why === 'disconnect' },
      at,
    );
  });
  deps.logger.info(
    { connectionId: connection.id, why, subscriptions: payload.subscriptionUris.length },
    'connection detached',
  );
  try {
    await cleanupRemote(deps, payload);
    return false;
  } catch (error) {
    deps.logger.warn(
      { connectionId: connection.id, err: error },
      'remote clean-up failed; a job will retry it',
    );
    await deps.queues.enqueue('disconnect-cleanup', payload);
    return true;
  }
}

/** The only Calendly paths a clean-up may delete: one webhook subscription each. */
const SUBSCRIPTION_PATH = /^\/webhook_subscriptions\/[A-Za-z0-9_-]{1,64}$/;

/**
 * The `disconnect-cleanup` job: delete the listed subscriptions and revoke the tokens at
 * Calendly. A job is data anyone with queue access could have written, so it deletes nothing
 * but webhook subscriptions: any other path fails the job before a token is opened.
 */
export async function cleanupRemote(
  deps: Pick<ConnectionDeps, 'calendly' | 'sealer'>,
  payload: CleanupPayload,
): Promise<{ deleted: number; revoked: number }> {
  const foreign = payload.subscriptionUris.filter(
    (uri) => !SUBSCRIPTION_PATH.test(resourcePath(uri)),
  );
  if (foreign.length > 0) {
    throw new PermanentJobError(
      `clean-up names ${foreign.length} URI(s) that are not webhook subscriptions; nothing deleted`,
    );
  }
  const { calendly, sealer } = deps;
  // Sealed for the connection's row: a job naming another connection cannot open them.
  const id = payload.connectionId;
  const accessToken = payload.accessTokenEnc
    ? sealer.open(payload.accessTokenEnc, { purpose: 'access_token', id })
    : null;
  const refreshToken = payload.refreshTokenEnc
    ? sealer.open(payload.refreshTokenEnc, { purpose: 'refresh_token', id })
    : null;
  const toRevoke = [refreshToken, accessToken];
  let deleted = 0;
  const remove = async (token: string) => {
    for (const uri of payload.subscriptionUris) {
      await calendly.deleteWebhookSubscription(token, uri); // a 404 counts as done
      deleted += 1;
    }
  };
  if (payload.subscriptionUris.length > 0) {
    let done = false;
    if (accessToken) {
      try {
        await remove(accessToken);
        done = true;
      } catch (error) {
        if (!(error instanceof CalendlyError && error.kind === 'unauthenticated')) throw error;
        deleted = 0;
      }
    }
    if (!done && refreshToken) {
      // The access token expired since the disconnect: one refresh, used only to clean up.
      // A spent refresh token (oauth error) leaves nothing we could still do.
      const set = await calendly.refreshToken(refreshToken).catch((error: unknown) => {
        if (error instanceof CalendlyError && error.kind === 'oauth') return null;
        throw error;
      });
      if (set) {
        await remove(set.accessToken);
        toRevoke.splice(0, toRevoke.length, set.refreshToken, set.accessToken);
      }
    }
  }
  let revoked = 0;
  for (const token of toRevoke) {
    if (!token) continue;
    await calendly.revokeToken(token);
    revoked += 1;
  }
  return { deleted, revoked };
}
