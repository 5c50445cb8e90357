import type { Connections } from '@calhook/connections';
import type { BackgroundGate, Processor } from '@calhook/queue';

/**
 * `reconcile-connection`: the reconcile workflow (packages/connections/src/reconcile.ts). A
 * scheduled run takes a place from `backgroundGate` first, whose limit shrinks while live
 * deliveries ingested by the same process slow down: they come first. Runs someone asked for
 * start at once.
 */
export function reconcileConnection(deps: {
  connections: Pick<Connections, 'reconcile'>;
  backgroundGate?: BackgroundGate | undefined;
}): Processor<'reconcile-connection'> {
  return async ({ connectionId, reason }) => {
    if (reason !== 'scheduled' || !deps.backgroundGate) {
      return deps.connections.reconcile(connectionId, reason);
    }
    const leave = await deps.backgroundGate.enter();
    try {
      return await deps.connections.reconcile(connectionId, reason);
    } finally {
      leave();
    }
  };
}
