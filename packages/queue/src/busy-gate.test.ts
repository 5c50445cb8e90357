// Proves the gate: a start goes at once while the loop has room, waits while it is busier than
// the threshold and goes once it has room again, and never waits after close.
import { describe, expect, it } from 'vitest';
import { createBusyGate } from './busy-gate.ts';

describe('createBusyGate', () => {
  it('holds starts while the loop is busy and lets them go once it has room', async () => {
    const shares = [0.95, 0.9, 0.5];
    const waits: number[] = [];
    const gate = createBusyGate({
      threshold: 0.7,
      windowMs: 100,
      busyShare: () => shares[0] ?? 0,
      sleep: async (ms) => {
        waits.push(ms);
        shares.shift();
      },
    });
    await gate.ready();
    expect(waits).toEqual([100, 100]);
    await gate.ready();
    expect(waits).toEqual([100, 100]);
  });

  it('never holds a start after close', async () => {
    const gate = createBusyGate({ threshold: 0.7, busyShare: () => 1, sleep: async () => {} });
    gate.close();
    await gate.ready();
  });
});
