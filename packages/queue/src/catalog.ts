import type { DeduplicationOptions, JobsOptions } from 'bullmq';
import { z } from 'zod';

/** Queues calhook runs. Each is its own BullMQ queue so one kind of work never starves another. */
export const queueNames = ['events', 'connections', 'reconcile', 'webhooks'] as const;
export type QueueName = (typeof queueNames)[number];

/**
 * Queues split into QUEUE_SHARDS BullMQ queues, each in a Redis Cluster slot of its own, so the
 * Cluster spreads their load over its masters. A job goes to the shard its catalog `shardKey`
 * picks (the connection): one connection's deliveries stay together, though nothing relies on
 * it (the meeting upsert is order-independent).
 */
export const shardedQueueNames = ['events'] as const satisfies readonly QueueName[];

/** The BullMQ queue name of one shard. Shard 0 keeps the plain name: one shard is the old layout. */
export function shardQueueName(queue: QueueName, shard: number): string {
  return shard === 0 ? queue : `${queue}-${shard}`;
}

/** Every BullMQ queue of one logical queue, shard 0 first. */
export function shardQueueNamesOf(queue: QueueName, shards: number): string[] {
  const count = (shardedQueueNames as readonly QueueName[]).includes(queue) ? shards : 1;
  return Array.from({ length: count }, (_, shard) => shardQueueName(queue, shard));
}

/** Every BullMQ queue calhook runs with `shards` shards, in catalog order. */
export function allQueueNames(shards: number): string[] {
  return queueNames.flatMap((queue) => shardQueueNamesOf(queue, shards));
}

/**
 * The shard of a key: FNV-1a over its characters, modulo the shard count. Stable across
 * processes and versions (receivers and workers of different ages agree), cheap on the
 * receiver's hot path, and even over random UUIDs.
 */
