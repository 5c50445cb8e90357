import { sql } from 'drizzle-orm';
import { bigserial, check, index, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { timestamps, tstz } from './columns.ts';

export const endpointStatuses = ['active', 'failing', 'disabled'] as const;
export type EndpointStatus = (typeof endpointStatuses)[number];

/**
 * An app backend's webhook endpoint: where changes of the feed are POSTed, signed per Standard
 * Webhooks. `types` null means every change type, including types added later. `cursor` is
 * the endpoint's place in the feed (an opaque feed cursor): every change up to it has been
 * handed to the delivery queue. During a rotation the previous secret keeps signing until
 * `previous_secret_expires_at`. `failing_since` is when the current run of failed attempts
 * began; 24 h of it disables the endpoint.
 */
export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: text('id').primaryKey(),
    url: text('url').notNull(),
    types: text('types').array(),
    description: text('description'),
    secretEnc: text('secret_enc').notNull(),
    previousSecretEnc: text('previous_secret_enc'),
    previousSecretExpiresAt: tstz('previous_secret_expires_at'),
    status: text('status', { enum: endpointStatuses }).notNull().default('active'),
    failingSince: tstz('failing_since'),
    disabledAt: tstz('disabled_at'),
    cursor: text('cursor').notNull(),
    ...timestamps,
  },
  (t) => [
    check('webhook_endpoints_status_check', sql`${t.status} in ('active', 'failing', 'disabled')`),
  ],
);

export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;

/**
 * The delivery log: one row per attempt to POST a change to an endpoint, newest first by `at`
 * (when the attempt was made).
 * `status` is the HTTP status answered, null when there was none (`error` says why). Kept 14
 * days.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    endpointId: text('endpoint_id')
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
    changeId: text('change_id').notNull(),
    attempt: integer('attempt').notNull(),
    status: integer('status'),
    error: text('error'),
    at: tstz('at').notNull().defaultNow(),
    durationMs: integer('duration_ms').notNull(),
  },
  (t) => [
    index('webhook_deliveries_endpoint_idx').on(t.endpointId, t.at, t.id),
    index('webhook_deliveries_at_idx').on(t.at),
  ],
);

export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
