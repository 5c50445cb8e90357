import { index, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

/**
 * One hosted-OAuth attempt. The `state` sent to Calendly is this row's id plus an HMAC over
 * it; the row binds it to the user and return URL, keeps the PKCE verifier sealed, and is
 * consumed once (`used_at`), so a replayed or expired state connects nothing.
 */
export const oauthStates = pgTable(
  'oauth_states',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull(),
    returnTo: text('return_to').notNull(),
    redirectUri: text('redirect_uri').notNull(),
    codeVerifierEnc: text('code_verifier_enc').notNull(),
    expiresAt: tstz('expires_at').notNull(),
    usedAt: tstz('used_at'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [index('oauth_states_expires_idx').on(t.expiresAt)],
);

export type OauthStateRow = typeof oauthStates.$inferSelect;
