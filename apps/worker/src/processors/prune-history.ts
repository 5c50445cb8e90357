import { changeRepo, type Database, deliveryRepo, userLockRepo } from '@calhook/db';
import type { Processor } from '@calhook/queue';

/** Changes deleted per statement: a bounded transaction however far behind the pruning is. */
const BATCH = 5_000;

/** How long the app webhook delivery log is kept (API.md: 14 days). */
export const DELIVERY_LOG_RETENTION_MS = 14 * 86_400_000;

/**
 * `prune-history`: drop changes older than the retention and app webhook delivery attempts
 * older than 14 days, oldest first, in bounded batches; and user locks whose holder died more
 * than a day ago (a lapsed lease is taken over anyway; this only keeps the table small).
 */
export function pruneHistory(deps: {
  db: Database;
  now: () => Date;
  changesRetentionMs: number;
}): Processor<'prune-history'> {
  return async () => {
    const before = new Date(deps.now().getTime() - deps.changesRetentionMs);
    let changes = 0;
    for (let pruned = BATCH; pruned === BATCH; changes += pruned) {
      pruned = await changeRepo.pruneBefore(deps.db, before, BATCH);
    }
    const logBefore = new Date(deps.now().getTime() - DELIVERY_LOG_RETENTION_MS);
    let deliveries = 0;
    for (let pruned = BATCH; pruned === BATCH; deliveries += pruned) {
      pruned = await deliveryRepo.pruneBefore(deps.db, logBefore, BATCH);
    }
    const lapsedLocks = await userLockRepo.pruneLapsed(
      deps.db,
      new Date(deps.now().getTime() - 86_400_000),
    );
    return { changes, deliveries, lapsedLocks, before: before.toISOString() };
  };
}
