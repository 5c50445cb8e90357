// Connect (idempotent, safe to repeat): take the credentials (an authorization code, tokens
// the backend holds, or what calhook already holds), fetch the Calendly user, upsert the
// connection, ensure exactly one healthy subscription, and ask the worker to import history
// or catch up.
import { CalendlyError, isRetryable } from '@calhook/calendly';
import {
  type ConnectionRow,
  type ConnectionView,
  connectionRepo,
  connectionViewOf,
} from '@calhook/db';
import { ReauthRequiredError } from '@calhook/tokens';
import type { ConnectionDeps } from './deps.ts';
import { detach } from './disconnect.ts';
import {
  CalendlyRejectedError,
  CalendlyUnavailableError,
  ConnectInputError,
  rethrowUnavailable,
} from './errors.ts';
import { syncSubscription } from './subscription-sync.ts';
import { withUserLock } from './user-lock.ts';

export type ConnectInput =
  | { kind: 'code'; code: string; redirectUri: string; codeVerifier?: string | undefined }
  | {
      kind: 'tokens';
      accessToken: string;
      refreshToken?: string | undefined;
      expiresAt?: Date | undefined;
    }
  /** A reconnect with what calhook already holds: refreshed if needed, never re-authorised. */
  | { kind: 'reconnect' };

interface Credentials {
  accessToken: string;
  /** null: a personal access token, which never expires and is never refreshed. */
  refreshToken: string | null;
  expiresAt: Date | null;
  userUri: string;
  organizationUri: string;
}

export async function connect(
  deps: ConnectionDeps,
  userId: string,
  input: ConnectInput,
): Promise<{ connection: ConnectionView; created: boolean }> {
  return withUserLock(deps, userId, async () => {
    const existing = await connectionRepo.findByUser(deps.db, userId);
    const fresh = input.kind === 'reconnect' ? null : await credentialsFor(deps, input);
    let connectionId: string;
    let created = false;
    if (fresh) {
      if (existing?.calendlyUserUri && existing.calendlyUserUri !== fresh.userUri) {
        await detach(deps, existing, 'calendly user changed');
      }
      ({ id: connectionId, created } = await deps.db.transaction(async (tx) => {
        const at = deps.now();
        const row = await connectionRepo.connectUser(
          tx,
          userId,
          { calendlyUserUri: fresh.userUri, organizationUri: fresh.organizationUri },
          at,
        );
        await deps.tokens.storeTokens(tx, row.id, fresh);
        // New credentials: the first run imports history, a reconnect catches up on what
        // happened while calhook could not listen.
        await connectionRepo.requestBackfill(tx, row.id, at);
        return row;
      }));
    } else {
      connectionId = await reconnectWithStored(deps, existing);
    }
    await deps.tokens.scheduleRefresh(connectionId);
    try {
      await syncSubscription(deps, connectionId);
    } catch (error) {
      // The connection is saved; the scheduled reconcile retries the subscription.
      if (!(error instanceof CalendlyUnavailableError)) throw error;
      deps.logger.warn(
        { connectionId, err: error },
        'subscription not ensured on connect; reconcile will retry',
      );
    }
    if (fresh) {
      await deps.queues.enqueue('reconcile-connection', { connectionId, reason: 'connect' });
    }
    const row = await connectionRepo.findById(deps.db, connectionId);
    if (!row) throw new Error(`connection ${connectionId} vanished while connecting`);
    return { connection: await connectionViewOf(deps.db, row), created };
  });
}

/** Turns the body of PUT /v1/connections/:userId into a token set and the Calendly user. */
async function credentialsFor(
  deps: ConnectionDeps,
  input: Exclude<ConnectInput, { kind: 'reconnect' }>,
): Promise<Credentials> {
  try {
    const tokens =
      input.kind === 'code'
        ? await deps.calendly.exchangeCode({
            code: input.code,
            redirectUri: input.redirectUri,
            codeVerifier: input.codeVerifier,
          })
        : {
            accessToken: input.accessToken,
            refreshToken: input.refreshToken ?? null,
            // A personal access token (no refresh token) does not expire.
            expiresAt: input.refreshToken
              ? (input.expiresAt ?? new Date(deps.now().getTime() + 60_000))
              : null,
          };
    const me = await deps.calendly.getCurrentUser(tokens.accessToken);
    return {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      expiresAt: tokens.expiresAt,
      userUri: me.uri,
      organizationUri: me.current_organization,
    };
  } catch (error) {
    if (error instanceof CalendlyError && !isRetryable(error)) {
      throw new CalendlyRejectedError('Calendly refused the credentials', {
        status: error.status,
        kind: error.kind,
        ...(typeof error.body === 'object' && error.body !== null ? error.body : {}),
      });
    }
    return rethrowUnavailable(error);
  }
}

/** A reconnect with nothing new: only possible while calhook holds a usable token. */
async function reconnectWithStored(
  deps: ConnectionDeps,
  existing: ConnectionRow | null,
): Promise<string> {
  if (!existing || existing.status === 'disconnected' || !existing.accessTokenEnc) {
    throw new ConnectInputError(
      'body',
      'send code (with redirectUri) or accessToken: there is no stored token to reconnect with',
    );
  }
  const spent = () =>
    new ConnectInputError(
      'body',
      'the stored refresh token no longer works: send a new code or accessToken',
    );
  if (existing.status === 'reauth_required') throw spent();
  // Refreshes only when the stored token is stale: a repeat connect costs no token request.
  try {
    await deps.tokens.getAccessToken(existing.id);
  } catch (error) {
    if (error instanceof ReauthRequiredError) throw spent();
    throw error;
  }
  return existing.id;
}
