// The change feed's cost and lag, each with its figure of comparison in the same run.
//
// 1. Ingest drain with the outbox against the same drain without it. N deliveries are queued
//    with the worker stopped and the real worker process (apps/worker/src/server.ts) drains
//    them, as in bench/e2e.ts. "Without" is the same worker, the same code and the same
//    statements: only the database sessions the worker opens for that drain have a search_path
//    (`ALTER DATABASE ... SET`, on the bench's own database) that puts a schema of the bench's
//    first, holding a view `changes` whose rule drops every insert and a no-op `pg_notify`.
//    So the worker's change rows and its wake-up notifications are not written, nothing else
//    differs. Each drain checks it: `with` must add one change per delivery, `without` none.
//    Rounds alternate which goes first; medians of the rounds.
// 2. Lag: receiver, worker and api run as their own processes; this process sends signed
//    ~2 KB deliveries at a fixed rate (200/s, then 1,000/s, open loop) and measures, for every
//    delivery, the time from the receiver's 200 to the change's arrival at a reader paging
//    `GET /v1/changes` with `nextCursor` as an app would (the next page at once while pages
//    come back non-empty, BENCH_FEED_IDLE_MS after an empty one). Baseline, same deliveries:
//    10 a second are also polled through `GET /v1/users/:userId/meetings` (as bench/e2e.ts
//    does), receiver 200 -> listed: the ingest's own lag, which the feed cannot beat.
//
//   node bench/changes.ts                              # 5 drain rounds x 10,000, 60 s per rate
//   BENCH_SECONDS=15 BENCH_ROUNDS=1 BENCH_DRAIN_JOBS=5000 node bench/changes.ts   # a smoke run
//
// Env: DATABASE_URL (server; a bench database is created and dropped), REDIS_URL or
// REDIS_CLUSTER_NODES, BENCH_HOOKS (1000), BENCH_ROUNDS (5), BENCH_DRAIN_JOBS (10,000),
// BENCH_DRAIN_PER_JOB (comma-separated, default 8: the receiver's shape under load),
// BENCH_SECONDS (60 per rate), BENCH_RATES (default 200,1000), BENCH_STEADY_ROUNDS (1),
// BENCH_SAMPLES_PER_S (10), BENCH_FEED_IDLE_MS (100), BENCH_TIMEOUT_S (whole run, default 30
// min), BENCH_LOG_DIR, BENCH_SKIP_DRAIN=1, BENCH_SKIP_LAG=1.
import { randomBytes } from 'node:crypto';
import { type DrainRig, startUpReconcile, workerDrain } from './drain.ts';
import {
  type BenchHook,
  benchPrefix,
  benchQueue,
  benchRedis,
  createDatabase,
  describeMachine,
  dropPrefix,
  dropQueue,
  inviteeCreatedBody,
  localRoleEnv,
  median,
  newEncryptionKey,
  numberSetting,
  percentile,
  roleLogFile,
  round2,
  scratchDatabase,
  seedHooks,
  startNode,
  stopAll,
} from './lib.ts';
import { deliverySender, openLoop, watchListed } from './steady.ts';

const HOOKS = numberSetting('BENCH_HOOKS', 1000);
const ROUNDS = numberSetting('BENCH_ROUNDS', 5);
const DRAIN_JOBS = numberSetting('BENCH_DRAIN_JOBS', 10_000);
const DRAIN_PER_JOB = (process.env.BENCH_DRAIN_PER_JOB ?? '8').split(',').map(Number);
const SECONDS = numberSetting('BENCH_SECONDS', 60);
const RATES = (process.env.BENCH_RATES ?? '200,1000').split(',').map(Number);
const STEADY_ROUNDS = numberSetting('BENCH_STEADY_ROUNDS', 1);
const SAMPLES_PER_S = numberSetting('BENCH_SAMPLES_PER_S', 10);
const FEED_IDLE_MS = numberSetting('BENCH_FEED_IDLE_MS', 100);
const TIMEOUT_S = numberSetting('BENCH_TIMEOUT_S', 1800);
/** The most `GET /v1/changes` returns a page (API.md): what an app catching up asks for. */
const FEED_PAGE = 500;
/** How long after sending stops a delivery may still arrive before it counts as missing. */
const GRACE_MS = 60_000;
const PORTS = { receiver: 4231, api: 4232, worker: 4233 };
const API_TOKEN = randomBytes(24).toString('hex');
const GOALS = { drainRatio: 0.9, p99Ms: 1000, p99Rate: 1000 };

