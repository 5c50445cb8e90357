import { randomUUID } from 'node:crypto';
import { type Database, userLockRepo } from '@calhook/db';
import type { Logger } from '@calhook/observability';

/** How long a lease lasts unless renewed: a holder that died frees the user after this. */
const USER_LOCK_LEASE_MS = 30_000;
/** Looks again after this, growing to the last, while another holds the user. */
const RETRY_MS = [20, 50, 100, 200, 400];

/** Another holder kept the user's lock for longer than the wait allowed (two leases). */
export class UserLockBusyError extends Error {
  readonly userId: string;
  constructor(userId: string, waitedMs: number) {
    super(`another change to this user's connection was still running after ${waitedMs} ms`);
    this.name = 'UserLockBusyError';
    this.userId = userId;
  }
}

export interface UserLockDeps {
  db: Database;
  logger: Logger;
  /** The lease (USER_LOCK_LEASE_MS by default); tests shorten it. */
  userLockLeaseMs?: number;
}

/**
 * Serialises everything that changes one app user's connection or subscriptions (connect,
 * disconnect, a reconcile repair) across processes and machines: without it a connect and a
 * reconcile could each create a subscription. One lock level, never nested.
 *
 * The lock is a lease row (user_locks), taken in one statement, renewed while the work runs,
 * deleted when it ends. A holder keeps no Postgres connection while Calendly answers, so as
 * many users can be repaired at once as there are runs, not as the pool has connections; a
 * holder that died (its process killed) frees the user when its lease lapses, 30 s at most.
 * A lease is renewed every third of its length, so only a process stalled for a whole lease
 * loses it (logged as an error).
 * Waiters look again after a short, growing pause: contention is one user's connect meeting
 * that user's reconcile, rare and brief.
 */
export async function withUserLock<T>(
  deps: UserLockDeps,
  userId: string,
  work: () => Promise<T>,
): Promise<T> {
  const holder = randomUUID();
  const leaseMs = deps.userLockLeaseMs ?? USER_LOCK_LEASE_MS;
  // Longer than a lease, so a holder that died is always outwaited.
  const waitMs = 2 * leaseMs;
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    if (await userLockRepo.tryAcquire(deps.db, userId, holder, leaseMs)) break;
    if (Date.now() - started >= waitMs) throw new UserLockBusyError(userId, waitMs);
    const pause = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)] as number;
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
  const renewal = setInterval(() => {
    userLockRepo.renew(deps.db, userId, holder, leaseMs).then(
      (held) => {
        if (!held) {
          deps.logger.error(
            { userId },
            'user lock lapsed while its work ran (the process stalled past the lease): another change to this user may have run alongside',
          );
        }
      },
      (error: unknown) => deps.logger.warn({ userId, err: error }, 'could not renew a user lock'),
    );
  }, leaseMs / 3);
  renewal.unref();
  try {
    return await work();
  } finally {
    clearInterval(renewal);
    // A release that fails leaves the lease to lapse: the user waits one lease, nothing more.
    await userLockRepo.release(deps.db, userId, holder).catch((error: unknown) => {
      deps.logger.warn({ userId, err: error }, 'could not release a user lock; it lapses');
    });
  }
}
