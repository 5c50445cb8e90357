import { startDispatcher } from '@calhook/app-webhooks';
import { type Config, MAX_QUEUE_SHARDS } from '@calhook/config';
import { sweepSliceMs } from '@calhook/connections';
import { createDatabase } from '@calhook/db';
import { createMetrics, type Logger, tracingActive } from '@calhook/observability';
import {
  createProducerRedis,
  createQueues,
  createWorkerRedis,
  findRetiredShards,
} from '@calhook/queue';
import { startWorkerHttp } from './http.ts';
import { appWebhookObserver, createWorkerPool } from './pool.ts';

export interface RunningWorker {
  /** The worker's /metrics, /healthz and /readyz. */
  url: string;
  close(): Promise<void>;
}

export interface WorkerOptions {
  /** Ingest jobs held at once (WORKER_CONCURRENCY by default); they share batched transactions. */
  concurrency?: number;
  /** Port of the worker's HTTP server; WORKER_PORT by default, 0 for any free port. */
  port?: number;
  /** The clock of app webhook deliveries (an endpoint's 24 h of failures); tests inject one. */
  appWebhookClock?: () => Date;
}

export async function startWorker(
  config: Config,
  logger: Logger,
  options: WorkerOptions = {},
): Promise<RunningWorker> {
  const concurrency = options.concurrency ?? config.workerConcurrency;
  // Ingest jobs share at most two batch transactions at a time (and run alone only after a
  // batch failed), so the pool does not grow with the concurrency; the rest is for app
  // webhook deliveries (a read and a write or two around each POST) and the app webhook
  // dispatcher's lock session. Connection and reconcile jobs have a pool of their own:
  // RECONCILE_CONCURRENCY runs mostly wait on Calendly, and their statements never queue
  // ahead of a delivery's.
  const database = createDatabase(config.databaseUrl, {
    max: 24,
    applicationName: 'calhook-worker',
  });
  const connectionsDatabase = createDatabase(config.databaseUrl, {
    max: 12,
    applicationName: 'calhook-worker-connections',
  });
  const log = logger.child({ role: 'worker' });
  // Jobs that schedule other jobs (refresh, clean-up) add them through a producer connection.
  const producer = createProducerRedis(config.redis);
  producer.on('error', (error) => log.warn({ err: error }, 'redis connection error'));
  const queues = createQueues(producer, config.queuePrefix, {
    shards: config.queueShards,
    tracing: tracingActive(),
  });
  const metrics = createMetrics();
  const retiredShards = await retiredShardsOf(config);
  if (retiredShards.length > 0) {
    log.warn(
      { retiredShards, queueShards: config.queueShards },
      'shards beyond QUEUE_SHARDS still hold jobs: working them until they are empty',
    );
  }
  const pool = createWorkerPool({
    config,
    db: database.db,
    queues,
    logger: log,
    metrics,
    connection: () => {
      const redis = createWorkerRedis(config.redis);
      redis.on('error', (error) => log.warn({ err: error }, 'redis connection error'));
      return redis;
    },
    // App webhook deliveries wait on the app's endpoints, not on us: many in flight, each
    // endpoint limited to its share (see @calhook/app-webhooks deliver.ts).
    concurrency: {
      events: concurrency,
      connections: 5,
      reconcile: config.reconcileConcurrency,
      webhooks: 100,
    },
    connectionsDb: connectionsDatabase.db,
    retiredShards,
    ...(options.appWebhookClock ? { appWebhookClock: options.appWebhookClock } : {}),
  });
  const { workers } = pool;
  await Promise.all(workers.workers.map((w) => w.waitUntilReady()));
  // Idempotent: every worker replica upserts the same scheduler, and BullMQ keeps one.
  // Reconcile is paced by the sweep; the burst schedule of earlier versions is removed.
  await queues.unschedule('reconcile-all');
  await queues.schedule('reconcile-sweep', sweepSliceMs(config.reconcileEveryMs));
  await queues.schedule('prune-history');
  // Every worker runs one; the one holding the lock feeds the endpoints, the others stand by.
  const dispatcher = startDispatcher({
    db: database.db,
    sql: database.sql,
    queues,
    logger: log,
    observer: appWebhookObserver(metrics),
  });
  const http = await startWorkerHttp({
    host: config.host,
    port: options.port ?? config.workerPort,
    metrics,
    logger: log,
    metricsAuth: config.admin,
    checkReady: async () => {
      await Promise.all([producer.ping(), database.sql`select 1`]);
    },
  });
  return {
    url: http.url,
    async close() {
      await http.close();
      await dispatcher.close();
      // Stop taking jobs and finish the ones in flight before their dependencies go away.
      await pool.close();
      await queues.close();
      producer.disconnect();
      await connectionsDatabase.close();
      await database.close();
    },
  };
}

/**
 * Shards a deployment with more QUEUE_SHARDS left jobs in. Read on a connection that waits for
 * Redis (the producer's fails fast), once at start: a shard retired later is drained by the
 * workers started after it.
 */
async function retiredShardsOf(config: Config): Promise<number[]> {
  const redis = createWorkerRedis(config.redis);
  redis.on('error', () => {});
  try {
    return await findRetiredShards(redis, config.queuePrefix, config.queueShards, MAX_QUEUE_SHARDS);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
