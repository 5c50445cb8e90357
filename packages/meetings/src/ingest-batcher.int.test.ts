// The worker's batching against real Postgres: concurrent jobs share transactions, each gets
// its own outcome, and one delivery the database refuses is recorded as invalid on its own.
import { randomBytes } from 'node:crypto';
import { createDatabase, type DatabaseHandle, eventInbox } from '@calhook/db';
import { testDatabase, testUrls, uniqueId } from '@calhook/testing';
import { deliveryContentHash } from '@calhook/webhooks';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createConnection, inviteeDelivery, snapshot } from '../test/fixtures.ts';
import { lockByHashes } from './inbox-store.ts';
import {
  type BatchSummary,
  createIngestBatcher,
  IngestBatchDeadlineError,
} from './ingest-batcher.ts';
import { isolatable } from './pg-errors.ts';

let handle: DatabaseHandle;
beforeAll(() => {
  handle = testDatabase();
});
afterAll(async () => {
  await handle.close();
});

const now = () => new Date();

it('coalesces concurrent deliveries into few transactions, each with its own outcome', async () => {
  const connection = await createConnection(handle.db);
  const sizes: number[] = [];
  const batcher = createIngestBatcher(handle.db, { now }, { onBatch: (s) => sizes.push(s.size) });
  const bodies = Array.from({ length: 60 }, () =>
    inviteeDelivery({ createdBy: connection.calendlyUserUri ?? '' }),
  );
  const results = await Promise.all(
    [...bodies, bodies[0] as string].map((body) =>
      batcher.ingest({ hookId: 'h', connectionId: connection.id, body, receivedAt: new Date() }),
    ),
  );
  expect(results.slice(0, 60).every((r) => r.outcome === 'applied')).toBe(true);
  expect(results[60]).toMatchObject({ outcome: 'duplicate', inboxId: results[0]?.inboxId });
  expect(sizes.reduce((a, b) => a + b, 0)).toBe(61);
  expect(sizes.length).toBeLessThan(61);
  expect((await snapshot(handle.db, connection.id)).meetings.size).toBe(60);
});

it('isolates a delivery the database refuses: recorded as invalid, the rest of its batch applied', async () => {
  const connection = await createConnection(handle.db);
  const batcher = createIngestBatcher(handle.db, { now });
  const createdBy = connection.calendlyUserUri ?? '';
  const good = Array.from({ length: 10 }, () => inviteeDelivery({ createdBy }));
  // Valid JSON, valid schema, but an invitee URI longer than a btree index entry may be (and
  // random, so compression cannot shrink it under the limit).
  const longPart = randomBytes(9_000).toString('base64url');
  const refused = inviteeDelivery({
    createdBy,
    invitee: { uri: `https://api.calendly.com/scheduled_events/E/invitees/${longPart}` },
  });
  const results = await Promise.all(
    [...good.slice(0, 5), refused, ...good.slice(5)].map((body) =>
      batcher.ingest({ hookId: 'h', connectionId: connection.id, body, receivedAt: new Date() }),
    ),
  );
  expect(results.map((r) => r.outcome)).toEqual([
    ...Array(5).fill('applied'),
    'invalid',
    ...Array(5).fill('applied'),
  ]);
  expect(results[5]?.detail).toMatch(/^the database refused it \(54000: index row/);
  expect(results[5]?.detail).not.toContain(longPart.slice(0, 40));
  const [row] = await handle.db
    .select()
    .from(eventInbox)
    .where(eq(eventInbox.id, results[5]?.inboxId ?? -1));
  expect(row).toMatchObject({ outcome: 'invalid', outcomeDetail: results[5]?.detail });
  expect((await snapshot(handle.db, connection.id)).meetings.size).toBe(10);
});

it('stores and applies text Postgres cannot hold, with U+FFFD in its place', async () => {
  const connection = await createConnection(handle.db);
  const batcher = createIngestBatcher(handle.db, { now });
  const body = inviteeDelivery({
    createdBy: connection.calendlyUserUri ?? '',
    invitee: { name: `Guest${String.fromCharCode(0)}One\ud800` },
  });
  const result = await batcher.ingest({
    hookId: 'h',
    connectionId: connection.id,
    body,
    receivedAt: new Date(),
  });
  expect(result.outcome).toBe('applied');
  const [invitee] = (await snapshot(handle.db, connection.id)).invitees.values();
  expect(invitee?.name).toBe('Guest\uFFFDOne\uFFFD');
});

it('answers a delivery whose connection is gone, without failing its batch', async () => {
  const connection = await createConnection(handle.db);
  const batcher = createIngestBatcher(handle.db, { now });
  const body = inviteeDelivery({ createdBy: connection.calendlyUserUri ?? '' });
  const [ok, gone] = await Promise.all([
    batcher.ingest({ hookId: 'h', connectionId: connection.id, body, receivedAt: new Date() }),
    batcher.ingest({
      hookId: uniqueId('h'),
      connectionId: '00000000-0000-4000-8000-000000000000',
      body,
      receivedAt: new Date(),
    }),
  ]);
  expect(ok?.outcome).toBe('applied');
  expect(gone).toMatchObject({ outcome: 'invalid', detail: 'connection not found' });
});

it('fails a whole batch at once when the database cannot be reached, without retrying each', async () => {
  // Nothing listens on port 1: every connection attempt is refused.
  const unreachable = createDatabase('postgres://postgres@127.0.0.1:1/none', { max: 2 });
  const summaries: BatchSummary[] = [];
  const batcher = createIngestBatcher(
    unreachable.db,
    { now },
    { onBatch: (s) => summaries.push(s) },
  );
  try {
    const settled = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        batcher.ingest({
          hookId: 'h',
          connectionId: '00000000-0000-4000-8000-000000000000',
          body: `{"n":${i}}`,
          receivedAt: new Date(),
        }),
      ),
    );
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    expect(summaries.some((s) => s.size > 1)).toBe(true);
    expect(summaries.every((s) => !s.split)).toBe(true);
    expect(summaries.reduce((n, s) => n + (s.outcomes.failed ?? 0), 0)).toBe(20);
  } finally {
    await unreachable.close();
  }
});

