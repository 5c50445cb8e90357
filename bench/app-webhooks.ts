// App webhook delivery, each figure beside what it is compared with in the same run.
//
// 1. Outbound throughput to one local endpoint: N changes (~1.5 KB bodies) are appended to the
//    feed through its owner with the worker stopped; the real worker process
//    (apps/worker/src/server.ts: its dispatcher reads them and queues `deliver-webhooks` runs,
//    its queue workers send them) is started and timed from the first to the last request the
//    endpoint receives (bench/servers/webhook-sink.ts, a process of its own, answers 204).
//    Baseline, same round: this process signs the same bodies per Standard Webhooks and POSTs
//    them to the same endpoint over undici, 100 at a time, with nothing else: no queue, no
//    endpoint read, no delivery log. The least any deliverer must do.
// 2. Lag, change committed → received: with the worker running, changes are appended to the
//    feed through its owner (`changeRepo.append`, a transaction every 50 ms) at 200/s, then
//    1,000/s; the endpoint measures arrival − the change's `occurredAt` (p50, p99).
//
//   node bench/app-webhooks.ts                            # N = 20,000, 3 rounds, 60 s per rate
//   BENCH_JOBS=5000 BENCH_ROUNDS=1 BENCH_DURATION_S=10 node bench/app-webhooks.ts   # a smoke run
//
// Env: DATABASE_URL (server; a bench database is created and dropped), REDIS_URL or
// REDIS_CLUSTER_NODES, BENCH_JOBS, BENCH_ROUNDS, BENCH_DURATION_S, BENCH_RATES (default
// 200,1000), BENCH_LOG_DIR (worker logs), BENCH_SKIP_LAG=1.
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { newSecret, webhookHeaders } from '../packages/app-webhooks/src/index.ts';
import { type Change, changeRepo, endpointRepo } from '../packages/db/src/index.ts';
import { freePort } from '../packages/testing/src/redis-server.ts';
import {
  benchPrefix,
  benchRedis,
  createDatabase,
  describeMachine,
  dropPrefix,
  median,
  newEncryptionKey,
  numberSetting,
  percentile,
  printTable,
  redisEnv,
  round1,
  round2,
  scratchDatabase,
  startNode,
  stopAll,
} from './lib.ts';

const JOBS = numberSetting('BENCH_JOBS', 20_000);
const ROUNDS = numberSetting('BENCH_ROUNDS', 3);
const DURATION_S = numberSetting('BENCH_DURATION_S', 60);
const RATES = (process.env.BENCH_RATES ?? '200,1000').split(',').map(Number);
const BASELINE_CONCURRENCY = 100;
const logDir = process.env.BENCH_LOG_DIR;

interface SinkStats {
  count: number;
  unique: number;
  first: number;
  last: number;
  lagsMs: number[];
}

/** A meeting-shaped snapshot of about 1.5 KB, as a change's `data` carries. */
function meetingData(i: number) {
  return {
    id: randomUUID(),
    calendlyEventUri: `https://api.calendly.com/scheduled_events/BENCH${i}`,
    name: '30 Minute Meeting with a prospective client',
    status: 'active',
    startTime: new Date(Date.now() + i * 60_000).toISOString(),
    endTime: new Date(Date.now() + i * 60_000 + 1_800_000).toISOString(),
    location: { type: 'zoom', join_url: `https://zoom.us/j/${100000000 + i}` },
    eventTypeUri: 'https://api.calendly.com/event_types/BENCHTYPE',
    canceledAt: null,
    cancelReason: null,
    updatedAt: new Date().toISOString(),
    version: 1,
    invitees: [
      {
        uri: `https://api.calendly.com/scheduled_events/BENCH${i}/invitees/INV${i}`,
        email: `invitee${i}@example.com`,
        name: `Invitee Number ${i}`,
        status: 'active',
        noShow: false,
        rescheduled: false,
        oldInviteeUri: null,
        newInviteeUri: null,
        canceledBy: null,
        cancelReason: null,
        questionsAndAnswers: [
          {
            question: 'What would you like to discuss?',
            answer: 'Pricing and onboarding '.repeat(12),
          },
          { question: 'Company size', answer: '50-200' },
        ],
      },
    ],
  };
}

