// Helpers for integration tests: real Postgres and Redis from the global setup, and a fresh
// namespace (queue prefix, user ids) for every test so tests never see each other's data.
import { randomBytes } from 'node:crypto';
import { createDatabase, type DatabaseHandle } from '@calhook/db';
import { Redis } from 'ioredis';
import { inject } from 'vitest';

export { type ApiAnswer, callApi } from './api-call.ts';
export { type CapturedLogs, captureLogs, expectNoSecrets } from './log-capture.ts';
export { freePort, type ScratchRedis, startScratchRedis } from './redis-server.ts';
export {
  replaceHook,
  type SeededHook,
  type SeedSecrets,
  seedConnectionWithHook,
} from './seed.ts';

export function testUrls(): { databaseUrl: string; redisUrl: string } {
  return { databaseUrl: inject('databaseUrl'), redisUrl: inject('redisUrl') };
}

/** A short random id, for queue prefixes, user ids and hook ids unique to one test. */
export function uniqueId(label = 't'): string {
  return `${label}${randomBytes(5).toString('hex')}`;
}

export function testDatabase(): DatabaseHandle {
  return createDatabase(testUrls().databaseUrl, { max: 5, applicationName: 'calhook-test' });
}

export function testRedis(): Redis {
  return new Redis(testUrls().redisUrl, { maxRetriesPerRequest: null });
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
