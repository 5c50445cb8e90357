import type { Connections } from '@calhook/connections';
import type { Processor } from '@calhook/queue';

/** `reconcile-all`: a reconcile run for every active connection. */
export function reconcileAll(deps: {
  connections: Pick<Connections, 'reconcileAll'>;
}): Processor<'reconcile-all'> {
  return () => deps.connections.reconcileAll();
}
