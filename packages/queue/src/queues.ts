import { type Job, Queue } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import {
  allQueueNames,
  catalogEntry,
  type JobName,
  type JobPayload,
  jobOptions,
  jobQueueName,
  type QueueName,
  shardedQueueNames,
  shardQueueName,
  shardQueueNamesOf,
} from './catalog.ts';
import type { RedisConnection } from './redis.ts';

/**
 * The BullMQ prefix of one queue. On a Redis Cluster every key a BullMQ script touches must be
 * in one slot, and every queue should be free to sit on its own node: so each queue's prefix
 * carries a hash tag of its own, its name (`calhook:{events-1}:events-1:wait`). The tag is the
 * queue name alone, so a queue's slot is the same for every deployment and can be looked up
 * (`CLUSTER KEYSLOT {events-1}`). A single Redis keeps the plain prefix (`calhook:events:wait`),
 * so an upgrade finds the jobs queued before it.
 */
export function queuePrefix(prefix: string, queueName: string, cluster: boolean): string {
  return cluster ? `${prefix}:{${queueName}}` : prefix;
}

export interface QueuesOptions {
  /** QUEUE_SHARDS: how many BullMQ queues each sharded queue is split into (1 by default). */
  shards?: number;
  /**
   * Carry the adder's trace into each job (`tracingActive()` from @calhook/observability):
   * every add gets a producer span and the worker's span continues that trace.
   */
  tracing?: boolean;
}

/**
 * BullMQ's OpenTelemetry adapter, for queues and workers of a process that traces; nothing
 * otherwise, so BullMQ skips its telemetry code altogether.
 */
export function queueTelemetry(tracing: boolean | undefined): { telemetry?: BullMQOtel } {
  return tracing ? { telemetry: new BullMQOtel({ tracerName: 'calhook.bullmq' }) } : {};
}

export interface EnqueueOptions {
  /** Run no sooner than this from now. */
  delayMs?: number;
}

/** Jobs the catalog runs on a fixed schedule (one scheduler each, however many replicas). */
export type ScheduledJobName = Extract<JobName, 'reconcile-sweep' | 'prune-history'>;

