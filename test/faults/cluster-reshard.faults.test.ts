// Proves a resharding loses nothing: on a 3-master Redis Cluster with QUEUE_SHARDS=3, the slot
// of one shard's queue is moved to another master (IMPORTING/MIGRATING, its keys MIGRATEd in
// small batches, deliveries sent between every two batches) in the middle of a burst. Every
// delivery answered 200 is in the inbox exactly once and in the meetings, and the shard works
// from its new master afterwards.
import { type ScratchCluster, startRedisCluster } from '@calhook/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { jobQueueName } from '../../packages/queue/src/index.ts';
import { expectBurstLanded, finalAnswers, openSql, seedBurst } from './support/check.ts';
import { sendAll } from './support/deliver.ts';
import { killAll, startWorld, type World } from './support/world.ts';

const SHARDS = 3;
const USERS = 12;
const EVENTS = 1_800;
/** Keys per MIGRATE, and answers to the moving shard's deliveries between two of them. */
const BATCH = 25;
const ANSWERS_BETWEEN = 4;

let cluster: ScratchCluster;
let world: World;
const sql = openSql();

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  world = await startWorld({
    redisClusterNodes: cluster.seeds(),
    env: { QUEUE_SHARDS: String(SHARDS) },
  });
  await Promise.all([world.start('receiver'), world.start('worker')]);
}, 120_000);

afterAll(async () => {
  await killAll();
  await cluster?.stop();
  await sql.end({ timeout: 5 });
});

it('the slot of a shard moves to another master mid-burst: every 200 lands once', async () => {
  const burst = await seedBurst(world, USERS, EVENTS);
  const shardOf = (connectionId: string) =>
    jobQueueName(
      'ingest-deliveries',
      { deliveries: [{ connectionId, hookId: 'h', body: '', receivedAt: '' }] },
      SHARDS,
    );
  // The shard of the first user moves: a shard with deliveries, whichever the ids pick.
  const target = shardOf(burst.users[0]?.connectionId ?? '');
  const onTarget = new Set(
    burst.users.filter((u) => shardOf(u.connectionId) === target).map((u) => u.connectionId),
  );

  const slot = await cluster.slotOf(`{${target}}`);
  const from = await cluster.masterOf(slot);
  const to = (await cluster.masters()).find((m) => m.id !== from.id);
  if (!to) throw new Error('no other master');

  let targetAnswered = 0;
  let sending = true;
  const waiters: { at: number; resolve: () => void }[] = [];
  let moving: Promise<unknown> | undefined;
  let migrating = { from: Number.POSITIVE_INFINITY, to: Number.POSITIVE_INFINITY };
  const answersPassed = (count: number) =>
    new Promise<void>((resolve) => {
      if (!sending || targetAnswered >= count) resolve();
      else waiters.push({ at: count, resolve });
    });

  const sent = sendAll(burst.deliveries, {
    concurrency: 24,
    deadlineMs: 180_000,
    onAnswer: (answer, count) => {
      if (onTarget.has(answer.connectionId)) targetAnswered += 1;
      for (const waiter of waiters.splice(0)) {
        if (targetAnswered >= waiter.at) waiter.resolve();
        else waiters.push(waiter);
      }
      if (count === Math.floor(EVENTS * 0.25) && !moving) {
        migrating = { from: Date.now(), to: Number.POSITIVE_INFINITY };
        moving = cluster
          .moveSlot(slot, to, {
            batch: BATCH,
            // The shard's deliveries flow between every two batches, while its keys are
            // half here, half there.
            between: () => answersPassed(targetAnswered + ANSWERS_BETWEEN),
          })
          .then((move) => {
            migrating = { ...migrating, to: Date.now() };
            return move;
          });
      }
    },
  });
  const answers = await sent.finally(() => {
    sending = false;
    for (const waiter of waiters.splice(0)) waiter.resolve();
  });
  const move = (await moving) as { keys: number; batches: number } | undefined;
  if (!move) throw new Error('the slot never started moving');

  expect((await cluster.masterOf(slot)).id).toBe(to.id);
  // The move overlapped the burst: the target shard got deliveries while its slot was split.
  const during = answers.filter(
    (a) =>
      onTarget.has(a.connectionId) && a.sentAt >= migrating.from && a.answeredAt <= migrating.to,
  );
  expect(move.batches).toBeGreaterThan(1);
  expect(during.length).toBeGreaterThanOrEqual(ANSWERS_BETWEEN * (move.batches - 1));
  expect(new Set(finalAnswers(answers).values())).toEqual(new Set([200]));

  await expectBurstLanded(sql, burst, answers, { timeoutMs: 150_000 });
  const refusals = answers.filter((a) => a.status !== 200);
  console.log(
    `faults: reshard of ${target}: ${move.keys} keys in ${move.batches} batches over ${migrating.to - migrating.from} ms; ${during.length} answers to its shard meanwhile (${during.filter((a) => a.status === 200).length} of them 200), ${refusals.length} answers 503 in all`,
  );
});
