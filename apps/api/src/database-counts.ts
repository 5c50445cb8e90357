import { connections, type Database, endpointRepo, webhookHooks } from '@calhook/db';
import type { DatabaseCounts } from '@calhook/observability';
import { and, count, isNotNull, ne } from 'drizzle-orm';

/**
 * The counts behind the connection and subscription gauges, read at scrape time. Four small
 * grouped counts over indexed status columns: cheap enough for a scrape every 15 s.
 */
export async function databaseCounts(db: Database): Promise<DatabaseCounts> {
  const [byStatus, byState, [retrying], endpoints] = await Promise.all([
    db
      .select({ status: connections.status, n: count() })
      .from(connections)
      .groupBy(connections.status),
    db
      .select({ state: webhookHooks.state, n: count() })
      .from(webhookHooks)
      .groupBy(webhookHooks.state),
    db
      .select({ n: count() })
      .from(webhookHooks)
      .where(and(isNotNull(webhookHooks.retryStartedAt), ne(webhookHooks.state, 'retired'))),
    endpointRepo.countByStatus(db),
  ]);
  return {
    connectionsByStatus: Object.fromEntries(byStatus.map((r) => [r.status, r.n])),
    subscriptionsByState: Object.fromEntries(byState.map((r) => [r.state, r.n])),
    subscriptionsRetrying: retrying?.n ?? 0,
    appWebhookEndpointsByStatus: endpoints,
  };
}
