import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import {
  backoffStrategies,
  catalogEntry,
  type JobName,
  type JobPayload,
  jobCatalog,
  type QueueName,
  queueNames,
  shardQueueName,
  shardQueueNamesOf,
} from './catalog.ts';
import { queuePrefix, queueTelemetry } from './queues.ts';
import type { RedisConnection } from './redis.ts';

export interface JobContext {
  job: Job;
  log: Logger;
}

export type Processor<N extends JobName> = (
  payload: JobPayload<N>,
  ctx: JobContext,
) => Promise<unknown>;

/** Every job name must have a processor: adding a job to the catalog without one fails to compile. */
export type ProcessorMap = { [N in JobName]: Processor<N> };

/** Thrown by a processor for a failure no retry can fix: the job fails at once, visibly. */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}

/**
 * What a failed run means, decided once for every job kind by the worker's classifier:
 * `delay` runs the job again after `delayMs` without spending an attempt (Calendly's 429 and
 * its reset header), `retry` spends an attempt and backs off (transient), `fail` ends the job
 * at once with the reason (permanent: no retry can change it).
 */
export type JobFailure =
  | {
      action: 'delay';
      delayMs: number;
      reason: string;
      /** Flow control rather than trouble (logged at debug): an endpoint's share in use. */
      routine?: boolean;
    }
  | { action: 'retry'; reason: string }
  | { action: 'fail'; reason: string };

export type ClassifyJobError = (error: unknown) => JobFailure;

/** Without a classifier: PermanentJobError fails at once, anything else is retried. */
export function defaultClassification(error: unknown): JobFailure {
  if (error instanceof PermanentJobError || error instanceof UnrecoverableError) {
    return { action: 'fail', reason: error.message };
  }
  return { action: 'retry', reason: error instanceof Error ? error.message : String(error) };
}

/** What happened to one run of a job, as the metrics count it. */
export type JobRunOutcome = 'completed' | 'failed' | 'retried' | 'delayed';

/** Where the wrapper reports each run; `createMetrics()` from @calhook/observability fits. */
export interface JobMetricsSink {
  recordJob(job: string, outcome: JobRunOutcome, seconds: number): void;
}

export interface WorkersOptions {
  prefix: string;
  processors: ProcessorMap;
  logger: Logger;
  /** Each worker gets its own connection (BullMQ blocks on it); the caller's factory makes them. */
  connection: () => RedisConnection;
  /** QUEUE_SHARDS: every shard of a sharded queue gets a worker (1 by default). */
  shards?: number;
  /**
   * Jobs of a queue held at once. A sharded queue's is shared out over its shards, so a
   * process holds as many ingest jobs however many shards there are.
   */
  concurrency?: Partial<Record<QueueName, number>>;
  /** Only these queues are worked; all by default. */
  queues?: readonly QueueName[];
  /**
   * Shards at or beyond `shards` that still hold jobs (see `findRetiredShards`): worked too,
   * so lowering QUEUE_SHARDS strands nothing.
   */
  retiredShards?: readonly number[];
  metrics?: JobMetricsSink;
  /** How failures are treated; PermanentJobError fails, anything else retries by default. */
  classify?: ClassifyJobError;
  /**
   * Applied to an error before BullMQ stores its message and stack in Redis as the job's
   * failed reason (e.g. to withhold a failed query's parameters); unchanged by default.
   */
  scrubError?: (error: unknown) => unknown;
  /** Continue each job's trace in a consumer span around its run (see `QueuesOptions`). */
  tracing?: boolean;
}

export interface Workers {
  workers: Worker[];
  /** Stops taking jobs, waits for the ones in flight, closes the connections. */
  close(): Promise<void>;
}

