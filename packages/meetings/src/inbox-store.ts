// The owner of the `event_inbox` table: every accepted delivery, verbatim, with what became of
// it. Ingest and replay write it only through these operations.
import { connections, type Executor, eventInbox, type InboxOutcome } from '@calhook/db';
import { and, asc, eq, gte, notInArray, or, type SQL, sql } from 'drizzle-orm';
import { anyOf, jsonRecordset } from './bulk-sql.ts';

export interface InboxEntry {
  contentHash: string;
  hookId: string;
  connectionId: string;
  body: string;
  receivedAt: Date;
}

/**
 * Stores deliveries not stored yet (the content hash is the idempotency key: Calendly has no
 * delivery id, and a retried delivery is byte-identical). Sorted by hash, so two batches
 * inserting the same contents wait on each other in one order.
 */
export async function insertNew(ex: Executor, entries: readonly InboxEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const sorted = [...entries].sort((a, b) =>
    a.contentHash < b.contentHash ? -1 : a.contentHash > b.contentHash ? 1 : 0,
  );
  const { columns, source } = jsonRecordset(
    eventInbox,
    ['contentHash', 'hookId', 'connectionId', 'body', 'receivedAt'],
    sorted,
  );
  await ex.execute(sql`
    insert into ${eventInbox} (${columns}) select ${columns} from ${source}
    on conflict (content_hash) do nothing`);
}

/**
 * The rows of these hashes, locked in id order until the transaction ends: two workers
 * holding the same delivery take turns, and the second sees it processed.
 */
export async function lockByHashes(tx: Executor, hashes: readonly string[]) {
  return tx
    .select({
      id: eventInbox.id,
      contentHash: eventInbox.contentHash,
      processedAt: eventInbox.processedAt,
    })
    .from(eventInbox)
    .where(anyOf(eventInbox.contentHash, [...hashes]))
    .orderBy(asc(eventInbox.id))
    .for('update');
}

export interface InboxMark {
  id: number;
  outcome: InboxOutcome;
  outcomeDetail: string | null;
  eventType: string | null;
  calendlyCreatedAt: Date | null;
}

/** Records what became of each delivery, in one statement. */
export async function markProcessed(
  ex: Executor,
  marks: readonly InboxMark[],
  at: Date,
): Promise<void> {
  if (marks.length === 0) return;
  const { source } = jsonRecordset(
    eventInbox,
    ['id', 'outcome', 'outcomeDetail', 'eventType', 'calendlyCreatedAt'],
    marks,
  );
  await ex.execute(sql`
    update ${eventInbox} set
      outcome = v.outcome,
      outcome_detail = v.outcome_detail,
      event_type = v.event_type,
      calendly_created_at = v.calendly_created_at,
      processed_at = ${at.toISOString()}::timestamptz
    from ${source}
    where ${eventInbox.id} = v.id`);
}

/** Makes these deliveries run again as first arrivals (a replay's rebuild, in a savepoint). */
export async function markUnprocessed(ex: Executor, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await ex
    .update(eventInbox)
    .set({ processedAt: null })
    .where(sql`${eventInbox.id} = any(${sql.param([...ids])}::bigint[])`);
}

/** A stored delivery as replay reads it. */
export interface StoredDelivery {
  id: number;
  connectionId: string;
  hookId: string;
  body: string;
  receivedAt: Date;
  outcome: InboxOutcome;
  outcomeDetail: string | null;
  eventType: string | null;
  calendlyCreatedAt: Date | null;
}

const storedColumns = {
  id: eventInbox.id,
  connectionId: eventInbox.connectionId,
  hookId: eventInbox.hookId,
  body: eventInbox.body,
  receivedAt: eventInbox.receivedAt,
  outcome: eventInbox.outcome,
  outcomeDetail: eventInbox.outcomeDetail,
  eventType: eventInbox.eventType,
  calendlyCreatedAt: eventInbox.calendlyCreatedAt,
};

export interface InboxFilter {
  /** The app's user id (connections.user_id). */
  userId?: string | undefined;
  /** Deliveries received at or after this time. */
  since?: Date | undefined;
  /** Calendly event type, e.g. `invitee.canceled`. */
  eventType?: string | undefined;
}

export async function select(ex: Executor, filter: InboxFilter): Promise<StoredDelivery[]> {
  const conditions: SQL[] = [];
  if (filter.userId !== undefined) conditions.push(eq(connections.userId, filter.userId));
  if (filter.since !== undefined) conditions.push(gte(eventInbox.receivedAt, filter.since));
  if (filter.eventType !== undefined) conditions.push(eq(eventInbox.eventType, filter.eventType));
  return ex
    .select(storedColumns)
    .from(eventInbox)
    .innerJoin(connections, eq(connections.id, eventInbox.connectionId))
    .where(and(...conditions))
    .orderBy(asc(eventInbox.id));
}

/**
 * The connection's deliveries other than `known` whose body contains one of `texts`. A body
 * merely containing the text is not necessarily about it: the caller parses to decide.
 */
export async function mentioning(
  ex: Executor,
  connectionId: string,
  texts: readonly string[],
  known: readonly number[],
): Promise<StoredDelivery[]> {
  if (texts.length === 0) return [];
  return ex
    .select(storedColumns)
    .from(eventInbox)
    .where(
      and(
        eq(eventInbox.connectionId, connectionId),
        known.length > 0 ? notInArray(eventInbox.id, [...known]) : undefined,
        or(...texts.map((text) => sql`position(${text} in ${eventInbox.body}) > 0`)),
      ),
    );
}

export async function byIds(ex: Executor, ids: readonly number[]): Promise<StoredDelivery[]> {
  if (ids.length === 0) return [];
  return ex
    .select(storedColumns)
    .from(eventInbox)
    .where(sql`${eventInbox.id} = any(${sql.param([...ids])}::bigint[])`);
}
