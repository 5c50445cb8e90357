// The owner of the `connections` table: every insert, update and delete of it is one of these
// named operations, each taking the database or the caller's transaction first.
import { and, eq, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../client.ts';
import { connectionViewOf } from '../connection-view.ts';
import {
  type BackfillReport,
  type ConnectionRow,
  type ConnectionStatus,
  connections,
  type SubscriptionReport,
} from '../schema/connections.ts';
import { RESEAL_BATCH, type Reseal, type ResealCounts } from '../sealed.ts';
import { spreadPositionSql } from '../spread.ts';
import * as changeRepo from './changes.ts';

/**
 * Runs a write of the connection in a transaction (a savepoint inside the caller's) and, when
 * it changed the connection's `status` or `webhook.state`, records a `connection.updated`
 * change with the connection as the API now shows it. A write that changes neither records
 * nothing.
 */
async function recordingChange<T>(
  ex: Executor,
  find: (tx: Executor) => Promise<Pick<ConnectionRow, 'status' | 'webhookState'> | null>,
  write: (tx: Executor) => Promise<T>,
  idOf: (result: T) => string | undefined,
): Promise<T> {
  return ex.transaction(async (tx) => {
    const before = await find(tx);
    const result = await write(tx);
    const id = idOf(result);
    const after = id === undefined ? null : await findById(tx, id);
    if (after && (before?.status !== after.status || before.webhookState !== after.webhookState)) {
      await changeRepo.append(tx, [
        {
          type: 'connection.updated',
          userId: after.userId,
          connectionId: after.id,
          meetingId: null,
          data: await connectionViewOf(tx, after),
        },
      ]);
    }
    return result;
  });
}

const stateColumns = { status: connections.status, webhookState: connections.webhookState };

/** The status and webhook state of a connection, locked until the transaction ends. */
async function lockedState(tx: Executor, condition: SQL) {
  const [row] = await tx
    .select(stateColumns)
    .from(connections)
    .where(condition)
    .for('no key update');
  return row ?? null;
}

export async function findById(ex: Executor, id: string): Promise<ConnectionRow | null> {
  const [row] = await ex.select().from(connections).where(eq(connections.id, id)).limit(1);
  return row ?? null;
}

export async function findByUser(ex: Executor, userId: string): Promise<ConnectionRow | null> {
  const [row] = await ex.select().from(connections).where(eq(connections.userId, userId)).limit(1);
  return row ?? null;
}

/** The Calendly user of each of these connections (the tenant check of ingest). */
export async function calendlyUsersOf(
  ex: Executor,
  ids: readonly string[],
): Promise<Map<string, string | null>> {
  if (ids.length === 0) return new Map();
  const rows = await ex
    .select({ id: connections.id, calendlyUserUri: connections.calendlyUserUri })
    .from(connections)
    .where(sql`${connections.id} = any(${sql.param([...new Set(ids)])})`);
  return new Map(rows.map((row) => [row.id, row.calendlyUserUri]));
}

export async function activeIds(ex: Executor): Promise<string[]> {
  const rows = await ex
    .select({ id: connections.id })
    .from(connections)
    .where(eq(connections.status, 'active'));
  return rows.map((row) => row.id);
}

/**
 * The active connections whose spread position (spread.ts) lies in one of the ranges
 * ([from, to) each): one slice of a cycle, read through `connections_spread_idx`.
 */
export async function activeIdsInSpread(
  ex: Executor,
  ranges: readonly { from: number; to: number }[],
): Promise<string[]> {
  if (ranges.length === 0) return [];
  const position = spreadPositionSql(connections.id);
  const inRanges = sql.join(
    ranges.map((r) => sql`(${position} >= ${r.from} and ${position} < ${r.to})`),
    sql` or `,
  );
  const rows = await ex
    .select({ id: connections.id })
    .from(connections)
    .where(and(eq(connections.status, 'active'), sql`(${inRanges})`));
  return rows.map((row) => row.id);
}

export async function countByStatus(ex: Executor): Promise<Record<string, number>> {
  const rows = await ex
    .select({ status: connections.status, n: sql<number>`count(*)::int` })
    .from(connections)
    .groupBy(connections.status);
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

export interface CalendlyIdentity {
  calendlyUserUri: string;
  organizationUri: string;
}

/**
 * Creates the user's connection, or makes the existing one active for this Calendly user
 * (the row is kept across disconnects: meetings hang off it). A different Calendly user than
 * before starts its history afresh: its first reconcile imports the wide window.
 */
export async function connectUser(
  ex: Executor,
  userId: string,
  identity: CalendlyIdentity,
  at: Date,
): Promise<{ id: string; created: boolean }> {
  return recordingChange(
    ex,
    (tx) => lockedState(tx, eq(connections.userId, userId)),
    (tx) => upsertConnected(tx, userId, identity, at),
    (row) => row.id,
  );
}

async function upsertConnected(
  ex: Executor,
  userId: string,
  identity: CalendlyIdentity,
  at: Date,
): Promise<{ id: string; created: boolean }> {
  const [row] = await ex
    .insert(connections)
    .values({ userId, status: 'active', webhookState: 'pending', ...identity })
    .onConflictDoUpdate({
      target: connections.userId,
      set: {
        status: 'active',
        ...identity,
        lastBackfilledAt: sql`case when ${connections.calendlyUserUri} is distinct from ${identity.calendlyUserUri} then null else ${connections.lastBackfilledAt} end`,
        updatedAt: at,
      },
    })
    .returning({ id: connections.id, created: sql<boolean>`xmax = 0` });
  if (!row) throw new Error('connection upsert returned nothing');
  return row;
}

/** The sealed token columns a write sets; null refresh token = a personal access token. */
export interface SealedTokens {
  accessTokenEnc: string;
  refreshTokenEnc: string | null;
  expiresAt: Date | null;
}

/**
 * Stores a new token pair: version bumped, status active, failure bookkeeping cleared. With
 * `expectedVersion` it is the refresh's compare-and-swap (and the row must still be active: a
 * refresh never revives a disconnected connection). Returns the new version, or undefined
 * when the row did not match.
 */
export async function writeTokens(
  ex: Executor,
  id: string,
  tokens: SealedTokens,
  at: Date,
  expectedVersion?: number,
): Promise<number | undefined> {
  // The refresh's compare-and-swap needs the row active and leaves it so: nothing to record.
  if (expectedVersion !== undefined) return storeTokens(ex, id, tokens, at, expectedVersion);
  return recordingChange(
    ex,
    (tx) => lockedState(tx, eq(connections.id, id)),
    (tx) => storeTokens(tx, id, tokens, at, undefined),
    (version) => (version === undefined ? undefined : id),
  );
}

async function storeTokens(
  ex: Executor,
  id: string,
  tokens: SealedTokens,
  at: Date,
  expectedVersion: number | undefined,
): Promise<number | undefined> {
  const condition =
    expectedVersion === undefined
      ? eq(connections.id, id)
      : and(
          eq(connections.id, id),
          eq(connections.tokenVersion, expectedVersion),
          eq(connections.status, 'active'),
        );
  const [written] = await ex
    .update(connections)
    .set({
      accessTokenEnc: tokens.accessTokenEnc,
      refreshTokenEnc: tokens.refreshTokenEnc,
      tokenExpiresAt: tokens.expiresAt,
      tokenVersion: sql`${connections.tokenVersion} + 1`,
      status: 'active',
      refreshTokenIssuedAt: tokens.refreshTokenEnc === null ? null : at,
      refreshOutcomeUnknownAt: null,
      refreshFailures: 0,
      lastError: null,
      lastErrorAt: null,
      updatedAt: at,
    })
    .where(condition)
    .returning({ tokenVersion: connections.tokenVersion });
  return written?.tokenVersion;
}

/** Calendly refused the refresh token for good: the user must connect again. */
export async function markReauthRequired(
  ex: Executor,
  id: string,
  lastError: string,
  at: Date,
): Promise<void> {
  await recordingChange(
    ex,
    (tx) => lockedState(tx, eq(connections.id, id)),
    (tx) =>
      tx
        .update(connections)
        .set({ status: 'reauth_required', lastError, lastErrorAt: at, updatedAt: at })
        .where(eq(connections.id, id)),
    () => id,
  );
}

/**
 * A refresh failed in a way that may pass (5xx, 429, network). `outcomeUnknownSince` is kept
 * until a definite answer: the next attempt's invalid_grant then means the pair was lost.
 */
export async function recordRefreshFailure(
  ex: Executor,
  id: string,
  lastError: string,
  outcomeUnknownSince: Date | null,
  at: Date,
): Promise<void> {
  await ex
    .update(connections)
    .set({
      refreshFailures: sql`${connections.refreshFailures} + 1`,
      lastError,
      lastErrorAt: at,
      refreshOutcomeUnknownAt: outcomeUnknownSince ?? undefined,
      updatedAt: at,
    })
    .where(eq(connections.id, id));
}

/** A refresh was sent and its answer lost: the stored refresh token may be spent. */
export async function markRefreshOutcomeUnknown(ex: Executor, id: string, since: Date) {
  await ex
    .update(connections)
    .set({ refreshOutcomeUnknownAt: since })
    .where(eq(connections.id, id));
}

/**
 * Forgets the connection's credentials (disconnect, or a reconnect as another Calendly user):
 * tokens cleared, token version bumped so an in-flight refresh cannot write them back, no
 * webhook. `disconnect` also marks the connection disconnected.
 */
export async function clearCredentials(
  ex: Executor,
  id: string,
  options: { disconnect: boolean },
  at: Date,
): Promise<void> {
  await recordingChange(
    ex,
    (tx) => lockedState(tx, eq(connections.id, id)),
    (tx) => clear(tx, id, options, at),
    () => id,
  );
}

async function clear(ex: Executor, id: string, options: { disconnect: boolean }, at: Date) {
  await ex
    .update(connections)
    .set({
      accessTokenEnc: null,
      refreshTokenEnc: null,
      tokenExpiresAt: null,
      tokenVersion: sql`${connections.tokenVersion} + 1`,
      webhookState: 'missing',
      ...(options.disconnect ? { status: 'disconnected' as ConnectionStatus } : {}),
      updatedAt: at,
    })
    .where(eq(connections.id, id));
}

/**
 * Records a subscription check: the webhook state it left, Calendly's message when it refused
 * one, and a fresh reconcile report whose backfill part is filled in by `recordBackfill`.
 */
export async function recordSubscriptionCheck(
  ex: Executor,
  id: string,
  report: SubscriptionReport,
  at: Date,
): Promise<void> {
  await recordingChange(
    ex,
    (tx) => lockedState(tx, eq(connections.id, id)),
    (tx) =>
      tx
        .update(connections)
        .set({
          webhookState: report.state,
          webhookMessage: report.message ?? null,
          lastReconciledAt: at,
          lastReconcileReport: { subscription: report, backfill: null },
          updatedAt: at,
        })
        .where(eq(connections.id, id)),
    () => id,
  );
}

/**
 * A routine check that found the subscription healthy, recorded in one statement: only when
 * the connection is still active with an active webhook, so neither its status nor its webhook
 * state moves and no change is owed to the feed. False when the row did not match: record it
 * with `recordSubscriptionCheck` then.
 */
export async function recordRoutineCheck(
  ex: Executor,
  id: string,
  report: SubscriptionReport,
  at: Date,
): Promise<boolean> {
  if (report.state !== 'active' || report.message) return false;
  const rows = await ex
    .update(connections)
    .set({
      webhookMessage: null,
      lastReconciledAt: at,
      lastReconcileReport: { subscription: report, backfill: null },
      updatedAt: at,
    })
    .where(
      and(
        eq(connections.id, id),
        eq(connections.status, 'active'),
        eq(connections.webhookState, 'active'),
      ),
    )
    .returning({ id: connections.id });
  return rows.length > 0;
}

/** Asks the next reconcile run of the connection to backfill. */
export async function requestBackfill(ex: Executor, id: string, at: Date): Promise<void> {
  await ex.update(connections).set({ backfillRequestedAt: at }).where(eq(connections.id, id));
}

/** Asks the next reconcile run of every active connection to backfill; answers how many. */
export async function requestBackfillOfActive(ex: Executor, at: Date): Promise<number> {
  const rows = await ex
    .update(connections)
    .set({ backfillRequestedAt: at })
    .where(eq(connections.status, 'active'))
    .returning({ id: connections.id });
  return rows.length;
}

/**
 * Records a finished backfill into the report of the run's subscription check. The request it
 * answered (made at or before `startedAt`) is cleared; one made while it ran is kept for the
 * next run.
 */
export async function recordBackfill(
  ex: Executor,
  id: string,
  report: BackfillReport,
  startedAt: Date,
  at: Date,
): Promise<void> {
  await ex
    .update(connections)
    .set({
      lastBackfilledAt: at,
      lastReconcileReport: sql`jsonb_set(coalesce(${connections.lastReconcileReport}, '{"subscription":null}'::jsonb), '{backfill}', ${JSON.stringify(report)}::jsonb)`,
      backfillRequestedAt: sql`case when ${connections.backfillRequestedAt} <= ${startedAt.toISOString()}::timestamptz then null else ${connections.backfillRequestedAt} end`,
      updatedAt: at,
    })
    .where(eq(connections.id, id));
}

/**
 * Moves each connection's last_event_at forward, never back. The rows are locked in id order
 * first (the array subquery runs before the update), so two batches updating the same
 * connections cannot deadlock.
 */
export async function advanceLastEventAt(ex: Executor, latest: ReadonlyMap<string, Date>) {
  if (latest.size === 0) return;
  const ids = [...latest.keys()];
  const at = ids.map((id) => (latest.get(id) as Date).toISOString());
  await ex.execute(sql`
    update ${connections} set last_event_at = v.at
    from unnest(${sql.param(ids)}::uuid[], ${sql.param(at)}::text[]::timestamptz[]) as v(id, at)
    where ${connections.id} = v.id
      and ${connections.id} = any(array(
        select c.id from ${connections} c where c.id = any(${sql.param(ids)}::uuid[])
        order by c.id for no key update))
      and (${connections.lastEventAt} is null or ${connections.lastEventAt} < v.at)`);
}

/**
 * Re-seals every stored token that `reseal` says is not current (another key, an older
 * format), each in place only if it is still the value that was read: a token rotated
 * meanwhile is already current and is left as it is.
 */
export async function resealTokens(ex: Executor, reseal: Reseal): Promise<ResealCounts> {
  const counts = { access_token: 0, refresh_token: 0 };
  for (let after = '00000000-0000-0000-0000-000000000000'; ; ) {
    const rows = await ex
      .select({
        id: connections.id,
        accessTokenEnc: connections.accessTokenEnc,
        refreshTokenEnc: connections.refreshTokenEnc,
      })
      .from(connections)
      .where(sql`${connections.id} > ${after}::uuid`)
      .orderBy(connections.id)
      .limit(RESEAL_BATCH);
    for (const row of rows) {
      const access = row.accessTokenEnc
        ? reseal(row.accessTokenEnc, { purpose: 'access_token', id: row.id })
        : null;
      const refresh = row.refreshTokenEnc
        ? reseal(row.refreshTokenEnc, { purpose: 'refresh_token', id: row.id })
        : null;
      if (!access && !refresh) continue;
      const [written] = await ex
        .update(connections)
        .set({
          ...(access ? { accessTokenEnc: access } : {}),
          ...(refresh ? { refreshTokenEnc: refresh } : {}),
        })
        .where(
          and(
            eq(connections.id, row.id),
            sql`${connections.accessTokenEnc} is not distinct from ${row.accessTokenEnc}`,
            sql`${connections.refreshTokenEnc} is not distinct from ${row.refreshTokenEnc}`,
          ),
        )
        .returning({ id: connections.id });
      if (!written) continue;
      if (access) counts.access_token += 1;
      if (refresh) counts.refresh_token += 1;
    }
    const last = rows.at(-1);
    if (!last) return counts;
    after = last.id;
  }
}
