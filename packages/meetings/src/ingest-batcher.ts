// Coalesces the ingest jobs a worker holds at the same moment into one database batch. Under
// load every job waits while the batches ahead of it run, so the next batch takes all of them:
// batch size follows the backlog, and a lone job goes out on the next turn of the event loop,
// waiting for no timer.
import type { Database } from '@calhook/db';
import {
  currentTraceContext,
  inSpan,
  type TraceContext,
  withTraceContext,
} from '@calhook/observability';
import {
  type Delivery,
  type IngestDeps,
  type IngestResult,
  ingestDeliveries,
  ingestDelivery,
} from './ingest-delivery.ts';
import { isolatable } from './pg-errors.ts';

export interface IngestBatcherOptions {
  /** Most deliveries in one transaction. */
  maxBatch?: number;
  /** Batches running at once (each holds one pooled connection). */
  maxInFlight?: number;
  /**
   * A batch not settled after this long fails the deliveries it has not settled yet, and frees
   * its place: their jobs retry (ingest is idempotent, so a batch that still commits later
   * only turns the retries into duplicates). A driver call that never settles (seen when
   * Postgres backends are terminated again and again) must not hold jobs active forever.
   */
  deadlineMs?: number;
  /** Told about each batch once it settled, for metrics and logs. */
  onBatch?: (summary: BatchSummary) => void;
}

/** The default `deadlineMs`: far beyond any healthy batch (milliseconds to a few seconds). */
export const INGEST_BATCH_DEADLINE_MS = 60_000;

/** A batch ran past its deadline; its deliveries' jobs retry. */
export class IngestBatchDeadlineError extends Error {
  override name = 'IngestBatchDeadlineError';
  constructor(ms: number) {
    super(`the ingest batch did not settle within ${ms} ms; its deliveries are retried`);
  }
}

export interface BatchSummary {
  size: number;
  ms: number;
  /** How many deliveries ended in each outcome; `failed` counts those that threw. */
  outcomes: Partial<Record<IngestResult['outcome'] | 'failed', number>>;
  /** The batch failed as a whole and its deliveries were retried one by one. */
  split: boolean;
  /** The batch ran past its deadline (see `deadlineMs`). */
  expired?: boolean;
}

export interface IngestBatcher {
  /** Resolves with the delivery's own outcome, or rejects with the error that stopped it alone. */
  ingest(delivery: Delivery): Promise<IngestResult>;
}

interface Pending {
  delivery: Delivery;
  /** The job's trace, continued by the batch that carries the delivery. */
  trace: TraceContext | undefined;
  resolve: (result: IngestResult) => void;
  reject: (error: unknown) => void;
  /** Settled already (by the batch, or by its deadline). */
  settled: boolean;
}

export function createIngestBatcher(
  db: Database,
  deps: IngestDeps,
  options: IngestBatcherOptions = {},
): IngestBatcher {
  const maxBatch = options.maxBatch ?? 200;
  const maxInFlight = options.maxInFlight ?? 2;
  const deadlineMs = options.deadlineMs ?? INGEST_BATCH_DEADLINE_MS;
  const waiting: Pending[] = [];
  let inFlight = 0;
  let scheduled = false;

  function schedule() {
    if (scheduled || waiting.length === 0 || inFlight >= maxInFlight) return;
    scheduled = true;
    setImmediate(pump);
  }

  function pump() {
    scheduled = false;
    while (inFlight < maxInFlight && waiting.length > 0) {
      const batch = waiting.splice(0, maxBatch);
      inFlight += 1;
      // Traced, a batch continues the trace of its first job and links the others'.
      const trace = batch[0]?.trace;
      const done = trace
        ? withTraceContext(trace, () =>
            inSpan(
              'ingest batch',
              {
                attributes: { 'calhook.batch.size': batch.length },
                linkTo: batch.slice(1).map((p) => p.trace),
              },
              () => run(batch),
            ),
          )
        : run(batch);
      void done.finally(() => {
        inFlight -= 1;
        schedule();
      });
    }
  }

  async function run(batch: Pending[]) {
    const started = performance.now();
    const summary: BatchSummary = { size: batch.length, ms: 0, outcomes: {}, split: false };
    const count = (outcome: keyof BatchSummary['outcomes']) => {
      summary.outcomes[outcome] = (summary.outcomes[outcome] ?? 0) + 1;
    };
    const settle = (p: Pending, result: IngestResult) => {
      if (p.settled) return;
      p.settled = true;
      count(result.outcome);
      p.resolve(result);
    };
    const fail = (p: Pending, error: unknown) => {
      if (p.settled) return;
      p.settled = true;
      count('failed');
      p.reject(error);
    };
    // Reported once: when the batch settles (in the same turn as its deliveries, so a caller
    // sees the summary by the time its delivery's answer arrives) or at its deadline.
    let reported = false;
    let timer: NodeJS.Timeout | undefined;
    const report = () => {
      if (reported) return;
      reported = true;
      clearTimeout(timer);
      summary.ms = Math.round(performance.now() - started);
      options.onBatch?.(summary);
    };
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        summary.expired = true;
        const error = new IngestBatchDeadlineError(deadlineMs);
        for (const p of batch) fail(p, error);
        report();
        resolve();
      }, deadlineMs);
    });
    await Promise.race([apply(), expired]);

    async function apply() {
      try {
        const results = await ingestDeliveries(
          db,
          batch.map((p) => p.delivery),
          deps,
        );
        for (const [i, p] of batch.entries()) {
          const result = results[i];
          if (result) settle(p, result);
          else fail(p, new Error('batch returned no result for the delivery'));
        }
      } catch (error) {
        if (batch.length === 1 || !isolatable(error)) {
          for (const p of batch) fail(p, error);
        } else {
          // Postgres refused something in the batch: one delivery it refuses must not fail the
          // others, so each goes again alone and settles only its own job.
          summary.split = true;
          for (const p of batch) {
            await ingestDelivery(db, p.delivery, deps).then(
              (result) => settle(p, result),
              (e: unknown) => fail(p, e),
            );
          }
        }
      }
      report();
    }
  }

  return {
    ingest(delivery) {
      return new Promise<IngestResult>((resolve, reject) => {
        waiting.push({ delivery, trace: currentTraceContext(), resolve, reject, settled: false });
        schedule();
      });
    },
  };
}
