// The token lifecycle of a connection: hand out a fresh access token, refresh it before it
// expires (or on a 401), and never let two refreshes of one connection race: Calendly's refresh
// tokens are single-use and rotate, so a second concurrent refresh revokes the connection.
//
// Single flight, across processes and machines: a transaction-scoped Postgres advisory lock per
// connection is held while the token endpoint is called, the row is re-read under it (another
// process may have rotated meanwhile: then its token is used and Calendly is not called), and
// the new pair is written with a token_version compare-and-swap and committed before it is
// returned. Inside one process the callers of one connection queue on a keyed mutex first, so
// they hold one pooled database connection between them, not one each.
import { type CalendlyClient, CalendlyError, hasKind } from '@calhook/calendly';
import type { Sealer } from '@calhook/crypto';
import {
  type ConnectionRow,
  connectionRepo,
  type Database,
  type Executor,
  type Tx,
} from '@calhook/db';
import type { Logger } from '@calhook/observability';
import { jobKey, type Queues } from '@calhook/queue';
import { sql } from 'drizzle-orm';
import { ReauthRequiredError, TokenRefreshError, type TokenRefreshFailureKind } from './errors.ts';
import { createKeyedMutex } from './keyed-mutex.ts';
import { coolDownMs, isRefreshDue, nextRefreshAt, type RefreshTiming } from './refresh-schedule.ts';

export interface TokenServiceDeps {
  db: Database;
  sealer: Sealer;
  calendly: CalendlyClient;
  /** To schedule `refresh-token` jobs. */
  queues: Queues;
  /** How long before expiry the refresh job runs (minus jitter). */
  refreshBeforeExpiryMs: number;
  logger: Logger;
  now?: () => Date;
  /** Jitter of the refresh schedule. */
  random?: () => number;
  /** Refresh anyway when the refresh token has not been used for this long. Default 7 days. */
  keepAliveAfterMs?: number;
  /**
   * A stored access token is handed out only while it expires more than this from now
   * (a request must not outlive its token). Default 60 s; keep it below refreshBeforeExpiryMs
   * so the scheduled job, not a caller, normally does the refresh.
   */
  expiryMarginMs?: number;
  /** Metrics hook: one call per answer (or lost answer) of the token endpoint. */
  onRefresh?: (outcome: RefreshOutcome) => void;
}

export type RefreshOutcome = 'success' | 'invalid_grant' | 'transient' | 'unknown';
export type RefreshReason = 'scheduled' | 'expired' | 'unauthorized' | 'keep_alive';

export type RefreshResult =
  | { status: 'refreshed'; reason: RefreshReason; tokenVersion: number; expiresAt: Date | null }
  | {
      status: 'skipped';
      reason: RefreshReason;
      /**
       * `not_due`: a scheduled job found the token not yet near expiry (it was rotated elsewhere
       * after the job was planned). `rotated_elsewhere`: another caller refreshed since the
       * token that got the 401. `still_fresh`: someone refreshed while we waited for the lock.
       */
      because: 'not_due' | 'rotated_elsewhere' | 'still_fresh' | 'personal_access_token';
      tokenVersion: number;
      expiresAt: Date | null;
    };

export interface StoredTokens {
  accessToken: string;
  /** null: a personal access token, which never expires and is never refreshed. */
  refreshToken: string | null;
  expiresAt: Date | null;
}

export interface TokenService {
  /**
   * The stored access token while it expires more than `expiryMarginMs` from now, else a
   * refreshed one (single flight). Personal access tokens are returned as they are.
   * Throws ReauthRequiredError (permanent) or TokenRefreshError (transient).
   */
  getAccessToken(connectionId: string): Promise<string>;
  /**
   * Runs fn with a token; on a Calendly 401 refreshes once (skipped if someone else rotated
   * since the token fn used) and runs fn once more. `row`, the connection as the caller just
   * read it, saves reading it again; a token rotated since is caught by the 401 path.
   */
  withAccessToken<T>(
    connectionId: string,
    fn: (accessToken: string) => Promise<T>,
    row?: ConnectionRow,
  ): Promise<T>;
  /**
   * A refresh under single flight. `scheduled` acts only when due, `expired` only while the
   * token is not fresh, `unauthorized` and `keep_alive` always. Reschedules after a refresh.
   * Throws ReauthRequiredError or TokenRefreshError like getAccessToken.
   */
  refresh(connectionId: string, reason: RefreshReason): Promise<RefreshResult>;
  /**
   * Writes a new token set (connect, or after a refresh) in the caller's transaction: sealed,
   * token_version bumped, status active, failure bookkeeping cleared. Does not schedule: call
   * scheduleRefresh after the commit.
   */
  storeTokens(tx: Executor, connectionId: string, tokens: StoredTokens): Promise<void>;
  /**
   * (Re)schedules the connection's one refresh-token job; replaces a pending one, never adds a
   * second. No-op (and cancels) for personal access tokens and inactive connections.
   */
  scheduleRefresh(connectionId: string): Promise<void>;
  cancelRefresh(connectionId: string): Promise<void>;
}

