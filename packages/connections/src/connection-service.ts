import {
  type CalendlyClient,
  CalendlyError,
  type WebhookSubscriptionResource,
} from '@calhook/calendly';
import type { Sealer } from '@calhook/crypto';
import {
  type ConnectionRow,
  connections,
  type Database,
  type WebhookHookRow,
  webhookHooks,
} from '@calhook/db';
import type { Logger } from '@calhook/observability';
import type { JobPayload, Queues } from '@calhook/queue';
import { ReauthRequiredError, type TokenService } from '@calhook/tokens';
import { callbackUrl, newHookId, newSigningKey } from '@calhook/webhooks';
import { and, desc, eq, inArray, isNull, ne, or, sql } from 'drizzle-orm';
import { type ConnectionView, connectionView } from './connection-view.ts';
import { CalendlyRejectedError, CalendlyUnavailableError, ConnectInputError } from './errors.ts';
import {
  type DeleteReason,
  hookIdOf,
  type KnownHook,
  planSubscriptions,
  SUBSCRIPTION_EVENTS,
} from './subscription-plan.ts';

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

export interface SubscriptionReport {
  state: ConnectionRow['webhookState'];
  kept: string[];
  created: string[];
  deleted: { uri: string; reason: DeleteReason }[];
  untouched: number;
  message?: string;
  retryStartedAt?: string | null;
}

export interface ConnectionServiceDeps {
  db: Database;
  /**
   * A small pool used only to hold per-user advisory locks. Kept apart from `db` so a lock
   * holder can always get a connection for its work: on one shared pool, as many concurrent
   * connects as the pool has connections would each hold one and wait forever for another.
   */
  locks: Database;
  sealer: Sealer;
  calendly: CalendlyClient;
  tokens: TokenService;
  queues: Queues;
  publicUrl: string;
  logger: Logger;
  now?: () => Date;
  /** Hook id generator; tests pass one to provoke a 409 on a known URL. */
  newHookId?: () => string;
}

export interface ConnectionService {
  connect(
    userId: string,
    input: ConnectInput,
  ): Promise<{ connection: ConnectionView; created: boolean }>;
  disconnect(userId: string): Promise<{ found: boolean; remoteCleanupPending: boolean }>;
  status(userId: string): Promise<ConnectionView | null>;
  /** Makes Calendly hold exactly one healthy calhook subscription for this connection. */
  ensureSubscription(connectionId: string): Promise<SubscriptionReport>;
  /** The `disconnect-cleanup` job: finish at Calendly what a disconnect could not. */
  cleanupRemote(
    payload: JobPayload<'disconnect-cleanup'>,
  ): Promise<{ deleted: number; revoked: number }>;
  enqueueReconcile(
    userId: string,
    reason: JobPayload<'reconcile-connection'>['reason'],
  ): Promise<{ jobId: string } | null>;
}

/** Is this error Calendly saying no for good (as opposed to "try again")? */
function isTransient(error: unknown): boolean {
  return (
    error instanceof CalendlyError &&
    (error.kind === 'server' || error.kind === 'network' || error.kind === 'rate_limited')
  );
}

function unavailable(error: unknown): never {
  if (error instanceof CalendlyError && isTransient(error)) {
    throw new CalendlyUnavailableError(
      `Calendly is unavailable: ${error.kind}`,
      error.retryAfterMs ?? undefined,
      {
        cause: error,
      },
    );
  }
  throw error;
}

