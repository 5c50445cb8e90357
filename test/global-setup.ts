// Gives the integration and e2e projects a real Postgres and Redis: the ones named by
// DATABASE_URL / REDIS_URL when set (CI, this machine), else containers started by
// testcontainers (a laptop with Docker). Each run migrates a database of its own and drops it.
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { dropDatabase, migrateDatabase } from '../packages/db/src/migrate.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
    /** REDIS_CLUSTER_NODES for the `cluster` project (test/cluster-setup.ts); unset elsewhere. */
    redisClusterNodes?: string;
  }
}

export default async function setup(project: TestProject) {
  const stops: (() => Promise<unknown>)[] = [];
  let serverUrl = process.env.DATABASE_URL;
  let redisUrl = process.env.REDIS_URL;

  if (!serverUrl) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const pg = await new PostgreSqlContainer('postgres:16-alpine').start();
    stops.push(() => pg.stop());
    serverUrl = pg.getConnectionUri();
  }
  if (!redisUrl) {
    const { RedisContainer } = await import('@testcontainers/redis');
    const redis = await new RedisContainer('redis:7-alpine').start();
    stops.push(() => redis.stop());
    redisUrl = redis.getConnectionUrl();
  }

  const database = new URL(serverUrl);
  database.pathname = `/calhook_test_${project.name}_${randomBytes(4).toString('hex')}`;
  await migrateDatabase(database.toString());
  stops.push(() => dropDatabase(database.toString()));

  project.provide('databaseUrl', database.toString());
  project.provide('redisUrl', redisUrl);

  return async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
}
