// The owner of the `webhook_endpoints` table: the app backend's webhook endpoints, their sealed
// secrets, delivery health and place in the change feed. Every write is one of these operations.
import { and, asc, eq, ne, sql } from 'drizzle-orm';
import type { Executor } from '../client.ts';
import {
  type EndpointStatus,
  type WebhookEndpointRow,
  webhookEndpoints,
} from '../schema/app-webhooks.ts';
import { RESEAL_BATCH, type Reseal, type ResealCounts } from '../sealed.ts';

export interface NewEndpoint {
  id: string;
  url: string;
  /** null: every change type, including types added later. */
  types: string[] | null;
  description: string | null;
  /** Sealed for `{ purpose: 'endpoint_secret', id }`. */
  secretEnc: string;
  /** Where its deliveries start in the feed: the feed's end when it was created. */
  cursor: string;
}

export async function create(ex: Executor, endpoint: NewEndpoint): Promise<WebhookEndpointRow> {
  const [row] = await ex.insert(webhookEndpoints).values(endpoint).returning();
  if (!row) throw new Error('insert returned no row');
  return row;
}

export async function list(ex: Executor): Promise<WebhookEndpointRow[]> {
  return ex
    .select()
    .from(webhookEndpoints)
    .orderBy(asc(webhookEndpoints.createdAt), asc(webhookEndpoints.id));
}

/** Endpoints the dispatcher feeds: every one not disabled. */
export async function listDeliverable(ex: Executor): Promise<WebhookEndpointRow[]> {
  return ex
    .select()
    .from(webhookEndpoints)
    .where(ne(webhookEndpoints.status, 'disabled'))
    .orderBy(asc(webhookEndpoints.id));
}

export async function findById(ex: Executor, id: string): Promise<WebhookEndpointRow | null> {
  const [row] = await ex.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
  return row ?? null;
}

/** Deletes the endpoint and its delivery log; false when there was none. */
export async function remove(ex: Executor, id: string): Promise<boolean> {
  const rows = await ex
    .delete(webhookEndpoints)
    .where(eq(webhookEndpoints.id, id))
    .returning({ id: webhookEndpoints.id });
  return rows.length > 0;
}

/**
 * Makes `secretEnc` the signing secret and keeps the one it replaces signing until
 * `previousExpiresAt`. Null when there is no such endpoint.
 */
export async function rotateSecret(
  ex: Executor,
  id: string,
  secretEnc: string,
  previousExpiresAt: Date,
): Promise<WebhookEndpointRow | null> {
  const [row] = await ex
    .update(webhookEndpoints)
    .set({
      previousSecretEnc: sql`${webhookEndpoints.secretEnc}`,
      previousSecretExpiresAt: previousExpiresAt,
      secretEnc,
      updatedAt: sql`now()`,
    })
    .where(eq(webhookEndpoints.id, id))
    .returning();
  return row ?? null;
}

/**
 * Moves the endpoint's feed cursor from `from` to `to`; false when it was no longer at `from`
 * (another dispatcher moved it, or the endpoint is gone), so a cursor never goes back.
 */
export async function advanceCursor(
  ex: Executor,
  id: string,
  from: string,
  to: string,
): Promise<boolean> {
  const rows = await ex
    .update(webhookEndpoints)
    .set({ cursor: to })
    .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.cursor, from)))
    .returning({ id: webhookEndpoints.id });
  return rows.length > 0;
}

/** A 2xx: a failing endpoint is healthy again (a disabled one stays disabled). */
export async function recordSuccess(ex: Executor, id: string): Promise<void> {
  await ex
    .update(webhookEndpoints)
    .set({ status: 'active', failingSince: null, updatedAt: sql`now()` })
    .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.status, 'failing')));
}

/**
 * A failed attempt at `now`: the endpoint is `failing` from its first failure on, and
 * `disabled` at the first failure `disableAfterMs` or more after that. Returns the status it
 * has now, and whether this failure disabled it; null when it is gone or already disabled.
 */
export async function recordFailure(
  ex: Executor,
  id: string,
  now: Date,
  disableAfterMs: number,
): Promise<{ status: EndpointStatus; disabledNow: boolean } | null> {
  const at = sql`${now.toISOString()}::timestamptz`;
  const due = sql`${webhookEndpoints.failingSince} is not null and ${webhookEndpoints.failingSince} <= ${at} - ${disableAfterMs} * interval '1 millisecond'`;
  const [row] = await ex
    .update(webhookEndpoints)
    .set({
      failingSince: sql`coalesce(${webhookEndpoints.failingSince}, ${at})`,
      status: sql`case when ${due} then 'disabled' else 'failing' end`,
      disabledAt: sql`case when ${due} then ${at} else null end`,
      updatedAt: sql`now()`,
    })
    .where(and(eq(webhookEndpoints.id, id), ne(webhookEndpoints.status, 'disabled')))
    .returning({ status: webhookEndpoints.status });
  if (!row) return null;
  return { status: row.status, disabledNow: row.status === 'disabled' };
}

export async function countByStatus(ex: Executor): Promise<Record<string, number>> {
  const rows = await ex
    .select({ status: webhookEndpoints.status, n: sql<number>`count(*)::int` })
    .from(webhookEndpoints)
    .groupBy(webhookEndpoints.status);
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

/** Re-seals every endpoint secret (current and previous) that `reseal` says is not current. */
export async function resealSecrets(ex: Executor, reseal: Reseal): Promise<ResealCounts> {
  const counts = { endpoint_secret: 0 };
  for (let after = ''; ; ) {
    const rows = await ex
      .select({
        id: webhookEndpoints.id,
        secretEnc: webhookEndpoints.secretEnc,
        previousSecretEnc: webhookEndpoints.previousSecretEnc,
      })
      .from(webhookEndpoints)
      .where(sql`${webhookEndpoints.id} > ${after}`)
      .orderBy(webhookEndpoints.id)
      .limit(RESEAL_BATCH);
    for (const row of rows) {
      const context = { purpose: 'endpoint_secret', id: row.id } as const;
      const next = reseal(row.secretEnc, context);
      if (next) {
        const [written] = await ex
          .update(webhookEndpoints)
          .set({ secretEnc: next })
          .where(
            and(eq(webhookEndpoints.id, row.id), eq(webhookEndpoints.secretEnc, row.secretEnc)),
          )
          .returning({ id: webhookEndpoints.id });
        if (written) counts.endpoint_secret += 1;
      }
      const previous = row.previousSecretEnc;
      const nextPrevious = previous ? reseal(previous, context) : null;
      if (previous && nextPrevious) {
        const [written] = await ex
          .update(webhookEndpoints)
          .set({ previousSecretEnc: nextPrevious })
          .where(
            and(eq(webhookEndpoints.id, row.id), eq(webhookEndpoints.previousSecretEnc, previous)),
          )
          .returning({ id: webhookEndpoints.id });
        if (written) counts.endpoint_secret += 1;
      }
    }
    const last = rows.at(-1);
    if (!last) return counts;
    after = last.id;
  }
}
