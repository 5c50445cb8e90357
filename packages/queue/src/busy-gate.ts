// Background work yields to live work inside one process: a job that can wait (a scheduled
// reconcile) starts only while the event loop has room, measured as its utilization (the share
// of wall time it spent running, not waiting) over the last window. Ingest never asks, so when
// a burst of reconcile runs would take the whole loop, new ones hold back and deliveries keep
// their share. Runs in flight are never interrupted.
import { performance } from 'node:perf_hooks';

export interface BusyGateOptions {
  /** Starts wait while the loop was busier than this share of the last window (0..1). */
  threshold: number;
  /** The window utilization is measured over, and how often a waiting start looks again. */
  windowMs?: number;
  /** The loop's utilization over the last window (measured with eventLoopUtilization by default). */
  busyShare?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface BusyGate {
  /** Resolves once the loop has room for one more start. */
  ready(): Promise<void>;
  /** Stops measuring (the process is shutting down); later starts go at once. */
  close(): void;
}

export function createBusyGate(options: BusyGateOptions): BusyGate {
  const windowMs = options.windowMs ?? 250;
  const sleep =
    options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let timer: NodeJS.Timeout | undefined;
  let busyShare = options.busyShare;
  if (!busyShare) {
    let mark = performance.eventLoopUtilization();
    let recent = 0;
    timer = setInterval(() => {
      recent = performance.eventLoopUtilization(mark).utilization;
      mark = performance.eventLoopUtilization();
    }, windowMs);
    timer.unref();
    busyShare = () => recent;
  }
  const share = busyShare;
  let closed = false;
  return {
    async ready() {
      while (!closed && share() > options.threshold) await sleep(windowMs);
    },
    close() {
      closed = true;
      if (timer) clearInterval(timer);
    },
  };
}
