import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { timestamps, tstz } from './columns.ts';
import { connections } from './connections.ts';

/**
 * A Calendly scheduled event of one connected user. `source_updated_at` is the Calendly
 * timestamp the row reflects: older updates are ignored, so any delivery order converges.
 */
export const meetings = pgTable(
  'meetings',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    connectionId: uuid('connection_id')
      .notNull()
      .references(() => connections.id, { onDelete: 'cascade' }),
    calendlyEventUri: text('calendly_event_uri').notNull(),
    name: text('name'),
    status: text('status', { enum: ['active', 'canceled'] }).notNull(),
    startTime: tstz('start_time'),
    endTime: tstz('end_time'),
    location: jsonb('location'),
    eventTypeUri: text('event_type_uri'),
    canceledAt: tstz('canceled_at'),
    canceledBy: text('canceled_by'),
    cancelReason: text('cancel_reason'),
    sourceUpdatedAt: tstz('source_updated_at').notNull(),
    // Starts at 1 and grows by one with every recorded change to the meeting or its invitees:
    // a snapshot with a higher version is newer.
    version: integer('version').notNull().default(1),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('meetings_connection_event_key').on(t.connectionId, t.calendlyEventUri),
    index('meetings_connection_start_idx').on(t.connectionId, t.startTime, t.id),
    check('meetings_status_check', sql`${t.status} in ('active', 'canceled')`),
  ],
);

/**
 * One invitee of a meeting (group events have many). Status and no-show carry their own
 * Calendly timestamps because they arrive in different events, in any order.
 */
export const invitees = pgTable(
  'invitees',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    connectionId: uuid('connection_id')
      .notNull()
      .references(() => connections.id, { onDelete: 'cascade' }),
    meetingId: uuid('meeting_id')
      .notNull()
      .references(() => meetings.id, { onDelete: 'cascade' }),
    calendlyInviteeUri: text('calendly_invitee_uri').notNull(),
    calendlyEventUri: text('calendly_event_uri').notNull(),
    email: text('email'),
    name: text('name'),
    timezone: text('timezone'),
    status: text('status', { enum: ['active', 'canceled'] }).notNull(),
    rescheduled: boolean('rescheduled').notNull().default(false),
    oldInviteeUri: text('old_invitee_uri'),
    newInviteeUri: text('new_invitee_uri'),
    canceledBy: text('canceled_by'),
    cancelerType: text('canceler_type'),
    cancelReason: text('cancel_reason'),
    canceledAt: tstz('canceled_at'),
    questionsAndAnswers: jsonb('questions_and_answers').notNull().default(sql`'[]'::jsonb`),
    tracking: jsonb('tracking'),
    sourceUpdatedAt: tstz('source_updated_at').notNull(),
    noShow: boolean('no_show').notNull().default(false),
    noShowUri: text('no_show_uri'),
    // Calendly time of the last no-show mark or unmark applied; null until one arrives.
    noShowUpdatedAt: tstz('no_show_updated_at'),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('invitees_connection_invitee_key').on(t.connectionId, t.calendlyInviteeUri),
    index('invitees_meeting_idx').on(t.meetingId),
    // Reschedule links are looked up from the other side ("who names me as old/new invitee?")
    // on every applied delivery; few rows have one, so the indexes are partial.
    index('invitees_old_invitee_idx')
      .on(t.connectionId, t.oldInviteeUri)
      .where(sql`${t.oldInviteeUri} is not null`),
    index('invitees_new_invitee_idx')
      .on(t.connectionId, t.newInviteeUri)
      .where(sql`${t.newInviteeUri} is not null`),
    check('invitees_status_check', sql`${t.status} in ('active', 'canceled')`),
  ],
);

export type MeetingRow = typeof meetings.$inferSelect;
export type InviteeRow = typeof invitees.$inferSelect;
