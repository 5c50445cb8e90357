// Proves timestamps look like Calendly's and stay strictly increasing on a frozen clock.
import { describe, expect, it } from 'vitest';
import { calendlyTime, nextStamp } from './time.ts';

describe('calendlyTime', () => {
  it('renders microseconds and Z', () => {
    expect(calendlyTime(Date.parse('2025-06-01T09:00:00.123Z'))).toBe(
      '2025-06-01T09:00:00.123000Z',
    );
  });
});

describe('nextStamp', () => {
  it.each([
    { now: 1000, previous: null, expected: 1000 },
    { now: 1000, previous: 500, expected: 1000 },
    { now: 1000, previous: 1000, expected: 1001 },
    { now: 1000, previous: 1005, expected: 1006 },
  ])('now $now after $previous gives $expected', ({ now, previous, expected }) => {
    expect(nextStamp(now, previous)).toBe(expected);
  });
});
