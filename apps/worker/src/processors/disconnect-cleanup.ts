import { CalendlyError } from '@calhook/calendly';
import type { ConnectionService } from '@calhook/connections';
import { PermanentJobError, type Processor } from '@calhook/queue';

/**
 * `disconnect-cleanup`: delete a disconnected user's subscriptions and revoke its tokens at
 * Calendly, retried with back-off while Calendly is unreachable. A refusal that retrying
 * cannot change (403, 400) fails the job visibly instead.
 */
export function disconnectCleanup(deps: {
  connections: ConnectionService;
}): Processor<'disconnect-cleanup'> {
  return async (payload) => {
    try {
      return await deps.connections.cleanupRemote(payload);
    } catch (error) {
      if (
        error instanceof CalendlyError &&
        (error.kind === 'forbidden' || error.kind === 'validation')
      ) {
        throw new PermanentJobError(`Calendly refused the clean-up: ${error.kind}`);
      }
      throw error;
    }
  };
}
