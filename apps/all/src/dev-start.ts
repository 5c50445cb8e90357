import type { Config } from '@calhook/config';
import type { Logger } from '@calhook/observability';
import { DevServicesError, ensureDevServices } from './dev-services.ts';

/**
 * The Postgres and Redis an all-in-one entry point (`pnpm start`, `pnpm demo`) runs on: the
 * configured ones, or outside production containers standing in for local ones that do not
 * answer. When neither can be had it prints why and the ways out, and exits 1.
 */
export async function startDevServices(
  config: Pick<Config, 'databaseUrl' | 'redisUrl'>,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<{ databaseUrl: string; redisUrl: string; stop(): Promise<void> }> {
  const configured = { databaseUrl: config.databaseUrl, redisUrl: config.redisUrl };
  if (env.NODE_ENV === 'production') return { ...configured, stop: async () => {} };
  try {
    const services = await ensureDevServices(configured, {
      announce: (line) => logger.info(line),
    });
    for (const line of services.started) logger.info(line);
    return services;
  } catch (error) {
    if (!(error instanceof DevServicesError)) throw error;
    logger.flush?.();
    console.error(error.message);
    process.exit(1);
  }
}
