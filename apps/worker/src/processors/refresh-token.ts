import type { Processor } from '@calhook/queue';
import { ReauthRequiredError, type TokenService } from '@calhook/tokens';

/**
 * `refresh-token`: refresh a connection's token before it expires (or keep an unused refresh
 * token alive). A connection that needs reconnecting is an outcome, not a failure: retrying
 * cannot fix it. Failures are classified by the dispatch wrapper (a 429 waits, others retry).
 */
export function refreshTokenProcessor(deps: { tokens: TokenService }): Processor<'refresh-token'> {
  return async ({ connectionId }) => {
    try {
      const result = await deps.tokens.refresh(connectionId, 'scheduled');
      // A refresh reschedules itself; a job that found nothing to do (the token was rotated
      // elsewhere after it was planned) re-arms the schedule for the current token.
      if (result.status === 'skipped') await deps.tokens.scheduleRefresh(connectionId);
      return result;
    } catch (error) {
      if (error instanceof ReauthRequiredError) {
        return { status: 'reauth_required', reason: error.reason };
      }
      throw error;
    }
  };
}
