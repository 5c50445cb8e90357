// Receiver throughput and ack latency against two baselines measured in the same run: a bare
// Fastify route (the HTTP ceiling) and a minimal endpoint doing only HMAC + one Queue.add.
// Each server is its own process; this process is the load generator (autocannon), sending
// signed ~2 KB invitee.created deliveries, every body distinct, spread over 1,000 hooks.
//
//   node bench/receiver.ts                        # 3 rounds x 10 s per server, 16 connections
//   BENCH_ROUNDS=5 BENCH_DURATION_S=15 BENCH_CONNECTIONS=32 node bench/receiver.ts
//
// Env: DATABASE_URL (a server; a bench database is created and dropped), REDIS_URL or
// REDIS_CLUSTER_NODES,
// BENCH_HOOKS (1000), BENCH_ROUNDS, BENCH_DURATION_S, BENCH_WARMUP_S, BENCH_CONNECTIONS,
// BENCH_TARGETS (default bare,minimal,calhook; ratios need the targets they name).
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { signatureHeader } from '../packages/webhooks/src/index.ts';
import {
  benchPrefix,
  benchRedis,
  cpuSecondsOf,
  createDatabase,
  describeMachine,
  dropPrefix,
  inviteeCreatedBody,
  median,
  mib,
  newEncryptionKey,
  numberSetting,
  redisCpuSeconds,
  redisEnv,
  round1,
  round2,
  sampleRss,
  scratchDatabase,
  seedHooks,
  startNode,
  stopAll,
} from './lib.ts';

const HOOKS = numberSetting('BENCH_HOOKS', 1000);
const ROUNDS = numberSetting('BENCH_ROUNDS', 3);
const DURATION_S = numberSetting('BENCH_DURATION_S', 10);
const WARMUP_S = numberSetting('BENCH_WARMUP_S', 2);
const CONNECTIONS = numberSetting('BENCH_CONNECTIONS', 16);

type Target = 'bare' | 'minimal' | 'calhook';
const ports: Record<Target, number> = { bare: 4101, minimal: 4102, calhook: 4103 };
const targets = (process.env.BENCH_TARGETS ?? 'bare,minimal,calhook').split(',') as Target[];
for (const target of targets) {
  if (!(target in ports)) throw new Error(`BENCH_TARGETS: unknown server "${target}"`);
}

const machine = await describeMachine();
console.log('machine', machine);
const database = await scratchDatabase('receiver');
const redis = benchRedis();
const prefix = benchPrefix('rcv');
const key = newEncryptionKey();

interface Sample {
  target: Target;
  round: number;
  rps: number;
  p50: number;
  p99: number;
  /** CPU time per request, host steal excluded: the server process, and Redis. */
  serverCpuUs: number;
  redisCpuUs: number;
  non2xx: number;
  errors: number;
  rssPeakMiB: number;
  /** calhook only: deliveries per queued job, warm-up included (its /metrics). */
  meanBatch?: number;
}
const samples: Sample[] = [];

