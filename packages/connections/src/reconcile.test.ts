// Proves the backfill policy: the first import takes the wide window; a request, a created
// subscription, a user without a subscription and the routine cadence take the narrow one;
// nothing else backfills.
import { describe, expect, it } from 'vitest';
import { backfillDecision } from './reconcile.ts';

const settings = {
  pastMs: 7 * 86_400_000,
  futureMs: 60 * 86_400_000,
  initialPastMs: 90 * 86_400_000,
  initialFutureMs: 180 * 86_400_000,
  everyMs: 6 * 3_600_000,
};
const now = new Date('2026-12-03T12:00:00Z');
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);
const healthy = { state: 'active' as const, created: [] };

describe('backfillDecision', () => {
  it('imports the wide window when the connection was never backfilled', () => {
    expect(
      backfillDecision(
        { lastBackfilledAt: null, backfillRequestedAt: null },
        healthy,
        now,
        settings,
      ),
    ).toEqual({
      due: true,
      initial: true,
      pastMs: settings.initialPastMs,
      futureMs: settings.initialFutureMs,
      because: 'first import',
    });
  });

  it('backfills the routine window when asked, after a new subscription, or without one', () => {
    const recent = { lastBackfilledAt: hoursAgo(1), backfillRequestedAt: null };
    const cases = [
      [{ ...recent, backfillRequestedAt: hoursAgo(0) }, healthy, 'requested'],
      [recent, { state: 'active' as const, created: ['s'] }, 'subscription created'],
      [recent, { state: 'unavailable' as const, created: [] }, 'no subscription possible'],
      [{ ...recent, lastBackfilledAt: hoursAgo(6) }, healthy, 'routine'],
    ] as const;
    for (const [row, subscription, because] of cases) {
      expect(backfillDecision(row, subscription, now, settings)).toEqual({
        due: true,
        initial: false,
        pastMs: settings.pastMs,
        futureMs: settings.futureMs,
        because,
      });
    }
  });

  it('does not backfill a healthy connection backfilled within BACKFILL_EVERY', () => {
    expect(
      backfillDecision(
        { lastBackfilledAt: hoursAgo(5.9), backfillRequestedAt: null },
        healthy,
        now,
        settings,
      ),
    ).toEqual({ due: false });
  });
});
