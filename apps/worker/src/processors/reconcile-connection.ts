import type { Connections } from '@calhook/connections';
import type { BusyGate, Processor } from '@calhook/queue';

/**
 * `reconcile-connection`: the reconcile workflow (packages/connections/src/reconcile.ts). A
 * scheduled run first waits for room on the event loop (`backgroundGate`): deliveries being
 * ingested by the same process come first. Runs someone asked for start at once.
 */
export function reconcileConnection(deps: {
  connections: Pick<Connections, 'reconcile'>;
  backgroundGate?: BusyGate | undefined;
}): Processor<'reconcile-connection'> {
  return async ({ connectionId, reason }) => {
    if (reason === 'scheduled') await deps.backgroundGate?.ready();
    return deps.connections.reconcile(connectionId, reason);
  };
}
