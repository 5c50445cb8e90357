// Proves the per-user hold: a spent window (remaining 0) or a 429 holds that user's calls
// until the reset it names, other users are not held, and a hold ends by itself.
import { describe, expect, it } from 'vitest';
import { createRateGate, spentWindowWaitMs } from './rate-gate.ts';

describe('spentWindowWaitMs', () => {
  it('asks for the reset only when the window is spent', () => {
    expect(spentWindowWaitMs({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '12' })).toBe(
      12_000,
    );
    expect(spentWindowWaitMs({ 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '12' })).toBe(0);
    expect(spentWindowWaitMs({})).toBe(0);
    // An epoch or a missing reset is not guessed at.
    expect(
      spentWindowWaitMs({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1764000000' }),
    ).toBe(0);
    expect(spentWindowWaitMs({ 'x-ratelimit-remaining': '0' })).toBe(0);
  });
});

describe('createRateGate', () => {
  it('holds one user until the reset, never another, and the later hold wins', () => {
    const gate = createRateGate();
    gate.holdUntil('Bearer a', 10_000);
    gate.holdUntil('Bearer a', 5_000);
    expect(gate.waitMs('Bearer a', 4_000)).toBe(6_000);
    expect(gate.waitMs('Bearer b', 4_000)).toBe(0);
    expect(gate.waitMs('Bearer a', 10_000)).toBe(0);
    expect(gate.size()).toBe(0);
  });
});