const DEFAULT_KEEP_ALIVE_MS = 7 * 24 * 3_600_000;
const DEFAULT_EXPIRY_MARGIN_MS = 60_000;
// A job that fires a little early (clock skew between machines, timer granularity) is still due.
const DUE_TOLERANCE_MS = 1_000;
// Advisory-lock namespace (first key of the two-int form), so these locks cannot collide with
// advisory locks taken elsewhere on a hash of the same id.
const LOCK_NAMESPACE = 0x746b6e; // "tkn"

type TokenRow = ConnectionRow;

async function readRow(db: Executor, connectionId: string): Promise<TokenRow | undefined> {
  return (await connectionRepo.findById(db, connectionId)) ?? undefined;
}

async function lockConnection(tx: Executor, connectionId: string): Promise<void> {
  await tx.execute(
    sql`select pg_advisory_xact_lock(${LOCK_NAMESPACE}::int4, hashtext(${connectionId}))`,
  );
}

interface CurrentToken {
  accessToken: string;
  tokenVersion: number;
  expiresAt: Date | null;
}

/** What the locked step decided; acted upon after the transaction committed. */
type LockedOutcome =
  | { kind: 'token'; token: CurrentToken; result: RefreshResult }
  | { kind: 'reauth'; error: ReauthRequiredError; fromCalendly: boolean }
  | { kind: 'transient'; error: TokenRefreshError; current: CurrentToken | null };

type SkipReason = Extract<RefreshResult, { status: 'skipped' }>['because'];

/** No refresh was needed or allowed: hand out the token the row holds. */
function skipped(token: CurrentToken, reason: RefreshReason, because: SkipReason): LockedOutcome {
  return {
    kind: 'token',
    token,
    result: {
      status: 'skipped',
      reason,
      because,
      tokenVersion: token.tokenVersion,
      expiresAt: token.expiresAt,
    },
  };
}

type RefreshMode =
  | { reason: 'scheduled' }
  | { reason: 'keep_alive' }
  | { reason: 'expired' }
  /** usedVersion: the token_version of the token that got the 401, when known. */
  | { reason: 'unauthorized'; usedVersion?: number };

function isCallerDriven(mode: RefreshMode): boolean {
  return mode.reason === 'expired' || mode.reason === 'unauthorized';
}

/**
 * Whether the token endpoint may have rotated the refresh token without us holding the new
 * one: an answer lost after sending, or a 200 we could not read (over the size cap, or not a
 * token answer). The old refresh token may be spent either way.
 */
function outcomeUnknown(error: CalendlyError): boolean {
  return (
    (error.kind === 'network' && error.phase === 'unknown') || error.kind === 'invalid_response'
  );
}

function transientKind(error: CalendlyError): TokenRefreshFailureKind {
  if (error.kind === 'rate_limited') return 'rate_limited';
  if (error.kind === 'server') return 'server';
  if (outcomeUnknown(error)) return 'outcome_unknown';
  if (error.kind === 'network') return 'network';
  return 'other';
}

/** For last_error: Calendly's classification and message (paths are redacted, no tokens). */
function describe(error: CalendlyError): string {
  if (error.kind === 'oauth') {
    return `${error.error ?? 'oauth_error'}${error.errorDescription ? `: ${error.errorDescription}` : ''}`;
  }
  return `${error.kind}${error.status === undefined ? '' : ` ${error.status}`}: ${error.message}`;
}

