import type { Metrics } from '@calhook/observability';
import {
  deliveryContentHash,
  HOOK_ROUTE,
  type HookKeyResolver,
  verifySignature,
} from '@calhook/webhooks';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { DeliveryBatcher } from '../delivery-batcher.ts';

export interface WebhookRouteOptions {
  hooks: HookKeyResolver;
  /** Queues each accepted delivery; answers once Redis holds it (or times out). */
  batcher: DeliveryBatcher;
  toleranceSeconds: number;
  now: () => number;
  /** Seconds in Retry-After on a 503. */
  retryAfterSeconds: number;
  metrics?: Metrics;
}

/** Largest delivery body accepted: API.md answers 413 over 1 MiB. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** The limit as the 413 answer states it, derived so the text cannot drift from the limit. */
export const MAX_BODY_TEXT = `${MAX_BODY_BYTES / (1024 * 1024)} MiB`;

/**
 * `POST /webhooks/calendly/:hookId`. The only route that sees raw bytes: its scope replaces
 * every body parser with one that keeps the buffer, because the signature covers the exact
 * bytes and a re-serialised JSON would not match. The body is never parsed here.
 */
export const webhookRoutes: FastifyPluginAsync<WebhookRouteOptions> = async (
  app: FastifyInstance,
  options,
) => {
  app.removeAllContentTypeParsers();
  for (const type of ['application/json', /^application\/[\w.-]+\+json$/]) {
    app.addContentTypeParser(
      type,
      { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES },
      (_request, body, done) => done(null, body),
    );
  }

  const metrics = options.metrics;
  if (metrics) {
    // Counted when the answer has gone out, so 413 and 415 from the body parser count too.
    // One counter child per status, bound once: labels are not looked up per delivery.
    const delivered = new Map<number, { inc(): void }>();
    app.addHook('onResponse', (_request, reply, done) => {
      const status = reply.statusCode;
      let counter = delivered.get(status);
      if (!counter) {
        counter = metrics.webhookDeliveries.labels(String(status));
        delivered.set(status, counter);
      }
      counter.inc();
      done();
    });
  }
  const enqueued = metrics?.enqueueSeconds.labels('ok');
  const notEnqueued = metrics?.enqueueSeconds.labels('error');

  // Accepted deliveries are the bulk of the traffic: their request lines are written at debug
  // and counted once a minute at info (see logRequests); every refusal keeps its own line.
  const routeOptions = { config: { successLogLevel: 'debug' as const } };
  app.post<{ Params: { hookId: string } }>(HOOK_ROUTE, routeOptions, async (request, reply) => {
    const rawBody = request.body;
    if (!Buffer.isBuffer(rawBody)) {
      return reply.code(415).send({ error: 'unsupported_media_type' });
    }
    const lookup = await options.hooks.resolve(request.params.hookId);
    if (lookup.kind === 'unknown') {
      request.logReason = 'unknown_hook';
      return reply.code(404).send({ error: 'unknown_hook' });
    }
    if (lookup.kind === 'gone') {
      request.logReason = 'hook_gone';
      return reply.code(410).send({ error: 'hook_gone' });
    }

    const verdict = verifySignature({
      header: request.headers['calendly-webhook-signature'] as string | undefined,
      rawBody,
      keys: lookup.keys,
      toleranceSeconds: options.toleranceSeconds,
      now: options.now(),
    });
    if (!verdict.ok) {
      request.logReason = verdict.reason;
      metrics?.signatureFailures.inc({ reason: verdict.reason });
      return reply.code(401).send({ error: 'invalid_signature', reason: verdict.reason });
    }
    options.hooks.signedWith(lookup, verdict.keyIndex);

    const body = rawBody.toString('utf8');
    // Same bytes for the same connection give the same id: a retried delivery that arrives
    // while the first is waiting, or remembered as queued, is not queued twice.
    const deliveryId = deliveryContentHash(lookup.connectionId, body);
    const enqueueStarted = performance.now();
    const enqueueSeconds = () => (performance.now() - enqueueStarted) / 1000;
    try {
      await options.batcher.enqueue(
        {
          hookId: lookup.hookId,
          connectionId: lookup.connectionId,
          body,
          receivedAt: new Date(options.now()).toISOString(),
        },
        deliveryId,
      );
      enqueued?.observe(enqueueSeconds());
    } catch (error) {
      notEnqueued?.observe(enqueueSeconds());
      request.logReason = 'enqueue_failed';
      request.log.warn({ err: error, hookId: lookup.hookId }, 'could not enqueue delivery');
      return reply
        .code(503)
        .header('retry-after', String(options.retryAfterSeconds))
        .send({ error: 'unavailable' });
    }
    return reply.code(200).send({ status: 'accepted' });
  });
};
