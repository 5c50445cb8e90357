// Reconcile one connection: make Calendly hold exactly one healthy calhook subscription, then
// backfill when something may have been missed. The backfill policy (whether one is due, and
// over which window) lives here with the workflow that runs it.
import {
  type BackfillReport,
  type ConnectionRow,
  connectionRepo,
  lastSlotOf,
  type SubscriptionReport,
  spreadRanges,
} from '@calhook/db';
import type { JobPayload } from '@calhook/queue';
import { ReauthRequiredError } from '@calhook/tokens';
import { backfill } from './backfill.ts';
import type { BackfillSettings, ConnectionDeps } from './deps.ts';
import { checkSubscription, syncSubscription } from './subscription-sync.ts';
import { withUserLock } from './user-lock.ts';

export type ReconcileReason = JobPayload<'reconcile-connection'>['reason'];

export type BackfillDecision =
  | { due: false }
  | { due: true; initial: boolean; pastMs: number; futureMs: number; because: string };

/**
 * Whether this run backfills, and over which window: the first import (never backfilled:
 * the wide window), a backfill asked for (an app's request, a command, a reconnect), a
 * subscription that had to be created (deliveries may have been lost before it existed), a
 * user whose plan or token allows no subscription (polling is their fallback), and everyone
 * once every BACKFILL_EVERY: at the connection's own moment in that cycle (its spread offset),
 * so routine backfills are spread as evenly as reconciles, never bunched by a common start.
 */
export function backfillDecision(
  row: Pick<ConnectionRow, 'id' | 'lastBackfilledAt' | 'backfillRequestedAt'>,
  subscription: { state: SubscriptionReport['state']; created: readonly string[] },
  now: Date,
  settings: BackfillSettings,
): BackfillDecision {
  const routine = { initial: false, pastMs: settings.pastMs, futureMs: settings.futureMs };
  if (row.lastBackfilledAt === null) {
    return {
      due: true,
      initial: true,
      pastMs: settings.initialPastMs,
      futureMs: settings.initialFutureMs,
      because: 'first import',
    };
  }
  if (row.backfillRequestedAt !== null) return { due: true, ...routine, because: 'requested' };
  if (subscription.created.length > 0) {
    return { due: true, ...routine, because: 'subscription created' };
  }
  if (subscription.state === 'unavailable') {
    return { due: true, ...routine, because: 'no subscription possible' };
  }
  if (row.lastBackfilledAt < lastSlotOf(row.id, settings.everyMs, now)) {
    return { due: true, ...routine, because: 'routine' };
  }
  return { due: false };
}

export type ReconcileResult =
  | { skipped: string }
  | {
      reason: ReconcileReason;
      subscription: { state: string; created: number; deleted: number; kept: number };
      backfill?: Pick<BackfillReport, 'events' | 'changed' | 'repairs' | 'skipped'> & {
        because: string;
      };
    };

/**
 * The `reconcile-connection` job. Users who must reconnect, or who disconnected, are skipped,
 * not failed. What the run must do is read from the row when it starts, so a request merged
 * into this run before it started is honoured.
 */
export async function reconcile(
  deps: ConnectionDeps,
  connectionId: string,
  reason: ReconcileReason,
): Promise<ReconcileResult> {
  const row = await connectionRepo.findById(deps.db, connectionId);
  if (row?.status !== 'active') return { skipped: row?.status ?? 'missing' };
  const startedAt = deps.now();
  try {
    // Most runs find the subscription healthy and change nothing at Calendly: that check
    // needs no lock, so a routine run holds no Postgres connection while Calendly answers.
    // Anything to repair is redone under the user's lock, from a fresh listing.
    const subscription =
      (await checkSubscription(deps, row)) ??
      (await withUserLock(deps, row.userId, () => syncSubscription(deps, connectionId)));
    deps.observer?.subscriptions?.('created', subscription.created.length);
    deps.observer?.subscriptions?.('deleted', subscription.deleted.length);
    deps.observer?.subscriptions?.('kept', subscription.kept.length);
    const summary = {
      state: subscription.state,
      created: subscription.created.length,
      deleted: subscription.deleted.length,
      kept: subscription.kept.length,
    };
    const decision = backfillDecision(row, subscription, startedAt, deps.backfill);
    if (!decision.due || !row.calendlyUserUri) return { reason, subscription: summary };

    const report = await backfill(deps, {
      connectionId,
      calendlyUserUri: row.calendlyUserUri,
      from: new Date(startedAt.getTime() - decision.pastMs),
      to: new Date(startedAt.getTime() + decision.futureMs),
      initial: decision.initial,
    });
    if (report.repairs > 0) {
      deps.observer?.repairs?.(report.repairs);
      deps.logger.warn(
        { connectionId, repairs: report.repairs, reason },
        'backfill repaired meetings that no webhook delivered',
      );
    }
    await connectionRepo.recordBackfill(deps.db, connectionId, report, startedAt, deps.now());
    return {
      reason,
      subscription: summary,
      backfill: {
        events: report.events,
        changed: report.changed,
        repairs: report.repairs,
        skipped: report.skipped,
        because: decision.because,
      },
    };
  } catch (error) {
    if (error instanceof ReauthRequiredError) return { skipped: 'reauth_required' };
    throw error;
  }
}

