// One delivery of a change to an app webhook endpoint (the `deliver-webhook` job): signs it per
// Standard Webhooks with the endpoint's secret (and, during a rotation, the previous one), POSTs
// it, logs the attempt, and keeps the endpoint's health: `failing` from its first failed attempt,
// `disabled` at a failure 24 h or more after that, `active` again at any 2xx.
import type { Sealer } from '@calhook/crypto';
import { type Database, deliveryRepo, endpointRepo, type WebhookEndpointRow } from '@calhook/db';
import type { Logger } from '@calhook/observability';
import type { JobPayload } from '@calhook/queue';
import type { EndpointClient } from './endpoint-client.ts';
import type { AppWebhookObserver } from './observer.ts';
import { webhookHeaders } from './signature.ts';

/** How long an endpoint fails before it is disabled (API.md: at least 24 h of retries). */
export const DISABLE_AFTER_MS = 24 * 3_600_000;

/** A failed attempt the queue retries on the endpoint's back-off. */
export class DeliveryFailedError extends Error {
  override name = 'DeliveryFailedError';
}

/**
 * This process already has as many deliveries to the endpoint in flight as one endpoint may
 * hold: the job waits `delayMs` without spending an attempt, and the worker's other slots stay
 * free for other endpoints.
 */
export class EndpointBusyError extends Error {
  override name = 'EndpointBusyError';
  readonly delayMs: number;
  constructor(delayMs: number) {
    super('endpoint has its share of deliveries in flight');
    this.delayMs = delayMs;
  }
}

export interface DeliveryDeps {
  db: Database;
  sealer: Sealer;
  client: EndpointClient;
  now: () => Date;
  observer?: AppWebhookObserver | undefined;
  /** Deliveries one process holds in flight to one endpoint; 32 by default. */
  maxInFlightPerEndpoint?: number;
  disableAfterMs?: number;
}

export type DeliveryResult =
  | { delivered: true; status: number }
  | { delivered: false; skipped: 'endpoint_deleted' | 'endpoint_disabled' }
  | { delivered: false; disabled: true };

/** The secrets that sign now: the current one and, until it expires, the one it replaced. */
function secretsOf(endpoint: WebhookEndpointRow, sealer: Sealer, now: Date): string[] {
  const context = { purpose: 'endpoint_secret', id: endpoint.id } as const;
  const secrets = [sealer.open(endpoint.secretEnc, context)];
  if (
    endpoint.previousSecretEnc &&
    endpoint.previousSecretExpiresAt &&
    endpoint.previousSecretExpiresAt.getTime() > now.getTime()
  ) {
    secrets.push(sealer.open(endpoint.previousSecretEnc, context));
  }
  return secrets;
}

export function createDeliverer(deps: DeliveryDeps) {
  const inFlight = new Map<string, number>();
  const limit = deps.maxInFlightPerEndpoint ?? 32;
  const disableAfterMs = deps.disableAfterMs ?? DISABLE_AFTER_MS;

  return async function deliver(
    payload: JobPayload<'deliver-webhook'>,
    attempt: number,
    log: Logger,
  ): Promise<DeliveryResult> {
    const { endpointId, change } = payload;
    const endpoint = await endpointRepo.findById(deps.db, endpointId);
    if (!endpoint) return { delivered: false, skipped: 'endpoint_deleted' };
    if (endpoint.status === 'disabled') return { delivered: false, skipped: 'endpoint_disabled' };
    const held = inFlight.get(endpointId) ?? 0;
    if (held >= limit) throw new EndpointBusyError(250 + Math.floor(Math.random() * 750));
    inFlight.set(endpointId, held + 1);
    try {
      const now = deps.now();
      const body = JSON.stringify(change);
      const headers = webhookHeaders(
        { id: change.id, timestamp: Math.floor(now.getTime() / 1000), body },
        secretsOf(endpoint, deps.sealer, now),
      );
      const result = await deps.client.post(endpoint.url, headers, body);
      await deliveryRepo.record(deps.db, {
        endpointId,
        changeId: change.id,
        attempt,
        status: result.status,
        error: result.error,
        at: now,
        durationMs: result.durationMs,
      });
      if (result.outcome === 'success') {
        const lag = Math.max(0, (Date.now() - Date.parse(change.occurredAt)) / 1000);
        deps.observer?.delivered('success', lag);
        if (endpoint.status === 'failing') await endpointRepo.recordSuccess(deps.db, endpointId);
        return { delivered: true, status: result.status ?? 200 };
      }
      deps.observer?.delivered(result.outcome);
      log.warn(
        {
          endpointId,
          changeId: change.id,
          status: result.status,
          outcome: result.outcome,
          reason: result.error,
        },
        'app webhook delivery failed',
      );
      const health = await endpointRepo.recordFailure(
        deps.db,
        endpointId,
        deps.now(),
        disableAfterMs,
      );
      if (!health) return { delivered: false, skipped: 'endpoint_disabled' };
      if (health.disabledNow) {
        deps.observer?.endpointDisabled();
        log.error({ endpointId }, 'app webhook endpoint disabled after failing for 24 h');
        return { delivered: false, disabled: true };
      }
      throw new DeliveryFailedError(result.error ?? 'delivery failed');
    } finally {
      const left = (inFlight.get(endpointId) ?? 1) - 1;
      if (left <= 0) inFlight.delete(endpointId);
      else inFlight.set(endpointId, left);
    }
  };
}

export type Deliverer = ReturnType<typeof createDeliverer>;