export function shardOf(key: string, shards: number): number {
  if (shards <= 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

const isoDate = z.iso.datetime({ offset: true });

/**
 * Back-off of app webhook deliveries by retry: 5 s, 30 s, 2 m, 10 m, 30 m, 1 h, 2 h, 4 h, then
 * 8 h. The first retry is within 10 s, the second within 60 s, and the retries span more than
 * 24 h (the last of `APP_WEBHOOK_ATTEMPTS` comes about 31.7 h after the first attempt).
 */
export const APP_WEBHOOK_BACKOFF_MS = [
  5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000,
] as const;
export const APP_WEBHOOK_ATTEMPTS = 12;

/**
 * Back-off schedules jobs name in `backoff: { type }` beyond BullMQ's own fixed and
 * exponential: delay before retry number `attemptsMade` (1 for the first retry).
 */
export const backoffStrategies: Record<string, (attemptsMade: number, data: unknown) => number> = {
  // A retry job queued by a `deliver-webhooks` run carries the attempts already made
  // (`priorAttempts`), so its own back-off continues the schedule where that run left it.
  'app-webhook': (attemptsMade, data) => {
    const prior = (data as { priorAttempts?: number } | undefined)?.priorAttempts ?? 0;
    const retry = Math.min(attemptsMade + prior, APP_WEBHOOK_BACKOFF_MS.length);
    return APP_WEBHOOK_BACKOFF_MS[retry - 1] ?? APP_WEBHOOK_BACKOFF_MS[0];
  },
};

/** Changes one `deliver-webhooks` job carries at most. */
export const APP_WEBHOOK_BATCH = 100;

/** A change of the feed as app webhooks send it (API.md, "Change"). */
const webhookChange = z.object({
  id: z.string().min(1),
  cursor: z.string(),
  type: z.string(),
  occurredAt: isoDate,
  userId: z.string(),
  data: z.unknown(),
});

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
 * How a job kind is identified. `unique`: every add is a job of its own (BullMQ's own id), so
 * nothing is ever dropped as a repeat. `per-key`: at most one job of the key waits, and one
 * more may run; an add while one waits is merged into it (a run that has not started yet), an
 * add while one runs is kept and enqueued once that run finishes, an add after it finished is
 * a new run. So no accepted request is dropped by an id collision, and no two runs of one key
 * overlap. `job-id`: the job's id is made from the payload, so an add of an id already kept
 * (waiting, running, or finished and not yet removed) is dropped: for work that must be done
 * once per business key however often it is asked for. `pullForward` moves a waiting delayed job to the new add's delay (a request made
 * while the next scheduled run is hours away runs now); without it the delayed job is replaced.
 */
type Identity<P> =
  | { kind: 'unique' }
  | { kind: 'job-id'; id: (payload: P) => string }
  | { kind: 'per-key'; key: (payload: P) => string; pullForward: boolean };

interface CatalogEntry<S extends z.ZodType> {
  queue: QueueName;
  /** For a job of a sharded queue: the key that picks its shard (see `shardOf`). */
  shardKey?: (payload: z.output<S>) => string;
  payload: S;
  options: JobsOptions;
  identity: Identity<z.output<S>>;
  /**
   * Whether `enqueue` validates the payload. Off only where the producer builds it from typed
   * values on a hot path (the receiver); the worker validates every job before running it.
   */
  validateOnEnqueue?: boolean;
  /** Level of the "job done" line; info unless the job is too frequent for it. */
  doneLogLevel?: 'debug' | 'info';
  /** For a job run on a fixed schedule (`Queues.schedule`): how often. */
  everyMs?: number;
}

const entry = <S extends z.ZodType>(e: CatalogEntry<S>) => e;

/**
 * The job catalog: every job name with its payload schema, queue, retry policy and identity.
 * Producers enqueue through it (`Queues.enqueue`, `enqueueBulk`, `schedule`): no job id,
 * deduplication key or job option is written anywhere else. The worker's processor map must
 * cover every name (checked by the compiler).
 */
export const jobCatalog = {
  'ingest-deliveries': entry({
    queue: 'events',
    // What the receiver queues: the deliveries of one shard that arrived while its previous
    // add to that shard was in flight, in arrival order, as one job (one Redis script per
    // batch, not per delivery).
    payload: z.object({ deliveries: z.array(delivery).min(1) }),
    // The receiver batches per shard, so the first delivery's connection names the batch's.
    shardKey: (p) => p.deliveries[0]?.connectionId ?? '',
    options: {
      ...ingestRetries,
      // A delivery's duplicates are caught by the receiver's recent-deliveries set and, for
      // good, by the inbox's content hash: completed batches are kept only to be looked at.
      removeOnComplete: { age: 3_600, count: 1_000 },
    },
    identity: { kind: 'unique' },
    validateOnEnqueue: false,
    doneLogLevel: 'debug',
  }),
  'ingest-event': entry({
    queue: 'events',
    // One delivery per job: what receivers before batching queued, and still worked, so jobs
    // queued by an older receiver drain after an upgrade.
    payload: delivery,
    shardKey: (p) => p.connectionId,
    options: { ...ingestRetries, removeOnComplete: { age: 3_600, count: 100_000 } },
    identity: { kind: 'unique' },
    // Thousands a second under load: the worker logs one line per batch instead.
    doneLogLevel: 'debug',
  }),
  'refresh-token': entry({
    queue: 'connections',
    payload: z.object({ connectionId: z.uuid() }),
    options: {
      attempts: 8,
      backoff: { type: 'exponential', delay: 5_000 },
      removeOnComplete: true,
      removeOnFail: { age: 14 * 86_400 },
    },
    // One refresh planned per connection: rescheduling replaces the planned job, and the job
    // that reschedules itself at the end of its run leaves its successor waiting.
    identity: { kind: 'per-key', key: (p) => `refresh-${p.connectionId}`, pullForward: false },
  }),
  'disconnect-cleanup': entry({
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
    // Each disconnect leaves its own clean-up (its own subscriptions and tokens).
    identity: { kind: 'unique' },
  }),
  'reconcile-connection': entry({
    queue: 'reconcile',
    // The reason is for logs and metrics only: what a run must do (a requested backfill, the
    // first import) is read from the connection row when the run starts, so merging a request
    // into a waiting run loses nothing.
    payload: z.object({
      connectionId: z.uuid(),
      reason: z.enum(['scheduled', 'requested', 'connect', 'command']),
    }),
    options: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 30_000 },
      // Every connection runs once per cycle: completed runs kept by age would hold a cycle's
      // worth of jobs (100,000s) in Redis. The last thousand are enough to look at.
      removeOnComplete: { count: 1_000 },
      removeOnFail: { age: 14 * 86_400 },
    },
    identity: { kind: 'per-key', key: (p) => `reconcile-${p.connectionId}`, pullForward: true },
    // Every connection once per cycle (100+ a second at 100,000): the workflow logs what it
    // changed (a subscription repaired, meetings backfilled), the routine rest is debug.
    doneLogLevel: 'debug',
  }),
  'reconcile-sweep': entry({
    // The schedule of reconcile: every few seconds, queues the runs of the connections whose
    // offset in RECONCILE_EVERY falls in the slice just ended (packages/connections
    // reconcile.ts). On the connections queue, so a backlog of reconcile runs never delays
    // the sweep that keeps the rate flat.
    queue: 'connections',
    payload: z.object({}),
    options: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { count: 100 },
      removeOnFail: { age: 14 * 86_400 },
    },
    identity: { kind: 'unique' },
    doneLogLevel: 'debug',
  }),
  'reconcile-all': entry({
    queue: 'reconcile',
    // Run by `pnpm reconcile` (an operator's catch-up): asks for one reconcile-connection per
    // active connection now, merged into any of them not yet started. Scheduled runs come
    // from reconcile-sweep instead, spread over the cycle.
    payload: z.object({}),
    options: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 30_000 },
      removeOnComplete: { count: 100 },
      removeOnFail: { age: 14 * 86_400 },
    },
    identity: { kind: 'unique' },
  }),
  'deliver-webhooks': entry({
    queue: 'webhooks',
    // A run of an endpoint's changes: the span of at most APP_WEBHOOK_BATCH consecutive feed
    // changes after `after` up to `through` (cursors), read from the feed by the run itself, so
    // the changes' bytes never pass through Redis. Each change the endpoint subscribes to is
    // sent once, and each that fails gets a `deliver-webhook` retry job of its own, due at the
    // schedule's first retry. The run succeeds once those are queued; a run that fails before
    // that (Postgres or Redis trouble) is run again whole.
    payload: z.object({
      endpointId: z.string().min(1),
      after: z.string().min(1),
      through: z.string().min(1),
    }),
    options: {
      attempts: 10,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { age: 86_400, count: 10_000 },
      removeOnFail: { age: 14 * 86_400 },
    },
    // Once per endpoint and span: a dispatcher that died after adding but before saving its
    // cursor reads the same changes again, and the runs it adds again are dropped.
    identity: { kind: 'job-id', id: (p) => ['whb', p.endpointId, p.after, p.through].join('-') },
    validateOnEnqueue: false,
    doneLogLevel: 'debug',
  }),
  'deliver-webhook': entry({
    queue: 'webhooks',
    // One change to one app webhook endpoint, the Change as the body's source: a retry of a
    // `deliver-webhooks` run's failed change, or a replay. Retried on the endpoint's schedule
    // (first within 10 s, second within 60 s, then growing) for over 24 h; the endpoint is
    // disabled once it has failed for 24 h, and its jobs then end quietly.
    payload: z.object({
      endpointId: z.string().min(1),
      change: webhookChange,
      /** Attempts made before this job (1 for the retry of a run's failed change). */
      priorAttempts: z.number().int().min(0).optional(),
      /** Set for a replay: a delivery of its own (same webhook-id), not merged into the first. */
      replayId: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .optional(),
    }),
    options: {
      attempts: APP_WEBHOOK_ATTEMPTS,
      backoff: { type: 'app-webhook' },
      removeOnComplete: { age: 86_400, count: 100_000 },
      removeOnFail: { age: 14 * 86_400 },
    },
    // Once per endpoint and change: a dispatcher that died after adding but before saving its
    // cursor adds the same jobs again, and they are dropped.
    identity: {
      kind: 'job-id',
      id: (p) => ['wh', p.endpointId, p.change.id, ...(p.replayId ? [p.replayId] : [])].join('-'),
    },
    validateOnEnqueue: false,
    doneLogLevel: 'debug',
  }),
  'replay-webhooks': entry({
    queue: 'webhooks',
    // POST /v1/webhook-endpoints/:id/replay: queues a delivery of every change after `after`
    // (up to where the endpoint's dispatch has reached) that the endpoint subscribes to.
    payload: z.object({ endpointId: z.string().min(1), after: z.string(), replayId: z.string() }),
    options: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 5_000 },
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 14 * 86_400 },
    },
    identity: { kind: 'unique' },
  }),
  'prune-history': entry({
    queue: 'connections',
    // Drops changes older than CHANGES_RETENTION and app webhook delivery attempts older than
    // 14 days, on its own schedule.
    payload: z.object({}),
    everyMs: 3_600_000,
    options: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 60_000 },
      removeOnComplete: { count: 24 },
      removeOnFail: { age: 14 * 86_400 },
    },
    identity: { kind: 'unique' },
  }),
} as const;

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.output<(typeof jobCatalog)[N]['payload']>;
/** One delivery as queued: an `ingest-event` job, or one entry of an `ingest-deliveries` job. */
export type QueuedDelivery = JobPayload<'ingest-event'>;

