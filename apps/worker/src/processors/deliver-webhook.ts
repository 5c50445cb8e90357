import type { Deliverer } from '@calhook/app-webhooks';
import type { Processor } from '@calhook/queue';

/** `deliver-webhooks`: a run of an endpoint's changes (see @calhook/app-webhooks). */
export function deliverWebhooks(deps: { deliver: Deliverer }): Processor<'deliver-webhooks'> {
  return (payload, { log }) =>
    deps.deliver.run(payload, log.child({ endpointId: payload.endpointId }));
}

/** `deliver-webhook`: one change to one app webhook endpoint, a retry or a replay. */
export function deliverWebhook(deps: { deliver: Deliverer }): Processor<'deliver-webhook'> {
  return (payload, { job, log }) =>
    deps.deliver.one(payload, job.attemptsMade + 1, log.child({ endpointId: payload.endpointId }));
}
