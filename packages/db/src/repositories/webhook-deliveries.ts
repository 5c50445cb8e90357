// The owner of the `webhook_deliveries` table: the log of every attempt to deliver a change to
// an app webhook endpoint.
import { and, desc, eq, sql } from 'drizzle-orm';
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

/** Logs attempts in one statement; those of an endpoint deleted meanwhile are left out. */
export async function record(ex: Executor, deliveries: readonly NewDelivery[]): Promise<void> {
  if (deliveries.length === 0) return;
  const rows = deliveries.map((d) => ({
    endpoint_id: d.endpointId,
    change_id: d.changeId,
    attempt: d.attempt,
    status: d.status,
    error: d.error,
    at: d.at.toISOString(),
    duration_ms: d.durationMs,
  }));
  await ex.execute(sql`
    insert into ${webhookDeliveries} (endpoint_id, change_id, attempt, status, error, at, duration_ms)
    select d.endpoint_id, d.change_id, d.attempt, d.status, d.error, d.at, d.duration_ms
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as d(endpoint_id text,
      change_id text, attempt int, status int, error text, at timestamptz, duration_ms int)
    where exists (select 1 from webhook_endpoints e where e.id = d.endpoint_id)`);
}

const CURSOR_PREFIX = 'd1.';

/** Where a page of the log stops: the last attempt shown. */
interface LogPlace {
  at: Date;
  id: number;
}

/** An opaque cursor: the next page holds the attempts made before this one. */
export function encodeCursor(place: LogPlace): string {
  return `${CURSOR_PREFIX}${Buffer.from(`${place.at.getTime()}.${place.id}`).toString('base64url')}`;
}

export function decodeCursor(cursor: string): LogPlace | null {
  if (!cursor.startsWith(CURSOR_PREFIX)) return null;
  const text = Buffer.from(cursor.slice(CURSOR_PREFIX.length), 'base64url').toString('utf8');
  const match = /^(\d{1,15})\.(\d{1,15})$/.exec(text);
  if (!match) return null;
  return { at: new Date(Number(match[1])), id: Number(match[2]) };
}

/** Up to `limit` attempts of one endpoint, newest first, made before `before` if given. */
export async function page(
  ex: Executor,
  endpointId: string,
  options: { before?: LogPlace | undefined; limit: number },
): Promise<{ rows: WebhookDeliveryRow[]; next: string | null }> {
  const before = options.before;
  const rows = await ex
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.endpointId, endpointId),
        before === undefined
          ? undefined
          : sql`(${webhookDeliveries.at}, ${webhookDeliveries.id}) < (${before.at.toISOString()}::timestamptz, ${before.id})`,
      ),
    )
    .orderBy(desc(webhookDeliveries.at), desc(webhookDeliveries.id))
    .limit(options.limit + 1);
  const more = rows.length > options.limit;
  const kept = more ? rows.slice(0, options.limit) : rows;
  const last = kept.at(-1);
  return { rows: kept, next: more && last ? encodeCursor(last) : null };
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
