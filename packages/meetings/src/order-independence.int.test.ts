// Proves against real Postgres that a random Calendly history ingested in order, and the same
// deliveries in a random order with duplicates (or only some of them), one by one, all at
// once, or in batches of any size running side by side, leave identical rows.
import type { DatabaseHandle } from '@calhook/db';
import { testDatabase, uniqueId } from '@calhook/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createConnection, snapshot } from '../test/fixtures.ts';
import { deliveryPlanArbitrary, SCENARIO_USER_URI, scenarioArbitrary } from '../test/scenarios.ts';
import { type Delivery, ingestDeliveries, ingestDelivery } from './ingest-delivery.ts';

let handle: DatabaseHandle;
beforeAll(() => {
  handle = testDatabase();
});
afterAll(async () => {
  await handle.close();
});

async function ingestAll(bodies: string[], order: number[], concurrently = false) {
  const connection = await createConnection(handle.db, SCENARIO_USER_URI);
  const hookId = uniqueId('hook');
  const ingest = async (index: number) => {
    const body = bodies[index];
    if (body === undefined) return;
    const result = await ingestDelivery(
      handle.db,
      { hookId, connectionId: connection.id, body, receivedAt: new Date() },
      { now: () => new Date() },
    );
    expect(['applied', 'stale', 'duplicate']).toContain(result.outcome);
  };
  if (concurrently) await Promise.all(order.map(ingest));
  else for (const index of order) await ingest(index);
  return snapshot(handle.db, connection.id);
}

/** The worker's way: consecutive runs of the order as batches, the batches concurrently. */
async function ingestInBatches(bodies: string[], order: number[], sizes: number[]) {
  const connection = await createConnection(handle.db, SCENARIO_USER_URI);
  const hookId = uniqueId('hook');
  const batches: Delivery[][] = [];
  for (let at = 0, i = 0; at < order.length; i += 1) {
    const size = sizes[i % sizes.length] ?? 1;
    batches.push(
      order.slice(at, at + size).map((index) => ({
        hookId,
        connectionId: connection.id,
        body: bodies[index] as string,
        receivedAt: new Date(),
      })),
    );
    at += size;
  }
  await Promise.all(
    batches.map(async (batch) => {
      const results = await ingestDeliveries(handle.db, batch, { now: () => new Date() });
      expect(results).toHaveLength(batch.length);
      for (const result of results)
        expect(['applied', 'stale', 'duplicate']).toContain(result.outcome);
    }),
  );
  return snapshot(handle.db, connection.id);
}

it('ends in the same rows for any delivery order, duplicates and gaps', async () => {
  const withPlan = scenarioArbitrary.chain((scenario) =>
    fc.tuple(
      fc.constant(scenario),
      deliveryPlanArbitrary(scenario.envelopes.length),
      fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }),
    ),
  );
  await fc.assert(
    fc.asyncProperty(withPlan, async ([scenario, plan, batchSizes]) => {
      const bodies = scenario.envelopes.map((envelope) => JSON.stringify(envelope));
      const inOrder = await ingestAll(bodies, plan.inOrder);
      const shuffled = await ingestAll(bodies, plan.shuffled);
      expect(shuffled).toEqual(inOrder);
      // Several workers at once: the locks must serialise what touches the same rows.
      const racing = await ingestAll(bodies, plan.shuffled, true);
      expect(racing).toEqual(inOrder);
      // Batches of any size, side by side: the in-memory fold must equal one by one.
      const batched = await ingestInBatches(bodies, plan.shuffled, batchSizes);
      expect(batched).toEqual(inOrder);
      const oneBatch = await ingestInBatches(bodies, plan.shuffled, [plan.shuffled.length || 1]);
      expect(oneBatch).toEqual(inOrder);

      if (plan.inOrder.length < bodies.length) return;
      for (const [uri, status] of scenario.expected.meetings) {
        expect(inOrder.meetings.get(uri)?.status).toBe(status);
      }
      for (const [uri, expected] of scenario.expected.invitees) {
        expect(inOrder.invitees.get(uri)).toMatchObject(expected);
      }
    }),
    { numRuns: 60 },
  );
}, 60_000);