for (const [name, values] of [
  ['BENCH_DRAIN_PER_JOB', DRAIN_PER_JOB],
  ['BENCH_RATES', RATES],
] as const) {
  if (values.some((v) => !Number.isInteger(v) || v <= 0)) {
    throw new Error(`${name} must be comma-separated positive whole numbers`);
  }
}

const machine = await describeMachine();
console.log('machine', machine);
const database = await scratchDatabase('changes');
const databaseName = new URL(database.url).pathname.slice(1);
const redis = benchRedis();
const prefix = benchPrefix('chg');
const key = newEncryptionKey();
const handle = createDatabase(database.url, { max: 4 });
const { sql } = handle;
let seq = 0;

let cleaned: Promise<void> | undefined;
/** Stops every process this bench started and removes its database and queue keys, once. */
function cleanUp(): Promise<void> {
  cleaned ??= (async () => {
    await stopAll();
    await handle.close().catch(() => {});
    await dropPrefix(redis, prefix).catch(() => 0);
    redis.disconnect();
    await database.drop();
  })();
  return cleaned;
}
// Bounded in time, and interruptible: either way every child is stopped and the database dropped.
const watchdog = setTimeout(() => {
  console.error(`bench:changes: still running after BENCH_TIMEOUT_S=${TIMEOUT_S} s, stopping`);
  void cleanUp().finally(() => process.exit(1));
}, TIMEOUT_S * 1000);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanUp().finally(() => process.exit(130));
  });
}

const roleEnv = localRoleEnv({
  databaseUrl: database.url,
  prefix,
  encryptionKey: key.base64,
  apiToken: API_TOKEN,
  ports: PORTS,
});
const logFile = roleLogFile;

const startRole = (role: 'receiver' | 'api' | 'worker') =>
  startNode(`apps/${role}/src/server.ts`, roleEnv, {
    readyUrl: `http://127.0.0.1:${PORTS[role]}/healthz`,
    ...logFile(role),
  });

function delivery(hooks: BenchHook[]) {
  seq += 1;
  const hook = hooks[seq % hooks.length] as BenchHook;
  return { hook, seq, ...inviteeCreatedBody(hook.calendlyUserUri, seq) };
}

// --- The switch: the same worker, with its change rows and notifications dropped -------------

const NO_OUTBOX = 'calhook_bench_no_outbox';

/**
 * A schema of the bench's own whose `changes` takes inserts and drops them (a view with a DO
 * INSTEAD NOTHING rule: the INSERT ... SELECT that builds a snapshot is not run either) and
 * whose `pg_notify` does nothing. Nothing uses it until `recordChanges(false)` puts it first in
 * the search_path of sessions opened from then on.
 */
async function installSwitch() {
  await sql.unsafe(`
    create schema ${NO_OUTBOX};
    create view ${NO_OUTBOX}.changes as select * from public.changes;
    create rule drop_writes as on insert to ${NO_OUTBOX}.changes do instead nothing;
    create function ${NO_OUTBOX}.pg_notify(text, text) returns void language sql as $$ $$;`);
}

/** Sets whether sessions opened from now on record changes (a worker started after it). */
async function recordChanges(on: boolean) {
  await sql.unsafe(
    on
      ? `alter database "${databaseName}" reset search_path`
      : `alter database "${databaseName}" set search_path = ${NO_OUTBOX}, pg_catalog, public`,
  );
}

async function changeCount(): Promise<number> {
  const [row] = await sql<{ n: string }[]>`select count(*) as n from public.changes`;
  return Number(row?.n);
}

function drainRig(hooks: BenchHook[]): DrainRig {
  return {
    redis,
    prefix,
    sql,
    startWorker: () => startRole('worker'),
    nextDelivery() {
      const d = delivery(hooks);
      return {
        hookId: d.hook.hookId,
        connectionId: d.hook.connectionId,
        body: d.body,
        receivedAt: new Date().toISOString(),
      };
    },
  };
}

/** One drain with or without the outbox; fails if the switch did not do what it says. */
async function drain(hooks: BenchHook[], perJob: number, outbox: boolean) {
  await recordChanges(outbox);
  const before = await changeCount();
  try {
    const result = await workerDrain(drainRig(hooks), DRAIN_JOBS, perJob);
    const recorded = (await changeCount()) - before;
    const expected = outbox ? DRAIN_JOBS : 0;
    if (recorded !== expected) {
      throw new Error(
        `drain ${outbox ? 'with' : 'without'} the outbox recorded ${recorded} changes, expected ${expected}`,
      );
    }
    if (result.applied !== DRAIN_JOBS) {
      throw new Error(`drain applied ${result.applied} of ${DRAIN_JOBS} deliveries`);
    }
    return { ...result, recorded };
  } finally {
    await recordChanges(true);
    await dropQueue(redis, prefix, 'events');
  }
}

