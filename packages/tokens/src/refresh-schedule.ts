// When a connection's token should be refreshed. Pure, so the arithmetic is unit-tested and the
// service and the job agree on what "due" means.

/**
 * Jitter spreads the refreshes of connections made at the same moment (an import, a deploy)
 * over a fifth of the lead time, so they do not all hit Calendly's token endpoint together.
 */
export const JITTER_FRACTION = 0.2;

export interface RefreshTiming {
  expiresAt: Date | null;
  refreshTokenIssuedAt: Date | null;
  refreshBeforeExpiryMs: number;
  keepAliveAfterMs: number;
}

/** The latest moment a refresh is wanted: lead time before expiry, or keep-alive, if earlier. */
function latestRefreshAt(timing: RefreshTiming): number | null {
  const candidates: number[] = [];
  if (timing.expiresAt) candidates.push(timing.expiresAt.getTime() - timing.refreshBeforeExpiryMs);
  if (timing.refreshTokenIssuedAt) {
    candidates.push(timing.refreshTokenIssuedAt.getTime() + timing.keepAliveAfterMs);
  }
  return candidates.length === 0 ? null : Math.min(...candidates);
}

function jitterSpanMs(timing: RefreshTiming): number {
  return timing.refreshBeforeExpiryMs * JITTER_FRACTION;
}

/** When to run the refresh job: the latest wanted moment minus a random share of the jitter span. */
export function nextRefreshAt(timing: RefreshTiming, random: () => number): number | null {
  const latest = latestRefreshAt(timing);
  if (latest === null) return null;
  return latest - Math.floor(random() * jitterSpanMs(timing));
}

/**
 * Whether a scheduled refresh job should act now. A job scheduled by `nextRefreshAt` is always
 * due when it fires; one left over from before a rotation done elsewhere is not, and must not
 * spend a refresh on a token that was just issued.
 */
export function isRefreshDue(timing: RefreshTiming, nowMs: number, toleranceMs: number): boolean {
  const latest = latestRefreshAt(timing);
  if (latest === null) return false;
  return nowMs >= latest - jitterSpanMs(timing) - toleranceMs;
}

/** Back-off between caller-driven refresh attempts after consecutive failures (1 s doubling, 60 s cap). */
export function coolDownMs(consecutiveFailures: number): number {
  if (consecutiveFailures <= 0) return 0;
  return Math.min(60_000, 1_000 * 2 ** (consecutiveFailures - 1));
}
