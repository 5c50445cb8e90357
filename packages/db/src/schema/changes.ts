import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  check,
  customType,
  index,
  jsonb,
  pgTable,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

export const changeTypes = [
  'meeting.created',
  'meeting.updated',
  'meeting.canceled',
  'connection.updated',
] as const;
export type ChangeType = (typeof changeTypes)[number];

/** A Postgres transaction id (64-bit, never wraps), read and written as its decimal text. */
const xid8 = customType<{ data: string; driverData: string }>({
  dataType: () => 'xid8',
});

/**
 * The change feed (transactional outbox): one row per change to a meeting or a connection,
 * written in the transaction that made the change, with the whole object after it. `seq` is
 * taken when the row is written, `txid` names its transaction; the row's place in the feed is
 * its transaction's position (`change_positions`), then `seq`.
 */
export const changes = pgTable(
  'changes',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    txid: xid8('txid').notNull().default(sql`pg_current_xact_id()`),
    id: text('id').notNull(),
    type: text('type', { enum: changeTypes }).notNull(),
    userId: text('user_id').notNull(),
    connectionId: uuid('connection_id').notNull(),
    meetingId: uuid('meeting_id'),
    data: jsonb('data').notNull(),
    occurredAt: tstz('occurred_at').notNull().default(sql`clock_timestamp()`),
  },
  (t) => [
    uniqueIndex('changes_id_key').on(t.id),
    index('changes_position_idx').on(t.txid, t.seq),
    index('changes_user_position_idx').on(t.userId, t.txid, t.seq),
    check(
      'changes_type_check',
      sql`${t.type} in ('meeting.created', 'meeting.updated', 'meeting.canceled', 'connection.updated')`,
    ),
  ],
);

export type ChangeRow = typeof changes.$inferSelect;

/**
 * The feed's order: one row per transaction that wrote changes, numbered once the transaction
 * and every transaction older than it have ended (see `changes.ts` in the repositories).
 */
export const changePositions = pgTable(
  'change_positions',
  {
    position: bigserial('position', { mode: 'number' }).primaryKey(),
    txid: xid8('txid').notNull(),
  },
  (t) => [uniqueIndex('change_positions_txid_key').on(t.txid)],
);

/**
 * The feed's marks, one row (id 1): every transaction below `positionedBelow` has its position,
 * and changes up to (`prunedThroughPosition`, `prunedThroughSeq`) were pruned, so a cursor
 * before that names a change the feed no longer holds (410).
 */
export const changeFeedState = pgTable('change_feed_state', {
  id: bigint('id', { mode: 'number' }).primaryKey(),
  positionedBelow: xid8('positioned_below').notNull().default(sql`'0'::xid8`),
  prunedThroughPosition: bigint('pruned_through_position', { mode: 'number' }).notNull().default(0),
  prunedThroughSeq: bigint('pruned_through_seq', { mode: 'number' }).notNull().default(0),
});
