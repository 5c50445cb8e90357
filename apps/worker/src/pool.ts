import type { Config } from '@calhook/config';
import { buildConnectionServices, type ConnectionServices } from '@calhook/connections';
import type { Database } from '@calhook/db';
import { type Logger, type Metrics, withheldError } from '@calhook/observability';
import {
  createWorkers,
  type QueueName,
  type Queues,
  type RedisConnection,
  type Workers,
} from '@calhook/queue';
import { classifyJobError } from './job-errors.ts';
import { buildProcessors } from './processors/index.ts';

export interface WorkerPool {
  services: ConnectionServices;
  workers: Workers;
  /** Stops taking jobs, finishes the ones in flight, then closes the Calendly client. */
  close(): Promise<void>;
}

/**
 * Everything a worker runs, built from config: the Calendly-facing services, every job's
 * processor, and one BullMQ worker per queue. The role and tests that need real workers
 * in-process share this, so the wiring exists once.
 */
export function createWorkerPool(input: {
  config: Config;
  db: Database;
  /** Producer-side queues, for jobs that schedule other jobs. */
  queues: Queues;
  logger: Logger;
  /** Makes each BullMQ worker's own (blocking) connection. */
  connection: () => RedisConnection;
  metrics?: Metrics;
  only?: readonly QueueName[];
  /** Shards beyond QUEUE_SHARDS that still hold jobs (`findRetiredShards`). */
  retiredShards?: readonly number[];
  concurrency?: Partial<Record<QueueName, number>>;
}): WorkerPool {
  const { config, db, queues, logger, metrics } = input;
  const services = buildConnectionServices({
    config,
    db,
    queues,
    logger,
    onRefresh: metrics ? (outcome) => metrics.tokenRefresh.inc({ outcome }) : undefined,
    observer: metrics
      ? {
          repairs: (count) => metrics.backfillRepairs.inc(count),
          subscriptions: (action, count) => metrics.reconcileActions.inc({ action }, count),
        }
      : undefined,
  });
  const workers = createWorkers({
    prefix: config.queuePrefix,
    shards: config.queueShards,
    retiredShards: input.retiredShards,
    logger,
    metrics,
    connection: input.connection,
    queues: input.only,
    concurrency: input.concurrency,
    // A failed query's message carries its parameters (a delivery's invitee names and
    // emails); Redis and Bull Board get the message without them.
    scrubError: withheldError,
    classify: classifyJobError,
    processors: buildProcessors({
      db,
      now: () => new Date(),
      tokens: services.tokens,
      connections: services.connections,
      changesRetentionMs: config.changesRetentionMs,
      logger,
      onIngestBatch: metrics ? (batch) => metrics.ingestBatchSize.observe(batch.size) : undefined,
    }),
  });
  return {
    services,
    workers,
    async close() {
      await workers.close();
      await services.close();
    },
  };
}
