// Proves cutting the worker's Postgres connections mid-burst (pg_terminate_backend on every
// `calhook-worker` backend, again and again) loses and doubles nothing: the jobs retry, and
// every delivery answered 200 is in the inbox exactly once and in the meetings.
import { expect, it } from 'vitest';
import { expectBurstLanded, finalAnswers, seedBurst } from './support/check.ts';
import { sendAll } from './support/deliver.ts';
import { useWorld } from './support/world.ts';

const USERS = 10;
const EVENTS = 1_500;

const running = useWorld(['receiver', 'worker']);
const { sql } = running;

async function cutWorkerConnections(): Promise<number> {
  const rows = await sql`
    select pg_terminate_backend(pid) as cut from pg_stat_activity
    where application_name = 'calhook-worker' and datname = current_database()`;
  return rows.filter((row) => row.cut === true).length;
}

it('worker backends terminated during a burst: every 200 lands exactly once', async () => {
  const burst = await seedBurst(running.world, USERS, EVENTS);
  const { deliveries } = burst;

  // Cuts from 20% to 70% of the burst, as fast as the worker reconnects.
  let phase: 'before' | 'cutting' | 'after' = 'before';
  let cut = 0;
  let rounds = 0;
  let cutter: Promise<void> | undefined;
  // postgres.js 3.4.9 crashed the process on a cut (porsager/postgres#1208) until calhook
  // patched it (patches/postgres@3.4.9.patch): the worker must now survive every cut. It is
  // still supervised so that a crash shows its stack instead of a hung scenario.
  const supervisor = running.world.supervise('worker');
  const answers = await sendAll(deliveries, {
    concurrency: 24,
    onAnswer: (_answer, answered) => {
      if (answered === Math.floor(EVENTS * 0.2)) {
        phase = 'cutting';
        cutter = (async () => {
          while (phase === 'cutting') {
            cut += await cutWorkerConnections();
            rounds += 1;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        })();
      }
      if (answered === Math.floor(EVENTS * 0.7)) phase = 'after';
    },
  });
  phase = 'after';
  await cutter;
  expect(cut).toBeGreaterThan(0);
  expect(new Set(finalAnswers(answers).values())).toEqual(new Set([200]));

  await expectBurstLanded(sql, burst, answers, { timeoutMs: 150_000 });
  const { restarts, exits } = await supervisor.stop();
  console.log(`faults: ${cut} worker backends terminated in ${rounds} rounds`);
  expect(restarts, `the worker crashed:\n${exits.at(-1)}`).toBe(0);
});
