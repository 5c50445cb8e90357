import { type Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  catalogEntry,
  type JobName,
  type JobPayload,
  jobOptions,
  type QueueName,
  queueNames,
} from './catalog.ts';

export interface EnqueueOptions {
  /** Run no sooner than this from now. */
  delayMs?: number;
}

/** Jobs the catalog runs on a fixed schedule (one scheduler each, however many replicas). */
export type ScheduledJobName = Extract<JobName, 'reconcile-all' | 'prune-history'>;

export interface Queues {
  readonly prefix: string;
  /** The connection every queue uses (the caller's). */
  readonly connection: Redis;
  get(name: QueueName): Queue;
  all(): Queue[];
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
  enqueueBulk<N extends JobName>(name: N, payloads: readonly JobPayload<N>[]): Promise<Job[]>;
  /**
   * Runs `name` every `everyMs` (the catalog's own interval by default) from a BullMQ job
   * scheduler whose template carries the catalog's options. Idempotent: every replica upserts
   * the same scheduler and one is kept.
   */
  schedule(name: ScheduledJobName, everyMs?: number): Promise<void>;
  /** Removes the waiting job of a per-key kind, if one waits; a running one is left alone. */
  cancel<N extends JobName>(name: N, key: string): Promise<void>;
  close(): Promise<void>;
}

/** Builds every queue on one connection. The caller owns the connection and closes it after. */
export function createQueues(connection: Redis, prefix: string): Queues {
  const queues = new Map<QueueName, Queue>(
    queueNames.map((name) => [name, new Queue(name, { connection, prefix })]),
  );
  const get = (name: QueueName) => {
    const queue = queues.get(name);
    if (!queue) throw new Error(`unknown queue ${name}`);
    return queue;
  };
  function validated<N extends JobName>(name: N, payload: JobPayload<N>): JobPayload<N> {
    const entry = catalogEntry(name);
    return entry.validateOnEnqueue === false
      ? payload
      : (entry.payload.parse(payload) as JobPayload<N>);
  }
  return {
    prefix,
    connection,
    get,
    all: () => [...queues.values()],
    async enqueue(name, payload, options = {}) {
      const data = validated(name, payload);
      return get(catalogEntry(name).queue).add(name, data, jobOptions(name, data, options.delayMs));
    },
    async enqueueBulk(name, payloads) {
      if (payloads.length === 0) return [];
      const queue = get(catalogEntry(name).queue);
      return queue.addBulk(
        payloads.map((payload) => {
          const data = validated(name, payload);
          return { name, data, opts: jobOptions(name, data) };
        }),
      );
    },
    async schedule(name, everyMs) {
      const entry = catalogEntry(name);
      const every = everyMs ?? entry.everyMs;
      if (every === undefined) throw new Error(`${name} has no schedule in the catalog`);
      await get(entry.queue).upsertJobScheduler(
        name,
        { every },
        { name, data: {}, opts: entry.options },
      );
    },
    async cancel(name, key) {
      const queue = get(catalogEntry(name).queue);
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
