import { pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

/**
 * A user's lock as a lease: the row exists while someone (a connect, a disconnect, a
 * reconcile repair) changes that user's connection or subscriptions. Held by a random `holder`
 * until `expires_at` (Postgres's clock), renewed while the work lasts and deleted when it
 * ends; a holder that died stops renewing, and the next taker overwrites the lapsed row. No
 * Postgres connection is held while the work waits on Calendly.
 */
export const userLocks = pgTable('user_locks', {
  userId: text('user_id').primaryKey(),
  holder: text('holder').notNull(),
  expiresAt: tstz('expires_at').notNull(),
});
