// Proves the queues' Redis layout and sharding on the Redis this project runs on: a single Redis
// keeps the plain key names an upgrade finds its jobs under; on the `cluster` project's Cluster,
// seeded at a master that owns no queue's slot, every BullMQ key of a queue shares one slot and
// each queue has a slot of its own. With QUEUE_SHARDS=3 each connection's deliveries go to the
// shard the catalog picks for it, workers drain every shard, and lowering QUEUE_SHARDS strands
// no job: the shards left behind are found and drained.
import { randomUUID } from 'node:crypto';
import { createLogger } from '@calhook/observability';
import {
  createProducerRedis,
  createQueues,
  createWorkerRedis,
  createWorkers,
  findRetiredShards,
  jobCatalog,
  jobQueueName,
  type Processor,
  type ProcessorMap,
  type QueuedDelivery,
  type Queues,
  queuePrefix,
  type RedisConnection,
  type Workers,
} from '@calhook/queue';
import { eventually, testUrls, uniqueId } from '@calhook/testing';
import type { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';

const logger = createLogger({ level: 'silent' });
const SHARDS = 3;
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

function connect(shards: number, prefix: string): { redis: RedisConnection; queues: Queues } {
  const redis = createProducerRedis(testUrls().redis);
  const queues = createQueues(redis, prefix, { shards });
  open.push({
    async close() {
      for (const queue of queues.all()) await queue.obliterate({ force: true }).catch(() => {});
      await queues.close();
      redis.disconnect();
    },
  });
  return { redis, queues };
}

/** Workers for every queue whose processors note which BullMQ queue ran which connection. */
function recordingWorkers(
  prefix: string,
  shards: number,
  retiredShards: number[] = [],
): { ran: Map<string, Set<string>>; count: () => number; workers: Workers } {
  const ran = new Map<string, Set<string>>();
  let count = 0;
  const note: Processor<'ingest-deliveries'> = async (payload, { job }) => {
    for (const delivery of payload.deliveries) {
      count += 1;
      const seen = ran.get(delivery.connectionId) ?? new Set<string>();
      seen.add(job.queueName);
      ran.set(delivery.connectionId, seen);
    }
  };
  const processors = Object.fromEntries(
    Object.keys(jobCatalog).map((name) => [name, note]),
  ) as unknown as ProcessorMap;
  const workers = createWorkers({
    prefix,
    processors,
    logger,
    shards,
    retiredShards,
    connection: () => createWorkerRedis(testUrls().redis),
    queues: ['events'],
  });
  open.push(workers);
  return { ran, count: () => count, workers };
}

const delivery = (connectionId: string): QueuedDelivery => ({
  hookId: 'h',
  connectionId,
  body: '{}',
  receivedAt: new Date().toISOString(),
});

/** Every key whose name starts with `prefix`, on every master (or on the one Redis). */
async function keysOf(redis: RedisConnection, prefix: string): Promise<string[]> {
  const nodes: Redis[] = redis.isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
  }
  return keys;
}

