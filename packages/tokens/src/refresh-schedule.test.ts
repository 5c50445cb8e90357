// Proves the refresh schedule: lead time, jitter, keep-alive, what counts as due, and the callers' back-off.
import { describe, expect, it } from 'vitest';
import { coolDownMs, isRefreshDue, nextRefreshAt, type RefreshTiming } from './refresh-schedule.ts';

const T = Date.parse('2030-01-01T00:00:00Z');
const timing = (overrides: Partial<RefreshTiming> = {}): RefreshTiming => ({
  expiresAt: new Date(T + 7_200_000),
  refreshTokenIssuedAt: new Date(T),
  refreshBeforeExpiryMs: 600_000,
  keepAliveAfterMs: 7 * 86_400_000,
  ...overrides,
});

describe('nextRefreshAt', () => {
  it('plans the lead time before expiry, minus up to a fifth of it as jitter', () => {
    expect(nextRefreshAt(timing(), () => 0)).toBe(T + 7_200_000 - 600_000);
    expect(nextRefreshAt(timing(), () => 0.5)).toBe(T + 7_200_000 - 600_000 - 60_000);
    expect(nextRefreshAt(timing(), () => 0.999_999)).toBeGreaterThan(T + 7_200_000 - 720_000);
  });

  it('plans the keep-alive when it comes first, and only it when the token never expires', () => {
    expect(nextRefreshAt(timing({ keepAliveAfterMs: 3_600_000 }), () => 0)).toBe(T + 3_600_000);
    expect(nextRefreshAt(timing({ expiresAt: null }), () => 0)).toBe(T + 7 * 86_400_000);
  });

  it('plans nothing without an expiry or an issue time', () => {
    expect(nextRefreshAt(timing({ expiresAt: null, refreshTokenIssuedAt: null }), () => 0)).toBe(
      null,
    );
  });
});

describe('isRefreshDue', () => {
  it('is due from the earliest jittered moment on, not before', () => {
    const earliest = T + 7_200_000 - 720_000;
    expect(isRefreshDue(timing(), earliest - 1_001, 1_000)).toBe(false);
    expect(isRefreshDue(timing(), earliest - 1_000, 1_000)).toBe(true);
    expect(isRefreshDue(timing(), T + 7_300_000, 1_000)).toBe(true);
  });

  it('every planned moment is due', () => {
    for (const r of [0, 0.25, 0.5, 0.999]) {
      const at = nextRefreshAt(timing(), () => r) as number;
      expect(isRefreshDue(timing(), at, 0)).toBe(true);
    }
  });

  it('a token just issued is not due', () => {
    expect(isRefreshDue(timing(), T + 1_000, 1_000)).toBe(false);
  });
});

describe('coolDownMs', () => {
  it('doubles from 1 s per consecutive failure, capped at a minute', () => {
    expect([0, 1, 2, 3, 7, 20].map(coolDownMs)).toEqual([0, 1_000, 2_000, 4_000, 60_000, 60_000]);
  });
});
