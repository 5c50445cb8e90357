import type { Connections } from '@calhook/connections';
import type { Processor } from '@calhook/queue';

/**
 * `reconcile-sweep`: queues the reconcile runs due in the slice that ends when this run was
 * scheduled (not when it started), so a sweep that waited still covers its own slice.
 */
export function reconcileSweep(deps: {
  connections: Pick<Connections, 'reconcileSweep'>;
}): Processor<'reconcile-sweep'> {
  return (_payload, { job }) =>
    deps.connections.reconcileSweep(new Date(job.timestamp + (job.opts.delay ?? 0)));
}
