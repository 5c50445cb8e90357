// End to end and worker throughput, each with its figure of comparison in the same run.
//
// 1. Worker drain: N signed-and-accepted deliveries are pre-loaded into the events queue with
//    the worker stopped, one per job and then 8 per job (the receiver queues what arrives
//    together as one job: ~7 a job at 16 concurrent senders); the real worker process
//    (apps/worker/src/server.ts) is started and the drain timed from the first to the last
//    inbox row it processed. Baseline, same round: the same kind of rows (inbox + meeting +
//    invitee) written with multi-row INSERT ... ON CONFLICT through drizzle/postgres.js, 500
//    per statement, two at a time: the database path's physical limit with no queue and no
//    per-event logic. Each side also reports CPU µs per event, all counted (its node process,
//    Redis, every Postgres process): the host's steal swings throughput here, not CPU time.
// 2. Steady load: receiver, worker and api run as their own processes; this process sends
//    signed ~2 KB deliveries at a fixed rate (200/s, then 1,000/s) over 1,000 hooks and polls
//    the api until each sampled delivery's meeting is listed: send -> visible latency.
//
//   node bench/e2e.ts                                   # 60 s per rate, 3 rounds, N = 20,000
//   BENCH_DURATION_S=15 BENCH_ROUNDS=1 BENCH_DRAIN_JOBS=5000 node bench/e2e.ts   # a smoke run
//
// Env: DATABASE_URL (server; a bench database is created and dropped), REDIS_URL or
// REDIS_CLUSTER_NODES, BENCH_HOOKS,
// BENCH_ROUNDS, BENCH_DURATION_S, BENCH_RATES (comma-separated, default 200,1000),
// BENCH_STEADY_ROUNDS, BENCH_DRAIN_JOBS, BENCH_DRAIN_PER_JOB (deliveries per job, comma-separated,
// default 1,8: one drain of each shape per round), BENCH_SAMPLES_PER_S (default 10), BENCH_LOG_DIR,
// BENCH_SKIP_DRAIN=1, BENCH_SKIP_STEADY=1.
import { randomBytes } from 'node:crypto';
import { inviteeSchema, webhookEnvelopeSchema } from '../packages/calendly/src/index.ts';
import { eventInbox, invitees, meetings } from '../packages/db/src/index.ts';
import { observationFromPayload } from '../packages/meetings/src/index.ts';
import { deliveryContentHash } from '../packages/webhooks/src/index.ts';
import {
  cpuNow,
  cpuPerEvent,
  type DrainRig,
  maxInboxId,
  startUpReconcile,
  workerDrain,
} from './drain.ts';
import {
  type BenchHook,
  benchPrefix,
  benchQueue,
  benchRedis,
  type Child,
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
  round1,
  round2,
  scratchDatabase,
  seedHooks,
  startNode,
  stopAll,
} from './lib.ts';
import { deliverySender, openLoop, watchListed } from './steady.ts';

const HOOKS = numberSetting('BENCH_HOOKS', 1000);
const ROUNDS = numberSetting('BENCH_ROUNDS', 3);
const DURATION_S = numberSetting('BENCH_DURATION_S', 60);
const DRAIN_JOBS = numberSetting('BENCH_DRAIN_JOBS', 20_000);
const STEADY_ROUNDS = numberSetting('BENCH_STEADY_ROUNDS', ROUNDS);
const DRAIN_PER_JOB = (process.env.BENCH_DRAIN_PER_JOB ?? '1,8').split(',').map(Number);
const RATES = (process.env.BENCH_RATES ?? '200,1000').split(',').map(Number);
const SAMPLES_PER_S = numberSetting('BENCH_SAMPLES_PER_S', 10);
const PORTS = { receiver: 4201, api: 4202, worker: 4203 };
const API_TOKEN = randomBytes(24).toString('hex');

const machine = await describeMachine();
console.log('machine', machine);
const database = await scratchDatabase('e2e');
const redis = benchRedis();
const prefix = benchPrefix('e2e');
const key = newEncryptionKey();
const handle = createDatabase(database.url, { max: 4 });
const { db, sql } = handle;
let seq = 0;

const roleEnv = localRoleEnv({
  databaseUrl: database.url,
  prefix,
  encryptionKey: key.base64,
  apiToken: API_TOKEN,
  ports: PORTS,
});
const logFile = roleLogFile;

const startWorker = () =>
  startNode('apps/worker/src/server.ts', roleEnv, {
    readyUrl: `http://127.0.0.1:${PORTS.worker}/healthz`,
    ...logFile('worker'),
  });

function delivery(hooks: BenchHook[]) {
  seq += 1;
  const hook = hooks[seq % hooks.length] as BenchHook;
  return { hook, seq, ...inviteeCreatedBody(hook.calendlyUserUri, seq) };
}

