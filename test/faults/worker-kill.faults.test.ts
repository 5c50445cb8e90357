// Proves a worker killed with SIGKILL in the middle of a 5,000-delivery burst loses nothing: once
// restarted, every delivery answered 200 is in the inbox exactly once and in the meetings.
import { expect, it } from 'vitest';
import { expectBurstLanded, finalAnswers, type SeededUser, seedBurst } from './support/check.ts';
import { sendAll } from './support/deliver.ts';
import { useWorld } from './support/world.ts';

const USERS = 20;
const EVENTS = 5_000;

const running = useWorld(['receiver', 'worker', 'api']);
const { sql } = running;

it('SIGKILL of the worker mid-burst, then a restart: every 200 lands exactly once', async () => {
  const burst = await seedBurst(running.world, USERS, EVENTS);
  const { users, histories, deliveries } = burst;
  expect(deliveries).toHaveLength(EVENTS);

  let restarted: Promise<unknown> | undefined;
  let killedAt = -1;
  const answers = await sendAll(deliveries, {
    concurrency: 32,
    onAnswer: async (_answer, answered) => {
      if (answered === Math.floor(EVENTS * 0.3)) {
        const [row] = await sql<{ n: number }[]>`
          select count(*)::int as n from event_inbox
          where connection_id = any(${users.map((u) => u.connectionId)}::uuid[])`;
        killedAt = row?.n ?? -1;
        await running.world.kill('worker');
      }
      if (answered === Math.floor(EVENTS * 0.6)) restarted = running.world.start('worker');
    },
  });
  await restarted;
  // The kill hit a worker that had started on the burst and had not finished it.
  expect(killedAt).toBeGreaterThan(0);
  expect(killedAt).toBeLessThan(EVENTS);
  expect(new Set(finalAnswers(answers).values())).toEqual(new Set([200]));

  await expectBurstLanded(sql, burst, answers, { timeoutMs: 180_000 });

  // And the api reads the same: the first user's active meetings, through the real endpoint.
  const [first] = users as [SeededUser];
  const listed = await running.world.api(
    'GET',
    `/v1/users/${first.userId}/meetings?status=active&limit=200`,
  );
  expect(listed.status).toBe(200);
  const active = [...(histories.get(first)?.meetings ?? [])].filter(([, s]) => s === 'active');
  expect((listed.body as { meetings: unknown[] }).meetings).toHaveLength(active.length);
});