export function createTokenService(deps: TokenServiceDeps): TokenService {
  const { db, sealer, calendly, queues, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;
  const keepAliveAfterMs = deps.keepAliveAfterMs ?? DEFAULT_KEEP_ALIVE_MS;
  const expiryMarginMs = deps.expiryMarginMs ?? DEFAULT_EXPIRY_MARGIN_MS;
  const report = (outcome: RefreshOutcome) => deps.onRefresh?.(outcome);
  const mutex = createKeyedMutex();
  const log = logger.child({ component: 'tokens' });

  function timingOf(row: TokenRow): RefreshTiming {
    return {
      expiresAt: row.tokenExpiresAt,
      refreshTokenIssuedAt: row.refreshTokenIssuedAt,
      refreshBeforeExpiryMs: deps.refreshBeforeExpiryMs,
      keepAliveAfterMs,
    };
  }

  function isFresh(expiresAt: Date | null): boolean {
    return expiresAt === null || expiresAt.getTime() - now().getTime() > expiryMarginMs;
  }

  function currentOf(row: TokenRow): CurrentToken | null {
    if (!row.accessTokenEnc) return null;
    return {
      accessToken: sealer.open(row.accessTokenEnc, { purpose: 'access_token', id: row.id }),
      tokenVersion: row.tokenVersion,
      expiresAt: row.tokenExpiresAt,
    };
  }

  /** The error for a row nobody may use or refresh, or undefined when it is usable. */
  function unusable(connectionId: string, row: TokenRow | undefined): ReauthRequiredError | null {
    if (!row) return new ReauthRequiredError(connectionId, 'not_found');
    if (row.status === 'reauth_required') {
      return new ReauthRequiredError(connectionId, 'reauth_required');
    }
    if (row.status === 'disconnected') return new ReauthRequiredError(connectionId, 'disconnected');
    if (!row.accessTokenEnc) return new ReauthRequiredError(connectionId, 'no_token');
    return null;
  }

  function writeTokens(
    tx: Executor,
    connectionId: string,
    tokens: StoredTokens,
    expectedVersion: number | undefined,
  ): Promise<number | undefined> {
    return connectionRepo.writeTokens(
      tx,
      connectionId,
      {
        accessTokenEnc: sealer.seal(tokens.accessToken, {
          purpose: 'access_token',
          id: connectionId,
        }),
        refreshTokenEnc:
          tokens.refreshToken === null
            ? null
            : sealer.seal(tokens.refreshToken, { purpose: 'refresh_token', id: connectionId }),
        expiresAt: tokens.expiresAt,
      },
      now(),
      expectedVersion,
    );
  }

  async function markReauth(
    tx: Tx,
    connectionId: string,
    reason: 'invalid_grant' | 'refresh_outcome_lost',
    lastError: string,
  ): Promise<LockedOutcome> {
    await connectionRepo.markReauthRequired(tx, connectionId, lastError, now());
    return {
      kind: 'reauth',
      error: new ReauthRequiredError(connectionId, reason, lastError),
      fromCalendly: true,
    };
  }

  async function markTransient(
    tx: Tx,
    row: TokenRow,
    error: CalendlyError,
    outcomeUnknownSince: Date | null,
  ): Promise<LockedOutcome> {
    const lastError = describe(error);
    await connectionRepo.recordRefreshFailure(
      tx,
      row.id,
      outcomeUnknownSince ? `refresh outcome unknown: ${lastError}` : lastError,
      outcomeUnknownSince,
      now(),
    );
    return {
      kind: 'transient',
      error: new TokenRefreshError(row.id, transientKind(error), describe(error), {
        retryAfterMs: error.retryAfterMs,
        cause: error,
      }),
      current: currentOf(row),
    };
  }

  /** Asks Calendly for a new pair with the stored refresh token and records what happened. */
  async function rotate(tx: Tx, row: TokenRow, reason: RefreshReason): Promise<LockedOutcome> {
    const refreshToken = sealer.open(row.refreshTokenEnc as string, {
      purpose: 'refresh_token',
      id: row.id,
    });
    // A refresh that was sent but never answered leaves the stored refresh token possibly spent.
    // It is still the only credential we have, and using it again can only answer a new pair
    // (the first request never took effect) or invalid_grant (it did: the pair it returned is
    // lost, the user must reconnect). So it is retried deliberately, once here, and again only
    // by later attempts with their back-off; an invalid_grant then is reported as a lost outcome.
    let outcomeUnknownSince = row.refreshOutcomeUnknownAt;
    let deliberateRetryLeft = outcomeUnknownSince === null;
    for (;;) {
      try {
        const tokens = await calendly.refreshToken(refreshToken);
        report('success');
        const version = await writeTokens(tx, row.id, tokens, row.tokenVersion);
        if (version === undefined) {
          // A writer that does not take the lock (a disconnect) changed the row meanwhile: the
          // row wins and the pair we got is dropped.
          const latest = await readRow(tx, row.id);
          const blocked = unusable(row.id, latest);
          if (blocked || !latest)
            return { kind: 'reauth', error: blocked as ReauthRequiredError, fromCalendly: false };
          return skipped(currentOf(latest) as CurrentToken, reason, 'rotated_elsewhere');
        }
        log.info(
          {
            connectionId: row.id,
            reason,
            tokenVersion: version,
            recovered: outcomeUnknownSince !== null,
          },
          'token refreshed',
        );
        return {
          kind: 'token',
          token: {
            accessToken: tokens.accessToken,
            tokenVersion: version,
            expiresAt: tokens.expiresAt,
          },
          result: {
            status: 'refreshed',
            reason,
            tokenVersion: version,
            expiresAt: tokens.expiresAt,
          },
        };
      } catch (error) {
        if (!(error instanceof CalendlyError)) throw error;
        if (error.isInvalidGrant) {
          report('invalid_grant');
          const latest = await readRow(tx, row.id);
          if (latest && latest.tokenVersion !== row.tokenVersion && !unusable(row.id, latest)) {
            return skipped(currentOf(latest) as CurrentToken, reason, 'rotated_elsewhere');
          }
          log.warn(
            {
              connectionId: row.id,
              reason,
              error: error.error,
              outcomeLost: outcomeUnknownSince !== null,
            },
            'refresh token rejected: the user must reconnect',
          );
          if (outcomeUnknownSince !== null) {
            return markReauth(
              tx,
              row.id,
              'refresh_outcome_lost',
              `refresh outcome lost: a refresh sent at ${outcomeUnknownSince.toISOString()} got no answer and Calendly then rejected the refresh token (${describe(error)})`,
            );
          }
          return markReauth(tx, row.id, 'invalid_grant', describe(error));
        }
        const unknown = outcomeUnknown(error);
        report(unknown ? 'unknown' : 'transient');
        log.warn(
          {
            connectionId: row.id,
            reason,
            kind: error.kind,
            status: error.status,
            phase: error.phase,
            failures: row.refreshFailures + 1,
          },
          unknown ? 'token refresh outcome unknown' : 'token refresh failed',
        );
        if (unknown && deliberateRetryLeft) {
          deliberateRetryLeft = false;
          outcomeUnknownSince = now();
          await connectionRepo.markRefreshOutcomeUnknown(tx, row.id, outcomeUnknownSince);
          continue;
        }
        return markTransient(tx, row, error, outcomeUnknownSince);
      }
    }
  }

  /** The locked step: lock, re-read, decide, maybe call Calendly, write. One transaction. */
  function lockedRefresh(connectionId: string, mode: RefreshMode): Promise<LockedOutcome> {
    return mutex(connectionId, () =>
      db.transaction(async (tx): Promise<LockedOutcome> => {
        await lockConnection(tx, connectionId);
        const row = await readRow(tx, connectionId);
        const blocked = unusable(connectionId, row);
        if (blocked || !row) {
          return { kind: 'reauth', error: blocked as ReauthRequiredError, fromCalendly: false };
        }
        const current = currentOf(row) as CurrentToken;
        const skip = (because: SkipReason) => skipped(current, mode.reason, because);
        if (!row.refreshTokenEnc) return skip('personal_access_token');
        if (mode.reason === 'expired' && isFresh(row.tokenExpiresAt)) return skip('still_fresh');
        if (
          mode.reason === 'unauthorized' &&
          mode.usedVersion !== undefined &&
          mode.usedVersion !== row.tokenVersion
        ) {
          return skip('rotated_elsewhere');
        }
        if (
          mode.reason === 'scheduled' &&
          !isRefreshDue(timingOf(row), now().getTime(), DUE_TOLERANCE_MS)
        ) {
          return skip('not_due');
        }
        if (isCallerDriven(mode) && row.refreshFailures > 0 && row.lastErrorAt) {
          // Callers back off after failures instead of each spending a token request (Calendly
          // allows 8 per user per minute); the job retries on its own schedule.
          const wait =
            row.lastErrorAt.getTime() + coolDownMs(row.refreshFailures) - now().getTime();
          if (wait > 0) {
            return {
              kind: 'transient',
              error: new TokenRefreshError(
                connectionId,
                'cooling_down',
                'a recent refresh failed',
                {
                  retryAfterMs: wait,
                },
              ),
              current,
            };
          }
        }
        return rotate(tx, row, mode.reason);
      }),
    );
  }

  async function settle(connectionId: string, outcome: LockedOutcome): Promise<CurrentToken> {
    if (outcome.kind === 'token') {
      if (outcome.result.status === 'refreshed') {
        // The token is committed and valid; a Redis hiccup must not fail the caller. The next
        // refresh then happens on use, which reschedules.
        await scheduleRefresh(connectionId).catch((error: unknown) =>
          log.warn({ connectionId, err: error }, 'could not schedule the next token refresh'),
        );
      }
      return outcome.token;
    }
    if (outcome.kind === 'reauth') {
      if (outcome.fromCalendly) {
        await cancelRefresh(connectionId).catch((error: unknown) =>
          log.warn({ connectionId, err: error }, 'could not cancel the refresh job'),
        );
      }
      throw outcome.error;
    }
    throw outcome.error;
  }

  async function refreshInternal(connectionId: string, mode: RefreshMode) {
    const outcome = await lockedRefresh(connectionId, mode);
    const token = await settle(connectionId, outcome);
    return { token, outcome };
  }

  /** A usable token and its version: the stored one while fresh, else a refreshed one. */
  async function currentToken(connectionId: string, known?: TokenRow): Promise<CurrentToken> {
    const row = known ?? (await readRow(db, connectionId));
    const blocked = unusable(connectionId, row);
    if (blocked || !row) throw blocked;
    if (!row.refreshTokenEnc || isFresh(row.tokenExpiresAt)) return currentOf(row) as CurrentToken;
    const outcome = await lockedRefresh(connectionId, { reason: 'expired' });
    if (outcome.kind === 'transient' && outcome.current?.expiresAt) {
      // Still valid for a while: better than failing the caller outright.
      const left = outcome.current.expiresAt.getTime() - now().getTime();
      if (left > Math.min(5_000, expiryMarginMs / 2)) return outcome.current;
    }
    return settle(connectionId, outcome);
  }

  async function storeTokens(tx: Executor, connectionId: string, tokens: StoredTokens) {
    // A savepoint inside the caller's transaction, or a transaction of its own: either way the
    // advisory lock is held until the caller commits, so no refresh interleaves with connect.
    await tx.transaction(async (inner) => {
      await lockConnection(inner, connectionId);
      const version = await writeTokens(inner, connectionId, tokens, undefined);
      if (version === undefined) throw new Error(`connection ${connectionId} does not exist`);
    });
  }

  function cancelRefresh(connectionId: string): Promise<void> {
    // A refresh job already running re-reads the row and does nothing for a connection that
    // is no longer active.
    return queues.cancel('refresh-token', jobKey('refresh-token', { connectionId }) as string);
  }

  async function scheduleRefresh(connectionId: string): Promise<void> {
    const row = await readRow(db, connectionId);
    if (!row || unusable(connectionId, row) || !row.refreshTokenEnc) {
      await cancelRefresh(connectionId);
      return;
    }
    const at = nextRefreshAt(timingOf(row), random);
    if (at === null) return;
    // One planned job per connection (the catalog's identity for refresh-token): this one
    // replaces a planned one, and one planned while the job runs waits for that run to end.
    await queues.enqueue('refresh-token', { connectionId }, { delayMs: at - now().getTime() });
  }

  return {
    async getAccessToken(connectionId) {
      return (await currentToken(connectionId)).accessToken;
    },

    async withAccessToken(connectionId, fn, row) {
      const first = await currentToken(connectionId, row);
      try {
        return await fn(first.accessToken);
      } catch (error) {
        if (!hasKind(error, 'unauthenticated')) throw error;
        log.info(
          { connectionId, tokenVersion: first.tokenVersion },
          'Calendly answered 401, refreshing',
        );
        const { token } = await refreshInternal(connectionId, {
          reason: 'unauthorized',
          usedVersion: first.tokenVersion,
        });
        if (token.accessToken === first.accessToken) throw error;
        return fn(token.accessToken);
      }
    },

    async refresh(connectionId, reason) {
      const { outcome } = await refreshInternal(connectionId, { reason } as RefreshMode);
      // refreshInternal throws for every other outcome.
      return (outcome as Extract<LockedOutcome, { kind: 'token' }>).result;
    },

    storeTokens,
    scheduleRefresh,
    cancelRefresh,
  };
}
