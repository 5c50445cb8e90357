import type { CalendlyClient } from '@calhook/calendly';
import type { Sealer } from '@calhook/crypto';
import type { Database } from '@calhook/db';
import type { Logger } from '@calhook/observability';
import type { Queues } from '@calhook/queue';
import type { TokenService } from '@calhook/tokens';

/** The backfill windows and cadence (config's `backfill`). */
export interface BackfillSettings {
  pastMs: number;
  futureMs: number;
  initialPastMs: number;
  initialFutureMs: number;
  everyMs: number;
}

/** Told what reconcile did, for the metrics. */
export interface ReconcileObserver {
  /** Lost deliveries a routine backfill repaired. */
  repairs?(count: number): void;
  /** Subscriptions acted on. */
  subscriptions?(action: 'created' | 'deleted' | 'kept', count: number): void;
}

/** What the connection workflows (connect, disconnect, reconcile) are built from. */
export interface ConnectionDeps {
  db: Database;
  sealer: Sealer;
  calendly: CalendlyClient;
  tokens: TokenService;
  queues: Queues;
  publicUrl: string;
  backfill: BackfillSettings;
  /** RECONCILE_EVERY: the cycle each connection is reconciled once in, at its own offset. */
  reconcileEveryMs: number;
  logger: Logger;
  now: () => Date;
  /** Mints a hook id the receiver can check (createHookIds); tests pass one to provoke a 409. */
  newHookId: () => string;
  observer?: ReconcileObserver | undefined;
}
