import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * calhook's Prometheus metrics. Every label is drawn from a short fixed list (status codes,
 * reasons, job names, queue names, states): never a user id, hook id or URI, so the number of
 * series stays bounded however many users connect.
 */

export type JobOutcome = 'completed' | 'failed' | 'retried' | 'delayed';
export type TokenRefreshOutcome = 'success' | 'invalid_grant' | 'transient' | 'unknown';
export type ReconcileAction = 'created' | 'deleted' | 'kept';
const appWebhookOutcomes = [
  'success',
  'http_error',
  'timeout',
  'network_error',
  'refused',
] as const;
export type AppWebhookOutcome = (typeof appWebhookOutcomes)[number];

/** The queue calls the depth gauges make at scrape time; a BullMQ `Queue` fits. */
export interface ObservedQueue {
  readonly name: string;
  getJobCounts(...types: ('waiting' | 'active' | 'delayed' | 'failed')[]): Promise<{
    [state: string]: number;
  }>;
  getJobs(
    types: 'waiting',
    start: number,
    end: number,
    asc: boolean,
  ): Promise<({ timestamp: number } | undefined)[]>;
}

/** What the api role counts in Postgres at scrape time (see apps/api). */
export interface DatabaseCounts {
  connectionsByStatus: Record<string, number>;
  subscriptionsByState: Record<string, number>;
  /** Hooks whose subscription Calendly has started retrying (`retry_started_at` set). */
  subscriptionsRetrying: number;
  /** App webhook endpoints by status (active, failing, disabled). */
  appWebhookEndpointsByStatus?: Record<string, number>;
}

/** A counter whose only label takes values from a fixed list, checked by the compiler. */
export interface LabeledCounter<L extends Record<string, string>> {
  inc(labels: L, value?: number): void;
}

export interface Metrics {
  /** Everything below lives here, with the default process metrics; not the global registry. */
  readonly registry: Registry;
  readonly contentType: string;
  webhookDeliveries: Counter<'status'>;
  signatureFailures: Counter<'reason'>;
  enqueueSeconds: Histogram<'outcome'>;
  jobs: Counter<'job' | 'outcome'>;
  jobSeconds: Histogram<'job' | 'outcome'>;
  /** Worker (token refresh): one per refresh attempt that reached an outcome. */
  tokenRefresh: LabeledCounter<{ outcome: TokenRefreshOutcome }>;
  /** Worker (backfill): one per meeting or invitee a listing created or changed. */
  backfillRepairs: { inc(value?: number): void };
  /** Worker (reconcile): one per subscription acted on. */
  reconcileActions: LabeledCounter<{ action: ReconcileAction }>;
  /** Receiver: deliveries per queued job; how much concurrent load is coalesced. */
  enqueueBatchSize: { observe(value: number): void };
  /** Worker (ingest): deliveries per database batch; how much concurrent load is coalesced. */
  ingestBatchSize: { observe(value: number): void };
  /** Worker (ingest): seconds from the receiver taking a delivery to the worker storing it. */
  ingestLag: { observe(seconds: number): void };
  /** Worker: scheduled reconcile runs allowed at once now (shrinks while ingest slows down). */
  backgroundRunsLimit: { set(runs: number): void };
  /** Worker: app webhook delivery attempts by outcome, lag, disabled endpoints, feed lag. */
  appWebhookDeliveries: LabeledCounter<{ outcome: AppWebhookOutcome }>;
  appWebhookDeliveryLag: { observe(seconds: number): void };
  appWebhookEndpointsDisabled: { inc(value?: number): void };
  appWebhookFeedLag: { set(seconds: number): void };
  /** For the worker's dispatch wrapper (structurally what packages/queue expects). */
  recordJob(job: string, outcome: JobOutcome, seconds: number): void;
  /** Reports depth and oldest-waiting age of these queues on every scrape. */
  observeQueues(queues: readonly ObservedQueue[]): void;
  /**
   * Reports connection and subscription counts from this query, read at most once per
   * `databaseCountsMaxAgeMs`: scrapes in between, or at the same time, share one read.
   */
  observeDatabase(count: () => Promise<DatabaseCounts>): void;
  /** Prometheus text of everything registered. */
  render(): Promise<string>;
}

export interface MetricsOptions {
  /** process_* and nodejs_* metrics; on by default, off in tests that build many apps. */
  processMetrics?: boolean;
  now?: () => number;
  /**
   * How long one read of the database counts serves scrapes; default 10 s. Every scraper (an
   * HA pair of Prometheus, a person with curl) would otherwise run the counts again, while
   * connection and hook states change far more slowly than 10 s and stay below a usual
   * 15-60 s scrape interval.
   */
  databaseCountsMaxAgeMs?: number;
}

