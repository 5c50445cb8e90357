import { index, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

/**
 * One hosted-OAuth attempt. The `state` sent to Calendly is this row's id plus an HMAC over
 * it; the row binds it to the user and return URL, keeps the PKCE verifier sealed, and is
 * consumed once (`used_at`), so a replayed or expired state connects nothing.
 *
 * The callback connects nobody: it keeps Calendly's code sealed and hands the browser a
 * one-time completion token, stored here only as its hash. The app backend presents it with
 * its logged-in user; it is claimed once (`completed_at`), and only then is the code exchanged,
 * so a link opened by someone else never ties their Calendly to the user the flow was for.
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
    codeEnc: text('code_enc'),
    completionHash: text('completion_hash'),
    completionExpiresAt: tstz('completion_expires_at'),
    completedAt: tstz('completed_at'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [
    index('oauth_states_expires_idx').on(t.expiresAt),
    uniqueIndex('oauth_states_completion_hash_idx').on(t.completionHash),
  ],
);

export type OauthStateRow = typeof oauthStates.$inferSelect;