describe('queue layout', () => {
  it('keeps every key of a queue in one slot, and each queue in a slot of its own', async () => {
    const prefix = uniqueId('layout');
    const { redis, queues } = connect(SHARDS, prefix);
    const connections = Array.from({ length: 24 }, () => randomUUID());
    for (const id of connections) {
      await queues.enqueue('ingest-deliveries', { deliveries: [delivery(id)] });
    }
    await queues.enqueue('reconcile-all', {});
    await queues.enqueue('refresh-token', { connectionId: randomUUID() }, { delayMs: 60_000 });
    const { ran } = recordingWorkers(prefix, SHARDS);
    await eventually(() => ran.size === connections.length, { what: 'every delivery worked' });

    const keys = await keysOf(redis, prefix);
    const cluster = redis.isCluster;
    const byQueue = new Map<string, string[]>();
    for (const queue of queues.all()) {
      const start = `${queuePrefix(prefix, queue.name, cluster)}:${queue.name}:`;
      byQueue.set(
        queue.name,
        keys.filter((key) => key.startsWith(start)),
      );
    }
    // Every key calhook made belongs to one of its queues.
    expect(keys.length).toBeGreaterThan(0);
    expect([...byQueue.values()].flat().sort()).toEqual([...keys].sort());
    for (const name of ['events', 'events-1', 'events-2', 'connections', 'reconcile']) {
      expect(byQueue.get(name)?.length, `keys of ${name}`).toBeGreaterThan(0);
    }

    if (!cluster) {
      // A single Redis: the layout of every earlier version, so an upgrade finds its jobs.
      expect(keys.some((key) => key === `${prefix}:events:meta`)).toBe(true);
      return;
    }
    const slotOf = async (key: string) => Number(await redis.call('CLUSTER', 'KEYSLOT', key));
    const slots = new Map<string, number>();
    for (const [name, queueKeys] of byQueue) {
      if (queueKeys.length === 0) continue;
      const distinct = new Set(await Promise.all(queueKeys.map(slotOf)));
      expect([...distinct], `slots of the keys of ${name}`).toHaveLength(1);
      slots.set(name, [...distinct][0] as number);
    }
    expect(new Set(slots.values()).size, 'one slot per queue').toBe(slots.size);

    // The seed owns none of these slots (every command above was redirected), and the queues
    // still spread over more than one node.
    const target = testUrls().redis;
    const seed = new URL(target.kind === 'cluster' ? (target.nodes[0] ?? '') : target.url);
    const ranges = (await redis.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    const ownerOf = (slot: number) => {
      const range = ranges.find(([first, last]) => first <= slot && slot <= last);
      return range ? range[2][1] : undefined;
    };
    const owners = new Set([...slots.values()].map(ownerOf));
    expect(owners.has(Number(seed.port))).toBe(false);
    expect(owners.size).toBeGreaterThan(1);
  });

  it('sends each connection to the shard the catalog picks, and works every shard', async () => {
    const prefix = uniqueId('shards');
    const { queues } = connect(SHARDS, prefix);
    const connections = Array.from({ length: 30 }, () => randomUUID());
    // Several deliveries per connection, in separate jobs.
    for (let round = 0; round < 3; round++) {
      for (const id of connections) {
        await queues.enqueue('ingest-deliveries', { deliveries: [delivery(id)] });
      }
    }
    const { ran, count } = recordingWorkers(prefix, SHARDS);
    await eventually(() => count() === 3 * connections.length, { what: 'every delivery worked' });
    const used = new Set<string>();
    for (const id of connections) {
      const expected = jobQueueName('ingest-deliveries', { deliveries: [delivery(id)] }, SHARDS);
      // One shard per connection, the catalog's.
      expect([...(ran.get(id) ?? [])]).toEqual([expected]);
      used.add(expected);
    }
    expect([...used].sort()).toEqual(['events', 'events-1', 'events-2']);
    const waiting = await Promise.all(
      queues.shardsOf('events').map((q) => q.getJobCounts('waiting', 'active', 'delayed')),
    );
    expect(waiting.map((c) => (c.waiting ?? 0) + (c.active ?? 0) + (c.delayed ?? 0))).toEqual([
      0, 0, 0,
    ]);
  });

  it('finds and drains the shards a higher QUEUE_SHARDS left jobs in', async () => {
    const prefix = uniqueId('retired');
    const { queues: before } = connect(SHARDS, prefix);
    const connections = Array.from({ length: 30 }, () => randomUUID());
    for (const id of connections) {
      await before.enqueue('ingest-deliveries', { deliveries: [delivery(id)] });
    }
    const inLastShard = connections.filter(
      (id) =>
        jobQueueName('ingest-deliveries', { deliveries: [delivery(id)] }, SHARDS) === 'events-2',
    );
    expect(inLastShard.length).toBeGreaterThan(0);

    // Now QUEUE_SHARDS=2: shard 2 is beyond it and still holds jobs.
    const redis = createWorkerRedis(testUrls().redis);
    open.push({ close: async () => redis.disconnect() });
    expect(await findRetiredShards(redis, prefix, 2, 64)).toEqual([2]);
    const { ran } = recordingWorkers(prefix, 2, [2]);
    await eventually(() => ran.size === connections.length, { what: 'every delivery worked' });
    for (const id of inLastShard) expect([...(ran.get(id) ?? [])]).toEqual(['events-2']);
    expect(await findRetiredShards(redis, prefix, 2, 64)).toEqual([]);
    // Looking wrote nothing: no key of a shard that never existed.
    const keys = await keysOf(redis, prefix);
    expect(keys.filter((key) => /:\{?events-([3-9]|\d\d)\}?:/.test(key))).toEqual([]);
  });
});
