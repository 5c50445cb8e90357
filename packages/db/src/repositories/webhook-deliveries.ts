// The owner of the `webhook_deliveries` table: the log of every attempt to deliver a change to
// an app webhook endpoint.
import { and, desc, eq, lt, sql } from 'drizzle-orm';
import type { Executor } from '../client.ts';
import { type WebhookDeliveryRow, webhookDeliveries } from '../schema/app-webhooks.ts';

export interface NewDelivery {
  endpointId: string;
  changeId: string;
  attempt: number;
  /** The HTTP status answered; null when none was (`error` says why). */
  status: number | null;
  error: string | null;
  at: Date;
  durationMs: number;
}

/** Logs one attempt; nothing when the endpoint was deleted meanwhile. */
export async function record(ex: Executor, delivery: NewDelivery): Promise<void> {
  await ex.execute(sql`
    insert into ${webhookDeliveries} (endpoint_id, change_id, attempt, status, error, at, duration_ms)
    select ${delivery.endpointId}, ${delivery.changeId}, ${delivery.attempt}, ${delivery.status},
      ${delivery.error}, ${delivery.at.toISOString()}::timestamptz, ${delivery.durationMs}
    where exists (select 1 from webhook_endpoints where id = ${delivery.endpointId})`);
}

const CURSOR_PREFIX = 'd1.';

/** An opaque cursor: the next page holds deliveries logged before this one. */
export function encodeCursor(id: number): string {
  return `${CURSOR_PREFIX}${Buffer.from(String(id)).toString('base64url')}`;
}

export function decodeCursor(cursor: string): number | null {
  if (!cursor.startsWith(CURSOR_PREFIX)) return null;
  const text = Buffer.from(cursor.slice(CURSOR_PREFIX.length), 'base64url').toString('utf8');
  if (!/^\d{1,15}$/.test(text)) return null;
  return Number(text);
}

/** Up to `limit` attempts of one endpoint, newest first, logged before `before` if given. */
export async function page(
  ex: Executor,
  endpointId: string,
  options: { before?: number | undefined; limit: number },
): Promise<{ rows: WebhookDeliveryRow[]; next: string | null }> {
  const rows = await ex
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.endpointId, endpointId),
        options.before === undefined ? undefined : lt(webhookDeliveries.id, options.before),
      ),
    )
    .orderBy(desc(webhookDeliveries.id))
    .limit(options.limit + 1);
  const more = rows.length > options.limit;
  const kept = more ? rows.slice(0, options.limit) : rows;
  const last = kept.at(-1);
  return { rows: kept, next: more && last ? encodeCursor(last.id) : null };
}

/** Deletes up to `batch` attempts logged before `before`; returns how many went. */
export async function pruneBefore(ex: Executor, before: Date, batch: number): Promise<number> {
  const rows = await ex.execute<{ id: number }>(sql`
    delete from ${webhookDeliveries} where id in (
      select id from ${webhookDeliveries} where at < ${before.toISOString()}::timestamptz
      order by id limit ${batch})
    returning id`);
  return rows.length;
}
