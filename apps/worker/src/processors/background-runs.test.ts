// Proves the worker's side of live-first: scheduled reconcile runs take their places from the
// background gate (so at most its limit run at once) while runs someone asked for start at
// once, and the live watch reports the oldest delivery in hand and each stored one's lag.
import { createBackgroundGate } from '@calhook/queue';
import { describe, expect, it } from 'vitest';
import { createLiveWatch } from './ingest-event.ts';
import { reconcileConnection } from './reconcile-connection.ts';

describe('reconcile-connection under the background gate', () => {
  it('runs scheduled reconciles within the limit and requested ones at once', async () => {
    const gate = createBackgroundGate({ maxRuns: 4, minRuns: 1, manual: true });
    let running = 0;
    let most = 0;
    const release: (() => void)[] = [];
    const processor = reconcileConnection({
      backgroundGate: gate,
      connections: {
        reconcile: async () => {
          running += 1;
          most = Math.max(most, running);
          await new Promise<void>((resolve) => release.push(resolve));
          running -= 1;
          return { skipped: 'test' };
        },
      },
    });
    const ctx = {} as Parameters<typeof processor>[1];
    const scheduled = [1, 2, 3].map((n) =>
      processor({ connectionId: `c${n}`, reason: 'scheduled' }, ctx),
    );
    const requested = processor({ connectionId: 'c9', reason: 'requested' }, ctx);
    await new Promise((resolve) => setTimeout(resolve, 10));
    // One scheduled run (the limit) and the requested one.
    expect(running).toBe(2);
    while (release.length > 0 || running > 0) {
      release.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all([...scheduled, requested]);
    expect(most).toBe(2);
  });
});

describe('createLiveWatch', () => {
  it('reports the oldest delivery in hand, 0 when none is held, and each one stored', async () => {
    const lags: number[] = [];
    const watch = createLiveWatch((ms) => lags.push(ms));
    expect(watch.oldestAgeMs()).toBe(0);
    const delivery = (ageMs: number) => ({
      hookId: 'h',
      connectionId: 'c',
      body: '{}',
      receivedAt: new Date(Date.now() - ageMs),
    });
    let store: () => void = () => {};
    const stored = new Promise<void>((resolve) => {
      store = resolve;
    });
    const held = [delivery(100), delivery(900)].map((d) => watch.hold(d, () => stored));
    expect(watch.oldestAgeMs()).toBeGreaterThanOrEqual(900);
    expect(watch.oldestAgeMs()).toBeLessThan(1_900);
    store();
    await Promise.all(held);
    expect(watch.oldestAgeMs()).toBe(0);
    expect(lags.sort((a, b) => a - b)[1]).toBeGreaterThanOrEqual(900);
    await expect(watch.hold(delivery(0), () => Promise.reject(new Error('no')))).rejects.toThrow();
    expect(watch.oldestAgeMs()).toBe(0);
    expect(lags).toHaveLength(2);
  });
});
