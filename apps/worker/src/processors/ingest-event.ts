import type { Database } from '@calhook/db';
import {
  type BatchSummary,
  createIngestBatcher,
  type Delivery,
  type IngestResult,
} from '@calhook/meetings';
import type { Logger } from '@calhook/observability';
import type { Processor, QueuedDelivery } from '@calhook/queue';

/**
 * The ingest jobs: `ingest-deliveries` (what the receiver queues, one job per batch of
 * deliveries) and `ingest-event` (one delivery, what older receivers queued). Each delivery:
 * inbox row first, tenant check, meeting upsert, outcome. Every delivery the worker holds at
 * the same moment, from any number of jobs, shares one transaction (the batcher) and still
 * gets its own outcome. Outcomes such as invalid JSON or a quarantined event are results, not
 * errors: only infrastructure failures throw and retry.
 */
export function ingestProcessors(deps: {
  db: Database;
  now: () => Date;
  logger?: Logger;
  onIngestBatch?: (summary: BatchSummary) => void;
  /** Watches the deliveries in hand and their lag (metrics, the background gate). */
  liveWatch?: LiveWatch;
}): {
  'ingest-deliveries': Processor<'ingest-deliveries'>;
  'ingest-event': Processor<'ingest-event'>;
} {
  const batcher = createIngestBatcher(
    deps.db,
    { now: deps.now },
    {
      onBatch(summary) {
        // One line per batch, not per job: at thousands of deliveries a second the per-job
        // line is debug (job catalog), and failures still log per job below and in dispatch.
        if (summary.expired) {
          deps.logger?.error(
            { job: 'ingest', ...summary },
            'ingest batch past its deadline: its deliveries are retried',
          );
        } else {
          deps.logger?.info({ job: 'ingest', ...summary }, 'ingest batch done');
        }
        deps.onIngestBatch?.(summary);
      },
    },
  );
  const toDelivery = (queued: QueuedDelivery): Delivery => ({
    hookId: queued.hookId,
    connectionId: queued.connectionId,
    body: queued.body,
    receivedAt: new Date(queued.receivedAt),
  });
  const ingest = (delivery: Delivery) =>
    deps.liveWatch
      ? deps.liveWatch.hold(delivery, () => batcher.ingest(delivery))
      : batcher.ingest(delivery);
  const reportNotApplied = (log: Logger, hookId: string, result: IngestResult) => {
    if (result.outcome === 'quarantined' || result.outcome === 'invalid') {
      log.warn({ hookId, outcome: result.outcome, detail: result.detail }, 'delivery not applied');
    }
  };

  return {
    'ingest-event': async (payload, { log }) => {
      const result = await ingest(toDelivery(payload));
      reportNotApplied(log, payload.hookId, result);
      return { outcome: result.outcome, inboxId: result.inboxId };
    },
    'ingest-deliveries': async (payload, { log }) => {
      const settled = await Promise.allSettled(
        payload.deliveries.map((queued) => ingest(toDelivery(queued))),
      );
      const outcomes: Partial<Record<IngestResult['outcome'], number>> = {};
      const failures: { index: number; reason: unknown }[] = [];
      for (const [index, entry] of settled.entries()) {
        if (entry.status === 'rejected') {
          failures.push({ index, reason: entry.reason });
          continue;
        }
        outcomes[entry.value.outcome] = (outcomes[entry.value.outcome] ?? 0) + 1;
        reportNotApplied(log, payload.deliveries[index]?.hookId ?? '', entry.value);
      }
      const first = failures[0];
      if (first) {
        // The job runs again; the deliveries that did land are in the inbox by then and come
        // back as duplicates, so only the failed ones are applied on the retry.
        throw new DeliveriesFailed(failures.length, payload.deliveries.length, first);
      }
      return { deliveries: payload.deliveries.length, outcomes };
    },
  };
}

/** The live deliveries a worker holds, and how long each took from receipt to stored. */
export interface LiveWatch {
  /** Holds the delivery while `store` runs; once stored, reports its lag from receipt. */
  hold<T>(delivery: Delivery, store: () => Promise<T>): Promise<T>;
  /** How long the oldest delivery in hand has waited since receipt; 0 when none is held. */
  oldestAgeMs(): number;
}

export function createLiveWatch(onStored: (lagMs: number) => void): LiveWatch {
  const held = new Set<Delivery>();
  return {
    async hold(delivery, store) {
      held.add(delivery);
      try {
        const result = await store();
        onStored(Date.now() - delivery.receivedAt.getTime());
        return result;
      } finally {
        held.delete(delivery);
      }
    },
    oldestAgeMs() {
      let oldest = Number.POSITIVE_INFINITY;
      for (const delivery of held) oldest = Math.min(oldest, delivery.receivedAt.getTime());
      return held.size === 0 ? 0 : Math.max(0, Date.now() - oldest);
    },
  };
}

/**
 * Some deliveries of a batch job failed. The first one's error is the cause, so logs and the
 * failed reason in Redis show it after this message, with its query parameters withheld.
 */
export class DeliveriesFailed extends Error {
  override name = 'DeliveriesFailed';
  constructor(failed: number, total: number, first: { index: number; reason: unknown }) {
    super(`${failed} of ${total} deliveries failed (the first at index ${first.index})`, {
      cause: first.reason,
    });
  }
}
