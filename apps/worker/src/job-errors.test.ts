// Proves the one classification every job's failures go through: Calendly's 429 waits for its
// reset without spending an attempt, what may pass retries with back-off, and what cannot
// change fails at once with a reason.
import { CalendlyError, DEFAULT_RATE_LIMIT_WAIT_MS } from '@calhook/calendly';
import { CalendlyUnavailableError } from '@calhook/connections';
import { PermanentJobError } from '@calhook/queue';
import { ReauthRequiredError, TokenRefreshError } from '@calhook/tokens';
import { describe, expect, it } from 'vitest';
import { classifyJobError, LOST_CONNECTION_WAIT_MS } from './job-errors.ts';

const calendly = (
  kind: CalendlyError['kind'],
  extra: { status?: number; retryAfterMs?: number } = {},
) => new CalendlyError({ kind, method: 'GET', path: '/x', message: kind, ...extra });

describe('classifyJobError', () => {
  it("delays by Calendly's reset on a 429, however it reached the job", () => {
    expect(
      classifyJobError(calendly('rate_limited', { status: 429, retryAfterMs: 7_000 })),
    ).toEqual({
      action: 'delay',
      delayMs: 7_000,
      reason: 'Calendly rate limit',
    });
    const refresh = new TokenRefreshError('c1', 'rate_limited', '429', { retryAfterMs: 3_000 });
    expect(classifyJobError(refresh)).toMatchObject({ action: 'delay', delayMs: 3_000 });
    const unavailable = new CalendlyUnavailableError('429', 9_000, {
      cause: calendly('rate_limited', { status: 429, retryAfterMs: 9_000 }),
    });
    expect(classifyJobError(unavailable)).toMatchObject({ action: 'delay', delayMs: 9_000 });
    expect(classifyJobError(calendly('rate_limited'))).toMatchObject({
      action: 'delay',
      delayMs: DEFAULT_RATE_LIMIT_WAIT_MS,
    });
  });

  it('retries what may pass: 5xx, network, a failed refresh, an outage, anything unknown', () => {
    for (const error of [
      calendly('server', { status: 503 }),
      calendly('network'),
      new TokenRefreshError('c1', 'server', '502'),
      new CalendlyUnavailableError('down', undefined, {
        cause: calendly('server', { status: 500 }),
      }),
      new Error('connection terminated'),
    ]) {
      expect(classifyJobError(error).action).toBe('retry');
    }
  });

  it('waits briefly, unspent, when Postgres drops the connection under the job', () => {
    // As drizzle reports it: its own error, with postgres.js's as the cause.
    const wrapped = (code: string) =>
      new Error('Failed query: insert into …', {
        cause: Object.assign(new Error('terminating connection'), { code }),
      });
    for (const code of ['57P01', '57P02', '08006', 'CONNECTION_CLOSED', 'ECONNRESET']) {
      const failure = classifyJobError(wrapped(code));
      expect(failure).toMatchObject({
        action: 'delay',
        reason: `Postgres connection lost (${code})`,
      });
      if (failure.action !== 'delay') continue;
      expect(failure.delayMs).toBeGreaterThanOrEqual(LOST_CONNECTION_WAIT_MS);
      expect(failure.delayMs).toBeLessThan(2 * LOST_CONNECTION_WAIT_MS);
    }
    // Calendly's own network failure keeps its classification, whatever socket code it wraps.
    const reset = new CalendlyError({
      kind: 'network',
      method: 'GET',
      path: '/x',
      message: 'socket hang up',
      cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    });
    expect(classifyJobError(reset)).toEqual({ action: 'retry', reason: 'Calendly network' });
    // A query Postgres refused is the job's own trouble: it spends attempts as before.
    for (const code of ['23505', '40001', '57014']) {
      expect(classifyJobError(wrapped(code)).action).toBe('retry');
    }
  });

  it('fails at once with a reason when no retry can change the answer', () => {
    expect(classifyJobError(calendly('forbidden', { status: 403 }))).toEqual({
      action: 'fail',
      reason: 'Calendly refused the request (forbidden 403)',
    });
    for (const error of [
      calendly('validation', { status: 400 }),
      calendly('not_found', { status: 404 }),
      calendly('invalid_response', { status: 200 }),
      new ReauthRequiredError('c1', 'invalid_grant'),
      new PermanentJobError('bad job'),
    ]) {
      expect(classifyJobError(error).action).toBe('fail');
    }
  });
});
