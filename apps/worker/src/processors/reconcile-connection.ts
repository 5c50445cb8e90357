import type { Connections } from '@calhook/connections';
import type { Processor } from '@calhook/queue';

/** `reconcile-connection`: the reconcile workflow (packages/connections/src/reconcile.ts). */
export function reconcileConnection(deps: {
  connections: Pick<Connections, 'reconcile'>;
}): Processor<'reconcile-connection'> {
  return ({ connectionId, reason }) => deps.connections.reconcile(connectionId, reason);
}
