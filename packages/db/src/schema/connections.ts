import { sql } from 'drizzle-orm';
import {
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

export const connectionStatuses = ['active', 'reauth_required', 'disconnected'] as const;
export type ConnectionStatus = (typeof connectionStatuses)[number];

export const webhookStates = ['active', 'pending', 'disabled', 'missing', 'unavailable'] as const;
export type WebhookState = (typeof webhookStates)[number];

/**
 * One app user's link to one Calendly user. The row is kept after disconnect (meetings hang
 * off it) and reused on reconnect, so `user_id` is the natural key.
 */
export const connections = pgTable(
  'connections',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: text('user_id').notNull(),
    status: text('status', { enum: connectionStatuses }).notNull().default('active'),
    calendlyUserUri: text('calendly_user_uri'),
    organizationUri: text('organization_uri'),
    // Tokens are AES-256-GCM ciphertexts carrying the id of the key that sealed them.
    accessTokenEnc: text('access_token_enc'),
    refreshTokenEnc: text('refresh_token_enc'),
    tokenExpiresAt: tstz('token_expires_at'),
    // Bumped on every token write: the compare-and-swap that keeps refreshes single-flight.
    tokenVersion: integer('token_version').notNull().default(0),
    refreshTokenIssuedAt: tstz('refresh_token_issued_at'),
    // Set when a refresh was sent but its answer was lost (timeout after sending): the stored
    // refresh token may already be spent at Calendly. Cleared by the next successful write.
    refreshOutcomeUnknownAt: tstz('refresh_outcome_unknown_at'),
    // Consecutive transient refresh failures (5xx, 429, network); reset on success.
    refreshFailures: integer('refresh_failures').notNull().default(0),
    webhookState: text('webhook_state', { enum: webhookStates }).notNull().default('pending'),
    webhookMessage: text('webhook_message'),
    lastError: text('last_error'),
    lastErrorAt: tstz('last_error_at'),
    lastEventAt: tstz('last_event_at'),
    lastReconciledAt: tstz('last_reconciled_at'),
    lastBackfilledAt: tstz('last_backfilled_at'),
    lastReconcileReport: jsonb('last_reconcile_report'),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('connections_user_id_key').on(t.userId),
    index('connections_calendly_user_idx').on(t.calendlyUserUri),
    index('connections_status_idx').on(t.status),
    check(
      'connections_status_check',
      sql`${t.status} in ('active', 'reauth_required', 'disconnected')`,
    ),
    check(
      'connections_webhook_state_check',
      sql`${t.webhookState} in ('active', 'pending', 'disabled', 'missing', 'unavailable')`,
    ),
  ],
);

export type ConnectionRow = typeof connections.$inferSelect;
export type NewConnectionRow = typeof connections.$inferInsert;
