// Memory per unit of work, from before/after differences (medians of several rounds):
//   - Redis bytes per queued ingest-event job (~2 KB delivery), INFO memory used_memory; and
//     per delivery queued as the receiver now does, 8 to an ingest-deliveries job, with its
//     entry in the recent-deliveries set;
//   - Redis bytes per connection: what calhook keeps for each connection between runs
//     (its pending refresh-token job with its deduplication key, and one completed
//     reconcile-connection job kept for an hour);
//   - Postgres bytes per meeting: pg_total_relation_size of meetings + invitees + event_inbox
//     (heap, indexes, TOAST) around N deliveries ingested through ingestDelivery.
// used_memory is for the whole Redis server, so other clients' writes show up as noise: the
// rounds' median is quoted, and each round's keys are removed before the next.
//
//   node bench/memory.ts                 # 3 rounds, 10,000 jobs/connections, 5,000 meetings
//
// Env: DATABASE_URL, REDIS_URL, BENCH_ROUNDS, BENCH_JOBS, BENCH_MEETINGS.
import { ingestDelivery } from '../packages/meetings/src/index.ts';
import { jobOptions } from '../packages/queue/src/index.ts';
import { deliveryContentHash } from '../packages/webhooks/src/index.ts';
import {
  benchPrefix,
  benchQueue,
  benchRedis,
  createDatabase,
  describeMachine,
  dropPrefix,
  infoSum,
  inviteeCreatedBody,
  median,
  newEncryptionKey,
  numberSetting,
  scratchDatabase,
  seedHooks,
} from './lib.ts';

const ROUNDS = numberSetting('BENCH_ROUNDS', 3);
const JOBS = numberSetting('BENCH_JOBS', 10_000);
const MEETINGS = numberSetting('BENCH_MEETINGS', 5_000);

const machine = await describeMachine();
console.log('machine', machine);
const redis = benchRedis();
const database = await scratchDatabase('memory');
const handle = createDatabase(database.url, { max: 10 });

/** Bytes in use, summed over every master on a Cluster. */
function usedMemory(): Promise<number> {
  return infoSum(redis, 'memory', 'used_memory');
}

async function redisDelta(prefix: string, fill: (prefix: string) => Promise<void>) {
  const before = await usedMemory();
  await fill(prefix);
  const after = await usedMemory();
  await dropPrefix(redis, prefix);
  return after - before;
}

const uuid = () => crypto.randomUUID();
let seq = 0;

