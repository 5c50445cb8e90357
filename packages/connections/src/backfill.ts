// Backfill: list the user's own scheduled events in a start-time window (both statuses:
// Calendly has no "modified since", so cancellations are found by re-scanning) and feed every
// invitee through the same order-aware upsert as webhooks. A listing older than what a webhook
// already wrote loses on the Calendly timestamps, so backfill can only repair, never regress.
// Only `user=` listings: an organization-wide one would import other hosts' meetings.
import { CalendlyError, type ScheduledEvent } from '@calhook/calendly';
import type { BackfillReport } from '@calhook/db';
import { applyObservationsIsolated } from '@calhook/meetings';
import type { ConnectionDeps } from './deps.ts';

type SkippedItem = BackfillReport['skippedItems'][number];

/** Invitees applied per transaction. */
const APPLY_BATCH = 100;

/** At most this many skipped items are named in the report (all are counted). */
const NAMED_SKIPS = 20;

export interface BackfillRun {
  connectionId: string;
  calendlyUserUri: string;
  from: Date;
  to: Date;
  initial: boolean;
}

/**
 * One bad item never ends a backfill: an event or invitee Calendly lists in a shape no schema
 * accepts, an event whose invitees Calendly will not show (403: an organization the user left,
 * 404: deleted meanwhile), or a row Postgres refuses is counted, named in the log and skipped,
 * and every later event is still repaired. Failures that may pass (5xx, 429, network) end the
 * run: the job retries it.
 */
export async function backfill(
  deps: Pick<ConnectionDeps, 'db' | 'calendly' | 'tokens' | 'logger'>,
  run: BackfillRun,
): Promise<BackfillReport> {
  const report: BackfillReport = {
    from: run.from.toISOString(),
    to: run.to.toISOString(),
    initial: run.initial,
    events: 0,
    invitees: 0,
    changed: 0,
    repairs: 0,
    skipped: 0,
    skippedItems: [],
  };
  const skip = (item: SkippedItem) => {
    report.skipped += 1;
    if (report.skippedItems.length < NAMED_SKIPS) report.skippedItems.push(item);
    deps.logger.warn({ connectionId: run.connectionId, ...item }, 'backfill skipped an item');
  };

  const events = await deps.tokens.withAccessToken(run.connectionId, async (token) => {
    const listed: ScheduledEvent[] = [];
    for await (const item of deps.calendly.listScheduledEvents(token, {
      user: run.calendlyUserUri,
      minStartTime: run.from,
      maxStartTime: run.to,
    })) {
      report.events += 1;
      if (item.ok) listed.push(item.value);
      else skip({ uri: item.uri, reason: item.reason });
    }
    return listed;
  });

  for (const event of events) {
    let invitees: Awaited<ReturnType<typeof listInvitees>>;
    try {
      invitees = await listInvitees(deps, run.connectionId, event.uri);
    } catch (error) {
      if (
        error instanceof CalendlyError &&
        (error.kind === 'forbidden' || error.kind === 'not_found')
      ) {
        skip({ uri: event.uri, reason: `Calendly answered ${error.status} to its invitees` });
        continue;
      }
      throw error;
    }
    const items = [];
    for (const item of invitees) {
      report.invitees += 1;
      if (item.ok) {
        items.push({
          connectionId: run.connectionId,
          input: { invitee: item.value, scheduledEvent: event },
        });
      } else {
        skip({ uri: item.uri, reason: item.reason });
      }
    }
    // Bounded transactions: a group event with thousands of invitees never holds row locks
    // (that a delivery's ingest may wait on) for one long transaction.
    for (let start = 0; start < items.length; start += APPLY_BATCH) {
      const batch = items.slice(start, start + APPLY_BATCH);
      const applied = await applyObservationsIsolated(deps.db, batch);
      for (const [i, result] of applied.entries()) {
        if (!result.ok) skip({ uri: batch[i]?.input.invitee.uri ?? null, reason: result.reason });
        else if (result.contentChanged) report.changed += 1;
      }
    }
  }
  report.repairs = run.initial ? 0 : report.changed;
  return report;
}

function listInvitees(
  deps: Pick<ConnectionDeps, 'calendly' | 'tokens'>,
  connectionId: string,
  eventUri: string,
) {
  return deps.tokens.withAccessToken(connectionId, async (token) => {
    const listed = [];
    for await (const item of deps.calendly.listEventInvitees(token, eventUri)) listed.push(item);
    return listed;
  });
}
