import { sql } from 'drizzle-orm';
import { bigserial, check, index, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';
import { connections } from './connections.ts';

export const inboxOutcomes = [
  'received',
  'applied',
  'stale',
  'ignored',
  'quarantined',
  'invalid',
] as const;
export type InboxOutcome = (typeof inboxOutcomes)[number];

/**
 * Every accepted delivery, verbatim, before anything else happens to it. The content hash
 * (connection + raw body) is the idempotency key: Calendly has no delivery id, and a retried
 * or duplicated delivery is byte-identical.
 */
export const eventInbox = pgTable(
  'event_inbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    contentHash: text('content_hash').notNull(),
    hookId: text('hook_id').notNull(),
    connectionId: uuid('connection_id')
      .notNull()
      .references(() => connections.id, { onDelete: 'cascade' }),
    eventType: text('event_type'),
    calendlyCreatedAt: tstz('calendly_created_at'),
    body: text('body').notNull(),
    outcome: text('outcome', { enum: inboxOutcomes }).notNull().default('received'),
    outcomeDetail: text('outcome_detail'),
    receivedAt: tstz('received_at').notNull(),
    processedAt: tstz('processed_at'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('event_inbox_content_hash_key').on(t.contentHash),
    index('event_inbox_connection_idx').on(t.connectionId, t.createdAt),
    index('event_inbox_outcome_idx').on(t.outcome),
    check(
      'event_inbox_outcome_check',
      sql`${t.outcome} in ('received', 'applied', 'stale', 'ignored', 'quarantined', 'invalid')`,
    ),
  ],
);

export type EventInboxRow = typeof eventInbox.$inferSelect;
