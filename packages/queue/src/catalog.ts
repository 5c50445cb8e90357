import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

/** Queues calhook runs. Each is its own BullMQ queue so one kind of work never starves another. */
export const queueNames = ['events', 'connections', 'reconcile'] as const;
export type QueueName = (typeof queueNames)[number];

const isoDate = z.iso.datetime({ offset: true });

/** One webhook delivery as the receiver took it. */
const delivery = z.object({
  hookId: z.string().min(1),
  connectionId: z.uuid(),
  /** The delivery's raw body, verbatim: the worker parses it, never the receiver. */
  body: z.string(),
  receivedAt: isoDate,
});

/** Both ingest jobs: 9 retries over ~8.5 minutes, then kept failed for two weeks to replay. */
const ingestRetries = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnFail: { age: 14 * 86_400 },
} as const satisfies JobsOptions;

/**
 * The job catalog: every job name with its payload schema, queue and retry policy. Producers
 * enqueue through it; the worker's processor map must cover every name (checked by the compiler).
 */
export const jobCatalog = {
  'ingest-deliveries': {
    queue: 'events',
    // What the receiver queues: the deliveries that arrived while its previous add was in
    // flight, in arrival order, as one job (one Redis script per batch, not per delivery).
    payload: z.object({ deliveries: z.array(delivery).min(1) }),
    options: {
      ...ingestRetries,
      // A delivery's duplicates are caught by the receiver's recent-deliveries set and, for
      // good, by the inbox's content hash: completed batches are kept only to be looked at.
      removeOnComplete: { age: 3_600, count: 1_000 },
    },
    doneLogLevel: 'debug',
  },
  'ingest-event': {
    queue: 'events',
    // One delivery per job: what receivers before batching queued, and still worked, so jobs
    // queued by an older receiver drain after an upgrade.
    payload: delivery,
    options: { ...ingestRetries, removeOnComplete: { age: 3_600, count: 100_000 } },
    // Thousands a second under load: the worker logs one line per batch instead.
    doneLogLevel: 'debug',
  },
  'refresh-token': {
    queue: 'connections',
    // Deduplication id `refresh-<connectionId>` (replace, keep last if active): rescheduling
    // replaces the pending job, never adds a second one.
    payload: z.object({ connectionId: z.uuid() }),
    options: {
      attempts: 8,
      backoff: { type: 'exponential', delay: 5_000 },
      removeOnComplete: true,
      removeOnFail: { age: 14 * 86_400 },
    },
  },
  'disconnect-cleanup': {
    queue: 'connections',
    // What a disconnect could not finish at Calendly. The tokens travel sealed (AES-GCM), as
    // they were in the database: the connection row no longer holds them.
    payload: z.object({
      connectionId: z.uuid(),
      subscriptionUris: z.array(z.string()),
      accessTokenEnc: z.string().nullable(),
      refreshTokenEnc: z.string().nullable(),
    }),
    options: {
      attempts: 50,
      backoff: { type: 'exponential', delay: 10_000 },
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 30 * 86_400 },
    },
  },
  'reconcile-connection': {
    queue: 'reconcile',
    payload: z.object({
      connectionId: z.uuid(),
      reason: z.enum(['scheduled', 'requested', 'connect', 'command']),
    }),
    options: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 30_000 },
      removeOnComplete: { age: 3_600 },
      removeOnFail: { age: 14 * 86_400 },
    },
  },
  'reconcile-all': {
    queue: 'reconcile',
    // Run by a job scheduler every RECONCILE_EVERY: fans out one reconcile-connection per
    // active connection, with ids fixed per run window so a slow run never doubles up.
    payload: z.object({}),
    options: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 30_000 },
      removeOnComplete: { count: 100 },
      removeOnFail: { age: 14 * 86_400 },
    },
  },
} as const satisfies Record<
  string,
  {
    queue: QueueName;
    payload: z.ZodType;
    options: JobsOptions;
    /** Level of the "job done" line; info unless the job is too frequent for it. */
    doneLogLevel?: 'debug' | 'info';
  }
>;

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.output<(typeof jobCatalog)[N]['payload']>;
/** One delivery as queued: an `ingest-event` job, or one entry of an `ingest-deliveries` job. */
export type QueuedDelivery = JobPayload<'ingest-event'>;
