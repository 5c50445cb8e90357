// Proves the receiver never answers 200 for a job Redis did not take: Redis (AOF, appendfsync
// always) is SIGKILLed mid-burst; meanwhile deliveries get 503 + Retry-After within ~2 s, and
// after the restart every delivery answered 200 is in the inbox exactly once and in the meetings.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectBurstLanded, finalAnswers, openSql, seedBurst } from './support/check.ts';
import { sendAll } from './support/deliver.ts';
import { type DurableRedis, startDurableRedis } from './support/redis.ts';
import { killAll, startWorld, type World } from './support/world.ts';

const USERS = 10;
const EVENTS = 1_500;
// Redis stays down until this many deliveries have been refused.
const REFUSALS_WHILE_DOWN = 150;

// appendfsync always, not everysec: the receiver's 200 promises Redis has the job, and
// everysec may lose up to a second of writes it already acknowledged (its documented trade),
// which would make "every 200 survives a crash" false by configuration, not by a bug.
const dir = mkdtempSync(join(tmpdir(), 'calhook-faults-redis-'));
let redis: DurableRedis;
let world: World;
const sql = openSql();
beforeAll(async () => {
  redis = await startDurableRedis(dir);
  world = await startWorld({ redisUrl: redis.url });
  await Promise.all([world.start('receiver'), world.start('worker')]);
});
afterAll(async () => {
  await killAll();
  await redis?.kill();
  await sql.end({ timeout: 5 });
  rmSync(dir, { recursive: true, force: true });
});

it('Redis killed and restarted mid-burst: 503 while down, every 200 in the inbox', async () => {
  const burst = await seedBurst(world, USERS, EVENTS);
  const { deliveries } = burst;

  let killedAt = Number.POSITIVE_INFINITY;
  let restartedAt = Number.POSITIVE_INFINITY;
  let refused = 0;
  let restarted: Promise<void> | undefined;
  const answers = await sendAll(deliveries, {
    concurrency: 24,
    deadlineMs: 150_000,
    onAnswer: async (answer, answered) => {
      if (answered === Math.floor(EVENTS * 0.3)) {
        await redis.kill();
        killedAt = Date.now();
      }
      if (answer.status === 503 && answer.sentAt > killedAt) refused += 1;
      if (refused === REFUSALS_WHILE_DOWN && !restarted) {
        restartedAt = Date.now();
        restarted = redis.start();
      }
    },
  });
  await restarted;

  const whileDown = answers.filter((a) => a.sentAt > killedAt && a.answeredAt <= restartedAt);
  expect(whileDown.length).toBeGreaterThanOrEqual(REFUSALS_WHILE_DOWN);
  // Not one delivery sent and answered while Redis was dead was told 200.
  expect(whileDown.filter((a) => a.status !== 503)).toEqual([]);
  const refusals = answers.filter((a) => a.status === 503);
  expect(refusals.every((a) => a.retryAfter !== null && Number(a.retryAfter) > 0)).toBe(true);
  expect(Math.max(...refusals.map((a) => a.ms))).toBeLessThan(3_000);
  // Calendly's retries went through once Redis was back.
  expect(new Set(finalAnswers(answers).values())).toEqual(new Set([200]));

  await expectBurstLanded(sql, burst, answers, { timeoutMs: 120_000 });
  console.log(
    `faults: redis down ${restartedAt - killedAt} ms, ${refusals.length} answers 503, slowest 503 ${Math.round(Math.max(...refusals.map((a) => a.ms)))} ms`,
  );
});
