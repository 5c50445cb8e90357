import type { Config } from '@calhook/config';
import type { Logger } from '@calhook/observability';
import type { RedisTarget } from '@calhook/queue';
import { DevServicesError, ensureDevServices } from './dev-services.ts';

/**
 * The Postgres and Redis an all-in-one entry point (`pnpm start`, `pnpm demo`) runs on: the
 * configured ones, or outside production containers standing in for local ones that do not
 * answer. When neither can be had it prints why and the ways out, and exits 1. A Redis Cluster
 * (REDIS_CLUSTER_NODES) is used as configured: a container stands in for one local Redis only.
 */
export async function startDevServices(
  config: Pick<Config, 'databaseUrl' | 'redis'>,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<{ databaseUrl: string; redis: RedisTarget; stop(): Promise<void> }> {
  if (env.NODE_ENV === 'production' || config.redis.kind === 'cluster') {
    return { databaseUrl: config.databaseUrl, redis: config.redis, stop: async () => {} };
  }
  try {
    const services = await ensureDevServices(
      { databaseUrl: config.databaseUrl, redisUrl: config.redis.url },
      { announce: (line) => logger.info(line) },
    );
    for (const line of services.started) logger.info(line);
    return {
      databaseUrl: services.databaseUrl,
      redis: { kind: 'single', url: services.redisUrl },
      stop: services.stop,
    };
  } catch (error) {
    if (!(error instanceof DevServicesError)) throw error;
    logger.flush?.();
    console.error(error.message);
    process.exit(1);
  }
}
