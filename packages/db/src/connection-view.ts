// The connection as the API shows it: GET /v1/connections/:userId and the change feed's
// `connection.updated` snapshots both render it here.
import type { Executor } from './client.ts';
import * as hookRepo from './repositories/webhook-hooks.ts';
import type { ConnectionRow } from './schema/connections.ts';
import type { WebhookHookRow } from './schema/webhook-hooks.ts';

/** The connection as API.md shows it to the app backend; never a token or key. */
export interface ConnectionView {
  userId: string;
  status: ConnectionRow['status'];
  calendlyUserUri: string | null;
  organizationUri: string | null;
  tokenExpiresAt: string | null;
  webhook: {
    state: ConnectionRow['webhookState'];
    subscriptionUri: string | null;
    callbackUrl: string | null;
    /** Calendly's words when it refused the subscription (free plan, missing scope). */
    message: string | null;
    /** Calendly has started retrying failed deliveries: it disables the hook after 24 h. */
    retryStartedAt: string | null;
  };
  lastEventAt: string | null;
  lastReconciledAt: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function connectionView(row: ConnectionRow, hook: WebhookHookRow | null): ConnectionView {
  const live = hook && hook.state !== 'retired' ? hook : null;
  return {
    userId: row.userId,
    status: row.status,
    calendlyUserUri: row.calendlyUserUri,
    organizationUri: row.organizationUri,
    tokenExpiresAt: iso(row.tokenExpiresAt),
    webhook: {
      state: row.webhookState,
      subscriptionUri: live?.subscriptionUri ?? null,
      callbackUrl: live?.callbackUrl ?? null,
      message: row.webhookMessage,
      retryStartedAt: iso(live?.retryStartedAt ?? null),
    },
    lastEventAt: iso(row.lastEventAt),
    lastReconciledAt: iso(row.lastReconciledAt),
    lastError: row.lastError,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** The view of a connection row with its current hook. */
export async function connectionViewOf(ex: Executor, row: ConnectionRow): Promise<ConnectionView> {
  return connectionView(row, await hookRepo.currentOf(ex, row.id));
}
