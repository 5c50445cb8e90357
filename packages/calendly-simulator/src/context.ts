import type { Dispatcher } from './delivery.ts';
import type { ResolvedOptions } from './options.ts';
import type { SimState } from './state.ts';

/** What every route plugin of the simulator works on. */
export interface SimContext {
  state: SimState;
  options: ResolvedOptions;
  dispatcher: Dispatcher;
}

/** The `apiErrorRate` fault: a share of API and token calls fails with 500 or 429. */
export function injectedFailure(context: SimContext): 500 | 429 | null {
  const rate = context.state.faults.apiErrorRate;
  if (rate <= 0 || context.options.random() >= rate) return null;
  return context.options.random() < 0.5 ? 500 : 429;
}