async function main() {
  const machine = await describeMachine();
  console.log('machine', machine);
  const scratch = await scratchDatabase('webhooks');
  const database = createDatabase(scratch.url, { max: 4, applicationName: 'calhook-bench' });
  const key = newEncryptionKey();
  const prefix = benchPrefix('wh');
  const redis = benchRedis();
  const sinkPort = await freePort();
  const sinkUrl = `http://127.0.0.1:${sinkPort}`;
  const workerPort = await freePort();
  const stats = async () => (await (await fetch(`${sinkUrl}/stats`)).json()) as SinkStats;
  const resetStats = () => fetch(`${sinkUrl}/stats`, { method: 'DELETE' });
  const waitFor = async (n: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await stats();
      if (s.unique >= n) return s;
      if (Date.now() > deadline) throw new Error(`only ${s.unique} of ${n} arrived`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  const workerEnv = {
    DATABASE_URL: scratch.url,
    ...redisEnv,
    QUEUE_PREFIX: prefix,
    ENCRYPTION_KEY: key.base64,
    WORKER_PORT: String(workerPort),
    WEBHOOK_ENDPOINTS_ALLOW_PRIVATE: 'true',
    LOG_LEVEL: 'warn',
  };
  const startWorker = (label: string) =>
    startNode('apps/worker/src/server.ts', workerEnv, {
      readyUrl: `http://127.0.0.1:${workerPort}/healthz`,
      ...(logDir ? { logFile: `${logDir}/worker-${label}.log` } : {}),
    });

  try {
    await startNode(
      'bench/servers/webhook-sink.ts',
      { PORT: String(sinkPort) },
      {
        readyUrl: `${sinkUrl}/stats`,
      },
    );
    const secret = newSecret();
    const endpointId = `we_bench${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    await endpointRepo.create(database.db, {
      id: endpointId,
      url: `${sinkUrl}/hook`,
      types: null,
      description: 'bench',
      secretEnc: key.sealer.seal(secret, { purpose: 'endpoint_secret', id: endpointId }),
      cursor: changeRepo.encodeCursor(await changeRepo.head(database.db)),
    });
    const changes: Change[] = Array.from({ length: JOBS }, (_, i) => ({
      id: `chg_${randomUUID().replaceAll('-', '')}`,
      cursor: changeRepo.encodeCursor({ position: i + 1, seq: i + 1 }),
      type: 'meeting.updated',
      occurredAt: new Date().toISOString(),
      userId: `bench-user-${i % 50}`,
      data: meetingData(i),
    }));
    console.log(`body ~${Buffer.byteLength(JSON.stringify(changes[0]))} bytes`);

    const throughput: Record<string, string | number>[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // calhook: changes put in the feed with the worker stopped, then sent by the real worker.
      await resetStats();
      for (let i = 0; i < JOBS; i += 1_000) {
        await database.db.transaction((tx) =>
          changeRepo.append(
            tx,
            changes.slice(i, i + 1_000).map((change) => ({
              type: 'meeting.updated' as const,
              userId: change.userId,
              connectionId: randomUUID(),
              meetingId: null,
              data: change.data,
            })),
          ),
        );
      }
      const worker = await startWorker(`throughput-${round}`);
      const ours = await waitFor(JOBS, 600_000);
      await worker.stop();
      const calhookRate = JOBS / ((ours.last - ours.first) / 1000);

      // Baseline: sign and POST the same bodies, 100 at a time, nothing else.
      await resetStats();
      const agent = new Agent({ connections: BASELINE_CONCURRENCY });
      let next = 0;
      await Promise.all(
        Array.from({ length: BASELINE_CONCURRENCY }, async () => {
          for (let i = next++; i < JOBS; i = next++) {
            const change = changes[i] as Change;
            const body = JSON.stringify({ ...change, id: `${change.id}b${round}` });
            const headers = webhookHeaders(
              { id: `${change.id}b${round}`, timestamp: Math.floor(Date.now() / 1000), body },
              [secret],
            );
            const answer = await request(`${sinkUrl}/hook`, {
              method: 'POST',
              dispatcher: agent,
              headers: { 'content-type': 'application/json', ...headers },
              body,
            });
            await answer.body.dump();
          }
        }),
      );
      await agent.close();
      const base = await waitFor(JOBS, 60_000);
      const baselineRate = JOBS / ((base.last - base.first) / 1000);
      const row = {
        round,
        deliveries: JOBS,
        'calhook /s': Math.round(calhookRate),
        'baseline /s': Math.round(baselineRate),
        ratio: round2(calhookRate / baselineRate),
      };
      console.log(row);
      throughput.push(row);
    }
    printTable(throughput);
    const ratios = throughput.map((r) => Number(r.ratio));
    const rates = throughput.map((r) => Number(r['calhook /s']));
    console.log(
      `throughput: calhook median ${Math.round(median(rates))}/s, ratio to baseline median ${round2(median(ratios))} (goal >= 0.8 and >= 2,000/s)`,
    );

    if (process.env.BENCH_SKIP_LAG !== '1') {
      const worker = await startWorker('lag');
      const lag: Record<string, string | number>[] = [];
      for (const rate of RATES) {
        await resetStats();
        const perTick = Math.max(1, Math.round(rate / 20));
        const ticks = DURATION_S * 20;
        const started = performance.now();
        let written = 0;
        for (let tick = 0; tick < ticks; tick++) {
          await database.db.transaction((tx) =>
            changeRepo.append(
              tx,
              Array.from({ length: perTick }, (_, i) => ({
                type: 'meeting.updated' as const,
                userId: `bench-user-${i % 50}`,
                connectionId: randomUUID(),
                meetingId: null,
                data: meetingData(written + i),
              })),
            ),
          );
          written += perTick;
          const due = started + (tick + 1) * 50;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        }
        const sentSeconds = (performance.now() - started) / 1000;
        const s = await waitFor(written, 120_000);
        const row = {
          'rate /s': rate,
          'written /s': Math.round(written / sentSeconds),
          changes: written,
          'lag p50 ms': round1(percentile(s.lagsMs, 50)),
          'lag p99 ms': round1(percentile(s.lagsMs, 99)),
          'lag max ms': round1(Math.max(...s.lagsMs)),
        };
        console.log(row);
        lag.push(row);
      }
      await worker.stop();
      printTable(lag);
    }
  } finally {
    await stopAll();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await database.close();
    await scratch.drop();
  }
}

await main();
