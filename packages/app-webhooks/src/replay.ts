// `replay-webhooks`: queues a new delivery (same webhook-id) of every change after a cursor that
// the endpoint subscribes to, up to where its dispatch had reached when the replay ran; later
// changes are the dispatcher's. The replay id makes the jobs new ones however often a change was
// delivered before, and the same ones if this job is retried.
import { changeRepo, type Database, endpointRepo } from '@calhook/db';
import type { JobPayload, Queues } from '@calhook/queue';
import { subscribes } from './subscription.ts';

const PAGE = 500;

export async function replayWebhooks(
  deps: { db: Database; queues: Queues },
  payload: JobPayload<'replay-webhooks'>,
): Promise<{ queued: number }> {
  const endpoint = await endpointRepo.findById(deps.db, payload.endpointId);
  const until = endpoint ? changeRepo.decodeCursor(endpoint.cursor) : null;
  let after = changeRepo.decodeCursor(payload.after);
  if (!endpoint || !until || !after) return { queued: 0 };
  let queued = 0;
  for (;;) {
    const page = await changeRepo.read(deps.db, { after, limit: PAGE });
    const due = page.rows.filter((row) => !changeRepo.isBefore(until, row.at));
    const payloads = due
      .map(changeRepo.toChange)
      .filter((change) => subscribes(endpoint.types, change.type))
      .map((change) => ({ endpointId: endpoint.id, change, replayId: payload.replayId }));
    await deps.queues.enqueueBulk('deliver-webhook', payloads);
    queued += payloads.length;
    if (due.length < page.rows.length || page.rows.length < PAGE) return { queued };
    after = page.next;
  }
}
