// Reconcile at scale against a Calendly that answers slowly (the simulator, its own process,
// every API and OAuth call delayed by BENCH_LATENCY_MS). For each size: users are seeded at the
// simulator, connected in Postgres with their tokens, and a first reconcile (no latency, to
// keep the set-up short) creates their subscriptions and imports. Then, with the latency on
// and the real worker, receiver and api processes:
//   1. baseline: live deliveries at BENCH_LIVE_RATE/s for BENCH_LIVE_S s, no reconcile;
//   2. routine cycle: every connection reconciled (`reconcile-all`: all due at once, so the
//      time is the worker's capacity, not RECONCILE_EVERY), nothing to repair, nothing else
//      running: the cost per connection (worker CPU, Redis and Postgres bytes, Calendly calls);
//   3. repair cycle: BENCH_REPAIR_FRACTION of the subscriptions deleted at Calendly, every
//      connection reconciled while the same live deliveries run: the headline figure, and the
//      live p99 send -> visible against the baseline of (1).
// And in this process, on a sample of connections: Postgres statements and Calendly calls of
// one routine reconcile, counted exactly.
//
//   BENCH_SIZES=10000,100000 BENCH_LATENCY_MS=150 pnpm bench:reconcile
//   BENCH_SIZES=300 BENCH_LIVE_S=5 node bench/reconcile.ts        # a smoke run
//
// Env: DATABASE_URL, REDIS_URL, BENCH_SIZES (1000,10000), BENCH_LATENCY_MS (150),
// BENCH_REPAIR_FRACTION (0.1), BENCH_LIVE_RATE (200), BENCH_LIVE_S (30), BENCH_LOG_DIR.
import { randomBytes } from 'node:crypto';
import { createSimulatorControl } from '../packages/calendly-simulator/src/index.ts';
import { loadConfig } from '../packages/config/src/index.ts';
import { buildConnectionServices } from '../packages/connections/src/index.ts';
import { connectionRepo } from '../packages/db/src/index.ts';
import { createLogger } from '../packages/observability/src/index.ts';
import { createProducerRedis, createQueues } from '../packages/queue/src/index.ts';
import { createTokenService } from '../packages/tokens/src/index.ts';
import { signatureHeader } from '../packages/webhooks/src/index.ts';
import {
  benchPrefix,
  benchQueue,
  benchRedis,
  cpuSecondsOf,
  createDatabase,
  dataNodes,
  describeMachine,
  dropPrefix,
  infoSum,
  inviteeCreatedBody,
  mib,
  newEncryptionKey,
  percentile,
  redisCpuSeconds,
  redisEnv,
  redisTarget,
  roleLogFile,
  round1,
  round2,
  rssOf,
  scratchDatabase,
  startNode,
  stopAll,
} from './lib.ts';

