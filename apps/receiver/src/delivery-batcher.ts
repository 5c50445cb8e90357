// Puts the deliveries that arrive while the receiver's previous add is in flight into one
// BullMQ job. Under load every delivery waits for the add ahead of it, so the next job takes
// all of them: batch size follows the arrival rate, and a lone delivery goes out on the next
// turn of the event loop, waiting for no timer. Nobody is answered before Redis holds the job
// that carries their delivery.
//
// One job per delivery cost one BullMQ script run, with its ~20 keys and arguments, per
// delivery, in this process and in Redis; a batch pays that once (BENCHMARKS.md).
//
// With QUEUE_SHARDS > 1 each shard is a lane of its own (its own batches, add in flight and
// recent-deliveries set, in its queue's Cluster slot): a shard whose master is failing over
// holds up only its own deliveries.
import {
  currentTraceContext,
  inSpan,
  type TraceContext,
  withTraceContext,
} from '@calhook/observability';
import type { QueuedDelivery, Queues } from '@calhook/queue';
import type { Queue } from 'bullmq';

/** The delivery is in Redis: in the job just added, or in one added before (a duplicate). */
export type EnqueueOutcome = 'queued' | 'duplicate';

export class EnqueueTimeout extends Error {
  override name = 'EnqueueTimeout';
}

export interface DeliveryBatcherOptions {
  /** The recent-deliveries sets live beside the queues (one per shard), on their connection. */
  queues: Queues;
  /** How long a delivery may wait for Redis before `enqueue` rejects (the caller answers 503). */
  timeoutMs: number;
  /** Told the number of deliveries of each batch sent to Redis. */
  onBatch?: (size: number) => void;
  /** Remembering a queued batch failed: only its repeats' de-duplication is lost. */
  onRecentError?: (error: unknown) => void;
}

export interface DeliveryBatcher {
  /**
   * Resolves once Redis holds a job carrying the delivery. `id` identifies the delivery (the
   * same bytes for the same connection give the same id). Rejects with `EnqueueTimeout`, or
   * with Redis' error, when it could not be queued: then the caller must not acknowledge it.
   */
  enqueue(delivery: QueuedDelivery, id: string): Promise<EnqueueOutcome>;
}

/**
 * The recent-deliveries set of one shard in one command: KEYS[1] the set, in the shard queue's
 * hash slot; ARGV now (ms), max age (ms), max
 * size, n, then n ids to add (queued since the last call), then the ids to look up. Adds, cuts
 * the set back to its age and size, and answers 1 or 0 for each id looked up.
 */
const RECENT_DELIVERIES = `
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[4])
if n > 0 then
  for i = 5, 4 + n do redis.call('ZADD', KEYS[1], now, ARGV[i]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
end
local seen = {}
for i = 5 + n, #ARGV do
  seen[#seen + 1] = redis.call('ZSCORE', KEYS[1], ARGV[i]) and 1 or 0
end
return seen
`;

interface RecentDeliveriesCommand {
  calhookRecentDeliveries(key: string, ...args: (string | number)[]): Promise<number[]>;
}

interface Pending {
  delivery: QueuedDelivery;
  id: string;
  promise: Promise<EnqueueOutcome>;
  resolve: (outcome: EnqueueOutcome) => void;
  reject: (error: unknown) => void;
  /** `performance.now()` after which the caller is told 503. */
  deadline: number;
  settled: boolean;
  /** The request's trace: the job that carries the delivery continues it. */
  trace: TraceContext | undefined;
}

/** How often waiting deliveries are checked against their deadline. */
const SWEEP_EVERY_MS = 100;
/**
 * Adds in flight at once, per shard. Two measured no faster, with batches of ~4.6 instead of ~7.5 and a
 * higher p99 (BENCHMARKS.md).
 */
const MAX_IN_FLIGHT = 1;
/** Most deliveries in one job. */
const MAX_BATCH = 256;
/** Most body characters in one job; a delivery larger than this still goes, alone. */
const MAX_BATCH_CHARS = 1024 * 1024;
/**
 * How long, and how many, queued deliveries are remembered so that a repeat is answered
 * without queuing it again (the inbox's content hash stays the lasting guarantee).
 */
const RECENT = { ageMs: 3_600_000, count: 100_000 };

