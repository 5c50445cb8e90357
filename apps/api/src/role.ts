import type { Config } from '@calhook/config';
import { createDatabase } from '@calhook/db';
import type { Logger } from '@calhook/observability';
import { createProducerRedis } from '@calhook/queue';
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
  options: { port?: number } = {},
): Promise<RunningApi> {
  if (!config.apiToken) throw new Error('API_TOKEN is required by the api role');
  const database = createDatabase(config.databaseUrl, { max: 10, applicationName: 'calhook-api' });
  const redis = createProducerRedis(config.redisUrl);
  redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
  const app = buildApiApp({
    logger: logger.child({ role: 'api' }),
    db: database.db,
    apiToken: config.apiToken,
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
      redis.disconnect();
      await database.close();
    },
  };
}
