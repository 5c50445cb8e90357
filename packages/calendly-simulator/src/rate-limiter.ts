export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Whole seconds until the window resets, as Calendly's `X-RateLimit-Reset` reports it. */
  resetSeconds: number;
}

export interface RateLimiter {
  hit(key: string, limit: number): RateDecision;
  clear(): void;
}

const WINDOW_MS = 60_000;

/** Fixed one-minute windows per key, opened by the key's first request, on the injected clock. */
export function createRateLimiter(now: () => number): RateLimiter {
  const windows = new Map<string, { startedAt: number; used: number }>();
  return {
    hit(key, limit) {
      const at = now();
      let window = windows.get(key);
      if (!window || at - window.startedAt >= WINDOW_MS) {
        window = { startedAt: at, used: 0 };
        windows.set(key, window);
      }
      const resetSeconds = Math.max(1, Math.ceil((window.startedAt + WINDOW_MS - at) / 1000));
      if (window.used >= limit) return { allowed: false, limit, remaining: 0, resetSeconds };
      window.used += 1;
      return { allowed: true, limit, remaining: limit - window.used, resetSeconds };
    },
    clear() {
      windows.clear();
    },
  };
}
