// The owner of the `changes` table (the change feed) and its low-water mark. Table owners call
// `append` in the transaction of the write that caused a change; readers page with `read`,
// which is gap-free across concurrent transactions (see the schema's comment).
import { randomUUID } from 'node:crypto';
import { and, eq, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../client.ts';
import { type ChangeRow, type ChangeType, changeFeedState, changes } from '../schema/changes.ts';

/** A place in the feed: after the change at (txid, seq). */
export interface Position {
  txid: string;
  seq: number;
}

/** Before every change: where a reader with no cursor starts. */
export const START: Position = { txid: '0', seq: 0 };

const CURSOR_PREFIX = 'c1.';

/** An opaque cursor for a position: readers pass it back, never look inside. */
export function encodeCursor(position: Position): string {
  return `${CURSOR_PREFIX}${Buffer.from(`${position.txid}.${position.seq}`).toString('base64url')}`;
}

/** The position of a cursor, or null when it is not one calhook issued. */
export function decodeCursor(cursor: string): Position | null {
  if (!cursor.startsWith(CURSOR_PREFIX)) return null;
  const text = Buffer.from(cursor.slice(CURSOR_PREFIX.length), 'base64url').toString('utf8');
  const match = /^(\d{1,20})\.(\d{1,15})$/.exec(text);
  if (!match) return null;
  const [, txid, seq] = match as unknown as [string, string, string];
  if (BigInt(txid) > 0xffff_ffff_ffff_ffffn) return null;
  return { txid, seq: Number(seq) };
}

export function newChangeId(): string {
  return `chg_${randomUUID().replaceAll('-', '')}`;
}

export interface NewChange {
  type: ChangeType;
  userId: string;
  connectionId: string;
  meetingId: string | null;
  /** The whole object after the change, as the API shows it. */
  data: unknown;
}

/** Wakes whoever listens for new changes once this transaction commits (coalesced per transaction). */
const NOTIFY = sql`select pg_notify('calhook_changes', '')`;
export const CHANGES_CHANNEL = 'calhook_changes';

/** Records changes in the caller's transaction. */
export async function append(ex: Executor, rows: readonly NewChange[]): Promise<void> {
  if (rows.length === 0) return;
  await ex.insert(changes).values(
    rows.map((row) => ({
      id: newChangeId(),
      type: row.type,
      userId: row.userId,
      connectionId: row.connectionId,
      meetingId: row.meetingId,
      data: row.data,
    })),
  );
  await ex.execute(NOTIFY);
}

/**
 * Records one change per meeting in the caller's transaction, each with the meeting as
 * `snapshot` (a jsonb expression over the meetings row `m` and its connection `c`) renders it.
 */
export async function appendMeetingSnapshots(
  ex: Executor,
  entries: readonly { meetingId: string; type: ChangeType }[],
  snapshot: SQL,
): Promise<void> {
  if (entries.length === 0) return;
  await ex.execute(sql`
    insert into ${changes} (id, type, user_id, connection_id, meeting_id, data)
    select 'chg_' || replace(gen_random_uuid()::text, '-', ''), e.type, c.user_id, m.connection_id, m.id, ${snapshot}
    from unnest(${sql.param(entries.map((e) => e.meetingId))}::uuid[], ${sql.param(entries.map((e) => e.type))}::text[]) with ordinality as e(meeting_id, type, n)
    join meetings m on m.id = e.meeting_id
    join connections c on c.id = m.connection_id
    order by e.n`);
  await ex.execute(NOTIFY);
}

/** A change as the API and app webhooks show it (API.md, "Change"). */
export interface Change {
  id: string;
  cursor: string;
  type: ChangeType;
  occurredAt: string;
  userId: string;
  data: unknown;
}

export function toChange(row: ChangeRow): Change {
  return {
    id: row.id,
    cursor: encodeCursor({ txid: row.txid, seq: row.seq }),
    type: row.type,
    occurredAt: row.occurredAt.toISOString(),
    userId: row.userId,
    data: row.data,
  };
}

export interface FeedPage {
  rows: (ChangeRow & { position: Position })[];
  /** Where the next read starts: after the last row, or where this one started if none. */
  next: Position;
}

/**
 * Up to `limit` changes after `after`, in feed order, only from transactions that have all
 * ended: every transaction with an id below the snapshot's xmin has committed or aborted, and
 * any transaction still to write has an id at or above it, so no change can ever appear at a
 * position a reader has passed.
 */
export async function read(
  ex: Executor,
  options: { after: Position; limit: number; userId?: string | undefined },
): Promise<FeedPage> {
  const after = sql`(${changes.txid}, ${changes.seq}) > (${options.after.txid}::xid8, ${options.after.seq}::bigint)`;
  const settled = sql`${changes.txid} < pg_snapshot_xmin(pg_current_snapshot())`;
  const rows = await ex
    .select()
    .from(changes)
    .where(
      and(
        after,
        settled,
        options.userId === undefined ? undefined : eq(changes.userId, options.userId),
      ),
    )
    .orderBy(changes.txid, changes.seq)
    .limit(options.limit);
  const positioned = rows.map((row) => ({ ...row, position: { txid: row.txid, seq: row.seq } }));
  return { rows: positioned, next: positioned.at(-1)?.position ?? options.after };
}

/**
 * The feed's current end: a reader starting here sees every change committed from now on and
 * none committed before (a webhook endpoint created now starts here).
 */
export async function head(ex: Executor): Promise<Position> {
  const [row] = await ex.execute<{ txid: string; seq: number }>(sql`
    select txid::text as txid, seq from ${changes} order by txid desc, seq desc limit 1`);
  return row ? { txid: row.txid, seq: Number(row.seq) } : prunedThrough(ex);
}

/** The position through which changes were pruned: cursors below it name lost changes. */
export async function prunedThrough(ex: Executor): Promise<Position> {
  const [row] = await ex.select().from(changeFeedState).where(eq(changeFeedState.id, 1));
  return row ? { txid: row.prunedThroughTxid, seq: row.prunedThroughSeq } : START;
}

export function isBefore(a: Position, b: Position): boolean {
  const ta = BigInt(a.txid);
  const tb = BigInt(b.txid);
  return ta < tb || (ta === tb && a.seq < b.seq);
}

/**
 * Deletes up to `batch` settled changes that occurred before `before`, oldest first, and moves
 * the low-water mark to the last one deleted. Returns how many went.
 */
export async function pruneBefore(ex: Executor, before: Date, batch: number): Promise<number> {
  return ex.transaction(async (tx) => {
    const doomed = await tx.execute<{ txid: string; seq: number }>(sql`
      select txid::text as txid, seq from ${changes}
      where occurred_at < ${before.toISOString()}::timestamptz
        and txid < pg_snapshot_xmin(pg_current_snapshot())
      order by txid, seq limit ${batch}`);
    const last = doomed.at(-1);
    if (!last) return 0;
    // Everything up to the mark goes, so the mark says exactly what a reader can no longer get.
    await tx.execute(sql`
      delete from ${changes} where (txid, seq) <= (${last.txid}::xid8, ${Number(last.seq)}::bigint)`);
    await tx
      .update(changeFeedState)
      .set({ prunedThroughTxid: last.txid, prunedThroughSeq: Number(last.seq) })
      .where(eq(changeFeedState.id, 1));
    return doomed.length;
  });
}
