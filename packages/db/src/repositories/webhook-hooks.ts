// The owner of the `webhook_hooks` table: our callback endpoints and the Calendly
// subscriptions behind them. Every write of the table is one of these named operations.
import { and, desc, eq, isNotNull, isNull, ne, or, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../client.ts';
import { connections } from '../schema/connections.ts';
import { type HookState, type WebhookHookRow, webhookHooks } from '../schema/webhook-hooks.ts';
import { RESEAL_BATCH, type Reseal, type ResealCounts } from '../sealed.ts';

/** The connection's hook that is not retired (the newest, should there be two). */
export async function currentOf(
  ex: Executor,
  connectionId: string,
): Promise<WebhookHookRow | null> {
  const [hook] = await ex
    .select()
    .from(webhookHooks)
    .where(and(eq(webhookHooks.connectionId, connectionId), ne(webhookHooks.state, 'retired')))
    .orderBy(desc(webhookHooks.createdAt))
    .limit(1);
  return hook ?? null;
}

export async function allOf(ex: Executor, connectionId: string): Promise<WebhookHookRow[]> {
  return ex.select().from(webhookHooks).where(eq(webhookHooks.connectionId, connectionId));
}

/** What a hook id found in a subscription's callback URL is to us. */
export interface KnownHook {
  id: string;
  connectionId: string;
  /** Not retired, and its connection is active: some app user's live endpoint. */
  live: boolean;
}

/** These hook ids and every hook of the connection, with whether each is live. */
export async function known(
  ex: Executor,
  ids: readonly string[],
  connectionId: string,
): Promise<Map<string, KnownHook>> {
  const ofConnection = eq(webhookHooks.connectionId, connectionId);
  const rows = await ex
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
        ? or(sql`${webhookHooks.id} = any(${sql.param([...ids])})`, ofConnection)
        : ofConnection,
    );
  return new Map(
    rows.map((row) => [
      row.id,
      {
        id: row.id,
        connectionId: row.connectionId,
        live: row.state !== 'retired' && row.connectionStatus === 'active',
      },
    ]),
  );
}

export async function countByState(ex: Executor): Promise<Record<string, number>> {
  const rows = await ex
    .select({ state: webhookHooks.state, n: sql<number>`count(*)::int` })
    .from(webhookHooks)
    .groupBy(webhookHooks.state);
  return Object.fromEntries(rows.map((row) => [row.state, row.n]));
}

/** Hooks whose subscription Calendly has started retrying (it disables them after 24 h). */
export async function countRetrying(ex: Executor): Promise<number> {
  const [row] = await ex
    .select({ n: sql<number>`count(*)::int` })
    .from(webhookHooks)
    .where(and(isNotNull(webhookHooks.retryStartedAt), ne(webhookHooks.state, 'retired')));
  return row?.n ?? 0;
}

export interface NewHook {
  id: string;
  connectionId: string;
  calendlyUserUri: string;
  organizationUri: string | null;
  callbackUrl: string;
  events: readonly string[];
  signingKeyEnc: string;
  /** The hook it replaces: that one's key stays accepted here for the grace period. */
  replacesHookId: string | null;
  /** `pending` until Calendly confirmed the subscription; seeds of finished connects are active. */
  state?: Extract<HookState, 'pending' | 'active'>;
  subscriptionUri?: string | null;
}

/**
 * A hook row that exists before Calendly knows it, so the first delivery, which can arrive
 * right after the create call, finds its key.
 */
export async function insert(ex: Executor, hook: NewHook): Promise<void> {
  await ex.insert(webhookHooks).values({
    id: hook.id,
    connectionId: hook.connectionId,
    scope: 'user',
    calendlyUserUri: hook.calendlyUserUri,
    organizationUri: hook.organizationUri,
    callbackUrl: hook.callbackUrl,
    events: [...hook.events],
    state: hook.state ?? 'pending',
    signingKeyEnc: hook.signingKeyEnc,
    replacesHookId: hook.replacesHookId,
    subscriptionUri: hook.subscriptionUri ?? null,
  });
}

/** Calendly refused the subscription of a pending hook: it never existed. */
export async function discardPending(ex: Executor, id: string): Promise<void> {
  await ex
    .delete(webhookHooks)
    .where(and(eq(webhookHooks.id, id), eq(webhookHooks.state, 'pending')));
}

