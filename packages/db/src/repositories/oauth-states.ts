// The owner of the `oauth_states` table: one row per hosted-OAuth attempt.
import { and, eq, gt, isNull, lt } from 'drizzle-orm';
import type { Executor } from '../client.ts';
import { type OauthStateRow, oauthStates } from '../schema/oauth-states.ts';

export type NewOauthAttempt = Pick<
  OauthStateRow,
  'id' | 'userId' | 'returnTo' | 'redirectUri' | 'codeVerifierEnc' | 'expiresAt'
>;

export async function create(ex: Executor, attempt: NewOauthAttempt): Promise<void> {
  await ex.insert(oauthStates).values(attempt);
}

/** Attempts that expired before `before` are useless: dropping them keeps the table small. */
export async function pruneExpired(ex: Executor, before: Date): Promise<void> {
  await ex.delete(oauthStates).where(lt(oauthStates.expiresAt, before));
}

export async function find(ex: Executor, id: string): Promise<OauthStateRow | null> {
  const [row] = await ex.select().from(oauthStates).where(eq(oauthStates.id, id)).limit(1);
  return row ?? null;
}

/** Marks the attempt used whatever its state: a tampered state burns the genuine one too. */
export async function burn(ex: Executor, id: string, at: Date): Promise<void> {
  await ex.update(oauthStates).set({ usedAt: at }).where(eq(oauthStates.id, id));
}

/** Consumes the attempt exactly once while it is unexpired; null if used or expired. */
export async function claim(ex: Executor, id: string, at: Date): Promise<OauthStateRow | null> {
  const [claimed] = await ex
    .update(oauthStates)
    .set({ usedAt: at })
    .where(and(eq(oauthStates.id, id), isNull(oauthStates.usedAt), gt(oauthStates.expiresAt, at)))
    .returning();
  return claimed ?? null;
}
