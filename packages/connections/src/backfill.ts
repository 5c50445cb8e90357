import {
  type CalendlyClient,
  inviteePayloadSchema,
  type ScheduledEventResource,
  scheduledEventSchema,
} from '@calhook/calendly';
import { connections, type Database } from '@calhook/db';
import { applyInviteeObservation } from '@calhook/meetings';
import type { Logger } from '@calhook/observability';
import type { TokenService } from '@calhook/tokens';
import { eq } from 'drizzle-orm';

export interface BackfillReport {
  from: string;
  to: string;
  events: number;
  invitees: number;
  /**
   * Invitees whose rows backfill created or changed: what no webhook had delivered. On a
   * routine run these are lost deliveries repaired; on the first import, just history.
   */
  changed: number;
  skipped: number;
}

export interface BackfillDeps {
  db: Database;
  calendly: CalendlyClient;
  tokens: TokenService;
  logger: Logger;
  now?: () => Date;
}

/**
 * Lists the user's own scheduled events in a start-time window (both statuses: Calendly has no
 * "modified since", so cancellations are found by re-scanning) and feeds every invitee through
 * the same order-aware upsert as webhooks. A listing older than what a webhook already wrote
 * loses on the Calendly timestamps, so backfill can only repair, never regress.
 * Only `user=` listings: an organization-wide one would import other hosts' meetings.
 */
export async function backfillConnection(
  deps: BackfillDeps,
  connectionId: string,
  window: { pastMs: number; futureMs: number },
): Promise<BackfillReport> {
  const now = deps.now ?? (() => new Date());
  const [connection] = await deps.db
    .select()
    .from(connections)
    .where(eq(connections.id, connectionId))
    .limit(1);
  if (!connection?.calendlyUserUri)
    throw new Error(`connection ${connectionId} has no Calendly user`);
  const user = connection.calendlyUserUri;
  const from = new Date(now().getTime() - window.pastMs);
  const to = new Date(now().getTime() + window.futureMs);
  const report: BackfillReport = {
    from: from.toISOString(),
    to: to.toISOString(),
    events: 0,
    invitees: 0,
    changed: 0,
    skipped: 0,
  };

  const events: ScheduledEventResource[] = await deps.tokens.withAccessToken(
    connectionId,
    async (token) => {
      const listed: ScheduledEventResource[] = [];
      for await (const event of deps.calendly.listScheduledEvents(token, {
        user,
        minStartTime: from.toISOString(),
        maxStartTime: to.toISOString(),
      })) {
        listed.push(event);
      }
      return listed;
    },
  );

  for (const listedEvent of events) {
    report.events += 1;
    const event = scheduledEventSchema.safeParse(listedEvent);
    if (!event.success) {
      report.skipped += 1;
      continue;
    }
    const invitees = await deps.tokens.withAccessToken(connectionId, async (token) => {
      const listed: unknown[] = [];
      for await (const invitee of deps.calendly.listEventInvitees(token, listedEvent.uri))
        listed.push(invitee);
      return listed;
    });
    for (const listedInvitee of invitees) {
      report.invitees += 1;
      const invitee = inviteePayloadSchema.safeParse(listedInvitee);
      if (!invitee.success) {
        report.skipped += 1;
        continue;
      }
      const applied = await deps.db.transaction((tx) =>
        applyInviteeObservation(tx, connectionId, {
          invitee: invitee.data,
          scheduledEvent: event.data,
        }),
      );
      if (!applied.ok) {
        report.skipped += 1;
      } else if (applied.contentChanged) {
        report.changed += 1;
      }
    }
  }

  // The caller records the run (last_backfilled_at with its report) in one write.
  return report;
}