/**
 * Calendly created the hook's subscription: the hook becomes the connection's live one and
 * every other hook of the connection is retired (their keys stay accepted for the grace period).
 */
export async function activate(
  ex: Executor,
  id: string,
  connectionId: string,
  subscriptionUri: string,
  at: Date,
): Promise<void> {
  await retireWhere(
    ex,
    and(eq(webhookHooks.connectionId, connectionId), ne(webhookHooks.id, id)),
    at,
  );
  await ex
    .update(webhookHooks)
    .set({ state: 'active', subscriptionUri, updatedAt: at })
    .where(eq(webhookHooks.id, id));
}

/** The live hook's subscription is healthy at Calendly: record what Calendly says of it. */
export async function confirm(
  ex: Executor,
  id: string,
  subscription: { uri: string; retryStartedAt: Date | null },
  at: Date,
): Promise<void> {
  await ex
    .update(webhookHooks)
    .set({
      state: 'active',
      subscriptionUri: subscription.uri,
      retryStartedAt: subscription.retryStartedAt,
      updatedAt: at,
    })
    .where(eq(webhookHooks.id, id));
}

/** A stale hook of the connection whose subscription was deleted at Calendly. */
export async function retire(ex: Executor, id: string, connectionId: string, at: Date) {
  await retireWhere(
    ex,
    and(eq(webhookHooks.id, id), eq(webhookHooks.connectionId, connectionId)),
    at,
  );
}

/** Retires the matching hooks not retired yet (a retired hook keeps its first retiredAt). */
async function retireWhere(ex: Executor, condition: SQL | undefined, at: Date) {
  await ex
    .update(webhookHooks)
    .set({ state: 'retired', retiredAt: at, updatedAt: at })
    .where(and(condition, isNull(webhookHooks.retiredAt)));
}

/**
 * Disconnect: every hook of the connection retired and its key forgotten, so none accepts a
 * delivery again whatever its grace period.
 */
export async function retireAllOf(ex: Executor, connectionId: string, at: Date): Promise<void> {
  await ex
    .update(webhookHooks)
    .set({ state: 'retired', retiredAt: at, signingKeyEnc: null, updatedAt: at })
    .where(eq(webhookHooks.connectionId, connectionId));
}

/**
 * What a re-subscribe leaves behind, for tests that start from it: `fresh` moved onto `old`'s
 * connection as the hook that replaces it, and `old` retired at `retiredAt`.
 */
export async function replace(
  ex: Executor,
  old: { id: string; connectionId: string },
  freshId: string,
  retiredAt: Date,
): Promise<void> {
  await ex
    .update(webhookHooks)
    .set({ connectionId: old.connectionId, replacesHookId: old.id })
    .where(eq(webhookHooks.id, freshId));
  await ex
    .update(webhookHooks)
    .set({ state: 'retired', retiredAt })
    .where(eq(webhookHooks.id, old.id));
}

/** Re-seals every stored signing key that is not current, in place unless it changed meanwhile. */
export async function resealSigningKeys(ex: Executor, reseal: Reseal): Promise<ResealCounts> {
  const counts = { hook_signing_key: 0 };
  for (let after = ''; ; ) {
    const rows = await ex
      .select({ id: webhookHooks.id, signingKeyEnc: webhookHooks.signingKeyEnc })
      .from(webhookHooks)
      .where(and(sql`${webhookHooks.id} > ${after}`, isNotNull(webhookHooks.signingKeyEnc)))
      .orderBy(webhookHooks.id)
      .limit(RESEAL_BATCH);
    for (const row of rows) {
      const sealed = row.signingKeyEnc as string;
      const next = reseal(sealed, { purpose: 'hook_signing_key', id: row.id });
      if (!next) continue;
      const [written] = await ex
        .update(webhookHooks)
        .set({ signingKeyEnc: next })
        .where(and(eq(webhookHooks.id, row.id), eq(webhookHooks.signingKeyEnc, sealed)))
        .returning({ id: webhookHooks.id });
      if (written) counts.hook_signing_key += 1;
    }
    const last = rows.at(-1);
    if (!last) return counts;
    after = last.id;
  }
}
