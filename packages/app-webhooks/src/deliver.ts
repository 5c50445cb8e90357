// Deliveries to an app webhook endpoint: a run of its changes (the `deliver-webhooks` job) or
// one change (the `deliver-webhook` job: a retry or a replay). Each change is signed per
// Standard Webhooks with the endpoint's secret (and, during a rotation, the previous one),
// POSTed, and its attempt logged; the endpoint's health is kept: `failing` from its first
// failed attempt, `disabled` at a failure 24 h or more after that, `active` again at any 2xx.
import type { Sealer } from '@calhook/crypto';
import {
  type Change,
  changeRepo,
  type Database,
  deliveryRepo,
  endpointRepo,
  type NewDelivery,
  type WebhookEndpointRow,
} from '@calhook/db';
import type { Logger } from '@calhook/observability';
import {
  APP_WEBHOOK_BACKOFF_MS,
  APP_WEBHOOK_BATCH,
  type JobPayload,
  type Queues,
} from '@calhook/queue';
import type { AttemptResult, EndpointClient } from './endpoint-client.ts';
import type { AppWebhookObserver } from './observer.ts';
import { webhookHeaders } from './signature.ts';
import { subscribes } from './subscription.ts';

/** How long an endpoint fails before it is disabled (API.md: at least 24 h of retries). */
export const DISABLE_AFTER_MS = 24 * 3_600_000;
/**
 * How long an endpoint read is reused by this process. A deleted, disabled or rotated endpoint
 * is seen by deliveries at most this late (the dispatcher reads endpoints afresh every pass).
 */
const ENDPOINT_CACHE_MS = 1_000;
/** How long a delivery waits for its endpoint's share before going back to the queue. */
const SHARE_WAIT_MS = 250;
/**
 * Runs of one endpoint this process works at once, and how many more may wait here for their
 * turn. A run beyond those goes back to the queue (unspent), so an endpoint that holds every
 * request keeps at most their sum of the worker's slots.
 */
const RUNS_PER_ENDPOINT = 4;
const RUNS_WAITING_PER_ENDPOINT = 4;

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
  /** Where a run's failed changes go as retry jobs. */
  queues: Pick<Queues, 'enqueueBulk'>;
  sealer: Sealer;
  client: EndpointClient;
  now: () => Date;
  observer?: AppWebhookObserver | undefined;
  /** Deliveries one process holds in flight to one endpoint; 32 by default. */
  maxInFlightPerEndpoint?: number;
  disableAfterMs?: number;
}

export type RunResult =
  | { delivered: number; retrying: number }
  | { delivered: 0; skipped: 'endpoint_deleted' | 'endpoint_disabled' }
  | { delivered: number; disabled: true };

export type DeliveryResult =
  | { delivered: true; status: number }
  | { delivered: false; skipped: 'endpoint_deleted' | 'endpoint_disabled' }
  | { delivered: false; disabled: true };

interface Signing {
  endpoint: WebhookEndpointRow;
  current: string;
  previous: string | null;
}

/** The secrets that sign at `now`: the current one and, until it expires, the one it replaced. */
function secretsAt(signing: Signing, now: Date): string[] {
  const expires = signing.endpoint.previousSecretExpiresAt;
  return signing.previous && expires && expires.getTime() > now.getTime()
    ? [signing.current, signing.previous]
    : [signing.current];
}

/**
 * Per-endpoint shares of this process's delivery slots: a single delivery waits briefly for one
 * of its endpoint's `limit` places and gives up (back to the queue) rather than hold a worker
 * slot; a run's POSTs wait their turn (the run holds its slot either way).
 */
function createShares(limit: number) {
  const held = new Map<string, number>();
  const waiting = new Map<string, (() => void)[]>();
  return {
    /**
     * One of the key's places: at once when one is free, else in turn after those already
     * waiting. False at once when `maxWaiting` already wait, or when none came within `waitMs`.
     */
    acquire(
      key: string,
      { waitMs = Number.POSITIVE_INFINITY, maxWaiting = Number.POSITIVE_INFINITY } = {},
    ): Promise<boolean> {
      const count = held.get(key) ?? 0;
      if (count < limit) {
        held.set(key, count + 1);
        return Promise.resolve(true);
      }
      const queue = waiting.get(key) ?? [];
      if (queue.length >= maxWaiting) return Promise.resolve(false);
      waiting.set(key, queue);
      return new Promise<boolean>((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        const granted = () => {
          clearTimeout(timer);
          resolve(true);
        };
        if (Number.isFinite(waitMs)) {
          timer = setTimeout(() => {
            const at = queue.indexOf(granted);
            if (at >= 0) queue.splice(at, 1);
            resolve(false);
          }, waitMs);
        }
        queue.push(granted);
      });
    },
    release(key: string): void {
      const next = waiting.get(key)?.shift();
      // Handed straight to a waiter: the count stays.
      if (next) {
        next();
        return;
      }
      const count = (held.get(key) ?? 1) - 1;
      if (count <= 0) {
        held.delete(key);
        waiting.delete(key);
      } else held.set(key, count);
    },
  };
}

