// The one classification of a failed job, applied by the dispatch wrapper to every job kind.
import { EndpointBusyError } from '@calhook/app-webhooks';
import { CalendlyError, DEFAULT_RATE_LIMIT_WAIT_MS, isRetryable } from '@calhook/calendly';
import { CalendlyUnavailableError } from '@calhook/connections';
import { pgErrorCode } from '@calhook/meetings';
import { isLostConnection } from '@calhook/observability';
import { defaultClassification, type JobFailure } from '@calhook/queue';
import { ReauthRequiredError, TokenRefreshError } from '@calhook/tokens';

/** The wait after a lost Postgres connection, doubled at most by jitter so retries spread. */
export const LOST_CONNECTION_WAIT_MS = 1_000;

/**
 * Calendly's 429 (directly, through a token refresh, or as "unavailable") delays the job by
 * Calendly's reset header without spending an attempt: a rate limit is never a failure.
 * Transient failures (5xx, network, a token refresh that may pass, Postgres or Redis trouble)
 * retry with the catalog's back-off. Permanent ones fail at once with the reason: Calendly
 * refusing the request itself (403, 404, 400, an unexpected answer), a connection that must be
 * reconnected, or a processor's PermanentJobError.
 *
 * A Postgres connection cut under the job (a terminated backend, a failover, a reset socket) is
 * the pool's trouble, not the job's: the next try takes a fresh connection, so it waits a short
 * while without spending an attempt. Spending them would let repeated cuts push a delivery's
 * next try out by minutes (ingest backs off exponentially) and, in the end, fail it for good.
 */
export function classifyJobError(error: unknown): JobFailure {
  // One app webhook endpoint holds its share of this worker's deliveries: wait, unspent.
  if (error instanceof EndpointBusyError) {
    return { action: 'delay', delayMs: error.delayMs, reason: error.message, routine: true };
  }
  if (error instanceof CalendlyError) {
    if (error.kind === 'rate_limited') {
      return {
        action: 'delay',
        delayMs: error.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS,
        reason: 'Calendly rate limit',
      };
    }
    if (isRetryable(error)) return { action: 'retry', reason: `Calendly ${error.kind}` };
    return {
      action: 'fail',
      reason: `Calendly refused the request (${error.kind}${error.status ? ` ${error.status}` : ''})`,
    };
  }
  if (error instanceof TokenRefreshError) {
    if (error.kind === 'rate_limited' || error.kind === 'cooling_down') {
      return {
        action: 'delay',
        delayMs: error.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS,
        reason: `token refresh ${error.kind}`,
      };
    }
    return { action: 'retry', reason: `token refresh ${error.kind}` };
  }
  if (error instanceof CalendlyUnavailableError) {
    const cause = error.cause;
    if (cause instanceof CalendlyError && cause.kind === 'rate_limited') {
      return {
        action: 'delay',
        delayMs: error.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS,
        reason: 'Calendly rate limit',
      };
    }
    return { action: 'retry', reason: error.message };
  }
  if (error instanceof ReauthRequiredError) {
    return { action: 'fail', reason: `the user must reconnect (${error.reason})` };
  }
  // Last, so that Calendly's errors (whose causes carry socket codes too) are judged above.
  const pgCode = pgErrorCode(error);
  if (pgCode !== undefined && isLostConnection(pgCode)) {
    return {
      action: 'delay',
      delayMs: LOST_CONNECTION_WAIT_MS + Math.floor(Math.random() * LOST_CONNECTION_WAIT_MS),
      reason: `Postgres connection lost (${pgCode})`,
    };
  }
  return defaultClassification(error);
}
