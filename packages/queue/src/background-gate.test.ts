// Proves the gate's limit: it starts at the floor and grows while live deliveries are fast,
// halves when one was slow, never drops below the floor, holds runs beyond it until places
// free up, and lets everything through once closed.
import { describe, expect, it } from 'vitest';
import { createBackgroundGate } from './background-gate.ts';

describe('createBackgroundGate', () => {
  it('grows while live deliveries are fast and halves when one is slow', () => {
    const gate = createBackgroundGate({ maxRuns: 32, minRuns: 2, liveTargetMs: 300, manual: true });
    expect(gate.limit()).toBe(2);
    for (let i = 0; i < 30; i++) {
      gate.observeLive(120);
      gate.adjust();
    }
    expect(gate.limit()).toBe(32);
    gate.observeLive(50);
    gate.observeLive(450);
    gate.adjust();
    expect(gate.limit()).toBe(16);
    gate.observeLive(900);
    gate.adjust();
    gate.observeLive(900);
    gate.adjust();
    gate.observeLive(900);
    gate.adjust();
    gate.observeLive(900);
    gate.adjust();
    expect(gate.limit()).toBe(2);
    // A window without any live delivery presses nothing.
    gate.adjust();
    expect(gate.limit()).toBe(3);
  });

  it('is pressed by a live delivery still waiting, before it is stored', () => {
    let age = 0;
    const gate = createBackgroundGate({ maxRuns: 8, minRuns: 1, manual: true, liveAge: () => age });
    for (let i = 0; i < 10; i++) gate.adjust();
    expect(gate.limit()).toBe(8);
    age = 200;
    gate.adjust();
    expect(gate.limit()).toBe(8);
    age = 500;
    gate.adjust();
    expect(gate.limit()).toBe(4);
  });

  it('holds runs beyond the limit until a place frees up, first come first served', async () => {
    const gate = createBackgroundGate({ maxRuns: 8, minRuns: 2, manual: true });
    const first = await gate.enter();
    const second = await gate.enter();
    const order: string[] = [];
    const third = gate.enter().then((done) => {
      order.push('third');
      return done;
    });
    const fourth = gate.enter().then((done) => {
      order.push('fourth');
      return done;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(order).toEqual([]);
    first();
    first(); // a second call frees nothing more
    (await third)();
    expect(order).toEqual(['third']);
    second();
    await fourth;
    expect(order).toEqual(['third', 'fourth']);
  });

  it('admits waiting runs when the limit grows, and everything once closed', async () => {
    const gate = createBackgroundGate({ maxRuns: 8, minRuns: 1, manual: true });
    await gate.enter();
    let admitted = 0;
    const waiting = [gate.enter(), gate.enter(), gate.enter()].map((p) =>
      p.then(() => {
        admitted += 1;
      }),
    );
    gate.adjust();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(admitted).toBe(1);
    gate.close();
    await Promise.all(waiting);
    expect(admitted).toBe(3);
    await gate.enter();
  });
});
