// Helpers for integration tests: real Postgres and Redis from the global setup, and a fresh
// namespace (queue prefix, user ids) for every test so tests never see each other's data.
import { randomBytes } from 'node:crypto';
import { createDatabase, type DatabaseHandle } from '@calhook/db';
import { createWorkerRedis, type RedisConnection, type RedisTarget } from '@calhook/queue';
import { inject } from 'vitest';

export { type ApiAnswer, callApi } from './api-call.ts';
export { type AppEndpoint, type ReceivedWebhook, startAppEndpoint } from './app-endpoint.ts';
export { type CapturedLogs, captureLogs, expectNoSecrets } from './log-capture.ts';
export {
  type ClusterNode,
  type ScratchCluster,
  type SlotMove,
  startRedisCluster,
} from './redis-cluster.ts';
export { freePort, type ScratchRedis, startScratchRedis } from './redis-server.ts';
export { type ScratchDatabase, scratchDatabase } from './scratch-database.ts';
export {
  replaceHook,
  type SeededHook,
  type SeedSecrets,
  seedConnectionWithHook,
} from './seed.ts';

export interface TestUrls {
  databaseUrl: string;
  redisUrl: string;
  /**
   * The Redis calhook runs on in this project: the Cluster the `cluster` project's set-up
   * started (seeded at a node that owns none of the queues' slots), else `redisUrl`.
   */
  redis: RedisTarget;
  /** The same as environment variables, for a calhook process or config. */
  redisEnv: Record<string, string>;
}

export function testUrls(): TestUrls {
  const redisUrl = inject('redisUrl');
  const clusterNodes = inject('redisClusterNodes');
  return {
    databaseUrl: inject('databaseUrl'),
    redisUrl,
    redis: clusterNodes
      ? { kind: 'cluster', nodes: clusterNodes.split(',') }
      : { kind: 'single', url: redisUrl },
    redisEnv: clusterNodes
      ? { REDIS_URL: redisUrl, REDIS_CLUSTER_NODES: clusterNodes }
      : { REDIS_URL: redisUrl },
  };
}

/** Whether this project runs on a Redis Cluster. */
export function onCluster(): boolean {
  return testUrls().redis.kind === 'cluster';
}

/** A short random id, for queue prefixes, user ids and hook ids unique to one test. */
export function uniqueId(label = 't'): string {
  return `${label}${randomBytes(5).toString('hex')}`;
}

export function testDatabase(): DatabaseHandle {
  return createDatabase(testUrls().databaseUrl, { max: 5, applicationName: 'calhook-test' });
}

/** A connection that waits for Redis (or the Cluster) rather than failing fast. */
export function testRedis(): RedisConnection {
  return createWorkerRedis(testUrls().redis);
}

/** A valid 32-byte encryption key, base64, for configs built in tests. */
export function testEncryptionKey(): string {
  return randomBytes(32).toString('base64');
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 10_000, intervalMs = 25, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
