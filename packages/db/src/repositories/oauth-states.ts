// The owner of the `oauth_states` table: one row per hosted-OAuth attempt.
import { and, eq, gt, isNull, lt, sql } from 'drizzle-orm';
import type { Executor } from '../client.ts';
import { type OauthStateRow, oauthStates } from '../schema/oauth-states.ts';
import type { Reseal, ResealCounts } from '../sealed.ts';

export type NewOauthAttempt = Pick<
  OauthStateRow,
  'id' | 'userId' | 'returnTo' | 'redirectUri' | 'codeVerifierEnc' | 'expiresAt'
>;

/** What the callback leaves for the app backend: the sealed code and the completion's hash. */
export interface PendingCompletion {
  codeEnc: string;
  completionHash: string;
  completionExpiresAt: Date;
}

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

/**
 * Consumes the attempt exactly once while it is unexpired, storing the pending completion in
 * the same statement when there is one; null if used or expired.
 */
export async function claim(
  ex: Executor,
  id: string,
  at: Date,
  pending?: PendingCompletion,
): Promise<OauthStateRow | null> {
  const [claimed] = await ex
    .update(oauthStates)
    .set({ usedAt: at, ...pending })
    .where(and(eq(oauthStates.id, id), isNull(oauthStates.usedAt), gt(oauthStates.expiresAt, at)))
    .returning();
  return claimed ?? null;
}

/**
 * Claims a completion exactly once while it is unexpired, whoever presents it: a completion
 * presented for the wrong user is spent too. Null if used, expired or unknown.
 */
export async function claimCompletion(
  ex: Executor,
  completionHash: string,
  at: Date,
): Promise<OauthStateRow | null> {
  const [claimed] = await ex
    .update(oauthStates)
    .set({ completedAt: at })
    .where(
      and(
        eq(oauthStates.completionHash, completionHash),
        isNull(oauthStates.completedAt),
        gt(oauthStates.completionExpiresAt, at),
      ),
    )
    .returning();
  return claimed ?? null;
}

/** Forgets the sealed code once its completion is claimed: it is never needed again. */
export async function discardCode(ex: Executor, id: string): Promise<void> {
  await ex.update(oauthStates).set({ codeEnc: null }).where(eq(oauthStates.id, id));
}

/**
 * Re-seals the PKCE verifiers and pending codes of attempts not yet expired (expired ones are
 * useless and pruned), in place unless they changed meanwhile.
 */
export async function resealSecrets(ex: Executor, reseal: Reseal, at: Date): Promise<ResealCounts> {
  const counts = { oauth_code_verifier: 0, oauth_code: 0 };
  const rows = await ex
    .select({
      id: oauthStates.id,
      codeVerifierEnc: oauthStates.codeVerifierEnc,
      codeEnc: oauthStates.codeEnc,
    })
    .from(oauthStates)
    .where(gt(oauthStates.expiresAt, at));
  for (const row of rows) {
    const verifier = reseal(row.codeVerifierEnc, { purpose: 'oauth_code_verifier', id: row.id });
    const code = row.codeEnc ? reseal(row.codeEnc, { purpose: 'oauth_code', id: row.id }) : null;
    if (!verifier && !code) continue;
    const [written] = await ex
      .update(oauthStates)
      .set({
        ...(verifier ? { codeVerifierEnc: verifier } : {}),
        ...(code ? { codeEnc: code } : {}),
      })
      .where(
        and(
          eq(oauthStates.id, row.id),
          eq(oauthStates.codeVerifierEnc, row.codeVerifierEnc),
          sql`${oauthStates.codeEnc} is not distinct from ${row.codeEnc}`,
        ),
      )
      .returning({ id: oauthStates.id });
    if (!written) continue;
    if (verifier) counts.oauth_code_verifier += 1;
    if (code) counts.oauth_code += 1;
  }
  return counts;
}
