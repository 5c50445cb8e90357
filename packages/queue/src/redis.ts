import { Redis, type RedisOptions } from 'ioredis';

/**
 * A connection for producers (receiver, api). It never queues commands while Redis is away:
 * a delivery must fail fast (503, Calendly retries) instead of waiting in process memory.
 */
export function createProducerRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...options,
  });
}

/** A connection for workers: blocking commands, reconnects forever (BullMQ requires null retries). */
export function createWorkerRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 200, 5_000),
    ...options,
  });
}
