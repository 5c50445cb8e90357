import { connections, type Database } from '@calhook/db';
import type { Processor, Queues } from '@calhook/queue';
import { eq } from 'drizzle-orm';

/**
 * `reconcile-all`: one reconcile-connection job per active connection. Job ids carry the run
 * window, so if the previous run is still going its jobs are not added twice, and a failure
 * for one user never stops the others (each is its own job).
 */
export function reconcileAll(deps: {
  db: Database;
  queues: Queues;
  reconcileEveryMs: number;
  now: () => Date;
}): Processor<'reconcile-all'> {
  return async () => {
    const window = Math.floor(deps.now().getTime() / deps.reconcileEveryMs);
    const active = await deps.db
      .select({ id: connections.id })
      .from(connections)
      .where(eq(connections.status, 'active'));
    const queue = deps.queues.get('reconcile');
    const batch = 500;
    for (let i = 0; i < active.length; i += batch) {
      await queue.addBulk(
        active.slice(i, i + batch).map(({ id }) => ({
          name: 'reconcile-connection',
          data: { connectionId: id, reason: 'scheduled' as const },
          opts: {
            jobId: `reconcile-${id}-w${window}`,
            attempts: 5,
            backoff: { type: 'exponential', delay: 30_000 },
            removeOnComplete: { age: 3_600 },
            removeOnFail: { age: 14 * 86_400 },
          },
        })),
      );
    }
    return { connections: active.length, window };
  };
}
