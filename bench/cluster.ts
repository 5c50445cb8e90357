// Redis Cluster against a single Redis, in the same run: the real receiver role's throughput
// and the real worker role's drain, on
//   single     one redis-server, QUEUE_SHARDS=1 (the baseline of every ratio)
//   single-3   the same Redis, QUEUE_SHARDS=3 (what sharding costs without a Cluster)
//   cluster-1  a 3-master Redis Cluster, QUEUE_SHARDS=1
//   cluster-3  the same Cluster, QUEUE_SHARDS=3 (one shard per master)
// Every Redis is this bench's own, started here with the same settings (no persistence: the
// queue's cost, not the disk's), so CPU is counted per process from /proc for all of them;
// Postgres CPU is that of the worker's own backends (the machine's Postgres serves other work).
// Rounds rotate the order; ratios are medians of per-round ratios. On 2 cores every Redis
// process shares the same 2 cores with the load generator, the role and Postgres: the Cluster
// cannot be faster here, and the figures that carry to N machines are the CPU µs per event of
// each part. The scaling model at the end is computed from them.
//
//   node bench/cluster.ts                 # 3 rounds, 10 s of receiver load, 20,000 to drain
//   BENCH_ROUNDS=1 BENCH_DURATION_S=5 BENCH_DRAIN_JOBS=4000 node bench/cluster.ts  # smoke
//
// Env: DATABASE_URL (a server; a bench database is created and dropped), BENCH_HOOKS (1000),
// BENCH_ROUNDS, BENCH_DURATION_S, BENCH_WARMUP_S, BENCH_CONNECTIONS (16), BENCH_DRAIN_JOBS
// (deliveries per drain, 8 to a job as the receiver queues them), BENCH_CONFIGS
// (default single,single-3,cluster-1,cluster-3), BENCH_TARGET_EVENTS (10000, for the model).
import { spawnSync } from 'node:child_process';
import autocannon from 'autocannon';
import {
  createProducerRedis,
  createQueues,
  createWorkerRedis,
  jobQueueName,
  type QueuedDelivery,
  type RedisConnection,
  type RedisTarget,
} from '../packages/queue/src/index.ts';
import { startRedisCluster } from '../packages/testing/src/redis-cluster.ts';
import { freePort, startScratchRedis } from '../packages/testing/src/redis-server.ts';
import { signatureHeader } from '../packages/webhooks/src/index.ts';
import {
  type BenchHook,
  backendsSpent,
  cpuSecondsOf,
  createDatabase,
  inviteeCreatedBody,
  median,
  newEncryptionKey,
  numberSetting,
  round1,
  round2,
  scratchDatabase,
  seedHooks,
  serverUrl,
  startNode,
  stopAll,
  workerBackendsCpu,
} from './lib.ts';

const HOOKS = numberSetting('BENCH_HOOKS', 1000);
const ROUNDS = numberSetting('BENCH_ROUNDS', 3);
const DURATION_S = numberSetting('BENCH_DURATION_S', 10);
const WARMUP_S = numberSetting('BENCH_WARMUP_S', 2);
const CONNECTIONS = numberSetting('BENCH_CONNECTIONS', 16);
const DRAIN_JOBS = numberSetting('BENCH_DRAIN_JOBS', 20_000);
const PER_JOB = 8;
const TARGET_EVENTS = numberSetting('BENCH_TARGET_EVENTS', 10_000);
// Free ports, not fixed ones: other benches and test runs may be listening on this machine.
const PORTS = { receiver: await freePort(), worker: await freePort() };

type ConfigName = 'single' | 'single-3' | 'cluster-1' | 'cluster-3';
const allConfigs: ConfigName[] = ['single', 'single-3', 'cluster-1', 'cluster-3'];
const configNames = (process.env.BENCH_CONFIGS ?? allConfigs.join(',')).split(',') as ConfigName[];
for (const name of configNames) {
  if (!allConfigs.includes(name)) throw new Error(`BENCH_CONFIGS: unknown "${name}"`);
}

interface Config {
  name: ConfigName;
  target: RedisTarget;
  shards: number;
  env: Record<string, string>;
  /** redis-server processes whose CPU this config spends. */
  redisPids: number[];
  /** Empties every node (the bench's own servers). */
  flush(): Promise<void>;
}

const redisVersion = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
console.log('machine', {
  nproc: String((await import('node:os')).cpus().length),
  node: process.version,
  redis: /v=(\S+)/.exec(redisVersion)?.[1] ?? redisVersion,
  postgres: serverUrl.replace(/\/\/[^@]*@/, '//'),
});

