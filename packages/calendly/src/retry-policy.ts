// Which failed requests are retried in place, and after how long. Only requests that are safe
// to repeat are retried: GET, and DELETE (Calendly answers 404 to a repeated delete, which we
// count as done). A POST is never retried here: a timeout after sending may already have
// created the subscription or consumed the refresh token, so the caller decides.
import { CalendlyError } from './errors.ts';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** First back-off step; doubles per retry. */
  baseMs: number;
  /** Ceiling of one back-off step. */
  maxDelayMs: number;
  /** A 429 asking for a longer wait than this is surfaced instead of waited out. */
  maxRateLimitWaitMs: number;
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'DELETE']);

export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase());
}

/**
 * Exponential back-off with "equal jitter": half the step is fixed, half random, so retries
 * from many workers spread out but never fire immediately.
 */
export function backoffDelayMs(
  retryIndex: number,
  policy: Pick<RetryPolicy, 'baseMs' | 'maxDelayMs'>,
  random: () => number,
): number {
  const step = Math.min(policy.maxDelayMs, policy.baseMs * 2 ** retryIndex);
  return Math.round(step / 2 + (step / 2) * random());
}

/**
 * @param retriesDone how many retries already happened for this request (0 after the first
 * attempt failed).
 */
export function decideRetry(
  method: string,
  error: unknown,
  retriesDone: number,
  policy: RetryPolicy,
  random: () => number,
): RetryDecision {
  if (!isIdempotentMethod(method)) return { retry: false };
  if (retriesDone >= policy.maxRetries) return { retry: false };
  if (!(error instanceof CalendlyError)) return { retry: false };
  switch (error.kind) {
    case 'rate_limited': {
      const wait = error.retryAfterMs ?? policy.maxRateLimitWaitMs;
      if (wait > policy.maxRateLimitWaitMs) return { retry: false };
      return { retry: true, delayMs: wait };
    }
    case 'server':
    case 'network':
      return { retry: true, delayMs: backoffDelayMs(retriesDone, policy, random) };
    default:
      return { retry: false };
  }
}