/**
 * Writes delivery log rows in groups: every attempt finishing while a write is in flight goes
 * into the next one, and each attempt's job completes only once its row is written.
 */
function createLogWriter(db: Database) {
  let pending: { rows: NewDelivery[]; written: Promise<void> } | null = null;
  let inFlight: Promise<void> = Promise.resolve();
  return (row: NewDelivery): Promise<void> => {
    if (!pending) {
      const batch: { rows: NewDelivery[]; written: Promise<void> } = {
        rows: [],
        written: Promise.resolve(),
      };
      batch.written = inFlight.then(() => {
        if (pending === batch) pending = null;
        return deliveryRepo.record(db, batch.rows);
      });
      inFlight = batch.written.catch(() => {});
      pending = batch;
    }
    pending.rows.push(row);
    return pending.written;
  };
}

export function createDeliverer(deps: DeliveryDeps) {
  const shares = createShares(deps.maxInFlightPerEndpoint ?? 32);
  const disableAfterMs = deps.disableAfterMs ?? DISABLE_AFTER_MS;
  const writeLog = createLogWriter(deps.db);
  const cache = new Map<string, { at: number; signing: Promise<Signing | null> }>();
  const runs = createShares(RUNS_PER_ENDPOINT);

  function signingOf(endpointId: string): Promise<Signing | null> {
    const cached = cache.get(endpointId);
    if (cached && Date.now() - cached.at < ENDPOINT_CACHE_MS) return cached.signing;
    const signing = endpointRepo.findById(deps.db, endpointId).then((endpoint) => {
      if (!endpoint) return null;
      const context = { purpose: 'endpoint_secret', id: endpoint.id } as const;
      return {
        endpoint,
        current: deps.sealer.open(endpoint.secretEnc, context),
        previous: endpoint.previousSecretEnc
          ? deps.sealer.open(endpoint.previousSecretEnc, context)
          : null,
      };
    });
    cache.set(endpointId, { at: Date.now(), signing });
    signing.catch(() => cache.delete(endpointId));
    if (cache.size > 10_000) cache.clear();
    return signing;
  }

  /** Signs and POSTs one change (its place in the endpoint's share already held). */
  async function post(signing: Signing, change: Change, attempt: number) {
    const now = deps.now();
    const body = JSON.stringify(change);
    const headers = webhookHeaders(
      { id: change.id, timestamp: Math.floor(now.getTime() / 1000), body },
      secretsAt(signing, now),
    );
    const result = await deps.client.post(signing.endpoint.url, headers, body);
    const row: NewDelivery = {
      endpointId: signing.endpoint.id,
      changeId: change.id,
      attempt,
      status: result.status,
      error: result.error,
      at: now,
      durationMs: result.durationMs,
    };
    if (result.outcome === 'success') {
      const lag = Math.max(0, (Date.now() - Date.parse(change.occurredAt)) / 1000);
      deps.observer?.delivered('success', lag);
    } else deps.observer?.delivered(result.outcome);
    return { result, row };
  }

  /** A 2xx after failures: the endpoint is active again. */
  async function succeeded(signing: Signing): Promise<void> {
    if (signing.endpoint.status !== 'failing') return;
    await endpointRepo.recordSuccess(deps.db, signing.endpoint.id);
    cache.delete(signing.endpoint.id);
  }

  /** A failed attempt: the endpoint's health as it is now (null: gone or disabled already). */
  async function failed(endpointId: string, log: Logger) {
    const health = await endpointRepo.recordFailure(
      deps.db,
      endpointId,
      deps.now(),
      disableAfterMs,
    );
    // Its status changed (or will be read as such): the next delivery reads it afresh.
    cache.delete(endpointId);
    if (health?.disabledNow) {
      deps.observer?.endpointDisabled();
      log.error({ endpointId }, 'app webhook endpoint disabled after failing for 24 h');
    }
    return health;
  }

  const logFailure = (log: Logger, endpointId: string, changeId: string, result: AttemptResult) =>
    log.warn(
      {
        endpointId,
        changeId,
        status: result.status,
        outcome: result.outcome,
        reason: result.error,
      },
      'app webhook delivery failed',
    );

  /**
   * A run of an endpoint's changes: each POSTed once, up to the endpoint's share at a time, all
   * attempts logged in one write, and every change that failed queued as a retry job of its own
   * (due at the schedule's first retry). Done once those are queued.
   */
  async function run(payload: JobPayload<'deliver-webhooks'>, log: Logger): Promise<RunResult> {
    const { endpointId } = payload;
    const signing = await signingOf(endpointId);
    if (!signing) return { delivered: 0, skipped: 'endpoint_deleted' };
    if (signing.endpoint.status === 'disabled') {
      return { delivered: 0, skipped: 'endpoint_disabled' };
    }
    const after = changeRepo.decodeCursor(payload.after);
    const through = changeRepo.decodeCursor(payload.through);
    if (!after || !through) throw new Error(`run of endpoint ${endpointId} has unreadable cursors`);
    // The span as the dispatcher saw it (positioned then): changes pruned since are gone.
    const span = await changeRepo.readSpan(deps.db, {
      after,
      through,
      limit: APP_WEBHOOK_BATCH,
    });
    const changes = span
      .map(changeRepo.toChange)
      .filter((change) => subscribes(signing.endpoint.types, change.type));
    if (!(await runs.acquire(endpointId, { maxWaiting: RUNS_WAITING_PER_ENDPOINT }))) {
      throw new EndpointBusyError(100 + Math.floor(Math.random() * 400));
    }
    try {
      const outcomes: ({ result: AttemptResult; row: NewDelivery } | undefined)[] = [];
      let next = 0;
      let gone = false;
      const lanes = Math.min(changes.length, deps.maxInFlightPerEndpoint ?? 32);
      await Promise.all(
        Array.from({ length: lanes }, async () => {
          for (let i = next++; i < changes.length && !gone; i = next++) {
            await shares.acquire(endpointId);
            try {
              // Read again (at most ENDPOINT_CACHE_MS old): a run that waited for its share
              // sends nothing to an endpoint deleted or disabled meanwhile.
              const now = await signingOf(endpointId);
              if (!now || now.endpoint.status === 'disabled') gone = true;
              else outcomes[i] = await post(now, changes[i] as Change, 1);
            } finally {
              shares.release(endpointId);
            }
          }
        }),
      );
      const attempted = outcomes.filter((o) => o !== undefined);
      const failures = changes.filter((_, i) => {
        const outcome = outcomes[i];
        return outcome !== undefined && outcome.result.outcome !== 'success';
      });
      const delivered = attempted.length - failures.length;
      // The endpoint's health before its log: whoever sees a failed attempt logged sees the
      // endpoint failing.
      if (delivered > 0) await succeeded(signing);
      const first = attempted.find((o) => o.result.outcome !== 'success');
      if (first) logFailure(log, endpointId, first.row.changeId, first.result);
      const health = failures.length > 0 ? await failed(endpointId, log) : undefined;
      await deliveryRepo.record(
        deps.db,
        attempted.map((o) => o.row),
      );
      if (health === undefined) return { delivered, retrying: 0 };
      if (!health) return { delivered: 0, skipped: 'endpoint_disabled' };
      if (health.disabledNow) return { delivered, disabled: true };
      await deps.queues.enqueueBulk(
        'deliver-webhook',
        failures.map((change) => ({ endpointId, change, priorAttempts: 1 })),
        { delayMs: APP_WEBHOOK_BACKOFF_MS[0] },
      );
      return { delivered, retrying: failures.length };
    } finally {
      runs.release(endpointId);
    }
  }

  /** One change: a retry of a run's failed change, or a replay. */
  async function one(
    payload: JobPayload<'deliver-webhook'>,
    attemptOfJob: number,
    log: Logger,
  ): Promise<DeliveryResult> {
    const { endpointId, change } = payload;
    const attempt = attemptOfJob + (payload.priorAttempts ?? 0);
    const signing = await signingOf(endpointId);
    if (!signing) return { delivered: false, skipped: 'endpoint_deleted' };
    if (signing.endpoint.status === 'disabled') {
      return { delivered: false, skipped: 'endpoint_disabled' };
    }
    if (!(await shares.acquire(endpointId, { waitMs: SHARE_WAIT_MS }))) {
      throw new EndpointBusyError(250 + Math.floor(Math.random() * 750));
    }
    try {
      const { result, row } = await post(signing, change as Change, attempt);
      if (result.outcome === 'success') {
        await succeeded(signing);
        await writeLog(row);
        return { delivered: true, status: result.status ?? 200 };
      }
      logFailure(log, endpointId, change.id, result);
      const health = await failed(endpointId, log);
      await writeLog(row);
      if (!health) return { delivered: false, skipped: 'endpoint_disabled' };
      if (health.disabledNow) return { delivered: false, disabled: true };
      throw new DeliveryFailedError(result.error ?? 'delivery failed');
    } finally {
      shares.release(endpointId);
    }
  }

  return { run, one };
}

export type Deliverer = ReturnType<typeof createDeliverer>;