try {
  const [hook] = await seedHooks(handle.db, newEncryptionKey(), 1);
  if (!hook) throw new Error('seed failed');
  const perJob: number[] = [];
  const perBatchedDelivery: number[] = [];
  const perConnection: number[] = [];
  const perMeeting: number[] = [];

  for (let round = 1; round <= ROUNDS; round += 1) {
    const jobBytes = await redisDelta(benchPrefix('mem'), async (prefix) => {
      const queue = benchQueue(redis, prefix, 'events');
      for (let i = 0; i < JOBS; i += 500) {
        await queue.addBulk(
          Array.from({ length: Math.min(500, JOBS - i) }, () => {
            seq += 1;
            const { body } = inviteeCreatedBody(hook.calendlyUserUri, seq);
            return {
              name: 'ingest-event',
              data: {
                hookId: hook.hookId,
                connectionId: hook.connectionId,
                body,
                receivedAt: new Date().toISOString(),
              },
              opts: jobOptions('ingest-event', {
                hookId: hook.hookId,
                connectionId: hook.connectionId,
                body,
                receivedAt: new Date().toISOString(),
              }),
            };
          }),
        );
      }
      await queue.close();
    });
    perJob.push(jobBytes / JOBS);

    // As the receiver queues them now: 8 deliveries to a job (~7 at 16 concurrent senders),
    // each also remembered in the recent-deliveries set for an hour.
    const batchedBytes = await redisDelta(benchPrefix('mem'), async (prefix) => {
      const queue = benchQueue(redis, prefix, 'events');
      const recent = queue.toKey('recent-deliveries');
      for (let i = 0; i < JOBS; i += 4_000) {
        const deliveries = Array.from({ length: Math.min(4_000, JOBS - i) }, () => {
          seq += 1;
          const { body } = inviteeCreatedBody(hook.calendlyUserUri, seq);
          return {
            hookId: hook.hookId,
            connectionId: hook.connectionId,
            body,
            receivedAt: new Date().toISOString(),
          };
        });
        const jobs = [];
        for (let j = 0; j < deliveries.length; j += 8) {
          jobs.push({
            name: 'ingest-deliveries',
            data: { deliveries: deliveries.slice(j, j + 8) },
            opts: jobOptions('ingest-deliveries', { deliveries: deliveries.slice(j, j + 8) }),
          });
        }
        await queue.addBulk(jobs);
        await redis.zadd(
          recent,
          ...deliveries.flatMap((d) => [Date.now(), deliveryContentHash(d.connectionId, d.body)]),
        );
      }
      await queue.close();
    });
    perBatchedDelivery.push(batchedBytes / JOBS);

    const connectionBytes = await redisDelta(benchPrefix('mem'), async (prefix) => {
      const connectionsQueue = benchQueue(redis, prefix, 'connections');
      const reconcile = benchQueue(redis, prefix, 'reconcile');
      for (let i = 0; i < JOBS; i += 500) {
        const ids = Array.from({ length: Math.min(500, JOBS - i) }, uuid);
        await connectionsQueue.addBulk(
          ids.map((connectionId) => ({
            name: 'refresh-token',
            data: { connectionId },
            opts: jobOptions('refresh-token', { connectionId }, 3_600_000),
          })),
        );
        // A completed reconcile job as the schedule leaves one per connection per window.
        await reconcile.addBulk(
          ids.map((connectionId) => ({
            name: 'reconcile-connection',
            data: { connectionId, reason: 'scheduled' as const },
            opts: jobOptions('reconcile-connection', { connectionId, reason: 'scheduled' }),
          })),
        );
      }
      await connectionsQueue.close();
      await reconcile.close();
    });
    perConnection.push(connectionBytes / JOBS);

    const sizeSql = `select pg_total_relation_size('meetings') + pg_total_relation_size('invitees')
      + pg_total_relation_size('event_inbox') as bytes`;
    const [before] = await handle.sql.unsafe<{ bytes: string }[]>(sizeSql);
    const now = () => new Date();
    for (let i = 0; i < MEETINGS; i += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, MEETINGS - i) }, () => {
          seq += 1;
          const { body } = inviteeCreatedBody(hook.calendlyUserUri, seq);
          return ingestDelivery(
            handle.db,
            { hookId: hook.hookId, connectionId: hook.connectionId, body, receivedAt: new Date() },
            { now },
          );
        }),
      );
    }
    const [after] = await handle.sql.unsafe<{ bytes: string }[]>(sizeSql);
    perMeeting.push((Number(after?.bytes) - Number(before?.bytes)) / MEETINGS);
    console.log(
      JSON.stringify({
        round,
        redisBytesPerJob: Math.round(perJob.at(-1) ?? 0),
        redisBytesPerBatchedDelivery: Math.round(perBatchedDelivery.at(-1) ?? 0),
        redisBytesPerConnection: Math.round(perConnection.at(-1) ?? 0),
        postgresBytesPerMeeting: Math.round(perMeeting.at(-1) ?? 0),
      }),
    );
  }
  console.log(
    `\nmemory: ${ROUNDS} rounds, ${JOBS} jobs / connections, ${MEETINGS} meetings per round`,
  );
  console.table({
    'Redis bytes per queued ingest-event job': Math.round(median(perJob)),
    'Redis bytes per delivery queued 8 to an ingest-deliveries job, + recent-set entry': Math.round(
      median(perBatchedDelivery),
    ),
    'Redis bytes per connection (refresh job + kept reconcile job)': Math.round(
      median(perConnection),
    ),
    'Postgres bytes per meeting (meeting + invitee + inbox row, with indexes)': Math.round(
      median(perMeeting),
    ),
  });
} finally {
  await handle.close();
  redis.disconnect();
  await database.drop();
}