const single = await startScratchRedis();
const cluster = await startRedisCluster({ masters: 3 });
const masters = await cluster.masters();
const database = await scratchDatabase('cluster');
const key = newEncryptionKey();
const handle = createDatabase(database.url, { max: 4 });
const { sql } = handle;

const flushNodes = async (urls: string[]) => {
  for (const url of urls) {
    const admin = createWorkerRedis(url);
    await admin.flushall();
    admin.disconnect();
  }
};
const configOf = (name: ConfigName): Config => {
  const shards = name.endsWith('-3') ? 3 : 1;
  const onCluster = name.startsWith('cluster');
  const target: RedisTarget = onCluster
    ? { kind: 'cluster', nodes: masters.map((m) => m.url) }
    : { kind: 'single', url: single.url };
  return {
    name,
    target,
    shards,
    env: {
      ...(target.kind === 'cluster'
        ? { REDIS_CLUSTER_NODES: target.nodes.join(',') }
        : { REDIS_URL: target.url }),
      QUEUE_SHARDS: String(shards),
      QUEUE_PREFIX: `bench${name.replace('-', '')}`,
    },
    redisPids: onCluster ? masters.map((m) => m.process.pid ?? 0) : [single.process.pid ?? 0],
    flush: () => flushNodes(onCluster ? masters.map((m) => m.url) : [single.url]),
  };
};
const configs = configNames.map(configOf);

const redisCpu = (config: Config) =>
  config.redisPids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);

const roleEnv = (config: Config) => ({
  DATABASE_URL: database.url,
  ENCRYPTION_KEY: key.base64,
  HOST: '127.0.0.1',
  RECEIVER_PORT: String(PORTS.receiver),
  WORKER_PORT: String(PORTS.worker),
  // No Calendly here: reconcile and refresh jobs must fail fast locally, never leave the host.
  CALENDLY_API_URL: 'http://127.0.0.1:9',
  CALENDLY_AUTH_URL: 'http://127.0.0.1:9',
  RECONCILE_EVERY: '1d',
  LOG_LEVEL: 'info',
  NODE_ENV: 'production',
  ...config.env,
});

interface ReceiverSample {
  config: ConfigName;
  round: number;
  rps: number;
  p50: number;
  p99: number;
  receiverUs: number;
  redisUs: number;
  meanBatch: number;
  non2xx: number;
}
interface DrainSample {
  config: ConfigName;
  round: number;
  eventsPerSecond: number;
  workerUs: number;
  redisUs: number;
  postgresUs: number;
}
const receiverSamples: ReceiverSample[] = [];
const drainSamples: DrainSample[] = [];

let seq = 0;
const MARK = 'ZZMARKZZ';

