import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  type JobName,
  type JobPayload,
  jobCatalog,
  type QueueName,
  queueNames,
} from './catalog.ts';

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

/** Thrown by a processor to run the job again after `delayMs` without counting an attempt. */
export class RetryLaterError extends Error {
  override name = 'RetryLaterError';
  readonly delayMs: number;
  constructor(message: string, delayMs: number) {
    super(message);
    this.delayMs = delayMs;
  }
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
  connection: () => Redis;
  concurrency?: Partial<Record<QueueName, number>>;
  /** Only these queues are worked; all by default. */
  queues?: readonly QueueName[];
  metrics?: JobMetricsSink;
  /**
   * Applied to an error before BullMQ stores its message and stack in Redis as the job's
   * failed reason (e.g. to withhold a failed query's parameters); unchanged by default.
   */
  scrubError?: (error: unknown) => unknown;
}

export interface Workers {
  workers: Worker[];
  /** Stops taking jobs, waits for the ones in flight, closes the connections. */
  close(): Promise<void>;
}

function dispatch(options: WorkersOptions) {
  return async (job: Job, token?: string) => {
    const name = job.name as JobName;
    const entry = jobCatalog[name];
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
      const result = await processor(parsed.data, { job, log });
      const level = 'doneLogLevel' in entry ? entry.doneLogLevel : 'info';
      log[level]({ ms: Math.round(performance.now() - started), result }, 'job done');
      record('completed');
      return result;
    } catch (error) {
      const ms = Math.round(performance.now() - started);
      if (error instanceof RetryLaterError && token) {
        log.warn({ ms, delayMs: error.delayMs, reason: error.message }, 'job delayed');
        record('delayed');
        await job.moveToDelayed(Date.now() + error.delayMs, token);
        throw new DelayedError();
      }
      if (error instanceof PermanentJobError || error instanceof UnrecoverableError) {
        log.error({ ms, err: error }, 'job failed permanently');
        record('failed');
        const scrubbed = options.scrubError?.(error) ?? error;
        throw new UnrecoverableError(scrubbed instanceof Error ? scrubbed.message : error.message);
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

/** Starts one BullMQ worker per queue, dispatching each job to its processor by name. */
export function createWorkers(options: WorkersOptions): Workers {
  const connections: Redis[] = [];
  const workers = (options.queues ?? queueNames).map((queue) => {
    const connection = options.connection();
    connections.push(connection);
    const worker = new Worker(queue, dispatch(options), {
      connection,
      prefix: options.prefix,
      concurrency: options.concurrency?.[queue] ?? 10,
      autorun: true,
    });
    worker.on('error', (error) => options.logger.error({ err: error, queue }, 'worker error'));
    return worker;
  });
  return {
    workers,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
