// Reconcile at scale against the Calendly simulator (its own process). For each size (1,000
// then 10,000 connections): users are created at the simulator, their OAuth tokens issued and
// stored through @calhook/tokens, a first reconcile-all run (the real worker process) creates
// the subscriptions; then measured: a run with nothing to repair, and a run after 10% of the
// subscriptions were deleted at the simulator. Baseline, same run: the same
// GET /webhook_subscriptions calls made directly, at the worker's reconcile concurrency.
//
//   node bench/reconcile.ts                        # sizes 1000,10000; 3 rounds of each run
//   BENCH_SIZES=200 BENCH_ROUNDS=1 node bench/reconcile.ts   # a smoke run
//
// Env: DATABASE_URL, REDIS_URL, BENCH_SIZES, BENCH_ROUNDS, BENCH_REPAIR_FRACTION (0.1).
import { createCalendlyClient } from '../packages/calendly/src/index.ts';
import { createSimulatorControl } from '../packages/calendly-simulator/src/index.ts';
import { loadConfig } from '../packages/config/src/index.ts';
import { connectionRepo } from '../packages/db/src/index.ts';
import { createLogger } from '../packages/observability/src/index.ts';
import { createProducerRedis, createQueues } from '../packages/queue/src/index.ts';
import { createTokenService } from '../packages/tokens/src/index.ts';
import {
  benchPrefix,
  benchQueue,
  benchRedis,
  createDatabase,
  describeMachine,
  dropPrefix,
  median,
  newEncryptionKey,
  numberSetting,
  redisEnv,
  redisTarget,
  round1,
  round2,
  scratchDatabase,
  startNode,
  stopAll,
} from './lib.ts';

const SIZES = (process.env.BENCH_SIZES ?? '1000,10000').split(',').map(Number);
const ROUNDS = numberSetting('BENCH_ROUNDS', 3);
const REPAIR = numberSetting('BENCH_REPAIR_FRACTION', 0.1);
// The worker's reconcile queue concurrency (apps/worker/src/role.ts).
const CONCURRENCY = 5;
const SIM_PORT = 4301;
const WORKER_PORT = 4302;
const simUrl = `http://127.0.0.1:${SIM_PORT}`;

const machine = await describeMachine();
console.log('machine', machine);
const redis = benchRedis();
const logger = createLogger({ level: 'silent' });

async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

