import type { CalendlyClient } from '@calhook/calendly';
import type { Config } from '@calhook/config';
import type { ConnectionService } from '@calhook/connections';
import type { Database } from '@calhook/db';
import type { BatchSummary } from '@calhook/meetings';
import type { Logger } from '@calhook/observability';
import type { ProcessorMap, Queues } from '@calhook/queue';
import type { TokenService } from '@calhook/tokens';
import { disconnectCleanup } from './disconnect-cleanup.ts';
import { ingestProcessors } from './ingest-event.ts';
import { reconcileAll } from './reconcile-all.ts';
import { reconcileConnection } from './reconcile-connection.ts';
import { refreshTokenProcessor } from './refresh-token.ts';

export interface ProcessorDeps {
  db: Database;
  now: () => Date;
  queues: Queues;
  calendly: CalendlyClient;
  tokens: TokenService;
  connections: ConnectionService;
  reconcileEveryMs: number;
  backfill: Config['backfill'];
  logger?: Logger;
  onIngestBatch?: (summary: BatchSummary) => void;
  onRepairs?: (count: number) => void;
  onReconcile?: (action: 'created' | 'deleted' | 'kept', count: number) => void;
}

/** The worker's processor for every job in the catalog; a missing one is a compile error. */
export function buildProcessors(deps: ProcessorDeps): ProcessorMap {
  return {
    ...ingestProcessors(deps),
    'refresh-token': refreshTokenProcessor(deps),
    'disconnect-cleanup': disconnectCleanup(deps),
    'reconcile-connection': reconcileConnection(deps),
    'reconcile-all': reconcileAll(deps),
  };
}