const queueStates = ['waiting', 'active', 'delayed', 'failed'] as const;

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const now = options.now ?? Date.now;
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  let queues: readonly ObservedQueue[] = [];
  let countDatabase: (() => Promise<DatabaseCounts>) | undefined;
  const countsMaxAgeMs = options.databaseCountsMaxAgeMs ?? 10_000;
  // The read in flight or last done, with when it started. A failed read is dropped, so the
  // next scrape tries again and reports the source down only while it really is.
  let lastCounts: { startedAt: number; counts: Promise<DatabaseCounts> } | undefined;
  function readCounts(count: () => Promise<DatabaseCounts>): Promise<DatabaseCounts> {
    const at = now();
    if (lastCounts && at - lastCounts.startedAt < countsMaxAgeMs) return lastCounts.counts;
    const counts = count();
    const entry = { startedAt: at, counts };
    lastCounts = entry;
    counts.catch(() => {
      if (lastCounts === entry) lastCounts = undefined;
    });
    return counts;
  }

  // A source that fails (Redis or Postgres down) must not break the whole scrape: its gauges
  // are left empty and this one says so, which is what an alert should watch.
  const sourceUp = new Gauge({
    name: 'calhook_metrics_source_up',
    help: 'Whether the last scrape could read a source (1) or not (0)',
    labelNames: ['source'],
    registers,
    collect: () => refresh(),
  });

  // The registry renders metrics concurrently, so every scrape-time gauge awaits one shared
  // read of Redis and Postgres instead of each reading (and resetting) on its own.
  let pending: Promise<void> | undefined;
  function refresh(): Promise<void> {
    pending ??= Promise.all([collectQueues(), collectDatabase()]).then(
      () => {
        pending = undefined;
      },
      () => {
        pending = undefined;
      },
    );
    return pending;
  }

  const jobs = new Counter({
    name: 'calhook_jobs_total',
    help: 'Jobs finished by the worker, by job name and outcome',
    labelNames: ['job', 'outcome'],
    registers,
  });
  const jobSeconds = new Histogram({
    name: 'calhook_job_duration_seconds',
    help: 'Time a processor ran, by job name and outcome',
    labelNames: ['job', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });

  const queueDepth = new Gauge({
    name: 'calhook_queue_jobs',
    help: 'Jobs in each queue by state, read from Redis at scrape time',
    labelNames: ['queue', 'state'],
    registers,
    collect: () => refresh(),
  });
  const oldestWaiting = new Gauge({
    name: 'calhook_queue_oldest_waiting_seconds',
    help: 'Age of the oldest job waiting in each queue (0 when none waits)',
    labelNames: ['queue'],
    registers,
    collect: () => refresh(),
  });
  async function collectQueues() {
    queueDepth.reset();
    oldestWaiting.reset();
    if (queues.length === 0) return;
    try {
      for (const queue of queues) {
        const counts = await queue.getJobCounts(...queueStates);
        for (const state of queueStates) {
          queueDepth.set({ queue: queue.name, state }, counts[state] ?? 0);
        }
        const [oldest] = await queue.getJobs('waiting', 0, 0, true);
        oldestWaiting.set(
          { queue: queue.name },
          oldest ? Math.max(0, (now() - oldest.timestamp) / 1000) : 0,
        );
      }
      sourceUp.set({ source: 'queues' }, 1);
    } catch {
      queueDepth.reset();
      oldestWaiting.reset();
      sourceUp.set({ source: 'queues' }, 0);
    }
  }

  const connections = new Gauge({
    name: 'calhook_connections',
    help: 'Connections by status',
    labelNames: ['status'],
    registers,
    collect: () => refresh(),
  });
  const subscriptions = new Gauge({
    name: 'calhook_webhook_subscriptions',
    help: 'Webhook hooks (Calendly subscriptions) by state',
    labelNames: ['state'],
    registers,
    collect: () => refresh(),
  });
  const retrying = new Gauge({
    name: 'calhook_webhook_subscriptions_retrying',
    help: 'Live hooks whose subscription Calendly is retrying (retry_started_at set); disabled after 24 h',
    registers,
    collect: () => refresh(),
  });
  const appEndpoints = new Gauge({
    name: 'calhook_app_webhook_endpoints',
    help: 'App webhook endpoints by status (active, failing, disabled)',
    labelNames: ['status'],
    registers,
    collect: () => refresh(),
  });
  async function collectDatabase() {
    connections.reset();
    subscriptions.reset();
    retrying.reset();
    appEndpoints.reset();
    if (!countDatabase) return;
    try {
      const counts = await readCounts(countDatabase);
      for (const [status, n] of Object.entries(counts.connectionsByStatus)) {
        connections.set({ status }, n);
      }
      for (const [state, n] of Object.entries(counts.subscriptionsByState)) {
        subscriptions.set({ state }, n);
      }
      retrying.set(counts.subscriptionsRetrying);
      if (counts.appWebhookEndpointsByStatus) {
        // Every status is reported, 0 included, so alerts over a status always have a series.
        for (const status of ['active', 'failing', 'disabled']) {
          appEndpoints.set({ status }, counts.appWebhookEndpointsByStatus[status] ?? 0);
        }
      }
      sourceUp.set({ source: 'database' }, 1);
    } catch {
      sourceUp.set({ source: 'database' }, 0);
    }
  }

  const appWebhookDeliveries = new Counter({
    name: 'calhook_app_webhook_deliveries_total',
    help: 'Attempts to deliver a change to an app webhook endpoint, by outcome',
    labelNames: ['outcome'],
    registers,
  });
  // Every outcome has a series from the start, so a rate over failures is 0, not absent.
  for (const outcome of appWebhookOutcomes) appWebhookDeliveries.inc({ outcome }, 0);

  const metrics: Metrics = {
    registry,
    contentType: registry.contentType,
    webhookDeliveries: new Counter({
      name: 'calhook_webhook_deliveries_total',
      help: 'Webhook deliveries answered by the receiver, by HTTP status',
      labelNames: ['status'],
      registers,
    }),
    signatureFailures: new Counter({
      name: 'calhook_webhook_signature_failures_total',
      help: 'Webhook deliveries refused for their signature, by reason',
      labelNames: ['reason'],
      registers,
    }),
    enqueueSeconds: new Histogram({
      name: 'calhook_webhook_enqueue_seconds',
      help: 'Time Redis took to accept a delivery job (outcome ok or error)',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers,
    }),
    jobs,
    jobSeconds,
    tokenRefresh: new Counter({
      name: 'calhook_token_refresh_total',
      help: 'Token refreshes by outcome (success, invalid_grant, transient, unknown)',
      labelNames: ['outcome'],
      registers,
    }),
    backfillRepairs: new Counter({
      name: 'calhook_backfill_repairs_total',
      help: 'Meetings or invitees backfill created or changed: deliveries Calendly never made',
      registers,
    }),
    reconcileActions: new Counter({
      name: 'calhook_reconcile_actions_total',
      help: 'Subscriptions reconcile created, deleted or kept',
      labelNames: ['action'],
      registers,
    }),
    enqueueBatchSize: new Histogram({
      name: 'calhook_webhook_enqueue_batch_size',
      help: 'Deliveries the receiver queued per job (one Redis add per batch)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 200],
      registers,
    }),
    ingestBatchSize: new Histogram({
      name: 'calhook_ingest_batch_size',
      help: 'Deliveries the worker ingested per database transaction',
      buckets: [1, 2, 5, 10, 25, 50, 100, 200],
      registers,
    }),
    ingestLag: new Histogram({
      name: 'calhook_ingest_lag_seconds',
      help: 'Time from the receiver taking a delivery to the worker storing it',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    backgroundRunsLimit: new Gauge({
      name: 'calhook_background_runs_limit',
      help: 'Scheduled reconcile runs the worker allows at once now; it shrinks while ingest lags',
      registers,
    }),
    appWebhookDeliveries,
    appWebhookDeliveryLag: new Histogram({
      name: 'calhook_app_webhook_delivery_lag_seconds',
      help: 'Time from a change committed to its 2xx from an app webhook endpoint',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3_600, 86_400],
      registers,
    }),
    appWebhookEndpointsDisabled: new Counter({
      name: 'calhook_app_webhook_endpoints_disabled_total',
      help: 'App webhook endpoints disabled after failing for 24 h',
      registers,
    }),
    appWebhookFeedLag: new Gauge({
      name: 'calhook_app_webhook_feed_lag_seconds',
      help: 'Age of the oldest change not yet queued for an app webhook endpoint (0 when caught up)',
      registers,
    }),
    recordJob(job, outcome, seconds) {
      jobs.inc({ job, outcome });
      jobSeconds.observe({ job, outcome }, seconds);
    },
    observeQueues(list) {
      queues = list;
    },
    observeDatabase(count) {
      countDatabase = count;
      lastCounts = undefined;
    },
    render: () => registry.metrics(),
  };
  return metrics;
}