it('fails a batch that does not settle by its deadline, and goes on with the next one', async () => {
  const connection = await createConnection(handle.db);
  const summaries: BatchSummary[] = [];
  const batcher = createIngestBatcher(
    handle.db,
    { now },
    { deadlineMs: 500, maxInFlight: 1, onBatch: (s) => summaries.push(s) },
  );
  const createdBy = connection.calendlyUserUri ?? '';
  const delivery = (body: string) => ({
    hookId: 'h',
    connectionId: connection.id,
    body,
    receivedAt: new Date(),
  });
  const held = inviteeDelivery({ createdBy });
  expect((await batcher.ingest(delivery(held))).outcome).toBe('applied');

  // Another session holds the delivery's inbox row: the batch that takes it again waits.
  const blocker = createDatabase(testUrls().databaseUrl, { max: 1 });
  let release = () => {};
  let locked = () => {};
  const isLocked = new Promise<void>((resolve) => {
    locked = resolve;
  });
  const holding = blocker.db.transaction(async (tx) => {
    await lockByHashes(tx, [deliveryContentHash(connection.id, held)]);
    locked();
    await new Promise<void>((resolve) => {
      release = resolve;
    });
  });
  try {
    await isLocked;
    const stuck = batcher.ingest(delivery(held)).then(
      () => 'settled',
      (error: unknown) => error,
    );
    expect(await stuck).toBeInstanceOf(IngestBatchDeadlineError);
    expect(summaries.at(-1)).toMatchObject({ size: 1, expired: true, outcomes: { failed: 1 } });
    // Its place is free (one batch at a time here): the next delivery is applied meanwhile.
    const next = await batcher.ingest(delivery(inviteeDelivery({ createdBy })));
    expect(next.outcome).toBe('applied');
  } finally {
    release();
    await holding;
    await blocker.close();
  }
  // The expired batch went on once the row was free; the retried delivery is a duplicate.
  expect((await batcher.ingest(delivery(held))).outcome).toBe('duplicate');
});

it('retries singly only for errors about the data', () => {
  const withCode = (code: string) => Object.assign(new Error(code), { code });
  expect(isolatable(withCode('22P05'))).toBe(true); // untranslatable character
  expect(isolatable(withCode('23503'))).toBe(true); // foreign key
  expect(isolatable(withCode('40P01'))).toBe(true); // deadlock
  expect(isolatable(new Error('wrapped', { cause: withCode('22021') }))).toBe(true);
  expect(isolatable(withCode('57P01'))).toBe(false); // server shutting down
  expect(isolatable(withCode('08006'))).toBe(false); // connection failure
  expect(isolatable(withCode('CONNECTION_CLOSED'))).toBe(false);
  expect(isolatable(withCode('ECONNREFUSED'))).toBe(false);
  expect(isolatable(new Error('no code'))).toBe(false);
});
