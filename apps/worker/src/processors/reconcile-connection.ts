import type { CalendlyClient } from '@calhook/calendly';
import { CalendlyError } from '@calhook/calendly';
import type { Config } from '@calhook/config';
import {
  backfillConnection,
  CalendlyUnavailableError,
  type ConnectionService,
} from '@calhook/connections';
import { connections, type Database } from '@calhook/db';
import { type Processor, RetryLaterError } from '@calhook/queue';
import { ReauthRequiredError, type TokenService } from '@calhook/tokens';
import { eq } from 'drizzle-orm';

export interface ReconcileDeps {
  db: Database;
  connections: ConnectionService;
  calendly: CalendlyClient;
  tokens: TokenService;
  backfill: Config['backfill'];
  now: () => Date;
  /** Lost-webhook repairs, for the metric; called with the count of one routine backfill. */
  onRepairs?: (count: number) => void;
  /** What reconcile did to subscriptions, for the metric. */
  onReconcile?: (action: 'created' | 'deleted' | 'kept', count: number) => void;
}

/**
 * `reconcile-connection`: make Calendly hold exactly one healthy calhook subscription for
 * this connection, then backfill when something may have been missed: on first connect (the
 * wide import), after a subscription had to be recreated, for users whose plan allows no
 * webhook (polling is their fallback), and for everyone every BACKFILL_EVERY. Users who must
 * reconnect, or who disconnected, are skipped, not failed.
 */
export function reconcileConnection(deps: ReconcileDeps): Processor<'reconcile-connection'> {
  return async ({ connectionId, reason }, { log }) => {
    const [row] = await deps.db
      .select()
      .from(connections)
      .where(eq(connections.id, connectionId))
      .limit(1);
    if (row?.status !== 'active') return { skipped: row?.status ?? 'missing' };
    try {
      const subscription = await deps.connections.ensureSubscription(connectionId);
      deps.onReconcile?.('created', subscription.created.length);
      deps.onReconcile?.('deleted', subscription.deleted.length);
      deps.onReconcile?.('kept', subscription.kept.length);
      const initial = reason === 'connect' && row.lastBackfilledAt === null;
      const due =
        initial ||
        reason === 'requested' ||
        reason === 'command' ||
        subscription.created.length > 0 ||
        subscription.state === 'unavailable' ||
        row.lastBackfilledAt === null ||
        deps.now().getTime() - row.lastBackfilledAt.getTime() >= deps.backfill.everyMs;
      if (!due) return { reason, subscription: summary(subscription) };

      const window = initial
        ? { pastMs: deps.backfill.initialPastMs, futureMs: deps.backfill.initialFutureMs }
        : { pastMs: deps.backfill.pastMs, futureMs: deps.backfill.futureMs };
      const backfill = await backfillConnection(
        { db: deps.db, calendly: deps.calendly, tokens: deps.tokens, logger: log, now: deps.now },
        connectionId,
        window,
      );
      const repairs = initial ? 0 : backfill.changed;
      if (repairs > 0) {
        deps.onRepairs?.(repairs);
        log.warn(
          { connectionId, repairs, reason },
          'backfill repaired meetings that no webhook delivered',
        );
      }
      await deps.db
        .update(connections)
        .set({
          lastBackfilledAt: deps.now(),
          lastReconcileReport: { subscription, backfill: { ...backfill, initial, repairs } },
          updatedAt: deps.now(),
        })
        .where(eq(connections.id, connectionId));
      return {
        reason,
        subscription: summary(subscription),
        backfill: { events: backfill.events, changed: backfill.changed, repairs },
      };
    } catch (error) {
      if (error instanceof ReauthRequiredError) return { skipped: 'reauth_required' };
      const wait =
        error instanceof CalendlyUnavailableError
          ? error.retryAfterMs
          : error instanceof CalendlyError && error.kind === 'rate_limited'
            ? (error.retryAfterMs ?? undefined)
            : undefined;
      if (wait !== undefined) {
        log.warn({ connectionId, retryAfterMs: wait }, 'Calendly rate limit: reconcile delayed');
        throw new RetryLaterError('rate limited by Calendly', wait);
      }
      throw error;
    }
  };
}

function summary(report: { state: string; created: string[]; deleted: unknown[]; kept: string[] }) {
  return {
    state: report.state,
    created: report.created.length,
    deleted: report.deleted.length,
    kept: report.kept.length,
  };
}
