import { replayWebhooks as replay } from '@calhook/app-webhooks';
import type { Database } from '@calhook/db';
import type { Processor, Queues } from '@calhook/queue';

/** `replay-webhooks`: queues a change's delivery again for every change after a cursor. */
export function replayWebhooks(deps: {
  db: Database;
  queues: Queues;
}): Processor<'replay-webhooks'> {
  return (payload) => replay(deps, payload);
}
