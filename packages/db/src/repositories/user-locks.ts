// The owner of the `user_locks` table: one lease per user whose connection is being changed.
// Every time is Postgres's own clock, so processes on machines with different clocks agree.
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Executor } from '../client.ts';
import { userLocks } from '../schema/user-locks.ts';

/** The end of a lease of `leaseMs` taken now, by Postgres's clock. */
const leaseEnd = (leaseMs: number) => sql`now() + make_interval(secs => ${leaseMs / 1000})`;

/** Takes the user's lease for `leaseMs` if it is free or lapsed; false while another holds it. */
export async function tryAcquire(
  ex: Executor,
  userId: string,
  holder: string,
  leaseMs: number,
): Promise<boolean> {
  const until = leaseEnd(leaseMs);
  const rows = await ex
    .insert(userLocks)
    .values({ userId, holder, expiresAt: until })
    .onConflictDoUpdate({
      target: userLocks.userId,
      set: { holder, expiresAt: until },
      setWhere: lt(userLocks.expiresAt, sql`now()`),
    })
    .returning({ holder: userLocks.holder });
  return rows.length > 0;
}

/** Extends the holder's lease by `leaseMs` from now; false when it is no longer theirs. */
export async function renew(
  ex: Executor,
  userId: string,
  holder: string,
  leaseMs: number,
): Promise<boolean> {
  const rows = await ex
    .update(userLocks)
    .set({ expiresAt: leaseEnd(leaseMs) })
    .where(and(eq(userLocks.userId, userId), eq(userLocks.holder, holder)))
    .returning({ holder: userLocks.holder });
  return rows.length > 0;
}

/** Ends the holder's lease; a lease someone else took over is left alone. */
export async function release(ex: Executor, userId: string, holder: string): Promise<void> {
  await ex.delete(userLocks).where(and(eq(userLocks.userId, userId), eq(userLocks.holder, holder)));
}

/** Leases that lapsed before `before` (their holder died): dropping them keeps the table small. */
export async function pruneLapsed(ex: Executor, before: Date): Promise<number> {
  const rows = await ex
    .delete(userLocks)
    .where(lt(userLocks.expiresAt, before))
    .returning({ userId: userLocks.userId });
  return rows.length;
}
