import { connections, type Database } from '@calhook/db';
import { jobCatalog, type Processor, type Queues } from '@calhook/queue';
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
            ...jobCatalog['reconcile-connection'].options,
            jobId: `reconcile-${id}-w${window}`,
          },
        })),
      );
    }
    return { connections: active.length, window };
  };
}
