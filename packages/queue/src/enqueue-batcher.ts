import type { JobsOptions, Queue } from 'bullmq';
import { type JobName, type JobPayload, jobCatalog, type QueueName } from './catalog.ts';
import type { Queues } from './queues.ts';

export interface EnqueueBatcher {
  /**
   * Validates the payload and adds the job together with the others enqueued in the same turn
   * of the event loop (one pipelined Queue.addBulk per queue). Resolves only once Redis has
   * answered for the whole batch; rejects every job of a batch when any part fails.
   */
  enqueue<N extends JobName>(name: N, payload: JobPayload<N>, options?: JobsOptions): Promise<void>;
}

interface Pending {
  job: { name: string; data: unknown; opts: JobsOptions };
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Coalesces concurrent adds. Under load many requests finish parsing in one turn of the event
 * loop; sending their jobs as one pipeline costs Redis and this process one round trip and one
 * write instead of one each. The batch leaves on setImmediate, so a lone request waits for no
 * timer: batching only happens when there is concurrency to batch.
 */
export function createEnqueueBatcher(
  queues: Queues,
  options: { maxBatch?: number } = {},
): EnqueueBatcher {
  const maxBatch = options.maxBatch ?? 200;
  const pending = new Map<QueueName, Pending[]>();
  let scheduled = false;

  function send(queue: Queue, batch: Pending[]) {
    queue.addBulk(batch.map((p) => p.job)).then(
      () => {
        for (const p of batch) p.resolve();
      },
      (error: unknown) => {
        // Some jobs of a failed pipeline may be in Redis: the caller answers 503, the sender
        // retries, and the deterministic job id keeps the retry from queuing a second copy.
        for (const p of batch) p.reject(error);
      },
    );
  }

  function flush() {
    scheduled = false;
    for (const [name, entries] of pending) {
      pending.delete(name);
      const queue = queues.get(name);
      for (let i = 0; i < entries.length; i += maxBatch)
        send(queue, entries.slice(i, i + maxBatch));
    }
  }

  return {
    enqueue(name, payload, jobOptions) {
      const entry = jobCatalog[name];
      let data: unknown;
      try {
        data = entry.payload.parse(payload);
      } catch (error) {
        return Promise.reject(error);
      }
      return new Promise<void>((resolve, reject) => {
        const list = pending.get(entry.queue) ?? [];
        list.push({
          job: { name, data, opts: { ...entry.options, ...jobOptions } },
          resolve,
          reject,
        });
        pending.set(entry.queue, list);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
  };
}
