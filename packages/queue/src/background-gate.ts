// Background work yields to live work inside one process. Scheduled runs (a reconcile cycle)
// take places under a limit that follows what live deliveries feel: every window, if a
// delivery took longer than the target from receipt to stored, the limit halves; otherwise it
// grows by a step, up to the lane's concurrency. Runs in flight are never interrupted, and a
// floor of places stays open, so background work slows under live load but never stops.
// (Additive increase, multiplicative decrease: the limit settles where live deliveries keep
// their latency, whatever the machine, the database or Calendly's speed.)

export interface BackgroundGateOptions {
  /** Most background runs at once: the lane's concurrency. */
  maxRuns: number;
  /** Places open however pressed live work is (4 by default, at most maxRuns). */
  minRuns?: number;
  /** A live delivery slower than this, receipt to stored, within a window presses the limit. */
  liveTargetMs?: number;
  /** How often the limit is adjusted. */
  windowMs?: number;
  /**
   * How long the oldest live delivery in hand has been waiting so far (0 when none): a
   * delivery held up presses the limit before it is stored, not only once it is.
   */
  liveAge?: () => number;
  /** No timer: the caller adjusts with `adjust()` (tests). */
  manual?: boolean;
  /** Told the limit after each adjustment (a metric). */
  onLimit?: (limit: number) => void;
}

export interface BackgroundGate {
  /** Waits for a place under the current limit; call the returned function when the run ends. */
  enter(): Promise<() => void>;
  /** A live delivery took `ms` from receipt to stored. */
  observeLive(ms: number): void;
  /** Ends the window: halves the limit if live work was pressed in it, else raises it a step. */
  adjust(): void;
  /** Places open now. */
  limit(): number;
  /** Stops adjusting (the process is shutting down); waiting and later runs go at once. */
  close(): void;
}

/** The default live target: well inside a second from receipt to stored, with room to react. */
export const LIVE_TARGET_MS = 300;

export function createBackgroundGate(options: BackgroundGateOptions): BackgroundGate {
  const max = Math.max(1, options.maxRuns);
  const min = Math.min(max, options.minRuns ?? 4);
  const target = options.liveTargetMs ?? LIVE_TARGET_MS;
  // About 12 s from the floor to the top at the default window: a run lasts a few hundred
  // milliseconds, so each step is felt before the next.
  const step = Math.max(1, Math.ceil(max / 48));
  // Starts low and grows: a restart under live load does not begin with a burst.
  let limit = min;
  let running = 0;
  let slowest = 0;
  let closed = false;
  const waiting: (() => void)[] = [];

  const admit = () => {
    while (waiting.length > 0 && (closed || running < limit)) {
      running += 1;
      waiting.shift()?.();
    }
  };
  const release = () => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      running -= 1;
      admit();
    };
  };
  const adjust = () => {
    const pressed = Math.max(slowest, options.liveAge?.() ?? 0) > target;
    limit = pressed ? Math.max(min, Math.floor(limit / 2)) : Math.min(max, limit + step);
    slowest = 0;
    options.onLimit?.(limit);
    admit();
  };
  const timer = options.manual ? undefined : setInterval(adjust, options.windowMs ?? 250);
  timer?.unref();

  return {
    async enter() {
      if (closed || (waiting.length === 0 && running < limit)) {
        running += 1;
        return release();
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
      return release();
    },
    observeLive(ms) {
      if (ms > slowest) slowest = ms;
    },
    adjust,
    limit: () => limit,
    close() {
      closed = true;
      if (timer) clearInterval(timer);
      admit();
    },
  };
}
