// Proves the fixed one-minute window per key: limit, remaining and reset seconds on an injected clock.
import { describe, expect, it } from 'vitest';
import { createRateLimiter } from './rate-limiter.ts';

describe('createRateLimiter', () => {
  it('counts per key within a minute opened by the first hit', () => {
    const clock = { ms: 0 };
    const limiter = createRateLimiter(() => clock.ms);
    expect(limiter.hit('a', 2)).toEqual({
      allowed: true,
      limit: 2,
      remaining: 1,
      resetSeconds: 60,
    });
    clock.ms = 30_500;
    expect(limiter.hit('a', 2)).toEqual({
      allowed: true,
      limit: 2,
      remaining: 0,
      resetSeconds: 30,
    });
    expect(limiter.hit('a', 2)).toMatchObject({ allowed: false, remaining: 0 });
    expect(limiter.hit('b', 2)).toMatchObject({ allowed: true, remaining: 1 });
    clock.ms = 60_000;
    expect(limiter.hit('a', 2)).toMatchObject({ allowed: true, remaining: 1, resetSeconds: 60 });
  });
});
