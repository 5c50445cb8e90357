// The worker's batching against real Postgres: concurrent jobs share transactions, each gets
// its own outcome, and one delivery the database refuses fails only its own job.
import type { DatabaseHandle } from '@calhook/db';
import { testDatabase, uniqueId } from '@calhook/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createConnection, inviteeDelivery, snapshot } from '../test/fixtures.ts';
import { createIngestBatcher } from './ingest-batcher.ts';

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

it('isolates a delivery the database refuses: the rest of its batch is applied', async () => {
  const connection = await createConnection(handle.db);
  const batcher = createIngestBatcher(handle.db, { now });
  const createdBy = connection.calendlyUserUri ?? '';
  const good = Array.from({ length: 10 }, () => inviteeDelivery({ createdBy }));
  // Valid JSON, valid schema, but Postgres text cannot hold a NUL character.
  const refused = inviteeDelivery({
    createdBy,
    invitee: { name: `Guest${String.fromCharCode(0)}` },
  });
  const settled = await Promise.allSettled(
    [...good.slice(0, 5), refused, ...good.slice(5)].map((body) =>
      batcher.ingest({ hookId: 'h', connectionId: connection.id, body, receivedAt: new Date() }),
    ),
  );
  expect(settled.map((s) => s.status)).toEqual([
    ...Array(5).fill('fulfilled'),
    'rejected',
    ...Array(5).fill('fulfilled'),
  ]);
  expect((await snapshot(handle.db, connection.id)).meetings.size).toBe(10);
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
