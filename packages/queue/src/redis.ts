import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

/** Where BullMQ lives: one Redis, or a Redis Cluster reached through any of its seed nodes. */
export type RedisTarget = { kind: 'single'; url: string } | { kind: 'cluster'; nodes: string[] };

/** A connection to either; BullMQ and every calhook caller take both. */
export type RedisConnection = Redis | Cluster;

/**
 * The seeds as ioredis Cluster takes them. A Cluster has one set of credentials and one TLS
 * setting for every node (config checks that the seeds agree), so they go to `redisOptions`,
 * which ioredis applies to every node it discovers, not only to the seeds.
 */
function clusterSeeds(nodes: string[]): {
  startupNodes: { host: string; port: number }[];
  redisOptions: RedisOptions;
} {
  const urls = nodes.map((node) => new URL(node));
  const first = urls[0];
  if (!first) throw new Error('a Redis Cluster needs at least one seed node');
  const redisOptions: RedisOptions = {};
  if (first.username) redisOptions.username = decodeURIComponent(first.username);
  if (first.password) redisOptions.password = decodeURIComponent(first.password);
  if (first.protocol === 'rediss:') redisOptions.tls = {};
  return {
    startupNodes: urls.map((url) => ({
      // IPv6 literals come bracketed in URLs; sockets want them bare.
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port ? Number(url.port) : 6379,
    })),
    redisOptions,
  };
}

/**
 * How a Cluster client follows the Cluster. A failover or a resharding shows up as a closed
 * connection, CLUSTERDOWN, MOVED, ASK or TRYAGAIN: each is retried after a short pause while the
 * slot map is read again, bounded by `maxRedirections` (about 1.6 s in all, within the
 * receiver's 2 s budget). The map is also re-read every 2 s, so a promoted replica is found
 * even by a client that sent nothing to the dead master.
 */
const followTheCluster: ClusterOptions = {
  maxRedirections: 16,
  retryDelayOnFailover: 100,
  retryDelayOnClusterDown: 100,
  retryDelayOnTryAgain: 100,
  slotsRefreshTimeout: 2_000,
  slotsRefreshInterval: 2_000,
};

/**
 * A connection for producers (receiver, api, commands). It never queues commands while Redis
 * is away: a delivery must fail fast (503, Calendly retries) instead of waiting in process
 * memory.
 */
export function createProducerRedis(
  target: RedisTarget | string,
  options: RedisOptions = {},
): RedisConnection {
  const producer: RedisOptions = {
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    ...options,
  };
  if (typeof target === 'string' || target.kind === 'single') {
    return new Redis(typeof target === 'string' ? target : target.url, {
      enableOfflineQueue: false,
      retryStrategy: (times) => Math.min(times * 200, 2_000),
      ...producer,
    });
  }
  const { startupNodes, redisOptions } = clusterSeeds(target.nodes);
  return new Cluster(startupNodes, {
    ...followTheCluster,
    enableOfflineQueue: false,
    clusterRetryStrategy: (times) => Math.min(times * 200, 2_000),
    redisOptions: { ...redisOptions, ...producer },
  });
}

/** A connection for workers: blocking commands, reconnects forever (BullMQ requires null retries). */
export function createWorkerRedis(
  target: RedisTarget | string,
  options: RedisOptions = {},
): RedisConnection {
  const worker: RedisOptions = { maxRetriesPerRequest: null, ...options };
  if (typeof target === 'string' || target.kind === 'single') {
    return new Redis(typeof target === 'string' ? target : target.url, {
      retryStrategy: (times) => Math.min(times * 200, 5_000),
      ...worker,
    });
  }
  const { startupNodes, redisOptions } = clusterSeeds(target.nodes);
  return new Cluster(startupNodes, {
    ...followTheCluster,
    clusterRetryStrategy: (times) => Math.min(times * 200, 5_000),
    redisOptions: { ...redisOptions, ...worker },
  });
}
