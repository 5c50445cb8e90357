import type { Database } from '@calhook/db';
import { sql } from 'drizzle-orm';

/**
 * Serialises everything that changes one app user's connection or subscriptions (connect,
 * disconnect, reconcile) across processes: a transaction on the lock pool that only holds an
 * advisory lock, while the work runs on the main pool. One lock level, never nested, so it
 * cannot deadlock; without it a connect and a reconcile could each create a subscription. The
 * lock pool is kept apart so a lock holder can always get a connection for its work: on one
 * shared pool, as many concurrent connects as the pool has connections would each hold one and
 * wait forever for another.
 */
export async function withUserLock<T>(
  locks: Database,
  userId: string,
  work: () => Promise<T>,
): Promise<T> {
  return locks.transaction(async (tx) => {
    await tx.execute(
      sql`select pg_advisory_xact_lock(hashtextextended(${`calhook:user:${userId}`}, 0))`,
    );
    return work();
  });
}
