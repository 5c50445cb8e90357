// The worker drain shared by the benchmarks: deliveries preloaded into the events queue with the
// worker stopped, the real worker process started, the drain timed from the first to the last
// inbox row it processed, and the CPU every part used per event.
import type { Sql } from 'postgres';
import {
  jobOptions,
  type QueuedDelivery,
  type RedisConnection,
} from '../packages/queue/src/index.ts';
import {
  backendsSpent,
  benchQueue,
  type Child,
  cpuSecondsOf,
  postgresCpuSeconds,
  redisCpuSeconds,
  round1,
  round2,
  workerBackendsCpu,
} from './lib.ts';

export interface DrainRig {
  redis: RedisConnection;
  prefix: string;
  /** The bench's own connection to the database the worker writes. */
  sql: Sql;
  /** Starts the worker process; it is stopped when its drain ends. */
  startWorker(): Promise<Child>;
  /** The next distinct delivery, as the receiver queues it. */
  nextDelivery(): QueuedDelivery;
}

export async function maxInboxId(sql: Sql): Promise<number> {
  const [row] = await sql<{ id: string | null }[]>`select max(id) as id from event_inbox`;
  return Number(row?.id ?? 0);
}

/**
 * The worker's scheduler reconciles every connection at its first start (one job per connection,
 * failing fast with no Calendly). That is a start-up transient, not load: wait for it to finish
 * before measuring. Its per-window job ids keep later starts the same day from repeating it.
 */
export async function startUpReconcile(redis: RedisConnection, prefix: string): Promise<void> {
  const reconcileQueue = benchQueue(redis, prefix, 'reconcile');
  const started = Date.now();
  await new Promise((r) => setTimeout(r, 2_000));
  while (Date.now() - started < 180_000) {
    const counts = await reconcileQueue.getJobCounts('waiting', 'active');
    if ((counts.waiting ?? 0) + (counts.active ?? 0) === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await reconcileQueue.close();
  console.log(`start-up reconcile finished after ${Date.now() - started} ms`);
}

/**
 * CPU seconds used so far by the process doing the work (`pid`), Redis and every Postgres
 * process: per event, the figure the host's steal does not blur.
 */
export async function cpuNow(redis: RedisConnection, pid: number, sql?: Sql) {
  return {
    node: cpuSecondsOf(pid),
    redis: await redisCpuSeconds(redis),
    postgres: postgresCpuSeconds(),
    workerBackends: sql ? await workerBackendsCpu(sql) : undefined,
  };
}

export type CpuSnapshot = Awaited<ReturnType<typeof cpuNow>>;

/**
 * CPU µs per event of each part between two snapshots, and their total; `pgWorker`, the
 * worker's own Postgres backends (a part of `postgres`, which counts every Postgres process on
 * the machine), when the snapshots were taken with the bench's connection (else NaN).
 */
export function cpuPerEvent(before: CpuSnapshot, after: CpuSnapshot, events: number) {
  const us = (seconds: number) => Math.round((seconds * 1e6) / events);
  const perEvent = {
    node: us(after.node - before.node),
    redis: us(after.redis - before.redis),
    postgres: us(after.postgres - before.postgres),
  };
  return {
    ...perEvent,
    total: perEvent.node + perEvent.redis + perEvent.postgres,
    pgWorker:
      before.workerBackends && after.workerBackends
        ? us(backendsSpent(before.workerBackends, after.workerBackends))
        : Number.NaN,
  };
}

/**
 * Preloads `count` deliveries with the worker stopped, `perJob` to a job (1: `ingest-event`,
 * one job per delivery; more: `ingest-deliveries`, as the receiver queues what arrives
 * together), starts the worker, and times the drain.
 */
export async function workerDrain(rig: DrainRig, count: number, perJob: number) {
  const { redis, prefix, sql } = rig;
  const queue = benchQueue(redis, prefix, 'events');
  const after = await maxInboxId(sql);
  for (let i = 0; i < count; i += 500 * perJob) {
    const deliveries = Array.from({ length: Math.min(500 * perJob, count - i) }, () =>
      rig.nextDelivery(),
    );
    const jobs = [];
    for (let j = 0; j < deliveries.length; j += perJob) {
      const group = deliveries.slice(j, j + perJob);
      jobs.push(
        perJob === 1
          ? {
              name: 'ingest-event',
              data: group[0],
              opts: jobOptions('ingest-event', group[0] as QueuedDelivery),
            }
          : {
              name: 'ingest-deliveries',
              data: { deliveries: group },
              opts: jobOptions('ingest-deliveries', { deliveries: group }),
            },
      );
    }
    await queue.addBulk(jobs);
  }
  // Paused until the worker is up, so its start-up is neither timed nor counted as CPU.
  await queue.pause();
  const worker = await rig.startWorker();
  const cpuBefore = await cpuNow(redis, worker.pid, sql);
  await queue.resume();
  await queue.close();
  const deadline = Date.now() + 600_000;
  for (;;) {
    const [row] = await sql<{ n: string }[]>`
      select count(*) as n from event_inbox where id > ${after} and processed_at is not null`;
    if (Number(row?.n) >= count) break;
    if (Date.now() > deadline) throw new Error('worker did not drain within 10 minutes');
    await new Promise((r) => setTimeout(r, 200));
  }
  const cpu = cpuPerEvent(cpuBefore, await cpuNow(redis, worker.pid, sql), count);
  await worker.stop();
  // Every row of one batch shares its processed_at: distinct values count the transactions.
  const [span] = await sql<{ seconds: number; applied: string; batches: string }[]>`
    select extract(epoch from max(processed_at) - min(processed_at))::float8 as seconds,
           count(*) filter (where outcome = 'applied') as applied,
           count(distinct processed_at) as batches
    from event_inbox where id > ${after}`;
  const seconds = span?.seconds ?? Number.NaN;
  return {
    eventsPerSecond: Math.round(count / seconds),
    seconds: round2(seconds),
    applied: Number(span?.applied),
    meanBatch: round1(count / Number(span?.batches)),
    cpu,
  };
}
