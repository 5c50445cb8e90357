// Calendly's per-user rate limit, honoured before Calendly has to say it: each access token
// (one user's) is held back once Calendly reports its window spent (`X-RateLimit-Remaining: 0`
// on an answer) or refuses with a 429, until the reset it named. Calls of other users go on.
// In memory, per client: a sketch of Calendly's own counter, not a shared one; a 429 from
// Calendly stays the final word and is waited out or surfaced as before.

export interface RateGate {
  /** How long calls with this key must wait now (0: go). */
  waitMs(key: string, now: number): number;
  /** Holds calls with this key back until `until` (epoch ms); a later hold wins. */
  holdUntil(key: string, until: number): void;
  /** Keys held at the moment (for tests and a size check). */
  size(): number;
}

/** Past this many held keys, expired holds are swept on the next hold. */
const SWEEP_AT = 10_000;

export function createRateGate(): RateGate {
  const holds = new Map<string, number>();
  return {
    waitMs(key, now) {
      const until = holds.get(key);
      if (until === undefined) return 0;
      if (until <= now) {
        holds.delete(key);
        return 0;
      }
      return until - now;
    },
    holdUntil(key, until) {
      if (holds.size >= SWEEP_AT) {
        const now = Date.now();
        for (const [k, at] of holds) if (at <= now) holds.delete(k);
      }
      const current = holds.get(key) ?? 0;
      if (until > current) holds.set(key, until);
    },
    size: () => holds.size,
  };
}

type HeaderValue = string | string[] | undefined;

/**
 * The wait an answer's rate-limit headers ask for before the next call of the same user: the
 * reset (seconds) when `X-RateLimit-Remaining` is 0, else none.
 */
export function spentWindowWaitMs(headers: Record<string, HeaderValue>): number {
  const first = (name: string) => {
    const value = headers[name];
    return (Array.isArray(value) ? value[0] : value)?.trim();
  };
  const remaining = first('x-ratelimit-remaining');
  if (remaining === undefined || remaining === '' || Number(remaining) > 0) return 0;
  const reset = Number(first('x-ratelimit-reset'));
  // A reset that is no small count of seconds (missing, or an epoch) is not guessed at: the
  // next call finds out, and a 429 carries its own wait.
  if (!Number.isFinite(reset) || reset <= 0 || reset > 3_600) return 0;
  return Math.ceil(reset * 1000);
}
