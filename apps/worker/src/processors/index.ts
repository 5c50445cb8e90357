import type { Deliverer } from '@calhook/app-webhooks';
import type { Connections } from '@calhook/connections';
import type { Database } from '@calhook/db';
import type { BatchSummary } from '@calhook/meetings';
import type { Logger } from '@calhook/observability';
import type { BackgroundGate, ProcessorMap, Queues } from '@calhook/queue';
import type { TokenService } from '@calhook/tokens';
import { deliverWebhook, deliverWebhooks } from './deliver-webhook.ts';
import { disconnectCleanup } from './disconnect-cleanup.ts';
import { ingestProcessors, type LiveWatch } from './ingest-event.ts';
import { pruneHistory } from './prune-history.ts';
import { reconcileAll } from './reconcile-all.ts';
import { reconcileConnection } from './reconcile-connection.ts';
import { reconcileSweep } from './reconcile-sweep.ts';
import { refreshTokenProcessor } from './refresh-token.ts';
import { replayWebhooks } from './replay-webhooks.ts';

export { createLiveWatch, type LiveWatch } from './ingest-event.ts';

export interface ProcessorDeps {
  db: Database;
  now: () => Date;
  tokens: TokenService;
  connections: Connections;
  changesRetentionMs: number;
  /** Producer-side queues, for jobs that queue others (a replay). */
  queues: Queues;
  /** Delivers changes to app webhook endpoints. */
  deliver: Deliverer;
  logger?: Logger;
  onIngestBatch?: (summary: BatchSummary) => void;
  /** Watches the live deliveries in hand and their lag (see ingest-event.ts). */
  liveWatch?: LiveWatch;
  /** Scheduled background work takes its places from it (see background-gate.ts). */
  backgroundGate?: BackgroundGate;
}

/** The worker's processor for every job in the catalog; a missing one is a compile error. */
export function buildProcessors(deps: ProcessorDeps): ProcessorMap {
  return {
    ...ingestProcessors(deps),
    'refresh-token': refreshTokenProcessor(deps),
    'disconnect-cleanup': disconnectCleanup(deps),
    'reconcile-connection': reconcileConnection(deps),
    'reconcile-all': reconcileAll(deps),
    'reconcile-sweep': reconcileSweep(deps),
    'prune-history': pruneHistory(deps),
    'deliver-webhooks': deliverWebhooks(deps),
    'deliver-webhook': deliverWebhook(deps),
    'replay-webhooks': replayWebhooks(deps),
  };
}