export interface Queues {
  readonly prefix: string;
  /** How many shards each sharded queue has. */
  readonly shards: number;
  /** The connection every queue uses (the caller's). */
  readonly connection: RedisConnection;
  /** A queue by its catalog name; for a sharded queue, one shard (0 by default). */
  get(name: QueueName, shard?: number): Queue;
  /** Every BullMQ queue of one catalog queue: its shards, or itself. */
  shardsOf(name: QueueName): Queue[];
  /** Every BullMQ queue, shards included: what Bull Board shows and metrics measure. */
  all(): Queue[];
  /** The queue a job goes to (see `jobQueueName` in the catalog). */
  queueOf<N extends JobName>(name: N, payload: JobPayload<N>): Queue;
  /**
   * Adds a job with the catalog's options and identity (see `jobCatalog`): the only way a job
   * is added. Resolves with the job that will carry out the request: a new one, or the waiting
   * one it was merged into.
   */
  enqueue<N extends JobName>(
    name: N,
    payload: JobPayload<N>,
    options?: EnqueueOptions,
  ): Promise<Job>;
  /** Many jobs of one kind in one round trip, each with its catalog identity. */
  enqueueBulk<N extends JobName>(
    name: N,
    payloads: readonly JobPayload<N>[],
    options?: EnqueueOptions,
  ): Promise<Job[]>;
  /**
   * Runs `name` every `everyMs` (the catalog's own interval by default) from a BullMQ job
   * scheduler whose template carries the catalog's options. Idempotent: every replica upserts
   * the same scheduler and one is kept.
   */
  schedule(name: ScheduledJobName, everyMs?: number): Promise<void>;
  /**
   * Removes the job scheduler of `name`, if there is one: what a schedule that no longer
   * exists (`reconcile-all` every RECONCILE_EVERY, before the sweep) left in Redis.
   */
  unschedule(name: JobName): Promise<void>;
  /** Removes the waiting job of a per-key kind, if one waits; a running one is left alone. */
  cancel<N extends JobName>(name: N, key: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Builds every queue on one connection, a single Redis or a Cluster. The caller owns the
 * connection and closes it after.
 */
export function createQueues(
  connection: RedisConnection,
  prefix: string,
  options: QueuesOptions = {},
): Queues {
  const shards = options.shards ?? 1;
  const cluster = connection.isCluster;
  const telemetry = queueTelemetry(options.tracing);
  const queues = new Map<string, Queue>(
    allQueueNames(shards).map((name) => [
      name,
      new Queue(name, { connection, prefix: queuePrefix(prefix, name, cluster), ...telemetry }),
    ]),
  );
  const byName = (name: string) => {
    const queue = queues.get(name);
    if (!queue) throw new Error(`unknown queue ${name}`);
    return queue;
  };
  const get = (name: QueueName, shard = 0) => byName(shardQueueName(name, shard));
  const queueOf = <N extends JobName>(name: N, payload: JobPayload<N>) =>
    byName(jobQueueName(name, payload, shards));
  /** The one queue of a kind that is never sharded (schedules, per-key jobs). */
  const unsharded = (name: JobName) => {
    const queue = catalogEntry(name).queue;
    if (shardQueueNamesOf(queue, shards).length > 1) {
      throw new Error(`${name} is in the sharded queue ${queue}`);
    }
    return get(queue);
  };
  function validated<N extends JobName>(name: N, payload: JobPayload<N>): JobPayload<N> {
    const entry = catalogEntry(name);
    return entry.validateOnEnqueue === false
      ? payload
      : (entry.payload.parse(payload) as JobPayload<N>);
  }
  return {
    prefix,
    shards,
    connection,
    get,
    shardsOf: (name) => shardQueueNamesOf(name, shards).map(byName),
    all: () => [...queues.values()],
    queueOf,
    async enqueue(name, payload, options = {}) {
      const data = validated(name, payload);
      return queueOf(name, data).add(name, data, jobOptions(name, data, options.delayMs));
    },
    async enqueueBulk(name, payloads, options = {}) {
      if (payloads.length === 0) return [];
      // One addBulk per queue (a Cluster runs each in its own slot), answers in input order.
      const byQueue = new Map<Queue, { index: number; data: JobPayload<typeof name> }[]>();
      for (const [index, payload] of payloads.entries()) {
        const data = validated(name, payload);
        const queue = queueOf(name, data);
        const group = byQueue.get(queue) ?? [];
        group.push({ index, data });
        byQueue.set(queue, group);
      }
      const jobs: Job[] = new Array(payloads.length);
      await Promise.all(
        [...byQueue].map(async ([queue, group]) => {
          const added = await queue.addBulk(
            group.map(({ data }) => ({
              name,
              data,
              opts: jobOptions(name, data, options.delayMs),
            })),
          );
          for (const [i, job] of added.entries()) jobs[group[i]?.index ?? 0] = job;
        }),
      );
      return jobs;
    },
    async schedule(name, everyMs) {
      const entry = catalogEntry(name);
      const every = everyMs ?? entry.everyMs;
      if (every === undefined) throw new Error(`${name} has no schedule in the catalog`);
      await unsharded(name).upsertJobScheduler(
        name,
        { every },
        { name, data: {}, opts: entry.options },
      );
    },
    async unschedule(name) {
      await unsharded(name).removeJobScheduler(name);
    },
    async cancel(name, key) {
      const queue = unsharded(name);
      const jobId = await queue.getDeduplicationJobId(key);
      if (!jobId) return;
      const job = await queue.getJob(jobId);
      if (!job) {
        await queue.removeDeduplicationKey(key);
        return;
      }
      // An active job cannot be removed; its processor re-reads what it acts on.
      if ((await job.getState()) === 'active') return;
      await job.remove().catch(() => {
        // It became active meanwhile: the same as above.
      });
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}

/**
 * Shards from `shards` up to `upTo` (exclusive) of the sharded queues that still hold jobs:
 * what a deployment that lowered QUEUE_SHARDS left behind. Workers work them until they are
 * empty (`WorkersOptions.retiredShards`), so no accepted delivery is stranded.
 */
export async function findRetiredShards(
  connection: RedisConnection,
  prefix: string,
  shards: number,
  upTo: number,
): Promise<number[]> {
  const retired: number[] = [];
  for (const queue of shardedQueueNames) {
    const probes = Array.from({ length: Math.max(0, upTo - shards) }, (_, i) => shards + i);
    await Promise.all(
      probes.map(async (shard) => {
        const name = shardQueueName(queue, shard);
        // A look only: no meta key is written for a shard that never existed.
        const probe = new Queue(name, {
          connection,
          prefix: queuePrefix(prefix, name, connection.isCluster),
          skipMetasUpdate: true,
        });
        try {
          const counts = await probe.getJobCounts(
            'waiting',
            'active',
            'delayed',
            'prioritized',
            'waiting-children',
          );
          if (Object.values(counts).some((n) => n > 0) && !retired.includes(shard)) {
            retired.push(shard);
          }
        } finally {
          await probe.close();
        }
      }),
    );
  }
  return retired.sort((a, b) => a - b);
}
