// Proves deliveries sent three times at once and in reverse order (reschedule pairs, cancels,
// no-show marks and unmarks) leave exactly the rows the same history leaves delivered in order.
import type postgres from 'postgres';
import { expect, it } from 'vitest';
import {
  expectInboxMatches,
  expectRowsMatch,
  finalAnswers,
  type SeededUser,
  seedUsers,
} from './support/check.ts';
import { type Delivery, post, sendAll } from './support/deliver.ts';
import { writeHistory } from './support/history.ts';
import { useWorld } from './support/world.ts';

const EVENTS = 240;

const running = useWorld(['receiver', 'worker']);
const { sql } = running;

/** Every column Calendly data decides, keyed by URI; ids, connection and bookkeeping stripped. */
// Rows without bookkeeping: ids, times, and the version, which counts the changes recorded and
// so depends on how many deliveries arrived before newer ones (the state does not).
async function fullRows(db: postgres.Sql, connectionId: string) {
  const meetings = await db`
    select to_jsonb(m) - 'id' - 'connection_id' - 'created_at' - 'updated_at' - 'version' as row
    from meetings m where connection_id = ${connectionId} order by calendly_event_uri`;
  const invitees = await db`
    select to_jsonb(i) - 'id' - 'connection_id' - 'meeting_id' - 'created_at' - 'updated_at' as row
    from invitees i where connection_id = ${connectionId} order by calendly_invitee_uri`;
  return { meetings: meetings.map((r) => r.row), invitees: invitees.map((r) => r.row) };
}

async function processedCount(connectionId: string): Promise<number> {
  const [{ n }] = (await sql`
    select count(*)::int as n from event_inbox
    where connection_id = ${connectionId} and processed_at is not null`) as unknown as [
    { n: number },
  ];
  return n;
}

it('three concurrent copies of every delivery, stories reversed: same rows as in order', async () => {
  const [inOrder, hostile] = (await seedUsers(running.world, 2)) as [SeededUser, SeededUser];
  // One history, told once per user: same event and invitee URIs, each user as its creator.
  const history = writeHistory(inOrder.calendlyUserUri, EVENTS);
  const asHostile = (body: string) =>
    body.replaceAll(inOrder.calendlyUserUri, hostile.calendlyUserUri);

  // The reference: one delivery at a time, each applied before the next is sent.
  let applied = 0;
  for (const body of history.bodies) {
    const answer = await post({ target: inOrder.target, body });
    expect(answer.status).toBe(200);
    applied += 1;
    const deadline = Date.now() + 10_000;
    while ((await processedCount(inOrder.connectionId)) < applied) {
      if (Date.now() > deadline) throw new Error(`delivery ${applied} not applied in 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  // The hostile run: each story newest-first, each delivery three times at once.
  const deliveries: Delivery[] = history.stories.flatMap((story) =>
    [...story].reverse().flatMap((body) => {
      const delivery = { target: hostile.target, body: asHostile(body) };
      return [delivery, delivery, delivery];
    }),
  );
  const answers = await sendAll(deliveries, { concurrency: 24 });
  expect(new Set(finalAnswers(answers).values())).toEqual(new Set([200]));

  await expectInboxMatches(sql, [hostile], answers, { timeoutMs: 60_000 });
  await expectRowsMatch(sql, inOrder, history);
  const reference = await fullRows(sql, inOrder.connectionId);
  const hostileRows = JSON.parse(
    JSON.stringify(await fullRows(sql, hostile.connectionId)).replaceAll(
      hostile.calendlyUserUri,
      inOrder.calendlyUserUri,
    ),
  );
  expect(reference.meetings.length).toBe(history.meetings.size);
  expect(hostileRows).toEqual(reference);
});
