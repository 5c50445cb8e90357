// Coalesces the ingest jobs a worker holds at the same moment into one database batch. Under
// load every job waits while the batches ahead of it run, so the next batch takes all of them:
// batch size follows the backlog, and a lone job goes out on the next turn of the event loop,
// waiting for no timer.
import type { Database } from '@calhook/db';
import {
  type Delivery,
  type IngestDeps,
  type IngestResult,
  ingestDeliveries,
  ingestDelivery,
} from './ingest-delivery.ts';

export interface IngestBatcherOptions {
  /** Most deliveries in one transaction. */
  maxBatch?: number;
  /** Batches running at once (each holds one pooled connection). */
  maxInFlight?: number;
  /** Told the size of each batch sent, for metrics. */
  onBatch?: (size: number) => void;
}

export interface IngestBatcher {
  /** Resolves with the delivery's own outcome, or rejects with the error that stopped it alone. */
  ingest(delivery: Delivery): Promise<IngestResult>;
}

interface Pending {
  delivery: Delivery;
  resolve: (result: IngestResult) => void;
  reject: (error: unknown) => void;
}

export function createIngestBatcher(
  db: Database,
  deps: IngestDeps,
  options: IngestBatcherOptions = {},
): IngestBatcher {
  const maxBatch = options.maxBatch ?? 200;
  const maxInFlight = options.maxInFlight ?? 2;
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
      options.onBatch?.(batch.length);
      void run(batch).finally(() => {
        inFlight -= 1;
        schedule();
      });
    }
  }

  async function run(batch: Pending[]) {
    try {
      const results = await ingestDeliveries(
        db,
        batch.map((p) => p.delivery),
        deps,
      );
      for (const [i, p] of batch.entries()) {
        const result = results[i];
        if (result) p.resolve(result);
        else p.reject(new Error('batch returned no result for the delivery'));
      }
    } catch (error) {
      const [only] = batch;
      if (batch.length === 1 && only) {
        only.reject(error);
        return;
      }
      // One delivery the database refuses must not fail the others, and a lost connection
      // should not cost a retry: each goes again alone and settles only its own job.
      for (const p of batch) await ingestDelivery(db, p.delivery, deps).then(p.resolve, p.reject);
    }
  }

  return {
    ingest(delivery) {
      return new Promise<IngestResult>((resolve, reject) => {
        waiting.push({ delivery, resolve, reject });
        schedule();
      });
    },
  };
}
