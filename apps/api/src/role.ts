import { createEndpointService } from '@calhook/app-webhooks';
import type { Config } from '@calhook/config';
import { buildConnectionServices } from '@calhook/connections';
import { createSealer } from '@calhook/crypto';
import { createDatabase } from '@calhook/db';
import { createMetrics, type Logger, type Metrics, tracingActive } from '@calhook/observability';
import { createProducerRedis, createQueues } from '@calhook/queue';
import type { FastifyInstance } from 'fastify';
import { buildApiApp } from './app.ts';

export interface RunningApi {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

export async function startApi(
  config: Config,
  logger: Logger,
  options: { port?: number; metrics?: Metrics } = {},
): Promise<RunningApi> {
  if (!config.apiToken) throw new Error('API_TOKEN is required by the api role');
  const database = createDatabase(config.databaseUrl, { max: 10, applicationName: 'calhook-api' });
  const redis = createProducerRedis(config.redis);
  redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
  const queues = createQueues(redis, config.queuePrefix, {
    shards: config.queueShards,
    tracing: tracingActive(),
  });
  const log = logger.child({ role: 'api' });
  const metrics = options.metrics ?? createMetrics();
  const services = buildConnectionServices({
    config,
    db: database.db,
    queues,
    logger: log,
    onRefresh: (outcome) => metrics.tokenRefresh.inc({ outcome }),
  });
  const app = buildApiApp({
    logger: log,
    db: database.db,
    apiToken: config.apiToken,
    connections: services.connections,
    oauth: services.oauth,
    endpoints: createEndpointService({
      db: database.db,
      sealer: createSealer(config.encryptionKeys),
      queues,
      allowPrivate: config.webhookEndpoints.allowPrivate,
    }),
    admin: config.admin,
    queues: queues.all(),
    metrics,
    checkReady: async () => {
      await Promise.all([redis.ping(), database.sql`select 1`]);
    },
  });
  const url = await app.listen({ host: config.host, port: options.port ?? config.apiPort });
  return {
    app,
    url,
    async close() {
      await app.close();
      await services.close();
      await queues.close();
      redis.disconnect();
      await database.close();
    },
  };
}
