// Proves which failures are retried in place, after how long, and that POSTs never are.
import { describe, expect, it } from 'vitest';
import { errorFromResponse, errorFromTransport } from './errors.ts';
import { backoffDelayMs, decideRetry, type RetryPolicy } from './retry-policy.ts';

const policy: RetryPolicy = {
  maxRetries: 3,
  baseMs: 200,
  maxDelayMs: 10_000,
  maxRateLimitWaitMs: 60_000,
};

function status(code: number, headers: Record<string, string> = {}) {
  return errorFromResponse({
    method: 'GET',
    path: '/x',
    status: code,
    headers,
    body: {},
    endpoint: 'api',
    now: 0,
  });
}
const reset = errorFromTransport(
  'GET',
  '/x',
  Object.assign(new Error('reset'), { code: 'ECONNRESET' }),
);
const refused = errorFromTransport(
  'POST',
  '/x',
  Object.assign(new Error('no'), { code: 'ECONNREFUSED', syscall: 'connect' }),
);

describe('decideRetry', () => {
  it('retries GET and DELETE on 5xx and network failures with back-off', () => {
    expect(decideRetry('GET', status(503), 0, policy, () => 0)).toEqual({
      retry: true,
      delayMs: 100,
    });
    expect(decideRetry('DELETE', reset, 1, policy, () => 1)).toEqual({ retry: true, delayMs: 400 });
  });

  it('never retries a POST, whatever the failure', () => {
    for (const error of [status(503), status(429, { 'retry-after': '1' }), reset, refused]) {
      expect(decideRetry('POST', error, 0, policy, () => 0.5)).toEqual({ retry: false });
    }
  });

  it('does not retry client errors', () => {
    for (const code of [400, 401, 403, 404, 409]) {
      expect(decideRetry('GET', status(code), 0, policy, () => 0.5)).toEqual({ retry: false });
    }
    expect(decideRetry('GET', new Error('bug'), 0, policy, () => 0.5)).toEqual({ retry: false });
  });

  it('stops after maxRetries', () => {
    expect(decideRetry('GET', status(500), 2, policy, () => 0.5).retry).toBe(true);
    expect(decideRetry('GET', status(500), 3, policy, () => 0.5)).toEqual({ retry: false });
  });

  it('waits exactly what a 429 asks, up to the cap', () => {
    expect(
      decideRetry('GET', status(429, { 'x-ratelimit-reset': '17' }), 0, policy, () => 0.5),
    ).toEqual({
      retry: true,
      delayMs: 17_000,
    });
    expect(decideRetry('GET', status(429, { 'retry-after': '61' }), 0, policy, () => 0.5)).toEqual({
      retry: false,
    });
  });
});

describe('backoffDelayMs', () => {
  it('doubles per retry, jitters within the upper half, and is capped', () => {
    expect(backoffDelayMs(0, policy, () => 0)).toBe(100);
    expect(backoffDelayMs(0, policy, () => 1)).toBe(200);
    expect(backoffDelayMs(3, policy, () => 0)).toBe(800);
    expect(backoffDelayMs(20, policy, () => 1)).toBe(10_000);
  });
});
