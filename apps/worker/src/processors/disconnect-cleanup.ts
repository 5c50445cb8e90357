import type { Connections } from '@calhook/connections';
import type { Processor } from '@calhook/queue';

/**
 * `disconnect-cleanup`: delete a disconnected user's subscriptions and revoke its tokens at
 * Calendly. Calendly refusing it for good fails the job visibly; unreachable, it retries.
 */
export function disconnectCleanup(deps: {
  connections: Pick<Connections, 'cleanupRemote'>;
}): Processor<'disconnect-cleanup'> {
  return (payload) => deps.connections.cleanupRemote(payload);
}