async function measureSize(size: number) {
  const database = await scratchDatabase('reconcile');
  const prefix = benchPrefix('rec');
  const key = newEncryptionKey();
  await startNode(
    'apps/simulator/src/main.ts',
    { SIM_PORT: String(SIM_PORT) },
    { readyUrl: `${simUrl}/_sim/state` },
  );
  const handle = createDatabase(database.url, { max: 10 });
  const env = {
    DATABASE_URL: database.url,
    ...redisEnv,
    QUEUE_PREFIX: prefix,
    ENCRYPTION_KEY: key.base64,
    HOST: '127.0.0.1',
    WORKER_PORT: String(WORKER_PORT),
    // Nothing listens here: subscriptions only need a URL of ours, no delivery is made.
    PUBLIC_URL: 'http://127.0.0.1:4399',
    CALENDLY_API_URL: simUrl,
    CALENDLY_AUTH_URL: simUrl,
    CALENDLY_CLIENT_ID: 'sim-client-id',
    CALENDLY_CLIENT_SECRET: 'sim-client-secret',
    CALENDLY_WEBHOOK_SIGNING_KEY: 'sim-app-signing-key',
    RECONCILE_EVERY: '1d',
    LOG_LEVEL: 'warn',
  };
  const config = loadConfig(env, ['worker']);
  const producer = createProducerRedis(redisTarget);
  const queues = createQueues(producer, prefix);
  const calendly = createCalendlyClient({
    apiUrl: simUrl,
    authUrl: simUrl,
    clientId: 'sim-client-id',
    clientSecret: 'sim-client-secret',
    logger,
  });
  const tokens = createTokenService({
    db: handle.db,
    sealer: key.sealer,
    calendly,
    queues,
    refreshBeforeExpiryMs: config.refreshBeforeExpiryMs,
    logger,
  });
  const control = createSimulatorControl(simUrl);
  const users: { uri: string; org: string; accessToken: string }[] = [];
  try {
    const seedStarted = performance.now();
    await pool(
      Array.from({ length: size }, (_, i) => i),
      20,
      async (i) => {
        const user = await control.createUser({
          name: `Bench ${i}`,
          email: `bench${i}@example.com`,
        });
        const set = await control.issueTokens(user.uri);
        const row = await connectionRepo.connectUser(
          handle.db,
          `bench-${i}`,
          { calendlyUserUri: user.uri, organizationUri: user.organizationUri },
          new Date(),
        );
        await tokens.storeTokens(handle.db, row.id, {
          accessToken: set.access_token,
          refreshToken: set.refresh_token,
          expiresAt: new Date(Date.now() + set.expires_in * 1000),
        });
        users.push({ uri: user.uri, org: user.organizationUri, accessToken: set.access_token });
      },
    );
    console.log(`size ${size}: seeded in ${round1((performance.now() - seedStarted) / 1000)} s`);

    const worker = await startNode('apps/worker/src/server.ts', env, {
      readyUrl: `http://127.0.0.1:${WORKER_PORT}/healthz`,
    });
    const reconcileQueue = benchQueue(redis, prefix, 'reconcile');
    const idle = async () => {
      for (;;) {
        const counts = await reconcileQueue.getJobCounts('waiting', 'active', 'prioritized');
        if (!counts.waiting && !counts.active && !counts.prioritized) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    /**
     * One reconcile-all run, timed from enqueue until every connection has recorded a reconcile
     * that started after it. Read from the database, not from job counts: the worker's own
     * scheduler also runs reconcile-all, and its jobs share the per-window ids.
     */
    const run = async () => {
      await idle();
      // Completed jobs keep their ids for an hour; cleaning them lets this run re-add them.
      await reconcileQueue.clean(0, 1_000_000, 'completed');
      const since = new Date();
      const started = performance.now();
      await queues.enqueue('reconcile-all', {});
      for (;;) {
        const [row] = await handle.sql<{ done: number }[]>`
          select count(*)::int as done from connections where last_reconciled_at >= ${since.toISOString()}`;
        if ((row?.done ?? 0) >= size) {
          const counts = await reconcileQueue.getJobCounts('failed', 'delayed');
          return {
            seconds: (performance.now() - started) / 1000,
            failed: counts.failed ?? 0,
            delayed: counts.delayed ?? 0,
          };
        }
        if (performance.now() - started > 900_000)
          throw new Error('reconcile run took over 15 min');
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const setup = await run();
    const subs = await control.subscriptions();
    console.log(
      `size ${size}: first run (creates subscriptions, backfills) ${round1(setup.seconds)} s, ${subs.length} subscriptions`,
    );

    const baseline = async () => {
      const started = performance.now();
      await pool(users, CONCURRENCY, async (u) => {
        await calendly.listWebhookSubscriptions(u.accessToken, {
          organization: u.org,
          scope: 'user',
          user: u.uri,
        });
      });
      return (performance.now() - started) / 1000;
    };

    const rounds: {
      round: number;
      clean: number;
      repair: number;
      baseline: number;
      repaired: number;
    }[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      const base = await baseline();
      const clean = await run();
      const all = await control.subscriptions();
      const victims = all.filter((s) => s.state === 'active').slice(0, Math.round(size * REPAIR));
      await pool(victims, 20, (s) => control.deleteSubscription(s.uri));
      const repair = await run();
      const after = (await control.subscriptions()).filter((s) => s.state === 'active').length;
      const row = {
        round,
        clean: Math.round(size / clean.seconds),
        repair: Math.round(size / repair.seconds),
        baseline: Math.round(size / base),
        repaired: after - (all.length - victims.length),
      };
      rounds.push(row);
      console.log(JSON.stringify({ size, ...row, failed: repair.failed, delayed: repair.delayed }));
    }
    await worker.stop();
    await reconcileQueue.close();
    return {
      size,
      'clean conn/s': median(rounds.map((r) => r.clean)),
      '10% repair conn/s': median(rounds.map((r) => r.repair)),
      'baseline GET/s': median(rounds.map((r) => r.baseline)),
      'clean / baseline': round2(median(rounds.map((r) => r.clean / r.baseline))),
      'repaired per run': median(rounds.map((r) => r.repaired)),
      'clean run s': round1(size / median(rounds.map((r) => r.clean))),
    };
  } finally {
    await stopAll();
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
  console.log(`\nreconcile: ${ROUNDS} rounds per size (medians), concurrency ${CONCURRENCY}`);
  console.table(results);
  const first = results[0];
  const last = results.at(-1);
  if (first && last && first !== last) {
    console.log(
      `cost growth ${first.size} -> ${last.size} connections: clean run time x${round2(last['clean run s'] / first['clean run s'])} ` +
        `for x${last.size / first.size} connections`,
    );
  }
} finally {
  await stopAll();
  redis.disconnect();
}