export function createDeliveryBatcher(options: DeliveryBatcherOptions): DeliveryBatcher {
  /** Every delivery waiting or in flight, by id: a repeat shares the first one's fate. */
  const byId = new Map<string, Pending>();

  /**
   * Unsettled deliveries in arrival order, which with one timeout for all is deadline order:
   * one sweep a tenth of a second times them out, instead of a timer set and cleared for each.
   */
  let byDeadline: Pending[] = [];
  let sweeper: NodeJS.Timeout | undefined;

  function sweep() {
    const now = performance.now();
    let first = 0;
    for (; first < byDeadline.length; first += 1) {
      const entry = byDeadline[first] as Pending;
      if (entry.settled) continue;
      if (entry.deadline > now) break;
      settle(entry, {
        error: new EnqueueTimeout(`no answer from Redis in ${options.timeoutMs} ms`),
      });
    }
    byDeadline = byDeadline.slice(first);
    if (byDeadline.length === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  }

  function settle(entry: Pending, outcome: EnqueueOutcome | { error: unknown }) {
    if (entry.settled) return;
    entry.settled = true;
    if (byId.get(entry.id) === entry) byId.delete(entry.id);
    if (typeof outcome === 'string') entry.resolve(outcome);
    else entry.reject(outcome.error);
  }

  const redis = options.queues.connection as Queues['connection'] & RecentDeliveriesCommand;
  if (typeof redis.calhookRecentDeliveries !== 'function') {
    redis.defineCommand('calhookRecentDeliveries', { numberOfKeys: 1, lua: RECENT_DELIVERIES });
  }

  const lanes = new Map<Queue, Lane>();
  function laneOf(delivery: QueuedDelivery): Lane {
    // The catalog decides the shard; a lane is made once per shard queue.
    const queue = options.queues.queueOf('ingest-deliveries', { deliveries: [delivery] });
    let lane = lanes.get(queue);
    if (!lane) {
      lane = createLane(queue);
      lanes.set(queue, lane);
    }
    return lane;
  }

  interface Lane {
    push(entry: Pending): void;
  }

  /** One shard's batches: one add in flight at a time, the next batch gathering meanwhile. */
  function createLane(queue: Queue): Lane {
    const recentKey = queue.toKey('recent-deliveries');
    const waiting: Pending[] = [];
    let inFlight = 0;
    let scheduled = false;
    /** Ids whose job Redis holds, not yet in the set: they go with the next batch's look-up. */
    let unremembered: string[] = [];

    function schedule() {
      if (scheduled || waiting.length === 0 || inFlight >= MAX_IN_FLIGHT) return;
      scheduled = true;
      setImmediate(pump);
    }

    /** The next batch: deliveries that timed out while waiting are dropped, never sent. */
    function take(): Pending[] {
      let chars = 0;
      let end = 0;
      const batch: Pending[] = [];
      for (; end < waiting.length && batch.length < MAX_BATCH; end += 1) {
        const entry = waiting[end] as Pending;
        if (entry.settled) continue;
        const size = entry.delivery.body.length;
        if (batch.length > 0 && chars + size > MAX_BATCH_CHARS) break;
        chars += size;
        batch.push(entry);
      }
      waiting.splice(0, end);
      return batch;
    }

    function pump() {
      scheduled = false;
      while (inFlight < MAX_IN_FLIGHT) {
        const batch = take();
        if (batch.length === 0) break;
        inFlight += 1;
        void send(batch).finally(() => {
          inFlight -= 1;
          schedule();
        });
      }
    }

    /** One round trip: adds the ids queued since the last call, then answers which `ids` it holds. */
    async function recentDeliveries(ids: string[]): Promise<boolean[]> {
      const add = unremembered;
      unremembered = [];
      const seen = await redis.calhookRecentDeliveries(
        recentKey,
        Date.now(),
        RECENT.ageMs,
        RECENT.count,
        add.length,
        ...add,
        ...ids,
      );
      return seen.map((flag: number) => flag === 1);
    }

    function remember(ids: string[]) {
      unremembered.push(...ids);
      // Nothing waiting to carry them: send them alone rather than hold them.
      if (waiting.length === 0) {
        recentDeliveries([]).catch((error: unknown) => options.onRecentError?.(error));
      }
    }

    async function send(batch: Pending[]) {
      options.onBatch?.(batch.length);
      try {
        const seen = await recentDeliveries(batch.map((entry) => entry.id));
        // A delivery whose caller gave up while Redis was slow to answer was told 503: it is
        // not queued now behind that answer's back (Calendly sends it again).
        const fresh = batch.filter((entry, i) => !seen[i] && !entry.settled);
        if (fresh.length > 0) {
          // Types check the payload; the worker validates it against the catalog again.
          const enqueue = () =>
            options.queues.enqueue('ingest-deliveries', {
              deliveries: fresh.map((entry) => entry.delivery),
            });
          const trace = fresh[0]?.trace;
          // Traced, the job continues the first delivery's trace and links the others'.
          await (trace
            ? withTraceContext(trace, () =>
                inSpan(
                  'enqueue deliveries',
                  {
                    attributes: { 'calhook.batch.size': fresh.length },
                    linkTo: fresh.slice(1).map((entry) => entry.trace),
                  },
                  enqueue,
                ),
              )
            : enqueue());
          remember(fresh.map((entry) => entry.id));
        }
        for (const [i, entry] of batch.entries()) settle(entry, seen[i] ? 'duplicate' : 'queued');
      } catch (error) {
        for (const entry of batch) settle(entry, { error });
      }
    }

    return {
      push(entry) {
        waiting.push(entry);
        schedule();
      },
    };
  }

  return {
    enqueue(delivery, id) {
      const same = byId.get(id);
      if (same) return same.promise.then(() => 'duplicate' as const);
      let resolve!: Pending['resolve'];
      let reject!: Pending['reject'];
      const promise = new Promise<EnqueueOutcome>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const entry: Pending = {
        delivery,
        id,
        promise,
        resolve,
        reject,
        deadline: performance.now() + options.timeoutMs,
        settled: false,
        trace: currentTraceContext(),
      };
      byId.set(id, entry);
      byDeadline.push(entry);
      sweeper ??= setInterval(sweep, SWEEP_EVERY_MS).unref();
      laneOf(delivery).push(entry);
      return promise;
    },
  };
}
