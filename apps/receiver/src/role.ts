import type { Config } from '@calhook/config';
import { createSealer } from '@calhook/crypto';
import { createDatabase } from '@calhook/db';
import { createMetrics, type Logger, type Metrics, tracingActive } from '@calhook/observability';
import { createProducerRedis, createQueues } from '@calhook/queue';
import { createHookIds, createHookKeyResolver } from '@calhook/webhooks';
import type { FastifyInstance } from 'fastify';
import { buildReceiverApp } from './app.ts';

export interface RunningReceiver {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** Builds the receiver's dependencies from config, listens, and returns how to stop it. */
export async function startReceiver(
  config: Config,
  logger: Logger,
  options: { port?: number; metrics?: Metrics } = {},
): Promise<RunningReceiver> {
  const database = createDatabase(config.databaseUrl, {
    max: 10,
    applicationName: 'calhook-receiver',
  });
  const redis = createProducerRedis(config.redis);
  redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
  const queues = createQueues(redis, config.queuePrefix, {
    shards: config.queueShards,
    tracing: tracingActive(),
  });
  const hooks = createHookKeyResolver({
    db: database.db,
    sealer: createSealer(config.encryptionKeys),
    hookIds: createHookIds(config.encryptionKeys),
    appSigningKey: config.calendly.webhookSigningKey,
    gracePeriodMs: config.hookGracePeriodMs,
    onRefreshError: (error) => logger.warn({ err: error }, 'hook key refresh failed'),
  });
  const app = buildReceiverApp({
    logger: logger.child({ role: 'receiver' }),
    hooks,
    queues,
    toleranceSeconds: config.webhookToleranceSeconds,
    retryAfterSeconds: config.webhookRetryAfterSeconds,
    metrics: options.metrics ?? createMetrics(),
    metricsAuth: config.admin,
    checkReady: async () => {
      await Promise.all([redis.ping(), database.sql`select 1`]);
    },
  });
  const url = await app.listen({ host: config.host, port: options.port ?? config.receiverPort });
  return {
    app,
    url,
    async close() {
      await app.close();
      await hooks.idle();
      await queues.close();
      redis.disconnect();
      await database.close();
    },
  };
}