function setting(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number >= ${min}`);
  return value;
}

const SIZES = (process.env.BENCH_SIZES ?? '1000,10000').split(',').map(Number);
for (const size of SIZES) {
  if (!Number.isInteger(size) || size < 10 || size > 100_000) {
    throw new Error('BENCH_SIZES must be whole numbers from 10 to 100000, comma-separated');
  }
}
const LATENCY_MS = setting('BENCH_LATENCY_MS', 150);
const REPAIR = setting('BENCH_REPAIR_FRACTION', 0.1);
const LIVE_RATE = setting('BENCH_LIVE_RATE', 200, 1);
const LIVE_S = setting('BENCH_LIVE_S', 30, 1);
/** Connections whose routine reconcile is counted statement by statement. */
const SAMPLE = 200;
/** A cycle that has not finished after this long stops the bench with an error. */
const CYCLE_LIMIT_S = setting('BENCH_CYCLE_LIMIT_S', 1_800, 1);
const PORTS = { sim: 4301, worker: 4302, receiver: 4303, api: 4304 };
const simUrl = `http://127.0.0.1:${PORTS.sim}`;
const API_TOKEN = randomBytes(24).toString('hex');
const APP_SIGNING_KEY = 'sim-app-signing-key';

const machine = await describeMachine();
console.log('machine', machine);
const redis = benchRedis();
const logger = createLogger({ level: 'silent' });
const logFile = roleLogFile;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

interface LiveHook {
  hookId: string;
  userId: string;
  calendlyUserUri: string;
}

/**
 * Sends deliveries at `rate`/s for `seconds` (open loop: a slow answer never slows the sender)
 * signed with the app key, and samples ten a second for send -> visible in the meetings API.
 */
async function live(hooks: LiveHook[], rate: number, seconds: number, seqBase: number) {
  const sampleEvery = Math.max(1, Math.round(rate / 10));
  const latencies: number[] = [];
  const pending = new Map<number, { userId: string; start: Date; sentAt: number }>();
  let sent = 0;
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  const send = () => {
    const seq = seqBase + sent;
    const hook = hooks[seq % hooks.length] as LiveHook;
    const { body, start } = inviteeCreatedBody(hook.calendlyUserUri, seq);
    const sentAt = performance.now();
    if (seq % sampleEvery === 0) pending.set(seq, { userId: hook.userId, start, sentAt });
    sent += 1;
    const t = Math.floor(Date.now() / 1000);
    const p = fetch(`http://127.0.0.1:${PORTS.receiver}/webhooks/calendly/${hook.hookId}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'calendly-webhook-signature': signatureHeader(APP_SIGNING_KEY, t, body),
      },
      body,
    })
      .then(async (res) => {
        await res.arrayBuffer();
        if (res.status !== 200) {
          failed += 1;
          pending.delete(seq);
        }
      })
      .catch(() => {
        failed += 1;
        pending.delete(seq);
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  const begun = performance.now();
  const total = Math.round(rate * seconds);
  const sender = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const owed = Math.min(total, Math.floor(((performance.now() - begun) / 1000) * rate));
      while (sent < owed) send();
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  let sending = true;
  const poller = (async () => {
    while (sending || pending.size > 0) {
      const due = [...pending].slice(0, 8);
      await Promise.all(
        due.map(async ([seq, p]) => {
          const from = p.start.toISOString();
          const to = new Date(p.start.getTime() + 1000).toISOString();
          const res = await fetch(
            `http://127.0.0.1:${PORTS.api}/v1/users/${p.userId}/meetings?from=${from}&to=${to}&limit=1`,
            { headers: { authorization: `Bearer ${API_TOKEN}` } },
          ).catch(() => undefined);
          if (!res) return;
          const found = (await res.json().catch(() => ({}))) as { meetings?: unknown[] };
          if (res.status === 200 && found.meetings?.length && pending.has(seq)) {
            latencies.push(performance.now() - p.sentAt);
            pending.delete(seq);
          }
        }),
      );
      await sleep(20);
      // A sample still missing 60 s after sending stopped counts as lost, not as a latency.
      if (!sending && performance.now() - begun > (seconds + 60) * 1000) break;
    }
  })();
  await sender;
  await Promise.all([...inFlight]);
  sending = false;
  await poller;
  return {
    sent,
    failed,
    sampled: latencies.length,
    lost: pending.size,
    p50: Math.round(percentile(latencies, 50)),
    p99: Math.round(percentile(latencies, 99)),
  };
}

