// Proves the change feed is gap-free under concurrency, on real Postgres: many writers append
// changes in transactions that commit out of order (some roll back) while a reader pages all the
// while; in the end the reader saw every committed change exactly once, in order, and nothing
// that rolled back. Transactions that change the same object one after another appear in the
// order they committed. A span read by its bounds is what the feed read gives between them.
// Also cursors round-trip and reject what calhook did not issue.
import { randomUUID } from 'node:crypto';
import { testUrls, uniqueId } from '@calhook/testing';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createDatabase } from '../client.ts';
import * as changeRepo from './changes.ts';

class Abort extends Error {}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the change feed', () => {
  it('gives a concurrent reader every committed change once, in order', async () => {
    const handle = createDatabase(testUrls().databaseUrl, { max: 12 });
    const userId = uniqueId('feed');
    const connectionId = randomUUID();
    const committed = new Set<string>();
    const rolledBack = new Set<string>();
    const WRITERS = 8;
    const TRANSACTIONS = 25;
    let writing = WRITERS;
    try {
      const writer = async (w: number) => {
        for (let t = 0; t < TRANSACTIONS; t++) {
          const marks = Array.from({ length: 1 + (t % 3) }, (_, i) => `${w}-${t}-${i}`);
          const abort = Math.random() < 0.15;
          try {
            await handle.db.transaction(async (tx) => {
              await changeRepo.append(
                tx,
                marks.map((mark) => ({
                  type: 'connection.updated',
                  userId,
                  connectionId,
                  meetingId: null,
                  data: { mark },
                })),
              );
              // Held open a random while, so transactions commit in another order than they
              // took their ids and sequence numbers.
              await sleep(Math.random() * 25);
              if (abort) throw new Abort();
            });
            for (const mark of marks) committed.add(mark);
          } catch (error) {
            if (!(error instanceof Abort)) throw error;
            for (const mark of marks) rolledBack.add(mark);
          }
        }
        writing -= 1;
      };

      const seen: string[] = [];
      const positions: changeRepo.Position[] = [];
      const reader = async () => {
        let after = changeRepo.START;
        // Until the writers are done and the feed has caught up with them: a transaction of
        // any database on the server, still open, holds the feed back (never out of order).
        const deadline = () => writing === 0 && Date.now() > finishedAt + 30_000;
        let finishedAt = Number.POSITIVE_INFINITY;
        while (!(writing === 0 && seen.length >= committed.size) && !deadline()) {
          if (writing === 0 && finishedAt === Number.POSITIVE_INFINITY) finishedAt = Date.now();
          const page = await changeRepo.read(handle.db, { after, limit: 7, userId });
          for (const row of page.rows) {
            seen.push((row.data as { mark: string }).mark);
            positions.push(row.at);
          }
          after = page.next;
          if (page.rows.length === 0) await sleep(2);
        }
        // Nothing more turns up afterwards either.
        const more = await changeRepo.read(handle.db, { after, limit: 7, userId });
        seen.push(...more.rows.map((row) => (row.data as { mark: string }).mark));
      };

      await Promise.all([...Array.from({ length: WRITERS }, (_, w) => writer(w)), reader()]);

      expect(rolledBack.size).toBeGreaterThan(0);
      expect(new Set(seen).size).toBe(seen.length);
      expect(new Set(seen)).toEqual(committed);
      for (const mark of rolledBack) expect(seen).not.toContain(mark);
      for (let i = 1; i < positions.length; i++) {
        expect(changeRepo.isBefore(positions[i - 1]!, positions[i]!)).toBe(true);
      }
    } finally {
      await handle.close();
    }
  }, 60_000);

  it('orders the changes of one object as their transactions committed', async () => {
    const handle = createDatabase(testUrls().databaseUrl, { max: 10 });
    const userId = uniqueId('order');
    const connectionId = randomUUID();
    const OBJECTS = 3;
    const WRITERS = 6;
    const ROUNDS = 12;
    const lockOf = (object: number) => 91_000_000 + Number.parseInt(userId.slice(-6), 36) + object;
    try {
      // Each writer takes its transaction id first, then waits for the object (as an ingest
      // waits for a meeting's row), so ids are taken in another order than commits happen.
      const writer = async (w: number) => {
        for (let r = 0; r < ROUNDS; r++) {
          const object = (w + r) % OBJECTS;
          await handle.db.transaction(async (tx) => {
            await tx.execute(sql`select pg_current_xact_id()`);
            await sleep(Math.random() * 10);
            await tx.execute(sql`select pg_advisory_xact_lock(${lockOf(object)})`);
            const [last] = await tx.execute<{ version: number | null }>(sql`
              select max((data->>'version')::int) as version from changes
              where user_id = ${userId} and data->>'object' = ${String(object)}`);
            const version = (last?.version ?? 0) + 1;
            await changeRepo.append(tx, [
              {
                type: 'meeting.updated',
                userId,
                connectionId,
                meetingId: null,
                data: { object: String(object), version },
              },
            ]);
            await sleep(Math.random() * 10);
          });
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));

      const seen: { object: string; version: number }[] = [];
      let after = changeRepo.START;
      const deadline = Date.now() + 30_000;
      while (seen.length < WRITERS * ROUNDS && Date.now() < deadline) {
        const page = await changeRepo.read(handle.db, { after, limit: 50, userId });
        seen.push(...page.rows.map((row) => row.data as { object: string; version: number }));
        after = page.next;
        if (page.rows.length === 0) await sleep(20);
      }
      expect(seen).toHaveLength(WRITERS * ROUNDS);
      for (let object = 0; object < OBJECTS; object++) {
        const versions = seen.filter((c) => c.object === String(object)).map((c) => c.version);
        expect(versions).toEqual(versions.map((_, i) => i + 1));
      }
    } finally {
      await handle.close();
    }
  }, 60_000);

  it('reads a span as the feed read gives it, inside one transaction and across several', async () => {
    const handle = createDatabase(testUrls().databaseUrl, { max: 2 });
    const userId = uniqueId('span');
    try {
      const start = await changeRepo.head(handle.db);
      for (const size of [6, 4]) {
        await handle.db.transaction((tx) =>
          changeRepo.append(
            tx,
            Array.from({ length: size }, (_, i) => ({
              type: 'connection.updated' as const,
              userId,
              connectionId: randomUUID(),
              meetingId: null,
              data: { size, i },
            })),
          ),
        );
      }
      const feed = (await changeRepo.read(handle.db, { after: start, limit: 1_000 })).rows;
      const ours = feed.filter((row) => row.userId === userId);
      expect(ours).toHaveLength(10);
      const spans: [changeRepo.Position, changeRepo.Position][] = [
        [start, (ours[2] as changeRepo.PositionedChange).at],
        [(ours[1] as changeRepo.PositionedChange).at, (ours[4] as changeRepo.PositionedChange).at],
        [(ours[3] as changeRepo.PositionedChange).at, (ours[8] as changeRepo.PositionedChange).at],
        [(ours[8] as changeRepo.PositionedChange).at, (ours[9] as changeRepo.PositionedChange).at],
      ];
      for (const [after, through] of spans) {
        const expected = feed.filter(
          (row) => changeRepo.isBefore(after, row.at) && !changeRepo.isBefore(through, row.at),
        );
        const span = await changeRepo.readSpan(handle.db, { after, through, limit: 1_000 });
        expect(span.map((row) => row.id)).toEqual(expected.map((row) => row.id));
        expect(span).toEqual(expected);
      }
    } finally {
      await handle.close();
    }
  });

  it('round-trips cursors and refuses strings it did not issue', () => {
    const position = { position: 999_999_999_999_999, seq: 123_456_789 };
    expect(changeRepo.decodeCursor(changeRepo.encodeCursor(position))).toEqual(position);
    for (const bad of [
      '',
      'abc',
      'c1.',
      'c2.!!!',
      `c1.${Buffer.from('1.1').toString('base64url')}`,
      `c2.${Buffer.from('1.x').toString('base64url')}`,
      `c2.${Buffer.from('1234567890123456.1').toString('base64url')}`,
    ]) {
      expect(changeRepo.decodeCursor(bad)).toBeNull();
    }
  });
});