/** The job catalog entry of a name, typed for generic code. */
export function catalogEntry<N extends JobName>(name: N): CatalogEntry<z.ZodType> {
  return jobCatalog[name] as CatalogEntry<z.ZodType>;
}

/**
 * The BullMQ queue a job goes to with `shards` shards: its catalog queue, and for a sharded
 * one the shard its key picks. The only place a job's queue is decided.
 */
export function jobQueueName<N extends JobName>(
  name: N,
  payload: JobPayload<N>,
  shards: number,
): string {
  const entry = catalogEntry(name);
  const sharded = (shardedQueueNames as readonly QueueName[]).includes(entry.queue);
  if (!sharded || !entry.shardKey) return entry.queue;
  return shardQueueName(entry.queue, shardOf(entry.shardKey(payload), shards));
}

/** The deduplication key of a job, or null for kinds where every add is its own job. */
export function jobKey<N extends JobName>(name: N, payload: JobPayload<N>): string | null {
  const identity = catalogEntry(name).identity;
  return identity.kind === 'per-key' ? identity.key(payload) : null;
}

/**
 * The BullMQ options of one add: the catalog's retry and removal policy, the kind's identity,
 * and a delay. The only place job options are put together.
 */
export function jobOptions<N extends JobName>(
  name: N,
  payload: JobPayload<N>,
  delayMs = 0,
): JobsOptions {
  const catalogued = catalogEntry(name);
  const identity = catalogued.identity;
  const options: JobsOptions = { ...catalogued.options };
  if (delayMs > 0) options.delay = delayMs;
  if (identity.kind === 'job-id') options.jobId = identity.id(payload);
  if (identity.kind === 'per-key') {
    const deduplication: DeduplicationOptions = {
      id: identity.key(payload),
      keepLastIfActive: true,
      ...(identity.pullForward ? { reschedule: true } : { replace: true }),
    };
    options.deduplication = deduplication;
  }
  return options;
}
