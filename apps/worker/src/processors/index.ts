import type { Database } from '@calhook/db';
import type { ProcessorMap } from '@calhook/queue';
import { ingestEvent } from './ingest-event.ts';

export interface ProcessorDeps {
  db: Database;
  now: () => Date;
}

/** The worker's processor for every job in the catalog; a missing one is a compile error. */
export function buildProcessors(deps: ProcessorDeps): ProcessorMap {
  return {
    'ingest-event': ingestEvent(deps),
  };
}