async function drainRounds(hooks: BenchHook[]) {
  const warm = await startRole('worker');
  await startUpReconcile(redis, prefix);
  await warm.stop();
  await installSwitch();
  const rows: {
    round: number;
    perJob: number;
    'with events/s': number;
    'without events/s': number;
    ratio: number;
    'with CPU µs/event': number;
    'without CPU µs/event': number;
    'CPU ratio': number;
    'with worker pg µs/event': number;
    'without worker pg µs/event': number;
    'changes recorded': string;
  }[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const perJob of DRAIN_PER_JOB) {
      // Alternating which goes first, so neither always runs on the warmer machine or the
      // smaller tables.
      const first = round % 2 === 1;
      const a = await drain(hooks, perJob, first);
      const b = await drain(hooks, perJob, !first);
      const [withOutbox, without] = first ? [a, b] : [b, a];
      const row = {
        round,
        perJob,
        'with events/s': withOutbox.eventsPerSecond,
        'without events/s': without.eventsPerSecond,
        ratio: round2(withOutbox.eventsPerSecond / without.eventsPerSecond),
        'with CPU µs/event': withOutbox.cpu.total,
        'without CPU µs/event': without.cpu.total,
        // Without over with, so that like the throughput ratio 1.0 is parity, higher is better.
        'CPU ratio': round2(without.cpu.total / withOutbox.cpu.total),
        // The worker's own Postgres backends: where recording a change costs, without the
        // machine's other work that the total (every Postgres process) takes in.
        'with worker pg µs/event': withOutbox.cpu.pgWorker,
        'without worker pg µs/event': without.cpu.pgWorker,
        'changes recorded': `${withOutbox.recorded} / ${without.recorded}`,
      };
      rows.push(row);
      console.log(
        JSON.stringify({
          round,
          perJob,
          first: first ? 'with' : 'without',
          with: withOutbox,
          without,
        }),
      );
    }
  }
  return rows;
}

// --- Lag: receiver 200 -> change read from the feed (and -> listed, the baseline) -------------

/**
 * Something that sees deliveries arrive somewhere an app looks: when each delivery's meeting
 * (by its Calendly event URI) was first seen there, on this process's performance.now() clock.
 * The change feed reader is one; lag to an app's webhook endpoint (a local server receiving
 * calhook's signed POSTs) is meant to be another, added beside it in `observers` below.
 */
interface LagObserver {
  name: string;
  seen: Map<string, number>;
  /** Figures of its own, printed beside the lag (pages read, ...). */
  stats(): Record<string, number>;
  stop(): Promise<void>;
}

/**
 * An app reading the feed: from the end (it first pages through what is already there), then
 * each page after `nextCursor`, at once while pages come back with changes, `FEED_IDLE_MS`
 * after an empty one.
 */
