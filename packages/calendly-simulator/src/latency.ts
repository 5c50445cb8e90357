// The latency setting: every API and OAuth call waits `latencyMs` plus a uniform 0..jitter
// before it is handled. A timer, never a busy wait: other calls and deliveries go on meanwhile.
import { setTimeout as sleep } from 'node:timers/promises';
import type { SimContext } from './context.ts';

export function createLatency(context: SimContext) {
  return async function delay(): Promise<void> {
    const { latencyMs, latencyJitterMs } = context.state.settings;
    const jitter = latencyJitterMs > 0 ? context.options.random() * latencyJitterMs : 0;
    const ms = latencyMs + jitter;
    if (ms > 0) await sleep(ms);
  };
}