try {
  const handle = createDatabase(database.url, { max: 20 });
  const hooks = await seedHooks(handle.db, key, HOOKS);
  await handle.close();
  const hooksFile = join(tmpdir(), `${prefix}-hooks.json`);
  writeFileSync(hooksFile, JSON.stringify(hooks));

  // Per hook, one body split around its unique id: a request only splices in a sequence
  // number and signs, so the load generator spends its CPU on sending, not on JSON.
  const MARK = 'ZZMARKZZ';
  const parts = hooks.map((hook) => {
    const { body } = inviteeCreatedBody(hook.calendlyUserUri, 0);
    const id = /scheduled_events\/EV([0-9A-Z]+[0-9a-f]{8})/.exec(body)?.[1] ?? '';
    return { hook, pieces: body.split(id).join(MARK).split(MARK) };
  });
  console.log(
    `seeded ${HOOKS} hooks; body ~${inviteeCreatedBody(hooks[0]?.calendlyUserUri ?? '', 0).body.length} bytes`,
  );

  let seq = 0;
  const setupRequest = (request: autocannon.Request): autocannon.Request => {
    seq += 1;
    const entry = parts[seq % parts.length];
    if (!entry) return request;
    const body = entry.pieces.join(`${seq.toString(36)}R${process.pid}`);
    const t = Math.floor(Date.now() / 1000);
    return {
      ...request,
      method: 'POST',
      path: `/webhooks/calendly/${entry.hook.hookId}`,
      headers: {
        'content-type': 'application/json',
        'calendly-webhook-signature': signatureHeader(entry.hook.signingKey, t, body),
      },
      body,
    };
  };

  const start = async (target: Target) => {
    const port = ports[target];
    const readyUrl = `http://127.0.0.1:${port}/healthz`;
    if (target === 'bare') {
      return startNode('bench/servers/bare.ts', { PORT: String(port) }, { readyUrl });
    }
    if (target === 'minimal') {
      return startNode(
        'bench/servers/minimal.ts',
        { PORT: String(port), ...redisEnv, QUEUE_PREFIX: prefix, HOOKS_FILE: hooksFile },
        { readyUrl },
      );
    }
    // The real receiver role, as `npm run start:receiver` runs it (info logs to /dev/null).
    return startNode(
      'apps/receiver/src/server.ts',
      {
        DATABASE_URL: database.url,
        ...redisEnv,
        QUEUE_PREFIX: prefix,
        ENCRYPTION_KEY: key.base64,
        HOST: '127.0.0.1',
        RECEIVER_PORT: String(port),
        LOG_LEVEL: 'info',
        NODE_ENV: 'production',
      },
      { readyUrl },
    );
  };

  /** Deliveries per job since the receiver started, from its own histogram. */
  const meanEnqueueBatch = async (port: number) => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    return round1(
      value('calhook_webhook_enqueue_batch_size_sum') /
        value('calhook_webhook_enqueue_batch_size_count'),
    );
  };

  const load = (port: number, seconds: number) =>
    autocannon({
      url: `http://127.0.0.1:${port}`,
      connections: CONNECTIONS,
      duration: seconds,
      requests: [{ setupRequest }],
    });

  for (let round = 1; round <= ROUNDS; round += 1) {
    // Rotate the order each round so drift in the machine's load hits every target alike.
    const order = targets.map((_, i) => targets[(i + round - 1) % targets.length] as Target);
    for (const target of order) {
      const child = await start(target);
      await load(ports[target], WARMUP_S);
      const stopRss = sampleRss(child.pid);
      const cpuBefore = [cpuSecondsOf(child.pid), await redisCpuSeconds(redis)] as const;
      const result = await load(ports[target], DURATION_S);
      const cpuAfter = [cpuSecondsOf(child.pid), await redisCpuSeconds(redis)] as const;
      const rss = stopRss();
      const perRequestUs = (i: 0 | 1) =>
        Math.round(((cpuAfter[i] - cpuBefore[i]) * 1e6) / Math.max(1, result.requests.total));
      const meanBatch = target === 'calhook' ? await meanEnqueueBatch(ports[target]) : undefined;
      await child.stop();
      const sample: Sample = {
        target,
        round,
        rps: Math.round(result.requests.average),
        p50: result.latency.p50,
        p99: result.latency.p99,
        serverCpuUs: perRequestUs(0),
        redisCpuUs: perRequestUs(1),
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
        rssPeakMiB: mib(rss.peak),
        ...(meanBatch === undefined ? {} : { meanBatch }),
      };
      samples.push(sample);
      console.log(JSON.stringify(sample));
      await dropPrefix(redis, prefix);
    }
  }

  const summary = targets.map((target) => {
    const mine = samples.filter((s) => s.target === target);
    return {
      target,
      rounds: mine.length,
      'req/s (median)': median(mine.map((s) => s.rps)),
      'p50 ms': median(mine.map((s) => s.p50)),
      'p99 ms': median(mine.map((s) => s.p99)),
      'server CPU µs/req': median(mine.map((s) => s.serverCpuUs)),
      'Redis CPU µs/req': median(mine.map((s) => s.redisCpuUs)),
      'RSS peak MiB': median(mine.map((s) => s.rssPeakMiB)),
      'non-2xx': mine.reduce((a, s) => a + s.non2xx, 0),
      errors: mine.reduce((a, s) => a + s.errors, 0),
    };
  });
  const rpsOf = (target: Target) =>
    summary.find((s) => s.target === target)?.['req/s (median)'] ?? 0;
  // Ratios per round (same round, adjacent in time), then the median of those.
  const ratio = (a: Target, b: Target) =>
    round2(
      median(
        Array.from({ length: ROUNDS }, (_, i) => {
          const x = samples.find((s) => s.target === a && s.round === i + 1)?.rps ?? 0;
          const y = samples.find((s) => s.target === b && s.round === i + 1)?.rps ?? 1;
          return x / y;
        }),
      ),
    );
  console.log(
    `\nreceiver bench: ${HOOKS} hooks, ${CONNECTIONS} connections, ${ROUNDS} x ${DURATION_S} s`,
  );
  console.table(summary);
  const calhookP99 = summary.find((s) => s.target === 'calhook')?.['p99 ms'] ?? Number.NaN;
  console.log(
    `calhook / minimal = ${ratio('calhook', 'minimal')} (median of per-round ratios; goal >= 1.0), ` +
      `calhook / bare = ${ratio('calhook', 'bare')}, minimal / bare = ${ratio('minimal', 'bare')}; ` +
      `calhook p99 ${round1(calhookP99)} ms (goal < 15 ms); medians ${rpsOf('calhook')} / ${rpsOf('minimal')} / ${rpsOf('bare')} req/s`,
  );
} finally {
  await stopAll();
  await dropPrefix(redis, prefix).catch(() => 0);
  redis.disconnect();
  await database.drop();
}
