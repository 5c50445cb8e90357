import type { Deliverer } from '@calhook/app-webhooks';
import type { Processor } from '@calhook/queue';

/** `deliver-webhook`: one change to one app webhook endpoint (see @calhook/app-webhooks). */
export function deliverWebhook(deps: { deliver: Deliverer }): Processor<'deliver-webhook'> {
  return (payload, { job, log }) =>
    deps.deliver(payload, job.attemptsMade + 1, log.child({ endpointId: payload.endpointId }));
}
