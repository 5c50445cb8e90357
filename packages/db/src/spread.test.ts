// Proves the spread arithmetic: positions are stable and even, a time window maps onto the
// position ranges of exactly the ids whose cycle comes round in it, and wraps at the cycle's end.
import { describe, expect, it } from 'vitest';
import {
  lastSlotOf,
  SPREAD_POSITIONS,
  spreadOffsetMs,
  spreadPosition,
  spreadRanges,
} from './spread.ts';

const ids = Array.from(
  { length: 2_000 },
  (_, i) => `6f1c${String(i).padStart(4, '0')}-1d2e-4f3a-8b4c-5d6e7f8a9b0c`,
);
const every = 60_000;
const inRanges = (p: number, ranges: { from: number; to: number }[]) =>
  ranges.some((r) => p >= r.from && p < r.to);

describe('spread', () => {
  it('gives a stable position, even over the cycle', () => {
    expect(spreadPosition(ids[0] as string)).toBe(spreadPosition(ids[0] as string));
    const tenths = new Array(10).fill(0);
    for (const id of ids) tenths[Math.floor((spreadPosition(id) / SPREAD_POSITIONS) * 10)] += 1;
    for (const count of tenths) expect(count).toBeGreaterThan(140);
  });

  it('selects, for consecutive windows, each id exactly once per cycle, in its own window', () => {
    const start = 1_764_000_000_000 + 12_345;
    const seen = new Map<string, number>();
    for (let from = start; from < start + every; from += 5_000) {
      const ranges = spreadRanges(from, from + 5_000, every);
      for (const id of ids) {
        if (!inRanges(spreadPosition(id), ranges)) continue;
        expect(seen.has(id)).toBe(false);
        seen.set(id, from);
        const slot = lastSlotOf(id, every, new Date(from + 5_000 - 1)).getTime();
        expect(slot).toBeGreaterThanOrEqual(from - 1);
        expect(slot).toBeLessThan(from + 5_000);
      }
    }
    expect(seen.size).toBe(ids.length);
  });

  it('wraps a window over the end of the cycle into two ranges', () => {
    expect(spreadRanges(every - 1_000, every + 1_000, every)).toEqual([
      { from: Math.floor(((every - 1_000) / every) * SPREAD_POSITIONS), to: SPREAD_POSITIONS },
      { from: 0, to: Math.floor((1_000 / every) * SPREAD_POSITIONS) },
    ]);
    expect(spreadRanges(0, every * 2, every)).toEqual([{ from: 0, to: SPREAD_POSITIONS }]);
    expect(spreadOffsetMs(ids[1] as string, every)).toBeLessThan(every);
  });
});
