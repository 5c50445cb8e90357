import { type Job, type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  type JobName,
  type JobPayload,
  jobCatalog,
  type QueueName,
  queueNames,
} from './catalog.ts';

export interface Queues {
  readonly prefix: string;
  /** The connection every queue uses (the caller's). */
  readonly connection: Redis;
  get(name: QueueName): Queue;
  all(): Queue[];
  /** Validates the payload against the catalog and adds the job to its queue. */
  enqueue<N extends JobName>(name: N, payload: JobPayload<N>, options?: JobsOptions): Promise<Job>;
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
  return {
    prefix,
    connection,
    get,
    all: () => [...queues.values()],
    async enqueue(name, payload, options) {
      const entry = jobCatalog[name];
      const data = entry.payload.parse(payload);
      return get(entry.queue).add(name, data, { ...entry.options, ...options });
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}