async function measureSize(size: number) {
  const database = await scratchDatabase('reconcile');
  const prefix = benchPrefix('rec');
  const key = newEncryptionKey();
  const handle = createDatabase(database.url, { max: 10 });
  const { sql } = handle;
  const env = {
    DATABASE_URL: database.url,
    ...redisEnv,
    QUEUE_PREFIX: prefix,
    ENCRYPTION_KEY: key.base64,
    API_TOKEN,
    HOST: '127.0.0.1',
    WORKER_PORT: String(PORTS.worker),
    RECEIVER_PORT: String(PORTS.receiver),
    API_PORT: String(PORTS.api),
    PUBLIC_URL: `http://127.0.0.1:${PORTS.receiver}`,
    CALENDLY_API_URL: simUrl,
    CALENDLY_AUTH_URL: simUrl,
    CALENDLY_CLIENT_ID: 'sim-client-id',
    CALENDLY_CLIENT_SECRET: 'sim-client-secret',
    CALENDLY_WEBHOOK_SIGNING_KEY: APP_SIGNING_KEY,
    // The cycles below are started by `reconcile-all`; the schedule's own sweep covers a few
    // seconds of a long cycle each time and stays out of the way.
    RECONCILE_EVERY: '3650d',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  };
  const config = loadConfig(env);
  const producer = createProducerRedis(redisTarget);
  const queues = createQueues(producer, prefix);
  const reconcileQueue = benchQueue(redis, prefix, 'reconcile');
  const sim = await startNode(
    'apps/simulator/src/main.ts',
    { SIM_PORT: String(PORTS.sim) },
    { readyUrl: `${simUrl}/_sim/state`, ...logFile('simulator') },
  );
  const control = createSimulatorControl(simUrl);
  try {
    // Seeding: the simulator's users in chunks, then each connection stored with its tokens
    // through the tables' owners.
    const seedStarted = performance.now();
    const users: { uri: string; org: string; access: string; refresh: string }[] = [];
    for (let done = 0; done < size; done += 10_000) {
      const seeded = await control.createUsers({ count: Math.min(10_000, size - done) });
      for (const [i, uri] of seeded.users.entries()) {
        users.push({
          uri,
          org: seeded.organizations[i] as string,
          access: seeded.accessTokens[i] as string,
          refresh: seeded.refreshTokens?.[i] as string,
        });
      }
    }
    const simRssSeeded = rssOf(sim.pid);
    const calendly = (await import('../packages/calendly/src/index.ts')).createCalendlyClient({
      apiUrl: simUrl,
      authUrl: simUrl,
      clientId: 'sim-client-id',
      clientSecret: 'sim-client-secret',
    });
    const tokens = createTokenService({
      db: handle.db,
      sealer: key.sealer,
      calendly,
      queues,
      refreshBeforeExpiryMs: config.refreshBeforeExpiryMs,
      logger,
    });
    await pool(
      users.map((u, i) => ({ u, i })),
      16,
      async ({ u, i }) => {
        const row = await connectionRepo.connectUser(
          handle.db,
          `bench-${i}`,
          { calendlyUserUri: u.uri, organizationUri: u.org },
          new Date(),
        );
        await tokens.storeTokens(handle.db, row.id, {
          accessToken: u.access,
          refreshToken: u.refresh,
          expiresAt: new Date(Date.now() + 7_200_000),
        });
      },
    );
    await calendly.close();
    console.log(
      `size ${size}: seeded in ${round1((performance.now() - seedStarted) / 1000)} s, simulator RSS ${mib(simRssSeeded)} MiB`,
    );

    const worker = await startNode('apps/worker/src/server.ts', env, {
      readyUrl: `http://127.0.0.1:${PORTS.worker}/healthz`,
      ...logFile('worker'),
    });
    await startNode('apps/receiver/src/server.ts', env, {
      readyUrl: `http://127.0.0.1:${PORTS.receiver}/healthz`,
      ...logFile('receiver'),
    });
    await startNode('apps/api/src/server.ts', env, {
      readyUrl: `http://127.0.0.1:${PORTS.api}/healthz`,
      ...logFile('api'),
    });

    const workerMetrics = async () =>
      (await fetch(`http://127.0.0.1:${PORTS.worker}/metrics`)).text();
    /**
     * The worker's own count and seconds of `reconcile-connection` runs by outcome (its
     * /metrics), so a cycle's figures say where its time went: runs in flight × seconds a run.
     */
    const reconcileRuns = async () => {
      const text = await workerMetrics();
      const runs: Record<string, { count: number; seconds: number }> = {};
      for (const line of text.split('\n')) {
        const m = line.match(
          /^calhook_job_duration_seconds_(count|sum)\{job="reconcile-connection",outcome="(\w+)"\} (\S+)$/,
        );
        if (!m) continue;
        const outcome = m[2] as string;
        const entry = runs[outcome] ?? { count: 0, seconds: 0 };
        runs[outcome] = entry;
        if (m[1] === 'count') entry.count = Number(m[3]);
        else entry.seconds = Number(m[3]);
      }
      return runs;
    };
    const runsSince = async (
      before: Awaited<ReturnType<typeof reconcileRuns>>,
      seconds: number,
    ) => {
      const after = await reconcileRuns();
      const summary: Record<string, string> = {};
      for (const [outcome, { count, seconds: total }] of Object.entries(after)) {
        const n = count - (before[outcome]?.count ?? 0);
        const s = total - (before[outcome]?.seconds ?? 0);
        if (n > 0) summary[outcome] = `${n} runs, mean ${Math.round((s / n) * 1000)} ms`;
      }
      const busy = Object.entries(after).reduce(
        (sum, [o, { seconds: total }]) => sum + total - (before[o]?.seconds ?? 0),
        0,
      );
      return { ...summary, 'runs in flight (mean)': round1(busy / seconds) };
    };

    /** The worker's ingest lag histogram (receipt to stored): cumulative count per bucket. */
    const ingestLag = async () => {
      const buckets = new Map<string, number>();
      for (const m of (await workerMetrics()).matchAll(
        /^calhook_ingest_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm,
      )) {
        buckets.set(m[1] as string, Number(m[2]));
      }
      return buckets;
    };
    /** The bucket bounds holding the 50th and 99th percentile of the lag since `before`. */
    const ingestLagSince = async (before: Map<string, number>) => {
      const after = await ingestLag();
      const total = (after.get('+Inf') ?? 0) - (before.get('+Inf') ?? 0);
      const bound = (q: number) => {
        for (const [le, count] of after) {
          if (count - (before.get(le) ?? 0) >= q * total)
            return le === '+Inf' ? '> 60 s' : `<= ${le} s`;
        }
        return 'none';
      };
      return { 'worker ingest lag p50': bound(0.5), 'worker ingest lag p99': bound(0.99) };
    };

    /** One cycle: every active connection reconciled since it began, the queue idle. */
    const cycle = async (label: string) => {
      const since = new Date();
      const started = performance.now();
      const runsBefore = await reconcileRuns();
      await queues.enqueue('reconcile-all', {});
      // The worker's limit on scheduled runs, sampled each second (it shrinks while ingest lags).
      const limits: number[] = [];
      for (;;) {
        await sleep(1_000);
        const limit = (await workerMetrics()).match(/^calhook_background_runs_limit (\S+)$/m);
        if (limit) limits.push(Number(limit[1]));
        const [row] = await sql<{ done: number }[]>`
          select count(*)::int as done from connections
          where status = 'active' and last_reconciled_at >= ${since.toISOString()}`;
        const counts = await reconcileQueue.getJobCounts(
          'waiting',
          'active',
          'delayed',
          'prioritized',
        );
        const busy = Object.values(counts).reduce((a, b) => a + b, 0);
        if ((row?.done ?? 0) >= size && busy === 0) break;
        if (performance.now() - started > CYCLE_LIMIT_S * 1000) {
          throw new Error(`${label} cycle of ${size} unfinished after ${CYCLE_LIMIT_S} s`);
        }
      }
      const seconds = (performance.now() - started) / 1000;
      const failed = (await reconcileQueue.getJobCounts('failed')).failed ?? 0;
      console.log(
        JSON.stringify({
          size,
          cycle: label,
          ...(await runsSince(runsBefore, seconds)),
          'run limit min/median/max': [
            Math.min(...limits),
            percentile(limits, 50),
            Math.max(...limits),
          ].join('/'),
        }),
      );
      return { seconds, failed };
    };

    // Set-up: subscriptions created and first imports, without latency.
    const setup = await cycle('set-up');
    console.log(`size ${size}: set-up cycle (creates subscriptions) ${round1(setup.seconds)} s`);
    await control.latency({ latencyMs: LATENCY_MS });

    const hooks = await sql<LiveHook[]>`
      select h.id as "hookId", c.user_id as "userId", c.calendly_user_uri as "calendlyUserUri"
      from webhook_hooks h join connections c on c.id = h.connection_id
      where h.state = 'active' limit 2000`;

    // 1. Live deliveries alone, after a few seconds of the same to warm the roles up.
    await live(hooks, LIVE_RATE, Math.min(5, LIVE_S), 20_000_000);
    const lagBefore = await ingestLag();
    const baseline = await live(hooks, LIVE_RATE, LIVE_S, 0);
    console.log(
      JSON.stringify({
        size,
        live: 'without reconcile',
        ...baseline,
        ...(await ingestLagSince(lagBefore)),
      }),
    );

    // 2. A routine cycle, alone: its cost per connection. The deliveries of (1) are all
    // ingested first, so none of their work is counted here.
    const eventsQueue = benchQueue(redis, prefix, 'events');
    for (;;) {
      const counts = await eventsQueue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      if (Object.values(counts).every((n) => n === 0)) break;
      await sleep(500);
    }
    await eventsQueue.close();
    const calls = async () =>
      Object.values(await control.requests()).reduce((n, c) => n + c.total, 0);
    const wal = async () => {
      const [row] = await sql<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`;
      const [hi, lo] = (row?.lsn ?? '0/0').split('/').map((part) => Number.parseInt(part, 16));
      return (hi ?? 0) * 2 ** 32 + (lo ?? 0);
    };
    /** Bytes held by this run's own keys (the Redis may be shared: INFO memory is not). */
    const keptBytes = async () => {
      let total = 0;
      for (const node of dataNodes(redis)) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          const pipeline = node.pipeline();
          for (const k of keys) pipeline.memory('USAGE', k);
          for (const [, bytes] of (await pipeline.exec()) ?? []) total += Number(bytes ?? 0);
        } while (cursor !== '0');
      }
      return total;
    };
    const netBytes = async () =>
      (await infoSum(redis, 'stats', 'total_net_input_bytes')) +
      (await infoSum(redis, 'stats', 'total_net_output_bytes'));
    // Rows this database wrote (its own counters, unlike WAL, which is the whole server's).
    const rowsWritten = async () => {
      const [row] = await sql<{ n: string }[]>`
        select tup_inserted + tup_updated + tup_deleted as n from pg_stat_database
        where datname = current_database()`;
      return Number(row?.n ?? 0);
    };
    const before = {
      worker: cpuSecondsOf(worker.pid),
      rows: await rowsWritten(),
      redisCpu: await redisCpuSeconds(redis),
      redisNet: await netBytes(),
      redisKept: await keptBytes(),
      wal: await wal(),
      calls: await calls(),
    };
    const routine = await cycle('routine');
    const per = (n: number) => n / size;
    const cost = {
      'worker CPU ms/conn': round2(per((cpuSecondsOf(worker.pid) - before.worker) * 1000)),
      'Postgres rows written/conn': round2(per((await rowsWritten()) - before.rows)),
      'Redis CPU ms/conn (whole server)': round2(
        per(((await redisCpuSeconds(redis)) - before.redisCpu) * 1000),
      ),
      'Redis bytes/conn (traffic, whole server)': Math.round(
        per((await netBytes()) - before.redisNet),
      ),
      'Redis bytes/conn (kept, own keys)': Math.round(per((await keptBytes()) - before.redisKept)),
      'Postgres WAL bytes/conn (whole server)': Math.round(per((await wal()) - before.wal)),
      'Calendly calls/conn': round2(per((await calls()) - before.calls)),
    };
    console.log(
      JSON.stringify({ size, cycle: 'routine', seconds: round1(routine.seconds), ...cost }),
    );

    // In this process: one routine reconcile's statements and Calendly calls, counted.
    let statements = 0;
    const counted = createDatabase(database.url, { max: 10, onStatement: () => statements++ });
    const services = buildConnectionServices({ config, db: counted.db, queues, logger });
    const sample = await sql<{ id: string }[]>`
      select id from connections where status = 'active' order by random() limit ${SAMPLE}`;
    const callsBefore = await calls();
    await pool(sample, 20, async ({ id }) => {
      await services.connections.reconcile(id, 'scheduled');
    });
    const perReconcile = {
      'statements/routine reconcile': round2(statements / sample.length),
      'Calendly calls/routine reconcile': round2(((await calls()) - callsBefore) / sample.length),
    };
    await services.close();
    await counted.close();

    // 3. The cycle with repairs, while live deliveries run.
    const all = (await control.subscriptions()).filter((s) => s.state === 'active');
    const victims = all.slice(0, Math.round(size * REPAIR));
    await control.latency({ latencyMs: 0 });
    await pool(victims, 20, (s) => control.deleteSubscription(s.uri));
    await control.latency({ latencyMs: LATENCY_MS });
    const lagBeforeRepair = await ingestLag();
    const repairCycle = cycle('repair');
    const during = {
      ...(await live(hooks, LIVE_RATE, LIVE_S, 10_000_000)),
      ...(await ingestLagSince(lagBeforeRepair)),
    };
    const repair = await repairCycle;
    const after = (await control.subscriptions()).filter((s) => s.state === 'active').length;
    const rateLimited = Object.values(await control.requests()).reduce(
      (n, c) => n + c.rateLimited,
      0,
    );
    console.log(JSON.stringify({ size, live: 'during reconcile', ...during }));
    const rate = size / repair.seconds;
    const result = {
      size,
      'cycle s': round1(repair.seconds),
      'conn/s': Math.round(rate),
      repaired: after - (all.length - victims.length),
      'failed jobs': repair.failed,
      'Calendly 429s': rateLimited,
      'routine cycle s': round1(routine.seconds),
      ...cost,
      ...perReconcile,
      'live p99 ms (no reconcile)': baseline.p99,
      'live p99 ms (during reconcile)': during.p99,
      'live p99 ratio': round2(during.p99 / baseline.p99),
      'simulator RSS MiB': mib(Math.max(simRssSeeded, rssOf(sim.pid))),
    };
    console.log(JSON.stringify(result));
    console.log(
      `reconcile ${size} connections, latency ${LATENCY_MS} ms: ${round1(repair.seconds)} s, ${Math.round(rate)} connections/s`,
    );
    return result;
  } finally {
    await stopAll();
    await reconcileQueue.close();
    await queues.close();
    producer.disconnect();
    await handle.close();
    await dropPrefix(redis, prefix).catch(() => 0);
    await database.drop();
  }
}

try {
  const results = [];
  for (const size of SIZES) results.push(await measureSize(size));
  console.log(
    `\nreconcile with ${LATENCY_MS} ms Calendly latency, ${REPAIR * 100}% to repair, live ${LIVE_RATE}/s during the cycle`,
  );
  console.table(results);
  for (const r of results) {
    console.log(
      `reconcile ${r.size} connections, latency ${LATENCY_MS} ms: ${r['cycle s']} s, ${r['conn/s']} connections/s`,
    );
  }
} finally {
  await stopAll();
  redis.disconnect();
}
