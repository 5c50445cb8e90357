// Proves the feed's retention through GET /v1/changes, on a database of its own (pruning is
// global): after changes older than the retention are pruned, a cursor that points before them
// answers 410 with the oldest valid cursor, that cursor reads on without a gap, and a reader
// without a cursor starts at the oldest change kept.
import { randomUUID } from 'node:crypto';
import {
  type Change,
  changeRepo,
  createDatabase,
  type DatabaseHandle,
  dropDatabase,
  migrateDatabase,
} from '@calhook/db';
import { createLogger } from '@calhook/observability';
import { eventually, testUrls, uniqueId } from '@calhook/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApiApp } from '../src/app.ts';

const token = 'retention-api-token-0123';
let url: string;
let database: DatabaseHandle;

beforeAll(async () => {
  const own = new URL(testUrls().databaseUrl);
  own.pathname = `/${uniqueId('calhook_test_retention_')}`;
  url = own.toString();
  await migrateDatabase(url);
  database = createDatabase(url, { max: 3 });
});
afterAll(async () => {
  await database?.close();
  await dropDatabase(url);
});

it('answers 410 with the oldest cursor for a cursor older than the retention', async () => {
  const app = buildApiApp({
    logger: createLogger({ level: 'silent' }),
    db: database.db,
    apiToken: token,
    checkReady: async () => {},
  });
  const get = async (query: string) => {
    const response = await app.inject({
      url: `/v1/changes${query}`,
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: response.statusCode, body: response.json() };
  };
  const append = (mark: string) =>
    changeRepo.append(database.db, [
      {
        type: 'connection.updated',
        userId: 'retention-user',
        connectionId: randomUUID(),
        meetingId: null,
        data: { mark },
      },
    ]);

  const marks = (body: { changes: Change[] }) =>
    body.changes.map((c) => (c.data as { mark: string }).mark).join('');
  // A change shows once every older transaction on the server has ended: wait for it.
  const settled = async (query: string, expected: string) =>
    eventually(
      async () => {
        const answer = await get(query);
        return marks(answer.body) === expected ? answer : undefined;
      },
      { what: `the feed to show ${expected}` },
    );

  for (const mark of ['a', 'b', 'c']) await append(mark);
  const all = await settled('', 'abc');
  const afterA = all.body.changes[0].cursor as string;

  // The retention passes for the first two; two more come after.
  expect(await changeRepo.pruneBefore(database.db, new Date(Date.now() + 60_000), 2)).toBe(2);
  for (const mark of ['d', 'e']) await append(mark);

  const expired = await get(`?after=${afterA}`);
  expect(expired.status).toBe(410);
  expect(expired.body).toMatchObject({ error: 'cursor_expired' });
  await settled(`?after=${expired.body.oldestCursor}`, 'cde');
  const fromStart = await get('?limit=1');
  expect(marks(fromStart.body)).toBe('c');
  expect(fromStart.body.nextCursor).toBe(fromStart.body.changes[0].cursor);
  await app.close();
});
