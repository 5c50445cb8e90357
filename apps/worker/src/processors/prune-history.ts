import { changeRepo, type Database } from '@calhook/db';
import type { Processor } from '@calhook/queue';

/** Changes deleted per statement: a bounded transaction however far behind the pruning is. */
const BATCH = 5_000;

/** `prune-history`: drop changes older than the retention, oldest first, in bounded batches. */
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
    return { changes, before: before.toISOString() };
  };
}
