// Proves, on the pure rules, that any permutation of any subset of a Calendly history, with
// duplicates, ends in the same rows as applying it in order, and that the rows tell the truth.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import {
  applyToMemory,
  emptyStore,
  type MemoryStore,
  observationOf,
} from '../test/memory-store.ts';
import { deliveryPlanArbitrary, type Scenario, scenarioArbitrary } from '../test/scenarios.ts';

function replay(scenario: Scenario, order: number[]): MemoryStore {
  const store = emptyStore();
  for (const index of order) {
    const envelope = scenario.envelopes[index];
    if (envelope) applyToMemory(store, observationOf(envelope));
  }
  return store;
}

it('converges to the in-order rows under any delivery order and duplicates', () => {
  const withOrder = scenarioArbitrary.chain((scenario) =>
    fc.tuple(fc.constant(scenario), deliveryPlanArbitrary(scenario.envelopes.length)),
  );
  fc.assert(
    fc.property(withOrder, ([scenario, plan]) => {
      const inOrder = replay(scenario, plan.inOrder);
      const shuffled = replay(scenario, plan.shuffled);
      expect(shuffled).toEqual(inOrder);
      if (plan.inOrder.length < scenario.envelopes.length) return;

      for (const [uri, status] of scenario.expected.meetings) {
        expect(inOrder.meetings.get(uri)?.status).toBe(status);
      }
      for (const [uri, expected] of scenario.expected.invitees) {
        expect(inOrder.invitees.get(uri)).toMatchObject(expected);
      }
    }),
    { numRuns: 1000 },
  );
});