try {
  const hooks = await seedHooks(handle.db, key, HOOKS);
  // Per hook, one body split around its unique id: a request only splices in a sequence
  // number and signs, so the load generator spends its CPU on sending, not on JSON.
  const parts = hooks.map((hook) => {
    const { body } = inviteeCreatedBody(hook.calendlyUserUri, 0);
    const id = /scheduled_events\/EV([0-9A-Z]+[0-9a-f]{8})/.exec(body)?.[1] ?? '';
    return { hook, pieces: body.split(id).join(MARK).split(MARK) };
  });
  const setupRequest = (request: autocannon.Request): autocannon.Request => {
    seq += 1;
    const entry = parts[seq % parts.length];
    if (!entry) return request;
    const body = entry.pieces.join(`${seq.toString(36)}R${process.pid}`);
    return {
      ...request,
      method: 'POST',
      path: `/webhooks/calendly/${entry.hook.hookId}`,
      headers: {
        'content-type': 'application/json',
        'calendly-webhook-signature': signatureHeader(
          entry.hook.signingKey,
          Math.floor(Date.now() / 1000),
          body,
        ),
      },
      body,
    };
  };
  const load = (seconds: number) =>
    autocannon({
      url: `http://127.0.0.1:${PORTS.receiver}`,
      connections: CONNECTIONS,
      duration: seconds,
      requests: [{ setupRequest }],
    });

  async function receiverRound(config: Config, round: number) {
    const child = await startNode('apps/receiver/src/server.ts', roleEnv(config), {
      readyUrl: `http://127.0.0.1:${PORTS.receiver}/readyz`,
    });
    await waitReady(`http://127.0.0.1:${PORTS.receiver}/readyz`);
    await load(WARMUP_S);
    const before = [cpuSecondsOf(child.pid), redisCpu(config)] as const;
    const result = await load(DURATION_S);
    const after = [cpuSecondsOf(child.pid), redisCpu(config)] as const;
    const us = (i: 0 | 1) =>
      Math.round(((after[i] - before[i]) * 1e6) / Math.max(1, result.requests.total));
    const metrics = await (await fetch(`http://127.0.0.1:${PORTS.receiver}/metrics`)).text();
    const value = (name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? Number.NaN);
    await child.stop();
    const sample: ReceiverSample = {
      config: config.name,
      round,
      rps: Math.round(result.requests.average),
      p50: result.latency.p50,
      p99: result.latency.p99,
      receiverUs: us(0),
      redisUs: us(1),
      meanBatch: round1(
        value('calhook_webhook_enqueue_batch_size_sum') /
          value('calhook_webhook_enqueue_batch_size_count'),
      ),
      non2xx: result.non2xx + result.errors + result.timeouts,
    };
    receiverSamples.push(sample);
    console.log(JSON.stringify({ receiver: sample }));
    await config.flush();
  }

  /** Queues `count` deliveries, 8 to a job, each job in the shard of its connections. */
  async function preload(queues: ReturnType<typeof createQueues>, count: number, shards: number) {
    const byShard = new Map<string, QueuedDelivery[]>();
    for (let i = 0; i < count; i++) {
      seq += 1;
      const hook = hooks[seq % hooks.length] as BenchHook;
      const d: QueuedDelivery = {
        hookId: hook.hookId,
        connectionId: hook.connectionId,
        body: inviteeCreatedBody(hook.calendlyUserUri, seq).body,
        receivedAt: new Date().toISOString(),
      };
      const shard = jobQueueName('ingest-deliveries', { deliveries: [d] }, shards);
      const list = byShard.get(shard) ?? [];
      list.push(d);
      byShard.set(shard, list);
    }
    for (const deliveries of byShard.values()) {
      const payloads = [];
      for (let i = 0; i < deliveries.length; i += PER_JOB) {
        payloads.push({ deliveries: deliveries.slice(i, i + PER_JOB) });
      }
      for (let i = 0; i < payloads.length; i += 500) {
        await queues.enqueueBulk('ingest-deliveries', payloads.slice(i, i + 500));
      }
    }
  }

  async function drainRound(config: Config, round: number | 'warm-up', count: number) {
    const producer = createProducerRedis(config.target);
    const queues = createQueues(producer, config.env.QUEUE_PREFIX as string, {
      shards: config.shards,
    });
    try {
      await waitConnected(producer);
      const [last] = await sql<{ id: string | null }[]>`select max(id) as id from event_inbox`;
      const after = Number(last?.id ?? 0);
      await preload(queues, count, config.shards);
      // Paused until the worker is up, so its start-up is neither timed nor counted as CPU.
      for (const queue of queues.shardsOf('events')) await queue.pause();
      const worker = await startNode('apps/worker/src/server.ts', roleEnv(config), {
        readyUrl: `http://127.0.0.1:${PORTS.worker}/healthz`,
      });
      if (round === 'warm-up') {
        // The first start reconciles every connection (failing fast, no Calendly here).
        await until(async () => {
          const counts = await queues.get('reconcile').getJobCounts('waiting', 'active');
          return (counts.waiting ?? 0) + (counts.active ?? 0) === 0;
        }, 180_000);
      }
      const before = {
        worker: cpuSecondsOf(worker.pid),
        redis: redisCpu(config),
        postgres: await workerBackendsCpu(sql),
      };
      for (const queue of queues.shardsOf('events')) await queue.resume();
      await until(async () => {
        const [row] = await sql<{ n: string }[]>`
          select count(*) as n from event_inbox where id > ${after} and processed_at is not null`;
        return Number(row?.n) >= count;
      }, 600_000);
      const spent = {
        worker: cpuSecondsOf(worker.pid) - before.worker,
        redis: redisCpu(config) - before.redis,
        postgres: backendsSpent(before.postgres, await workerBackendsCpu(sql)),
      };
      await worker.stop();
      const [span] = await sql<{ seconds: number }[]>`
        select extract(epoch from max(processed_at) - min(processed_at))::float8 as seconds
        from event_inbox where id > ${after}`;
      if (round === 'warm-up') return;
      const us = (seconds: number) => Math.round((seconds * 1e6) / count);
      const sample: DrainSample = {
        config: config.name,
        round,
        eventsPerSecond: Math.round(count / (span?.seconds ?? Number.NaN)),
        workerUs: us(spent.worker),
        redisUs: us(spent.redis),
        postgresUs: us(spent.postgres),
      };
      drainSamples.push(sample);
      console.log(JSON.stringify({ drain: sample }));
    } finally {
      await queues.close();
      producer.disconnect();
      await config.flush();
    }
  }

  for (const config of configs) await drainRound(config, 'warm-up', 2_000);
  for (let round = 1; round <= ROUNDS; round++) {
    const order = configs.map((_, i) => configs[(i + round - 1) % configs.length] as Config);
    for (const config of order) {
      await receiverRound(config, round);
      await drainRound(config, round, DRAIN_JOBS);
    }
  }

  // Ratios against `single` per round (same round, adjacent in time), then their median.
  const ratio = <S extends { config: ConfigName; round: number }>(
    samples: S[],
    value: (s: S) => number,
    config: ConfigName,
  ) =>
    round2(
      median(
        Array.from({ length: ROUNDS }, (_, i) => {
          const x = samples.find((s) => s.config === config && s.round === i + 1);
          const y = samples.find((s) => s.config === 'single' && s.round === i + 1);
          return x && y ? value(x) / value(y) : Number.NaN;
        }).filter(Number.isFinite),
      ),
    );
  const receiverTable = configNames.map((config) => {
    const mine = receiverSamples.filter((s) => s.config === config);
    return {
      config,
      'req/s': Math.round(median(mine.map((s) => s.rps))),
      'vs single': ratio(receiverSamples, (s) => s.rps, config),
      'p50 ms': median(mine.map((s) => s.p50)),
      'p99 ms': median(mine.map((s) => s.p99)),
      'receiver µs/req': Math.round(median(mine.map((s) => s.receiverUs))),
      'Redis µs/req': Math.round(median(mine.map((s) => s.redisUs))),
      'per job': round1(median(mine.map((s) => s.meanBatch))),
      'non-2xx': mine.reduce((sum, s) => sum + s.non2xx, 0),
    };
  });
  const drainTable = configNames.map((config) => {
    const mine = drainSamples.filter((s) => s.config === config);
    return {
      config,
      'events/s': Math.round(median(mine.map((s) => s.eventsPerSecond))),
      'vs single': ratio(drainSamples, (s) => s.eventsPerSecond, config),
      'worker µs/event': Math.round(median(mine.map((s) => s.workerUs))),
      'Redis µs/event': Math.round(median(mine.map((s) => s.redisUs))),
      'Postgres µs/event': Math.round(median(mine.map((s) => s.postgresUs))),
    };
  });
  console.log(
    `\ncluster bench: ${HOOKS} hooks, ${CONNECTIONS} connections, ${ROUNDS} x ${DURATION_S} s of receiver load, ${DRAIN_JOBS} deliveries per drain (${PER_JOB} a job)`,
  );
  console.log('receiver');
  console.table(receiverTable);
  console.log('worker drain');
  console.table(drainTable);

  // The model: what one event costs each part, in CPU, on the sharded Cluster; a part's
  // events/s per core is the inverse. Redis runs one core per master; receivers and workers
  // scale out; Postgres is one primary.
  const model = configNames.includes('cluster-3') ? 'cluster-3' : (configNames.at(-1) as string);
  const r = receiverTable.find((t) => t.config === model);
  const d = drainTable.find((t) => t.config === model);
  if (r && d) {
    const redisUs = r['Redis µs/req'] + d['Redis µs/event'];
    const perCore = (us: number) => Math.round(1e6 / us);
    const cores = (us: number) => round1((TARGET_EVENTS * us) / 1e6);
    console.log(`\nmodel (from ${model}): CPU µs per event and events/s per core`);
    console.table([
      {
        part: 'Redis (enqueue + drain)',
        'µs/event': redisUs,
        'events/s per core': perCore(redisUs),
        [`cores for ${TARGET_EVENTS}/s`]: cores(redisUs),
      },
      {
        part: 'receiver',
        'µs/event': r['receiver µs/req'],
        'events/s per core': perCore(r['receiver µs/req']),
        [`cores for ${TARGET_EVENTS}/s`]: cores(r['receiver µs/req']),
      },
      {
        part: 'worker',
        'µs/event': d['worker µs/event'],
        'events/s per core': perCore(d['worker µs/event']),
        [`cores for ${TARGET_EVENTS}/s`]: cores(d['worker µs/event']),
      },
      {
        part: 'Postgres',
        'µs/event': d['Postgres µs/event'],
        'events/s per core': perCore(d['Postgres µs/event']),
        [`cores for ${TARGET_EVENTS}/s`]: cores(d['Postgres µs/event']),
      },
    ]);
  }
} finally {
  await stopAll();
  await handle.close();
  await database.drop();
  await cluster.stop();
  await single.kill();
}

async function until(check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not done in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The receiver is ready once it answers /readyz (Redis and Postgres reachable). */
async function waitReady(url: string) {
  await until(async () => (await fetch(url).catch(() => null))?.ok === true, 30_000);
}

/** A producer fails fast: wait until it is connected before the preload. */
async function waitConnected(redis: RedisConnection) {
  await until(async () => {
    try {
      return (await redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }, 30_000);
}
