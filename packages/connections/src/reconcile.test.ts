// Proves the backfill policy: the first import takes the wide window; a request, a created
// subscription, a user without a subscription and the routine cadence (once per BACKFILL_EVERY,
// at the connection's own offset) take the narrow one; nothing else backfills. And the sweep's
// slice length.
import { lastSlotOf } from '@calhook/db';
import { describe, expect, it } from 'vitest';
import { backfillDecision, sweepSliceMs } from './reconcile.ts';

const settings = {
  pastMs: 7 * 86_400_000,
  futureMs: 60 * 86_400_000,
  initialPastMs: 90 * 86_400_000,
  initialFutureMs: 180 * 86_400_000,
  everyMs: 6 * 3_600_000,
};
const now = new Date('2026-12-03T12:00:00Z');
const healthy = { state: 'active' as const, created: [] };
const id = '0b8e7d3c-5f4a-4e2b-9c1d-2a3b4c5d6e7f';
/** The connection's last routine backfill moment at or before now. */
const slot = lastSlotOf(id, settings.everyMs, now);
const msBefore = (at: Date, ms: number) => new Date(at.getTime() - ms);

describe('backfillDecision', () => {
  it('imports the wide window when the connection was never backfilled', () => {
    expect(
      backfillDecision(
        { id, lastBackfilledAt: null, backfillRequestedAt: null },
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
    const recent = { id, lastBackfilledAt: msBefore(now, 1), backfillRequestedAt: null };
    const cases = [
      [{ ...recent, backfillRequestedAt: now }, healthy, 'requested'],
      [recent, { state: 'active' as const, created: ['s'] }, 'subscription created'],
      [recent, { state: 'unavailable' as const, created: [] }, 'no subscription possible'],
      [{ ...recent, lastBackfilledAt: msBefore(slot, 1) }, healthy, 'routine'],
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

  it('does not backfill a healthy connection backfilled since its last slot', () => {
    expect(
      backfillDecision(
        { id, lastBackfilledAt: slot, backfillRequestedAt: null },
        healthy,
        now,
        settings,
      ),
    ).toEqual({ due: false });
  });

  it('backfills each connection once per BACKFILL_EVERY, at its own moment of the cycle', () => {
    const ids = Array.from(
      { length: 50 },
      (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    );
    const slots = ids.map((i) => lastSlotOf(i, settings.everyMs, now).getTime());
    for (const at of slots) {
      expect(now.getTime() - at).toBeGreaterThanOrEqual(0);
      expect(now.getTime() - at).toBeLessThan(settings.everyMs);
    }
    // Spread over the cycle, not bunched: the 50 moments fall in at least 4 of its 6 hours.
    const hours = new Set(slots.map((at) => Math.floor((now.getTime() - at) / 3_600_000)));
    expect(hours.size).toBeGreaterThanOrEqual(4);
  });
});

describe('sweepSliceMs', () => {
  it('cuts a cycle into about 180 slices of 1 to 5 s', () => {
    expect(sweepSliceMs(15 * 60_000)).toBe(5_000);
    expect(sweepSliceMs(20_000)).toBe(1_000);
    expect(sweepSliceMs(6 * 60_000)).toBe(2_000);
  });
});