async function feedReader(): Promise<LagObserver> {
  const seen = new Map<string, number>();
  const api = `http://127.0.0.1:${PORTS.api}/v1/changes`;
  const headers = { authorization: `Bearer ${API_TOKEN}` };
  let cursor: string | undefined;
  let pages = 0;
  let changes = 0;
  let errors = 0;
  const page = async () => {
    const url = `${api}?limit=${FEED_PAGE}${cursor ? `&after=${encodeURIComponent(cursor)}` : ''}`;
    const res = await fetch(url, { headers });
    if (res.status !== 200) throw new Error(`GET /v1/changes answered ${res.status}`);
    const body = (await res.json()) as {
      changes: { type: string; data: { calendlyEventUri?: string } }[];
      nextCursor: string;
    };
    const at = performance.now();
    cursor = body.nextCursor;
    return { body, at };
  };
  // Catch up first: what earlier runs recorded is not lag.
  for (;;) {
    const { body } = await page();
    if (body.changes.length === 0) break;
  }
  let running = true;
  const loop = (async () => {
    while (running) {
      let got: Awaited<ReturnType<typeof page>>;
      try {
        got = await page();
      } catch {
        errors += 1; // the machine is saturated: the same cursor is read again
        await new Promise((r) => setTimeout(r, FEED_IDLE_MS));
        continue;
      }
      pages += 1;
      changes += got.body.changes.length;
      for (const change of got.body.changes) {
        const uri = change.data.calendlyEventUri;
        if (uri && !seen.has(uri)) seen.set(uri, got.at);
      }
      if (got.body.changes.length === 0) await new Promise((r) => setTimeout(r, FEED_IDLE_MS));
    }
  })();
  return {
    name: 'feed',
    seen,
    stats: () => ({ pages, 'changes/page': round2(changes / pages), 'read errors': errors }),
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Sends at `rate`/s for SECONDS; lag of every accepted delivery to each observer. */
async function lagRun(hooks: BenchHook[], rate: number, observers: LagObserver[]) {
  const sampleEvery = Math.max(1, Math.round(rate / SAMPLES_PER_S));
  const sender = deliverySender(`http://127.0.0.1:${PORTS.receiver}`);
  const listing = watchListed(`http://127.0.0.1:${PORTS.api}`, API_TOKEN);
  const accepted = new Map<string, number>();
  const statsBefore = observers.map((o) => o.stats());
  const sendSeconds = await openLoop(rate, SECONDS, () => {
    const d = delivery(hooks);
    const sampled = d.seq % sampleEvery === 0;
    if (sampled) {
      listing.watch(d.seq, { userId: d.hook.userId, start: d.start, sentAt: performance.now() });
    }
    sender.post(d.hook, d.body, (ok, at) => {
      if (ok) accepted.set(d.eventUri, at);
      if (sampled) {
        if (ok) listing.accepted(d.seq, at);
        else listing.forget(d.seq);
      }
    });
  });
  await sender.settle();
  sender.close();
  const arrivedEverywhere = () =>
    [...accepted.keys()].every((uri) => observers.every((o) => o.seen.has(uri)));
  const waitFrom = performance.now();
  while (!arrivedEverywhere() && performance.now() - waitFrom < GRACE_MS) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const { listed, lost } = await listing.finish(
    Math.max(0, GRACE_MS - (performance.now() - waitFrom)),
  );

  // A delivery can be seen a hair before its 200 reaches the sender: lag 0, counted apart.
  const lagsOf = (pairs: [number, number | undefined][]) => {
    const lags: number[] = [];
    let early = 0;
    for (const [acceptedAt, seenAt] of pairs) {
      if (seenAt === undefined) continue;
      if (seenAt < acceptedAt) early += 1;
      lags.push(Math.max(0, seenAt - acceptedAt));
    }
    return { lags, early };
  };
  const summary = (lags: number[]) => ({
    p50: Math.round(percentile(lags, 50)),
    p99: Math.round(percentile(lags, 99)),
    max: Math.round(lags.length === 0 ? Number.NaN : lags.reduce((a, b) => Math.max(a, b))),
  });
  const baseline = lagsOf(
    listed
      .filter((s) => s.acceptedAt !== undefined)
      .map((s) => [s.acceptedAt as number, s.listedAt]),
  );
  const result = {
    rate,
    sendSeconds: round2(sendSeconds),
    ...sender.counts,
    listing: {
      sampled: baseline.lags.length,
      lost,
      early: baseline.early,
      ...summary(baseline.lags),
    },
    observers: Object.fromEntries(
      observers.map((o, i) => {
        const { lags, early } = lagsOf([...accepted].map(([uri, at]) => [at, o.seen.get(uri)]));
        const after = o.stats();
        const before = statsBefore[i] ?? {};
        return [
          o.name,
          {
            seen: lags.length,
            missing: accepted.size - lags.length,
            early,
            ...summary(lags),
            pages: (after.pages ?? 0) - (before.pages ?? 0),
            'read errors': (after['read errors'] ?? 0) - (before['read errors'] ?? 0),
          },
        ];
      }),
    ),
  };
  // The next run starts with an empty queue (waiting at most 3 min).
  const events = benchQueue(redis, prefix, 'events');
  const waitStarted = Date.now();
  while (Date.now() - waitStarted < 180_000) {
    const counts = await events.getJobCounts('waiting', 'active');
    if (!counts.waiting && !counts.active) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await events.close();
  return result;
}

type LagResult = Awaited<ReturnType<typeof lagRun>>;

async function lagRounds(hooks: BenchHook[]) {
  const children = [await startRole('receiver'), await startRole('api'), await startRole('worker')];
  await startUpReconcile(redis, prefix);
  // Reading near the end of a longer feed may cost more: say how long it was.
  console.log(`the feed holds ${await changeCount()} changes as the lag runs start`);
  // Where lag to a local webhook endpoint joins: an observer receiving calhook's deliveries.
  const observers: LagObserver[] = [await feedReader()];
  const results: LagResult[] = [];
  try {
    for (let round = 1; round <= STEADY_ROUNDS; round += 1) {
      for (const rate of RATES) {
        const result = await lagRun(hooks, rate, observers);
        results.push(result);
        console.log(JSON.stringify({ round, ...result }));
      }
    }
  } finally {
    for (const observer of observers) await observer.stop();
    for (const child of children) await child.stop();
  }
  return results;
}

// --- The run ------------------------------------------------------------------------------

try {
  const hooks = await seedHooks(handle.db, key, HOOKS);
  console.log(`seeded ${HOOKS} hooks`);
  const summary: string[] = [];

  if (process.env.BENCH_SKIP_DRAIN !== '1') {
    const rows = await drainRounds(hooks);
    console.log(
      `\ningest drain with the outbox against without it: ${DRAIN_JOBS} deliveries a drain, ` +
        `${ROUNDS} rounds, WORKER_CONCURRENCY ${process.env.WORKER_CONCURRENCY ?? 'default'}`,
    );
    console.table(rows);
    for (const perJob of DRAIN_PER_JOB) {
      const mine = rows.filter((r) => r.perJob === perJob);
      const ratio = round2(median(mine.map((r) => r.ratio)));
      summary.push(
        `drain, ${perJob} per job: with the outbox ${median(mine.map((r) => r['with events/s']))} events/s, ` +
          `without ${median(mine.map((r) => r['without events/s']))} events/s; ` +
          `ratio median ${ratio} (goal >= ${GOALS.drainRatio}): ${ratio >= GOALS.drainRatio ? 'met' : 'NOT met'}; ` +
          `CPU µs/event ${median(mine.map((r) => r['with CPU µs/event']))} against ` +
          `${median(mine.map((r) => r['without CPU µs/event']))} (ratio ${round2(median(mine.map((r) => r['CPU ratio'])))}), ` +
          `of which the worker's Postgres backends ${median(mine.map((r) => r['with worker pg µs/event']))} against ` +
          `${median(mine.map((r) => r['without worker pg µs/event']))}`,
      );
    }
  }

  if (process.env.BENCH_SKIP_LAG !== '1') {
    const results = await lagRounds(hooks);
    console.log(
      `\nlag from the receiver's 200: ${SECONDS} s per rate, ${STEADY_ROUNDS} round(s) ` +
        '(medians over rounds); baseline: the same deliveries listed by GET /v1/users/:id/meetings',
    );
    const table = RATES.map((rate) => {
      const mine = results.filter((r) => r.rate === rate);
      const m = (pick: (r: LagResult) => number) => median(mine.map(pick));
      const row: Record<string, number> = {
        'rate /s': rate,
        accepted: m((r) => r.accepted),
        failed: mine.reduce((a, r) => a + r.failed, 0),
        'listed p50 ms': m((r) => r.listing.p50),
        'listed p99 ms': m((r) => r.listing.p99),
        'listed n': m((r) => r.listing.sampled),
      };
      for (const name of Object.keys(mine[0]?.observers ?? {})) {
        const o = (r: LagResult) => r.observers[name] as Record<string, number>;
        row[`${name} p50 ms`] = m((r) => o(r).p50 as number);
        row[`${name} p99 ms`] = m((r) => o(r).p99 as number);
        row[`${name} max ms`] = m((r) => o(r).max as number);
        row[`${name} missing`] = mine.reduce((a, r) => a + (o(r).missing as number), 0);
        row[`${name} p99 / listed p99`] = round2(
          m((r) => o(r).p99 as number) / m((r) => r.listing.p99),
        );
      }
      return row;
    });
    console.table(table);
    const goalRow = table.find((r) => r['rate /s'] === GOALS.p99Rate);
    if (goalRow) {
      const p99 = goalRow['feed p99 ms'] as number;
      const missing = goalRow['feed missing'] as number;
      summary.push(
        `feed lag at ${GOALS.p99Rate}/s: p99 ${p99} ms (p50 ${goalRow['feed p50 ms']} ms), ` +
          `listed p99 ${goalRow['listed p99 ms']} ms, ${missing} missing ` +
          `(goal p99 < ${GOALS.p99Ms} ms): ${p99 < GOALS.p99Ms && missing === 0 ? 'met' : 'NOT met'}`,
      );
    }
    for (const row of table.filter((r) => r !== goalRow)) {
      summary.push(
        `feed lag at ${row['rate /s']}/s: p99 ${row['feed p99 ms']} ms (p50 ${row['feed p50 ms']} ms), ` +
          `listed p99 ${row['listed p99 ms']} ms, ${row['feed missing']} missing`,
      );
    }
  }
  console.log(`\n${summary.join('\n')}`);
} finally {
  clearTimeout(watchdog);
  await cleanUp();
}