function dispatch(options: WorkersOptions) {
  return async (job: Job, token?: string) => {
    const name = job.name as JobName;
    const entry = Object.hasOwn(jobCatalog, name) ? catalogEntry(name) : undefined;
    // Most payloads carry the connection: every line of the job can then be found by it.
    const connectionId = (job.data as { connectionId?: unknown } | undefined)?.connectionId;
    const log = options.logger.child({
      job: name,
      jobId: job.id,
      attempt: job.attemptsMade + 1,
      ...(typeof connectionId === 'string' ? { connectionId } : {}),
    });
    const started = performance.now();
    const record = (outcome: JobRunOutcome) =>
      options.metrics?.recordJob(job.name, outcome, (performance.now() - started) / 1000);
    if (!entry) {
      record('failed');
      throw new UnrecoverableError(`no processor for job ${job.name}`);
    }
    const parsed = entry.payload.safeParse(job.data);
    if (!parsed.success) {
      log.error({ issues: parsed.error.issues }, 'job payload does not match the catalog');
      record('failed');
      throw new UnrecoverableError(`invalid payload for ${job.name}`);
    }
    try {
      const processor = options.processors[name] as Processor<JobName>;
      const result = await processor(parsed.data as JobPayload<JobName>, { job, log });
      const level = entry.doneLogLevel ?? 'info';
      log[level]({ ms: Math.round(performance.now() - started), result }, 'job done');
      record('completed');
      return result;
    } catch (error) {
      const ms = Math.round(performance.now() - started);
      if (error instanceof DelayedError) throw error;
      const failure = (options.classify ?? defaultClassification)(error);
      if (failure.action === 'delay' && token) {
        log[failure.routine ? 'debug' : 'warn'](
          { ms, delayMs: failure.delayMs, reason: failure.reason },
          'job delayed',
        );
        record('delayed');
        await job.moveToDelayed(Date.now() + failure.delayMs, token);
        throw new DelayedError();
      }
      if (failure.action === 'fail') {
        log.error({ ms, err: error, reason: failure.reason }, 'job failed permanently');
        record('failed');
        const scrubbed = options.scrubError?.(error) ?? error;
        const detail = scrubbed instanceof Error ? scrubbed.message : '';
        throw new UnrecoverableError(
          detail === '' || detail === failure.reason
            ? failure.reason
            : `${failure.reason}: ${detail}`,
        );
      }
      // The last attempt fails for good: counted as failed, so alerts need not know attempts.
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log.warn(
        { ms, err: error },
        lastAttempt ? 'job failed, no attempts left' : 'job failed, will retry',
      );
      record(lastAttempt ? 'failed' : 'retried');
      throw options.scrubError ? options.scrubError(error) : error;
    }
  };
}

/**
 * Starts one BullMQ worker per queue (per shard of a sharded queue), dispatching each job to
 * its processor by name.
 */
export function createWorkers(options: WorkersOptions): Workers {
  const connections: RedisConnection[] = [];
  const shards = options.shards ?? 1;
  const processor = dispatch(options);
  const telemetry = queueTelemetry(options.tracing);
  const workers = (options.queues ?? queueNames).flatMap((queue) => {
    const names = shardQueueNamesOf(queue, shards);
    if (names.length > 1) {
      for (const shard of options.retiredShards ?? []) names.push(shardQueueName(queue, shard));
    }
    const concurrency = Math.max(
      1,
      Math.ceil((options.concurrency?.[queue] ?? 10) / Math.min(names.length, shards)),
    );
    return names.map((name) => {
      const connection = options.connection();
      connections.push(connection);
      const worker = new Worker(name, processor, {
        connection,
        prefix: queuePrefix(options.prefix, name, connection.isCluster),
        concurrency,
        autorun: true,
        settings: {
          backoffStrategy: (attemptsMade, type, _error, job) => {
            const strategy = type === undefined ? undefined : backoffStrategies[type];
            if (!strategy) throw new Error(`unknown back-off ${type}`);
            return strategy(attemptsMade, job?.data);
          },
        },
        ...telemetry,
      });
      worker.on('error', (error) =>
        options.logger.error({ err: error, queue: name }, 'worker error'),
      );
      return worker;
    });
  });
  return {
    workers,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
