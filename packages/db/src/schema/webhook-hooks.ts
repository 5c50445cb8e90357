import { sql } from 'drizzle-orm';
import { check, index, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { timestamps, tstz } from './columns.ts';
import { connections } from './connections.ts';

export const hookScopes = ['user', 'organization', 'group'] as const;
export const hookStates = ['pending', 'active', 'disabled', 'retired'] as const;
export type HookState = (typeof hookStates)[number];

/**
 * A callback endpoint of ours (`/webhooks/calendly/:id`) and the Calendly subscription behind
 * it. The id is 128 random bits and a MAC over them (URL-safe, never the user id; ids from
 * before 2026-12-03 have no MAC, see @calhook/webhooks hook-id.ts). A replaced hook keeps
 * `retired_at`; its URL and key stay accepted for the grace period after that.
 */
export const webhookHooks = pgTable(
  'webhook_hooks',
  {
    id: text('id').primaryKey(),
    connectionId: uuid('connection_id')
      .notNull()
      .references(() => connections.id, { onDelete: 'cascade' }),
    scope: text('scope', { enum: hookScopes }).notNull().default('user'),
    calendlyUserUri: text('calendly_user_uri'),
    organizationUri: text('organization_uri'),
    subscriptionUri: text('subscription_uri'),
    callbackUrl: text('callback_url').notNull(),
    events: text('events').array().notNull().default(sql`'{}'::text[]`),
    state: text('state', { enum: hookStates }).notNull().default('pending'),
    // Cleared on disconnect: a disconnected user's hooks accept nothing, whatever the grace.
    signingKeyEnc: text('signing_key_enc'),
    // The hook this one replaced: its key is accepted here during its grace period.
    replacesHookId: text('replaces_hook_id'),
    retiredAt: tstz('retired_at'),
    retryStartedAt: tstz('retry_started_at'),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('webhook_hooks_subscription_uri_key').on(t.subscriptionUri),
    uniqueIndex('webhook_hooks_callback_url_key').on(t.callbackUrl),
    index('webhook_hooks_connection_idx').on(t.connectionId),
    check('webhook_hooks_scope_check', sql`${t.scope} in ('user', 'organization', 'group')`),
    check(
      'webhook_hooks_state_check',
      sql`${t.state} in ('pending', 'active', 'disabled', 'retired')`,
    ),
  ],
);

export type WebhookHookRow = typeof webhookHooks.$inferSelect;
export type NewWebhookHookRow = typeof webhookHooks.$inferInsert;
