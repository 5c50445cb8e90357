// The owner of the change feed: the `changes` table, the positions that order it and its marks.
// Table owners call `append` in the transaction of the write that caused a change; readers page
// with `read`, in an order that is gap-free and agrees with commit order (see `positionSettled`).
import { randomUUID } from 'node:crypto';
import { eq, type SQL, sql } from 'drizzle-orm';
import type { Database, Executor } from '../client.ts';
import {
  type ChangeRow,
  type ChangeType,
  changeFeedState,
  changePositions,
  changes,
} from '../schema/changes.ts';

/** A place in the feed: after the change `seq` of the transaction at `position`. */
export interface Position {
  position: number;
  seq: number;
}

/** Before every change: where a reader with no cursor starts. */
export const START: Position = { position: 0, seq: 0 };

const CURSOR_PREFIX = 'c2.';

/** An opaque cursor for a position: readers pass it back, never look inside. */
export function encodeCursor(at: Position): string {
  return `${CURSOR_PREFIX}${Buffer.from(`${at.position}.${at.seq}`).toString('base64url')}`;
}

/** The position of a cursor, or null when it is not one calhook issued. */
export function decodeCursor(cursor: string): Position | null {
  if (!cursor.startsWith(CURSOR_PREFIX)) return null;
  const text = Buffer.from(cursor.slice(CURSOR_PREFIX.length), 'base64url').toString('utf8');
  const match = /^(\d{1,15})\.(\d{1,15})$/.exec(text);
  if (!match) return null;
  const [, position, seq] = match as unknown as [string, string, string];
  return { position: Number(position), seq: Number(seq) };
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

export function toChange(row: PositionedChange): Change {
  return {
    id: row.id,
    cursor: encodeCursor(row.at),
    type: row.type,
    occurredAt: row.occurredAt.toISOString(),
    userId: row.userId,
    data: row.data,
  };
}

/** A stored change with its place in the feed. */
export type PositionedChange = ChangeRow & { at: Position };

export interface FeedPage {
  rows: PositionedChange[];
  /** Where the next read starts: after the last row, or where this one started if none. */
  next: Position;
}

/** Held while positions are handed out, so that one positioner at a time numbers transactions. */
const POSITIONER_LOCK = 72_411_904;

/**
 * Gives a position to every transaction that wrote changes and has ended, together with every
 * transaction older than it (all ids below the snapshot's xmin), in the order of the last
 * change each wrote.
 *
 * Why this order is gap-free: only ended transactions are numbered, a transaction still to
 * write gets an id at or above xmin, and positions are handed out under one lock by
 * transactions that commit before releasing it, so a reader who sees position n sees every
 * position below n. Why it agrees with commit order where it matters: when a transaction
 * writes a row after another committed (a meeting it had to wait for), its last `seq` is
 * larger than all of the other's, so it gets the later position; transactions ordered the
 * other way by `seq` overlapped and touched nothing in common.
 */
export async function positionSettled(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${POSITIONER_LOCK})`);
    // A new statement, so a new snapshot: it sees what the previous holder of the lock did.
    await tx.execute(sql`
      with mark as (
        select positioned_below as low, greatest(positioned_below, pg_snapshot_xmin(pg_current_snapshot())) as high
        from ${changeFeedState} where id = 1
      ), settled as (
        select c.txid, max(c.seq) as last_seq
        from ${changes} c, mark
        where c.txid >= mark.low and c.txid < mark.high
        group by c.txid
      ), numbered as (
        insert into ${changePositions} (txid)
        select txid from settled order by last_seq
        on conflict (txid) do nothing
      )
      update ${changeFeedState} s set positioned_below = mark.high from mark where s.id = 1`);
  });
}

/** A change row as the feed's reads select it (`changeColumns`), its position as text. */
type ChangeRowWithPosition = ChangeRow & { position: string; seq: string };

/** The columns of a feed read over `change_positions p` and `changes c`, `data` as given. */
const changeColumns = (data: SQL) => sql`c.seq, c.txid::text as txid, c.id, c.type,
  c.user_id as "userId", c.connection_id as "connectionId", c.meeting_id as "meetingId", ${data},
  c.occurred_at as "occurredAt", p.position`;

function positionedChange(row: ChangeRowWithPosition): PositionedChange {
  const at = { position: Number(row.position), seq: Number(row.seq) };
  const { position: _, ...change } = row;
  return { ...change, seq: at.seq, occurredAt: new Date(row.occurredAt), at } as PositionedChange;
}

/**
 * Up to `limit` changes after `after`, in feed order: by the position of their transaction,
 * then by `seq`. Numbers the transactions that ended since the last read first, in a
 * transaction of its own (hence a `Database`, never a caller's transaction: positions must be
 * committed before anyone can read them).
 */
export async function read(
  db: Database,
  options: {
    after: Position;
    limit: number;
    userId?: string | undefined;
    /** false: each row's `data` is null (a reader that needs only ids, types and positions). */
    data?: boolean;
  },
): Promise<FeedPage> {
  await positionSettled(db);
  const user = options.userId === undefined ? sql`` : sql`and c.user_id = ${options.userId}`;
  const data = options.data === false ? sql`null::jsonb as data` : sql`c.data`;
  // `p.position >=` is implied by the row comparison; said alone, it lets the planner range-scan
  // the positions instead of reading the whole feed.
  const rows = await db.execute<ChangeRowWithPosition>(sql`
    select ${changeColumns(data)}
    from ${changePositions} p join ${changes} c on c.txid = p.txid
    where p.position >= ${options.after.position}::bigint
      and (p.position, c.seq) > (${options.after.position}::bigint, ${options.after.seq}::bigint) ${user}
    order by p.position, c.seq
    limit ${options.limit}`);
  const positioned = rows.map(positionedChange);
  return { rows: positioned, next: positioned.at(-1)?.at ?? options.after };
}

/**
 * The changes after `after` up to and including `through`, in feed order, at most `limit`:
 * a span a reader already saw positioned (no numbering first). Each position's changes are
 * read by index between its bounds, so a span inside a large transaction reads only itself.
 */
export async function readSpan(
  db: Database,
  span: { after: Position; through: Position; limit: number },
): Promise<PositionedChange[]> {
  const { after, through } = span;
  const rows = await db.execute<ChangeRowWithPosition>(sql`
    select ${changeColumns(sql`c.data`)}
    from ${changePositions} p
    cross join lateral (
      select * from ${changes} c
      where c.txid = p.txid
        and c.seq > case when p.position = ${after.position}::bigint then ${after.seq}::bigint else 0 end
        and c.seq <= case when p.position = ${through.position}::bigint then ${through.seq}::bigint
          else ${Number.MAX_SAFE_INTEGER}::bigint end
      order by c.seq
    ) c
    where p.position between ${after.position}::bigint and ${through.position}::bigint
    order by p.position, c.seq
    limit ${span.limit}`);
  return rows.map(positionedChange);
}

/**
 * The feed's current end: a reader starting here sees the changes of every transaction that
 * ends from now on (a webhook endpoint created now starts here).
 */
export async function head(db: Database): Promise<Position> {
  await positionSettled(db);
  const [row] = await db.execute<{ position: string; seq: string }>(sql`
    select p.position, max(c.seq) as seq
    from (select position, txid from ${changePositions} order by position desc limit 1) p
    join ${changes} c on c.txid = p.txid
    group by p.position`);
  return row ? { position: Number(row.position), seq: Number(row.seq) } : prunedThrough(db);
}

/** The position through which changes were pruned: cursors below it name lost changes. */
export async function prunedThrough(ex: Executor): Promise<Position> {
  const [row] = await ex.select().from(changeFeedState).where(eq(changeFeedState.id, 1));
  return row ? { position: row.prunedThroughPosition, seq: row.prunedThroughSeq } : START;
}

export function isBefore(a: Position, b: Position): boolean {
  return a.position < b.position || (a.position === b.position && a.seq < b.seq);
}

/**
 * Deletes the changes of up to `batch` positioned transactions whose changes occurred before
 * `before`, oldest first, and moves the low-water mark past the last one. Returns how many
 * changes went.
 */
export async function pruneBefore(ex: Executor, before: Date, batch: number): Promise<number> {
  return ex.transaction(async (tx) => {
    // The oldest positions up to (not including) the first with a change still to keep.
    const [last] = await tx.execute<{ position: string | null }>(sql`
      with oldest as (
        select p.position, exists (
          select 1 from ${changes} c
          where c.txid = p.txid and c.occurred_at >= ${before.toISOString()}::timestamptz
        ) as kept
        from ${changePositions} p order by p.position limit ${batch}
      )
      select max(position) as position from oldest
      where position < coalesce((select min(position) from oldest where kept), ${Number.MAX_SAFE_INTEGER}::bigint)`);
    if (!last?.position) return 0;
    const through = Number(last.position);
    // Everything up to the mark goes, so the mark says exactly what a reader can no longer get.
    const gone = await tx.execute<{ position: string; seq: string }>(sql`
      delete from ${changes} c using ${changePositions} p
      where c.txid = p.txid and p.position <= ${through}
      returning p.position, c.seq`);
    await tx.execute(sql`delete from ${changePositions} where position <= ${through}`);
    const lastSeq = gone
      .filter((row) => Number(row.position) === through)
      .reduce((max, row) => Math.max(max, Number(row.seq)), 0);
    await tx
      .update(changeFeedState)
      .set({ prunedThroughPosition: through, prunedThroughSeq: lastSeq })
      .where(eq(changeFeedState.id, 1));
    return gone.length;
  });
}
