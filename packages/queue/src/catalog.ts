import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

/** Queues calhook runs. Each is its own BullMQ queue so one kind of work never starves another. */
export const queueNames = ['events', 'connections'] as const;
export type QueueName = (typeof queueNames)[number];

const isoDate = z.iso.datetime({ offset: true });

/**
 * The job catalog: every job name with its payload schema, queue and retry policy. Producers
 * enqueue through it; the worker's processor map must cover every name (checked by the compiler).
 */
export const jobCatalog = {
  'ingest-event': {
    queue: 'events',
    payload: z.object({
      hookId: z.string().min(1),
      connectionId: z.uuid(),
      /** The delivery's raw body, verbatim: the worker parses it, never the receiver. */
      body: z.string(),
      receivedAt: isoDate,
    }),
    options: {
      attempts: 10,
      backoff: { type: 'exponential', delay: 1_000 },
      // Completed jobs are kept for an hour so a retried delivery dedupes on the job id too;
      // the inbox's content hash is the lasting guarantee.
      removeOnComplete: { age: 3_600, count: 100_000 },
      removeOnFail: { age: 14 * 86_400 },
    },
  },
} as const satisfies Record<string, { queue: QueueName; payload: z.ZodType; options: JobsOptions }>;

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.output<(typeof jobCatalog)[N]['payload']>;
