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
import { spreadPositionSql } from '../spread.ts';
import { timestamps, tstz } from './columns.ts';

export const connectionStatuses = ['active', 'reauth_required', 'disconnected'] as const;
export type ConnectionStatus = (typeof connectionStatuses)[number];

export const webhookStates = ['active', 'pending', 'disabled', 'missing', 'unavailable'] as const;
export type WebhookState = (typeof webhookStates)[number];

/** Why reconcile deleted one of our subscriptions at Calendly. */
export type SubscriptionDeleteReason =
  | 'unknown_hook'
  | 'retired_hook'
  | 'disabled'
  | 'duplicate'
  | 'wrong_events'
  | 'old_public_url';

/** What one subscription check found and did (the `subscription` part of a reconcile report). */
export interface SubscriptionReport {
  state: WebhookState;
  kept: string[];
  created: string[];
  deleted: { uri: string; reason: SubscriptionDeleteReason }[];
  untouched: number;
  /** Calendly's words when it refused the subscription (plan, scope). */
  message?: string;
  /** The scopes Calendly said the token lacks, when that was the refusal. */
  requiredScopes?: string[];
  retryStartedAt?: string | null;
}

/** What one backfill listed and changed (the `backfill` part of a reconcile report). */
export interface BackfillReport {
  from: string;
  to: string;
  /** The first import's wide window, or the routine one. */
  initial: boolean;
  events: number;
  invitees: number;
  /** Invitees whose rows the listing created or changed: what no webhook had delivered. */
  changed: number;
  /** Changes counted as lost deliveries repaired (0 on the first import: that is history). */
  repairs: number;
  /** Items left out, each counted here and logged: unreadable, refused by Calendly, or bad data. */
  skipped: number;
  /** The first of them, with why (the count above is complete). */
  skippedItems: { uri: string | null; reason: string }[];
}

/** The last reconcile of a connection, as `last_reconcile_report` holds it. */
export interface ReconcileReport {
  subscription: SubscriptionReport;
  /** Null when the run had no backfill due (or it has not finished). */
  backfill: BackfillReport | null;
}

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
    // Set when an app, a command or a connect asks for a backfill; the next reconcile run does
    // one and clears it, unless it was set again while that run worked.
    backfillRequestedAt: tstz('backfill_requested_at'),
    lastReconcileReport: jsonb('last_reconcile_report').$type<ReconcileReport>(),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('connections_user_id_key').on(t.userId),
    index('connections_calendly_user_idx').on(t.calendlyUserUri),
    index('connections_status_idx').on(t.status),
    // The scheduled reconcile selects the active connections of one slice of the cycle by
    // their spread position (spread.ts): a range scan, not a pass over every connection.
    index('connections_spread_idx').on(spreadPositionSql(t.id)).where(sql`${t.status} = 'active'`),
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
