import type { Database } from '@calhook/db';
import { type BatchSummary, createIngestBatcher } from '@calhook/meetings';
import type { Logger } from '@calhook/observability';
import type { Processor } from '@calhook/queue';

/**
 * `ingest-event`: one delivery from the receiver. Inbox row first, tenant check, meeting
 * upsert, outcome. The jobs running at the same moment share one transaction (the batcher),
 * and each still gets its own outcome. Outcomes such as invalid JSON or a quarantined event
 * are results, not errors: only infrastructure failures throw and retry.
 */
export function ingestEvent(deps: {
  db: Database;
  now: () => Date;
  logger?: Logger;
  onIngestBatch?: (summary: BatchSummary) => void;
}): Processor<'ingest-event'> {
  const batcher = createIngestBatcher(
    deps.db,
    { now: deps.now },
    {
      onBatch(summary) {
        // One line per batch, not per job: at thousands of deliveries a second the per-job
        // line is debug (job catalog), and failures still log per job below and in dispatch.
        deps.logger?.info({ job: 'ingest-event', ...summary }, 'ingest batch done');
        deps.onIngestBatch?.(summary);
      },
    },
  );
  return async (payload, { log }) => {
    const result = await batcher.ingest({
      hookId: payload.hookId,
      connectionId: payload.connectionId,
      body: payload.body,
      receivedAt: new Date(payload.receivedAt),
    });
    if (result.outcome === 'quarantined' || result.outcome === 'invalid') {
      log.warn(
        {
          hookId: payload.hookId,
          outcome: result.outcome,
          detail: result.detail,
        },
        'delivery not applied',
      );
    }
    return { outcome: result.outcome, inboxId: result.inboxId };
  };
}
