import type { Config } from '@calhook/config';
import { createDatabase } from '@calhook/db';
import type { Logger } from '@calhook/observability';
import { createWorkerRedis, createWorkers } from '@calhook/queue';
import { buildProcessors } from './processors/index.ts';

export interface RunningWorker {
  close(): Promise<void>;
}

export interface WorkerOptions {
  /** Concurrent ingest jobs; the database pool is sized to match. */
  concurrency?: number;
}

export async function startWorker(
  config: Config,
  logger: Logger,
  options: WorkerOptions = {},
): Promise<RunningWorker> {
  const concurrency = options.concurrency ?? 20;
  const database = createDatabase(config.databaseUrl, {
    max: concurrency + 2,
    applicationName: 'calhook-worker',
  });
  const log = logger.child({ role: 'worker' });
  const workers = createWorkers({
    prefix: config.queuePrefix,
    logger: log,
    processors: buildProcessors({ db: database.db, now: () => new Date() }),
    connection: () => {
      const redis = createWorkerRedis(config.redisUrl);
      redis.on('error', (error) => log.warn({ err: error }, 'redis connection error'));
      return redis;
    },
    concurrency: { events: concurrency, connections: 5 },
  });
  await Promise.all(workers.workers.map((w) => w.waitUntilReady()));
  return {
    async close() {
      // Stop taking jobs and finish the ones in flight before the database goes away.
      await workers.close();
      await database.close();
    },
  };
}
