import {
  type AppWebhookObserver,
  createDeliverer,
  createEndpointClient,
} from '@calhook/app-webhooks';
import type { Config } from '@calhook/config';
import { buildConnectionServices, type ConnectionServices } from '@calhook/connections';
import { createSealer } from '@calhook/crypto';
import type { Database } from '@calhook/db';
import { type Logger, type Metrics, tracingActive, withheldError } from '@calhook/observability';
import {
  createBackgroundGate,
  createWorkers,
  type QueueName,
  type Queues,
  type RedisConnection,
  type Workers,
} from '@calhook/queue';
import { classifyJobError } from './job-errors.ts';
import { buildProcessors, createLiveWatch } from './processors/index.ts';

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
  /**
   * The clock of app webhook deliveries (signature timestamps, a rotated secret's 24 h, an
   * endpoint's 24 h of failures); the real one by default.
   */
  appWebhookClock?: () => Date;
  /**
   * The Postgres pool of the connection and reconcile work (the `db` pool by default): a pool
   * of its own keeps reconcile's many short statements from queueing ahead of ingest.
   */
  connectionsDb?: Database;
}): WorkerPool {
  const { config, db, queues, logger, metrics } = input;
  const endpointClient = createEndpointClient({
    allowPrivate: config.webhookEndpoints.allowPrivate,
  });
  const deliver = createDeliverer({
    db,
    queues,
    sealer: createSealer(config.encryptionKeys),
    client: endpointClient,
    now: input.appWebhookClock ?? (() => new Date()),
    observer: metrics ? appWebhookObserver(metrics) : undefined,
  });
  const services = buildConnectionServices({
    config,
    db: input.connectionsDb ?? db,
    queues,
    logger,
    // A reconcile run that meets a rate limit is delayed by the job (its slot goes to another
    // user's run) rather than sleeping in the call; short waits are still waited out.
    rateLimitWaitMs: 2_000,
    onRefresh: metrics ? (outcome) => metrics.tokenRefresh.inc({ outcome }) : undefined,
    observer: metrics
      ? {
          repairs: (count) => metrics.backfillRepairs.inc(count),
          subscriptions: (action, count) => metrics.reconcileActions.inc({ action }, count),
        }
      : undefined,
  });
  // Scheduled reconcile runs take places under a limit that follows how long this process's
  // live deliveries take from receipt to stored: a whole cycle due at once takes what the
  // machine has to spare, and the deliveries keep their latency.
  const liveWatch = createLiveWatch((lagMs) => {
    backgroundGate.observeLive(lagMs);
    metrics?.ingestLag.observe(lagMs / 1000);
  });
  const backgroundGate = createBackgroundGate({
    maxRuns: input.concurrency?.reconcile ?? config.reconcileConcurrency,
    liveAge: () => liveWatch.oldestAgeMs(),
    onLimit: metrics ? (limit) => metrics.backgroundRunsLimit.set(limit) : undefined,
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
    tracing: tracingActive(),
    processors: buildProcessors({
      db,
      now: () => new Date(),
      queues,
      deliver,
      tokens: services.tokens,
      connections: services.connections,
      changesRetentionMs: config.changesRetentionMs,
      logger,
      onIngestBatch: metrics ? (batch) => metrics.ingestBatchSize.observe(batch.size) : undefined,
      liveWatch,
      backgroundGate,
    }),
  });
  return {
    services,
    workers,
    async close() {
      backgroundGate.close();
      await workers.close();
      await services.close();
      await endpointClient.close();
    },
  };
}

/** App webhook delivery's reports, as the worker's metrics count them. */
export function appWebhookObserver(metrics: Metrics): AppWebhookObserver {
  return {
    delivered(outcome, lagSeconds) {
      metrics.appWebhookDeliveries.inc({ outcome });
      if (lagSeconds !== undefined) metrics.appWebhookDeliveryLag.observe(lagSeconds);
    },
    endpointDisabled: () => metrics.appWebhookEndpointsDisabled.inc(),
    feedLag: (seconds) => metrics.appWebhookFeedLag.set(seconds),
  };
}