export function createConnectionService(deps: ConnectionServiceDeps): ConnectionService {
  const { db, sealer, calendly, tokens, queues, logger } = deps;
  const now = deps.now ?? (() => new Date());

  /**
   * Serialises everything that changes one app user's connection or subscriptions (connect,
   * disconnect, reconcile) across processes: a transaction on the lock pool that only holds an
   * advisory lock, while the work runs on `db`. One lock level, never nested, so it cannot
   * deadlock; without it a connect and a reconcile could each create a subscription.
   */
  async function withUserLock<T>(userId: string, work: () => Promise<T>): Promise<T> {
    return deps.locks.transaction(async (tx) => {
      await tx.execute(
        sql`select pg_advisory_xact_lock(hashtextextended(${`calhook:user:${userId}`}, 0))`,
      );
      return work();
    });
  }

  async function loadByUser(userId: string): Promise<ConnectionRow | null> {
    const [row] = await db
      .select()
      .from(connections)
      .where(eq(connections.userId, userId))
      .limit(1);
    return row ?? null;
  }

  async function currentHook(connectionId: string): Promise<WebhookHookRow | null> {
    const [hook] = await db
      .select()
      .from(webhookHooks)
      .where(and(eq(webhookHooks.connectionId, connectionId), ne(webhookHooks.state, 'retired')))
      .orderBy(desc(webhookHooks.createdAt))
      .limit(1);
    return hook ?? null;
  }

  async function view(row: ConnectionRow): Promise<ConnectionView> {
    return connectionView(row, await currentHook(row.id));
  }

  /** Turns the body of PUT /v1/connections/:userId into a token set and the Calendly user. */
  async function credentialsFor(existing: ConnectionRow | null, input: ConnectInput) {
    try {
      if (input.kind === 'code') {
        const set = await calendly.exchangeCode({
          code: input.code,
          redirectUri: input.redirectUri,
          codeVerifier: input.codeVerifier,
        });
        const me = await calendly.getCurrentUser(set.accessToken);
        return {
          accessToken: set.accessToken,
          refreshToken: set.refreshToken as string | null,
          expiresAt: set.expiresAt as Date | null,
          userUri: me.uri,
          organizationUri: me.current_organization,
        };
      }
      if (input.kind === 'tokens') {
        const me = await calendly.getCurrentUser(input.accessToken);
        return {
          accessToken: input.accessToken,
          refreshToken: input.refreshToken ?? null,
          // A personal access token (no refresh token) does not expire.
          expiresAt: input.refreshToken
            ? (input.expiresAt ?? new Date(now().getTime() + 60_000))
            : null,
          userUri: me.uri,
          organizationUri: me.current_organization,
        };
      }
    } catch (error) {
      if (error instanceof CalendlyError && !isTransient(error)) {
        throw new CalendlyRejectedError('Calendly refused the credentials', {
          status: error.status,
          kind: error.kind,
          ...(typeof error.body === 'object' && error.body !== null ? error.body : {}),
        });
      }
      unavailable(error);
    }
    // Reconnect with nothing new: only possible while we hold a usable token.
    if (!existing || existing.status === 'disconnected' || !existing.accessTokenEnc) {
      throw new ConnectInputError(
        'body',
        'send code (with redirectUri) or accessToken: there is no stored token to reconnect with',
      );
    }
    if (existing.status === 'reauth_required') {
      throw new ConnectInputError(
        'body',
        'the stored refresh token no longer works: send a new code or accessToken',
      );
    }
    return null;
  }

  async function connect(userId: string, input: ConnectInput) {
    return withUserLock(userId, async () => {
      const existing = await loadByUser(userId);
      const fresh = await credentialsFor(existing, input);
      let connectionId: string;
      let created = false;
      if (fresh) {
        const changedUser =
          existing?.calendlyUserUri !== undefined &&
          existing?.calendlyUserUri !== null &&
          existing.calendlyUserUri !== fresh.userUri;
        if (existing && changedUser) await detachRemote(existing, 'calendly user changed');
        connectionId = await db.transaction(async (tx) => {
          const [row] = await tx
            .insert(connections)
            .values({
              userId,
              status: 'active',
              calendlyUserUri: fresh.userUri,
              organizationUri: fresh.organizationUri,
              webhookState: 'pending',
            })
            .onConflictDoUpdate({
              target: connections.userId,
              set: {
                status: 'active',
                calendlyUserUri: fresh.userUri,
                organizationUri: fresh.organizationUri,
                updatedAt: now(),
              },
            })
            .returning({
              id: connections.id,
              createdAt: connections.createdAt,
              updatedAt: connections.updatedAt,
            });
          if (!row) throw new Error('connection upsert returned nothing');
          created = existing === null;
          await tokens.storeTokens(tx, row.id, fresh);
          return row.id;
        });
      } else {
        connectionId = existing!.id;
        // Refreshes only when the stored token is stale: a repeat connect costs no token request.
        try {
          await tokens.getAccessToken(connectionId);
        } catch (error) {
          if (error instanceof ReauthRequiredError) {
            throw new ConnectInputError(
              'body',
              'the stored refresh token no longer works: send a new code or accessToken',
            );
          }
          throw error;
        }
      }
      await tokens.scheduleRefresh(connectionId);
      try {
        await ensureSubscriptionLocked(connectionId);
      } catch (error) {
        // The connection is saved; the scheduled reconcile retries the subscription.
        if (!(error instanceof CalendlyUnavailableError)) throw error;
        logger.warn(
          { connectionId, err: error },
          'subscription not ensured on connect; reconcile will retry',
        );
      }
      if (fresh) {
        // New credentials: the worker imports history (first connect) or catches up.
        await queues.enqueue(
          'reconcile-connection',
          { connectionId, reason: 'connect' },
          { jobId: `reconcile-${connectionId}-connect-${now().getTime()}` },
        );
      }
      const row = await loadByUser(userId);
      return { connection: await view(row!), created };
    });
  }

  async function knownHooksFor(
    subscriptions: readonly WebhookSubscriptionResource[],
    connectionId: string,
  ) {
    const ids = subscriptions
      .map((s) => hookIdOf(s.callback_url))
      .filter((id): id is string => id !== null);
    const rows = await db
      .select({
        id: webhookHooks.id,
        connectionId: webhookHooks.connectionId,
        state: webhookHooks.state,
        connectionStatus: connections.status,
      })
      .from(webhookHooks)
      .innerJoin(connections, eq(connections.id, webhookHooks.connectionId))
      .where(
        ids.length > 0
          ? or(inArray(webhookHooks.id, ids), eq(webhookHooks.connectionId, connectionId))
          : eq(webhookHooks.connectionId, connectionId),
      );
    const known = new Map<string, KnownHook>();
    for (const row of rows) {
      known.set(row.id, {
        id: row.id,
        connectionId: row.connectionId,
        live: row.state !== 'retired' && row.connectionStatus === 'active',
      });
    }
    return known;
  }

  async function ensureSubscription(connectionId: string): Promise<SubscriptionReport> {
    const [row] = await db
      .select({ userId: connections.userId })
      .from(connections)
      .where(eq(connections.id, connectionId))
      .limit(1);
    if (!row) throw new Error(`connection ${connectionId} does not exist`);
    return withUserLock(row.userId, () => ensureSubscriptionLocked(connectionId));
  }

  /** ensureSubscription for a caller that already holds the user's lock. */
  async function ensureSubscriptionLocked(connectionId: string): Promise<SubscriptionReport> {
    const [connection] = await db
      .select()
      .from(connections)
      .where(eq(connections.id, connectionId))
      .limit(1);
    if (!connection?.calendlyUserUri || !connection.organizationUri) {
      throw new Error(`connection ${connectionId} has no Calendly user`);
    }
    const user = connection.calendlyUserUri;
    const organization = connection.organizationUri;
    const report: SubscriptionReport = {
      state: 'active',
      kept: [],
      created: [],
      deleted: [],
      untouched: 0,
    };

    const list = () =>
      tokens.withAccessToken(connectionId, (token) =>
        calendly.listWebhookSubscriptions(token, { organization, scope: 'user', user }),
      );

    let subscriptions: WebhookSubscriptionResource[];
    try {
      subscriptions = await list();
    } catch (error) {
      if (error instanceof CalendlyError && error.kind === 'forbidden')
        return markUnavailable(connection, error, report);
      return unavailable(error);
    }
    const hook = await currentHook(connectionId);
    const plan = planSubscriptions({
      subscriptions,
      connectionId,
      currentHookId: hook?.id ?? null,
      publicUrl: deps.publicUrl,
      knownHooks: await knownHooksFor(subscriptions, connectionId),
    });
    report.untouched = plan.untouched.length;

    let liveHookId = hook?.id ?? null;
    if (plan.keep) {
      report.kept.push(plan.keep.uri);
      report.retryStartedAt = plan.keep.retry_started_at;
      await db
        .update(webhookHooks)
        .set({
          state: 'active',
          subscriptionUri: plan.keep.uri,
          retryStartedAt: plan.keep.retry_started_at ? new Date(plan.keep.retry_started_at) : null,
          updatedAt: now(),
        })
        .where(eq(webhookHooks.id, hook!.id));
    } else {
      // The new hook row exists (pending) before Calendly knows it, so the first delivery,
      // which can arrive right after the create call, finds its key.
      const id = (deps.newHookId ?? newHookId)();
      const signingKey = newSigningKey();
      const url = callbackUrl(deps.publicUrl, id);
      await db.insert(webhookHooks).values({
        id,
        connectionId,
        scope: 'user',
        calendlyUserUri: user,
        organizationUri: organization,
        callbackUrl: url,
        events: [...SUBSCRIPTION_EVENTS],
        state: 'pending',
        signingKeyEnc: sealer.seal(signingKey),
        replacesHookId: hook?.id ?? null,
      });
      const create = () =>
        tokens.withAccessToken(connectionId, (token) =>
          calendly.createWebhookSubscription(token, {
            url,
            events: [...SUBSCRIPTION_EVENTS],
            organization,
            user,
            scope: 'user',
            signingKey,
          }),
        );
      let subscription: WebhookSubscriptionResource;
      try {
        try {
          subscription = await create();
        } catch (error) {
          if (!(error instanceof CalendlyError && error.kind === 'conflict')) throw error;
          // Calendly already has this URL, signed with a key we may not hold: delete it and
          // create ours once more, so every delivery we accept is signed with a key we keep.
          const again = await list();
          for (const clash of again.filter((s) => s.callback_url === url)) {
            await tokens.withAccessToken(connectionId, (token) =>
              calendly.deleteWebhookSubscription(token, clash.uri),
            );
            report.deleted.push({ uri: clash.uri, reason: 'duplicate' });
          }
          subscription = await create();
        }
      } catch (error) {
        await db.delete(webhookHooks).where(eq(webhookHooks.id, id));
        if (error instanceof CalendlyError && error.kind === 'forbidden')
          return markUnavailable(connection, error, report);
        return unavailable(error);
      }
      await db.transaction(async (tx) => {
        await tx
          .update(webhookHooks)
          .set({ state: 'retired', retiredAt: now(), updatedAt: now() })
          .where(
            and(
              eq(webhookHooks.connectionId, connectionId),
              ne(webhookHooks.id, id),
              isNull(webhookHooks.retiredAt),
            ),
          );
        await tx
          .update(webhookHooks)
          .set({ state: 'active', subscriptionUri: subscription.uri, updatedAt: now() })
          .where(eq(webhookHooks.id, id));
      });
      report.created.push(subscription.uri);
      liveHookId = id;
    }

    for (const { subscription, reason } of plan.remove) {
      if (report.deleted.some((d) => d.uri === subscription.uri)) continue;
      try {
        await tokens.withAccessToken(connectionId, (token) =>
          calendly.deleteWebhookSubscription(token, subscription.uri),
        );
        report.deleted.push({ uri: subscription.uri, reason });
      } catch (error) {
        logger.warn(
          { connectionId, reason, err: error },
          'could not delete a stale subscription; next reconcile retries',
        );
      }
      const staleHookId = hookIdOf(subscription.callback_url);
      if (staleHookId && staleHookId !== liveHookId) {
        await db
          .update(webhookHooks)
          .set({ state: 'retired', retiredAt: now(), updatedAt: now() })
          .where(
            and(
              eq(webhookHooks.id, staleHookId),
              eq(webhookHooks.connectionId, connectionId),
              isNull(webhookHooks.retiredAt),
            ),
          );
      }
    }

    await db
      .update(connections)
      .set({
        webhookState: 'active',
        webhookMessage: null,
        lastReconciledAt: now(),
        lastReconcileReport: { subscription: report },
        updatedAt: now(),
      })
      .where(eq(connections.id, connectionId));
    if (report.retryStartedAt) {
      logger.error(
        { connectionId, retryStartedAt: report.retryStartedAt },
        'Calendly is retrying failed deliveries to this hook: it disables it 24 h after this',
      );
    }
    if (report.created.length > 0 || report.deleted.length > 0) {
      logger.info(
        {
          connectionId,
          created: report.created.length,
          deleted: report.deleted.map((d) => d.reason),
        },
        'subscription reconciled',
      );
    }
    return report;
  }

  async function markUnavailable(
    connection: ConnectionRow,
    error: CalendlyError,
    report: SubscriptionReport,
  ) {
    const body = error.body as { message?: unknown } | undefined;
    const message = typeof body?.message === 'string' ? body.message : error.message;
    report.state = 'unavailable';
    report.message = message;
    await db
      .update(connections)
      .set({
        webhookState: 'unavailable',
        webhookMessage: message,
        lastReconciledAt: now(),
        lastReconcileReport: { subscription: report },
        updatedAt: now(),
      })
      .where(eq(connections.id, connection.id));
    logger.warn(
      { connectionId: connection.id, status: error.status, message },
      'Calendly refused the webhook subscription',
    );
    return report;
  }

  /**
   * Clears a connection's credentials and hooks locally, then tries to delete its
   * subscriptions and revoke its tokens at Calendly; whatever fails is left to the
   * `disconnect-cleanup` job, which carries the sealed tokens it needs.
   */
  async function detachRemote(
    connection: ConnectionRow,
    why: 'disconnect' | 'calendly user changed',
  ): Promise<boolean> {
    // A fresh access token makes the remote clean-up likely to work; failing to get one is fine.
    let accessToken: string | null = null;
    if (connection.status === 'active' && connection.accessTokenEnc) {
      accessToken = await tokens.getAccessToken(connection.id).catch(() => null);
    }
    const [current] = await db
      .select()
      .from(connections)
      .where(eq(connections.id, connection.id))
      .limit(1);
    const hooks = await db
      .select()
      .from(webhookHooks)
      .where(eq(webhookHooks.connectionId, connection.id));
    const payload: JobPayload<'disconnect-cleanup'> = {
      connectionId: connection.id,
      subscriptionUris: hooks.map((h) => h.subscriptionUri).filter((u): u is string => u !== null),
      accessTokenEnc: accessToken ? sealer.seal(accessToken) : (current?.accessTokenEnc ?? null),
      refreshTokenEnc: current?.refreshTokenEnc ?? null,
    };
    await tokens.cancelRefresh(connection.id);
    await db.transaction(async (tx) => {
      await tx
        .update(webhookHooks)
        .set({ state: 'retired', retiredAt: now(), signingKeyEnc: null, updatedAt: now() })
        .where(eq(webhookHooks.connectionId, connection.id));
      await tx
        .update(connections)
        .set({
          accessTokenEnc: null,
          refreshTokenEnc: null,
          tokenExpiresAt: null,
          tokenVersion: sql`${connections.tokenVersion} + 1`,
          webhookState: 'missing',
          ...(why === 'disconnect' ? { status: 'disconnected' as const } : {}),
          updatedAt: now(),
        })
        .where(eq(connections.id, connection.id));
    });
    logger.info(
      { connectionId: connection.id, why, subscriptions: payload.subscriptionUris.length },
      'connection detached',
    );
    try {
      await cleanupRemote(payload);
      return false;
    } catch (error) {
      logger.warn(
        { connectionId: connection.id, err: error },
        'remote clean-up failed; a job will retry it',
      );
      await queues.enqueue('disconnect-cleanup', payload, {
        jobId: `disconnect-${connection.id}-${Date.now()}`,
      });
      return true;
    }
  }

  async function cleanupRemote(payload: JobPayload<'disconnect-cleanup'>) {
    const accessToken = payload.accessTokenEnc ? sealer.open(payload.accessTokenEnc) : null;
    const refreshToken = payload.refreshTokenEnc ? sealer.open(payload.refreshTokenEnc) : null;
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

  return {
    connect,
    ensureSubscription,
    cleanupRemote,
    async disconnect(userId) {
      return withUserLock(userId, async () => {
        const existing = await loadByUser(userId);
        if (!existing) return { found: false, remoteCleanupPending: false };
        if (existing.status === 'disconnected' && !existing.accessTokenEnc) {
          return { found: true, remoteCleanupPending: false };
        }
        const pending = await detachRemote(existing, 'disconnect');
        return { found: true, remoteCleanupPending: pending };
      });
    },
    async status(userId) {
      const row = await loadByUser(userId);
      return row ? view(row) : null;
    },
    async enqueueReconcile(userId, reason) {
      const row = await loadByUser(userId);
      if (!row) return null;
      const job = await queues.enqueue(
        'reconcile-connection',
        { connectionId: row.id, reason },
        { jobId: `reconcile-${row.id}-${reason}-${Math.floor(now().getTime() / 1000)}` },
      );
      return { jobId: job.id ?? '' };
    },
  };
}