/**
 * An app's or operator's request to reconcile and backfill one user now. The backfill is
 * asked for on the row, then a run is enqueued: merged into one that has not started (which
 * then backfills), or a new one after a run in progress. Null when the user never connected.
 */
export async function requestReconcile(
  deps: Pick<ConnectionDeps, 'db' | 'queues' | 'now'>,
  userId: string,
  reason: Extract<ReconcileReason, 'requested' | 'command'>,
): Promise<{ jobId: string } | null> {
  const row = await connectionRepo.findByUser(deps.db, userId);
  if (!row) return null;
  await connectionRepo.requestBackfill(deps.db, row.id, deps.now());
  const job = await deps.queues.enqueue('reconcile-connection', { connectionId: row.id, reason });
  return { jobId: job.id ?? '' };
}

/**
 * An operator's request to reconcile and backfill every active connection now (`pnpm
 * reconcile`), e.g. after a Redis failover lost acknowledged deliveries: the backfill is asked
 * for on every row, then one `reconcile-all` fans out the runs.
 */
export async function requestReconcileAll(
  deps: Pick<ConnectionDeps, 'db' | 'queues' | 'now'>,
): Promise<{ connections: number; jobId: string }> {
  const connections = await connectionRepo.requestBackfillOfActive(deps.db, deps.now());
  const job = await deps.queues.enqueue('reconcile-all', {});
  return { connections, jobId: job.id ?? '' };
}

/**
 * How often the sweeper runs for a reconcile cycle of `everyMs`, and so the slice of the cycle
 * each sweep covers: about 180 slices a cycle, at least a second and at most five, so the rate
 * Calendly sees is flat at the scale of seconds.
 */
export function sweepSliceMs(everyMs: number): number {
  return Math.min(5_000, Math.max(1_000, Math.floor(everyMs / 180)));
}

/**
 * The `reconcile-sweep` job, run every `sweepSliceMs`: queues a scheduled run for each active
 * connection whose offset within the reconcile cycle (a hash of its id, see @calhook/db's
 * spread) falls in the last slice ended by `slotEnd`. Every connection is reconciled once per
 * cycle at its own stable moment; a restart does not move anyone, so nothing bursts.
 */
export async function reconcileSweep(
  deps: Pick<ConnectionDeps, 'db' | 'queues'>,
  everyMs: number,
  slotEnd: Date,
): Promise<{ connections: number; from: string; to: string }> {
  const slice = sweepSliceMs(everyMs);
  // The scheduler's runs come exactly a slice apart (at its own phase): each covers the
  // whole slice that ended last, so consecutive runs cover the cycle without gap or overlap.
  const to = Math.floor(slotEnd.getTime() / slice) * slice;
  const from = to - slice;
  const ids = await connectionRepo.activeIdsInSpread(deps.db, spreadRanges(from, to, everyMs));
  await enqueueScheduled(deps, ids);
  return {
    connections: ids.length,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
  };
}

async function enqueueScheduled(deps: Pick<ConnectionDeps, 'queues'>, ids: readonly string[]) {
  const batch = 500;
  for (let i = 0; i < ids.length; i += batch) {
    await deps.queues.enqueueBulk(
      'reconcile-connection',
      ids
        .slice(i, i + batch)
        .map((connectionId) => ({ connectionId, reason: 'scheduled' as const })),
    );
  }
}

/**
 * The `reconcile-all` job (`pnpm reconcile`): a run for every active connection now, merged
 * into waiting ones. An operator's catch-up, not the schedule: the schedule is the sweep.
 */
export async function reconcileAll(
  deps: Pick<ConnectionDeps, 'db' | 'queues'>,
): Promise<{ connections: number }> {
  const ids = await connectionRepo.activeIds(deps.db);
  await enqueueScheduled(deps, ids);
  return { connections: ids.length };
}