/** The worker drain's parts: deliveries to the bench's hooks, as the receiver queues them. */
function drainRig(hooks: BenchHook[]): DrainRig {
  return {
    redis,
    prefix,
    sql,
    startWorker,
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

/** The same rows, written in multi-row statements straight through postgres.js. */
async function batchedUpsertBaseline(hooks: BenchHook[], count: number) {
  const rows = Array.from({ length: count }, () => {
    const d = delivery(hooks);
    const envelope = webhookEnvelopeSchema.parse(JSON.parse(d.body));
    const invitee = inviteeSchema.parse(envelope.payload);
    const parsed = observationFromPayload({ invitee, eventType: envelope.event });
    if (!parsed.ok) throw new Error(parsed.reason);
    return { d, envelope, observation: parsed.observation };
  });
  const cpuBefore = await cpuNow(redis, process.pid);
  const started = performance.now();
  const batches: (typeof rows)[] = [];
  for (let i = 0; i < rows.length; i += 500) batches.push(rows.slice(i, i + 500));
  const runBatch = async (batch: typeof rows) => {
    await db.transaction(async (tx) => {
      const now = new Date();
      await tx
        .insert(eventInbox)
        .values(
          batch.map(({ d, envelope }) => ({
            contentHash: deliveryContentHash(d.hook.connectionId, d.body),
            hookId: d.hook.hookId,
            connectionId: d.hook.connectionId,
            body: d.body,
            receivedAt: now,
            processedAt: now,
            outcome: 'applied' as const,
            eventType: envelope.event,
          })),
        )
        .onConflictDoNothing();
      const ids = await tx
        .insert(meetings)
        .values(
          batch.map(({ d, observation }) => ({
            ...observation.meeting,
            connectionId: d.hook.connectionId,
          })),
        )
        .onConflictDoNothing()
        .returning({ id: meetings.id, uri: meetings.calendlyEventUri });
      const idOf = new Map(ids.map((r) => [r.uri, r.id]));
      await tx
        .insert(invitees)
        .values(
          batch.map(({ d, observation }) => ({
            ...observation.invitee,
            connectionId: d.hook.connectionId,
            meetingId: idOf.get(observation.meeting.calendlyEventUri) as string,
          })),
        )
        .onConflictDoNothing();
    });
  };
  // Two statements in flight: one per core, as the worker has.
  const lanes = [0, 1].map(async (lane) => {
    for (let i = lane; i < batches.length; i += 2) await runBatch(batches[i] as typeof rows);
  });
  await Promise.all(lanes);
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuPerEvent(cpuBefore, await cpuNow(redis, process.pid), count);
  return { eventsPerSecond: Math.round(count / seconds), seconds: round2(seconds), cpu };
}

/** Sends at `rate`/s for DURATION_S and samples send -> visible-in-the-api latency. */
async function steady(hooks: BenchHook[], rate: number) {
  const sampleEvery = Math.max(1, Math.round(rate / SAMPLES_PER_S));
  const sender = deliverySender(`http://127.0.0.1:${PORTS.receiver}`);
  const watcher = watchListed(`http://127.0.0.1:${PORTS.api}`, API_TOKEN);
  const after = await maxInboxId(sql);
  const sendSeconds = await openLoop(rate, DURATION_S, () => {
    const d = delivery(hooks);
    const sampled = d.seq % sampleEvery === 0;
    if (sampled) {
      watcher.watch(d.seq, { userId: d.hook.userId, start: d.start, sentAt: performance.now() });
    }
    sender.post(d.hook, d.body, (accepted) => {
      if (sampled && !accepted) watcher.forget(d.seq);
    });
  });
  await sender.settle();
  sender.close();
  const { sent, accepted, failed } = sender.counts;
  const [processed] = await sql<{ n: string }[]>`
    select count(*) as n from event_inbox where id > ${after} and processed_at is not null`;
  const backlogAtEnd = accepted - Number(processed?.n ?? 0);
  // A sample still missing 60 s after sending stopped counts as lost, not as a latency.
  const { listed, lost } = await watcher.finish(60_000);
  const latencies = listed.map((s) => (s.listedAt as number) - s.sentAt);
  const [span] = await sql<{ seconds: number; n: string }[]>`
    select extract(epoch from max(processed_at) - min(processed_at))::float8 as seconds, count(*) as n
    from event_inbox where id > ${after}`;
  return {
    rate,
    sent,
    accepted,
    failed,
    sendSeconds: round1(sendSeconds),
    sampled: latencies.length,
    lost,
    p50: Math.round(percentile(latencies, 50)),
    p99: Math.round(percentile(latencies, 99)),
    max: Math.round(Math.max(...latencies)),
    workerEventsPerSecond: Math.round(Number(span?.n) / (span?.seconds ?? Number.NaN)),
    backlogAtEnd,
  };
}

try {
  const hooks = await seedHooks(db, key, HOOKS);
  console.log(`seeded ${HOOKS} hooks`);
  if (process.env.BENCH_SKIP_DRAIN !== '1') {
    const warm = await startWorker();
    await startUpReconcile(redis, prefix);
    await warm.stop();
    const drains: {
      round: number;
      perJob: number;
      worker: number;
      baseline: number;
      ratio: number;
      workerCpuUs: number;
      baselineCpuUs: number;
      cpuRatio: number;
    }[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const perJob of DRAIN_PER_JOB) {
        // Alternating which goes first, so neither always runs on the warmer machine.
        let worker: Awaited<ReturnType<typeof workerDrain>>;
        let baseline: Awaited<ReturnType<typeof batchedUpsertBaseline>>;
        if (round % 2 === 1) {
          worker = await workerDrain(drainRig(hooks), DRAIN_JOBS, perJob);
          baseline = await batchedUpsertBaseline(hooks, DRAIN_JOBS);
        } else {
          baseline = await batchedUpsertBaseline(hooks, DRAIN_JOBS);
          worker = await workerDrain(drainRig(hooks), DRAIN_JOBS, perJob);
        }
        const row = {
          round,
          perJob,
          worker: worker.eventsPerSecond,
          baseline: baseline.eventsPerSecond,
          ratio: round2(worker.eventsPerSecond / baseline.eventsPerSecond),
          // CPU per event, everything counted (node, Redis, Postgres); baseline over worker,
          // so that like the throughput ratio 1.0 is parity and higher is better.
          workerCpuUs: worker.cpu.total,
          baselineCpuUs: baseline.cpu.total,
          cpuRatio: round2(baseline.cpu.total / worker.cpu.total),
        };
        drains.push(row);
        console.log(
          JSON.stringify({
            ...row,
            workerSeconds: worker.seconds,
            workerCpu: worker.cpu,
            baselineCpu: baseline.cpu,
            applied: worker.applied,
            meanBatch: worker.meanBatch,
            baselineSeconds: baseline.seconds,
          }),
        );
        // Only the events queue: wiping the reconcile queue too would make the next start
        // reconcile every connection again, inside the next drain.
        await dropQueue(redis, prefix, 'events');
      }
    }
    console.log(
      `\nworker drain: ${DRAIN_JOBS} deliveries per round, ${ROUNDS} rounds, ` +
        `WORKER_CONCURRENCY ${process.env.WORKER_CONCURRENCY ?? 'default'}`,
    );
    console.table(drains);
    for (const perJob of DRAIN_PER_JOB) {
      const mine = drains.filter((d) => d.perJob === perJob);
      console.log(
        `${perJob} per job: worker median ${median(mine.map((d) => d.worker))} events/s (goal >= 2000); ` +
          `batched-upsert baseline median ${median(mine.map((d) => d.baseline))} events/s; ` +
          `ratio worker/baseline median ${round2(median(mine.map((d) => d.ratio)))}; ` +
          `CPU µs per event: worker ${median(mine.map((d) => d.workerCpuUs))}, ` +
          `baseline ${median(mine.map((d) => d.baselineCpuUs))}, ` +
          `ratio ${round2(median(mine.map((d) => d.cpuRatio)))}`,
      );
    }
  }

  if (process.env.BENCH_SKIP_STEADY !== '1') {
    const children: Child[] = [
      await startNode('apps/receiver/src/server.ts', roleEnv, {
        readyUrl: `http://127.0.0.1:${PORTS.receiver}/healthz`,
        ...logFile('receiver'),
      }),
      await startNode('apps/api/src/server.ts', roleEnv, {
        readyUrl: `http://127.0.0.1:${PORTS.api}/healthz`,
        ...logFile('api'),
      }),
      await startWorker(),
    ];
    await startUpReconcile(redis, prefix);
    const results: Awaited<ReturnType<typeof steady>>[] = [];
    for (let round = 1; round <= STEADY_ROUNDS; round += 1) {
      for (const rate of RATES) {
        const result = await steady(hooks, rate);
        results.push(result);
        console.log(JSON.stringify({ round, ...result }));
        // The next run starts with an empty queue, so one run's
        // backlog never counts against the next (waiting at most 3 min).
        const waitStarted = Date.now();
        const events = benchQueue(redis, prefix, 'events');
        while (Date.now() - waitStarted < 180_000) {
          const counts = await events.getJobCounts('waiting');
          if (!counts.waiting) break;
          await new Promise((r) => setTimeout(r, 1_000));
        }
        await events.close();
        await new Promise((r) => setTimeout(r, 2_000));
      }
    }
    for (const child of children) await child.stop();
    console.log(
      `\nsteady load: ${DURATION_S} s per rate, ${STEADY_ROUNDS} rounds (medians over rounds)`,
    );
    console.table(
      RATES.map((rate) => {
        const mine = results.filter((r) => r.rate === rate);
        return {
          'rate /s': rate,
          sent: median(mine.map((r) => r.sent)),
          failed: mine.reduce((a, r) => a + r.failed, 0),
          sampled: median(mine.map((r) => r.sampled)),
          'p50 ms': median(mine.map((r) => r.p50)),
          'p99 ms': median(mine.map((r) => r.p99)),
          'max ms': median(mine.map((r) => r.max)),
          'worker events/s': median(mine.map((r) => r.workerEventsPerSecond)),
          'backlog at end': median(mine.map((r) => r.backlogAtEnd)),
        };
      }),
    );
  }
} finally {
  await stopAll();
  await handle.close();
  await dropPrefix(redis, prefix).catch(() => 0);
  redis.disconnect();
  await database.drop();
}
