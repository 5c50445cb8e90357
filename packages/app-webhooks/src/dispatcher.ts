// The dispatcher: follows the change feed from each endpoint's cursor and turns the changes an
// endpoint subscribes to into `deliver-webhooks` jobs, spans of up to APP_WEBHOOK_BATCH
// consecutive changes (positions only: a run reads its changes), then moves the cursor. Jobs
// are added before the cursor moves, and a run's id is its endpoint and its span, so a
// dispatcher that dies in between loses nothing and its successor's repeats of the same runs
// are dropped. One dispatcher is active at a time (a Postgres advisory lock held on a session
// of its own); the others wait to take over. It is woken by the feed's NOTIFY and polls slowly
// besides, so a lost notification only delays.
import {
  type Change,
  changeRepo,
  type Database,
  endpointRepo,
  type WebhookEndpointRow,
} from '@calhook/db';
import type { Logger } from '@calhook/observability';
import { APP_WEBHOOK_BATCH, type JobPayload, type Queues } from '@calhook/queue';
import type postgres from 'postgres';
import type { AppWebhookObserver } from './observer.ts';
import { subscribes } from './subscription.ts';

/** The advisory lock key of the dispatcher (any constant; "calhook app webhooks"). */
const LOCK_KEY = 0x63_61_6c_68_6f_6f_6bn;
/** Changes read per page of the feed. */
const PAGE = 500;
/** Pages per endpoint per pass, so one endpoint far behind does not hold up the others. */
const PAGES_PER_PASS = 20;

export interface DispatcherDeps {
  db: Database;
  /** The same database's client: the lock's session and the LISTEN come from it. */
  sql: postgres.Sql;
  queues: Queues;
  logger: Logger;
  observer?: AppWebhookObserver | undefined;
  /** The slow poll beside the notifications; 1 s by default. */
  pollMs?: number;
  /** How often a waiting dispatcher tries to take over; 2 s by default. */
  standbyMs?: number;
}

export interface Dispatcher {
  /** Runs a pass soon (the feed's NOTIFY calls it). */
  wake(): void;
  /** Whether this one holds the lock. */
  readonly active: boolean;
  close(): Promise<void>;
}

/** Queues an endpoint's next changes; returns whether more may be waiting. */
export async function dispatchEndpoint(
  deps: { db: Database; queues: Queues },
  endpoint: WebhookEndpointRow,
  onFirst?: (change: Change) => void,
): Promise<boolean> {
  let cursor = endpoint.cursor;
  for (let page = 0; page < PAGES_PER_PASS; page++) {
    const after = changeRepo.decodeCursor(cursor);
    if (!after) throw new Error(`endpoint ${endpoint.id} has an unreadable cursor`);
    // Positions and types only: each run reads its span's changes itself.
    const read = await changeRepo.read(deps.db, { after, limit: PAGE, data: false });
    if (read.rows.length === 0) return false;
    const changes = read.rows.map(changeRepo.toChange);
    if (page === 0 && changes[0]) onFirst?.(changes[0]);
    const payloads: JobPayload<'deliver-webhooks'>[] = [];
    for (let i = 0; i < changes.length; i += APP_WEBHOOK_BATCH) {
      const span = changes.slice(i, i + APP_WEBHOOK_BATCH);
      if (!span.some((change) => subscribes(endpoint.types, change.type))) continue;
      payloads.push({
        endpointId: endpoint.id,
        after: i === 0 ? cursor : (changes[i - 1] as Change).cursor,
        through: (span[span.length - 1] as Change).cursor,
      });
    }
    await deps.queues.enqueueBulk('deliver-webhooks', payloads);
    const next = changeRepo.encodeCursor(read.next);
    // Another dispatcher moved it (a takeover), or the endpoint is gone: leave it to that one.
    if (!(await endpointRepo.advanceCursor(deps.db, endpoint.id, cursor, next))) return false;
    cursor = next;
    if (read.rows.length < PAGE) return false;
  }
  return true;
}

export function startDispatcher(deps: DispatcherDeps): Dispatcher {
  const pollMs = deps.pollMs ?? 1_000;
  const standbyMs = deps.standbyMs ?? 2_000;
  const log = deps.logger.child({ component: 'app-webhook-dispatcher' });
  let closed = false;
  let active = false;
  let wakeUp: (() => void) | undefined;
  let woken = false;
  let session: postgres.ReservedSql | undefined;

  const wake = () => {
    woken = true;
    wakeUp?.();
  };
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (woken || closed) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });

  const listening = deps.sql.listen(changeRepo.CHANGES_CHANNEL, wake).catch((error: unknown) => {
    log.warn({ err: error }, 'cannot listen for changes: polling only');
    return undefined;
  });

  async function holdLock(): Promise<boolean> {
    if (session) {
      try {
        await session`select 1`;
        return true;
      } catch {
        // The session is gone, and the lock with it.
        session.release();
        session = undefined;
        active = false;
      }
    }
    const reserved = await deps.sql.reserve();
    try {
      const [row] = await reserved<{ locked: boolean }[]>`
        select pg_try_advisory_lock(${LOCK_KEY.toString()}::bigint) as locked`;
      if (row?.locked) {
        session = reserved;
        if (!active) log.info('app webhook dispatcher active');
        active = true;
        return true;
      }
    } catch (error) {
      log.warn({ err: error }, 'cannot take the dispatcher lock');
    }
    reserved.release();
    return false;
  }

  async function pass(): Promise<boolean> {
    const endpoints = await endpointRepo.listDeliverable(deps.db);
    let more = false;
    let oldest: number | undefined;
    for (const endpoint of endpoints) {
      if (closed) break;
      try {
        const behind = await dispatchEndpoint(deps, endpoint, (change) => {
          const at = Date.parse(change.occurredAt);
          oldest = oldest === undefined ? at : Math.min(oldest, at);
        });
        more ||= behind;
      } catch (error) {
        log.error({ err: error, endpointId: endpoint.id }, 'app webhook dispatch failed');
      }
    }
    deps.observer?.feedLag(oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
    return more;
  }

  const running = (async () => {
    while (!closed) {
      try {
        if (!(await holdLock())) {
          await pause(standbyMs);
          woken = false;
          continue;
        }
        woken = false;
        const more = await pass();
        if (!more) await pause(pollMs);
      } catch (error) {
        log.error({ err: error }, 'app webhook dispatcher pass failed');
        await pause(pollMs);
      }
    }
  })();

  return {
    wake,
    get active() {
      return active;
    },
    async close() {
      closed = true;
      wakeUp?.();
      await running;
      const listener = await listening;
      await listener?.unlisten().catch(() => {});
      if (session) {
        await session`select pg_advisory_unlock(${LOCK_KEY.toString()}::bigint)`.catch(() => {});
        session.release();
        session = undefined;
      }
      active = false;
    },
  };
}
