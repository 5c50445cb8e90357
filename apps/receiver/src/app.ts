import {
  type BasicCredentials,
  createMetrics,
  logRequests,
  type Metrics,
  metricsRoute,
  serverOptions,
  traceRequests,
} from '@calhook/observability';
import type { Queues } from '@calhook/queue';
import type { HookKeyResolver } from '@calhook/webhooks';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { createDeliveryBatcher } from './delivery-batcher.ts';
import { MAX_BODY_TEXT, webhookRoutes } from './routes/webhooks.ts';

export interface ReceiverDeps {
  logger: FastifyBaseLogger;
  hooks: HookKeyResolver;
  queues: Queues;
  toleranceSeconds: number;
  /** Retry-After on a 503 (WEBHOOK_RETRY_AFTER_SECONDS). */
  retryAfterSeconds: number;
  /** Readiness: resolves when Redis and Postgres answer, rejects otherwise. */
  checkReady: () => Promise<void>;
  now?: () => number;
  /** How long Redis may take to accept a delivery before we answer 503 and let Calendly retry. */
  enqueueTimeoutMs?: number;
  /** Served at /metrics; a private registry without process metrics when not given. */
  metrics?: Metrics;
  /** Basic auth for /metrics (the admin credentials), since the receiver faces the internet. */
  metricsAuth?: BasicCredentials | undefined;
}

/** Builds the receiver; `server.ts` only listens and shuts down. Tests call this with real deps. */
export function buildReceiverApp(deps: ReceiverDeps): FastifyInstance {
  const app = Fastify({ ...serverOptions, loggerInstance: deps.logger });
  // The request's span is the root of a delivery's trace (nothing is added while tracing is off).
  traceRequests(app);
  logRequests(app);

  app.setErrorHandler((error: { statusCode?: number; code?: string }, request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      request.logReason = 'payload_too_large';
      return reply.code(413).send({ error: 'payload_too_large', limit: MAX_BODY_TEXT });
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      request.logReason = 'unsupported_media_type';
      return reply
        .code(415)
        .send({ error: 'unsupported_media_type', expected: 'application/json' });
    }
    if (error.statusCode !== undefined && error.statusCode < 500) {
      request.logReason = error.code ?? null;
      return reply.code(error.statusCode).send({ error: 'bad_request' });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ error: 'internal' });
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not_found' }));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    try {
      await deps.checkReady();
      return { status: 'ready' };
    } catch (error) {
      request.log.warn({ err: error }, 'not ready');
      return reply.code(503).send({ status: 'unavailable' });
    }
  });

  const metrics = deps.metrics ?? createMetrics({ processMetrics: false });
  metricsRoute(app, { metrics, auth: deps.metricsAuth });

  app.register(webhookRoutes, {
    metrics,
    hooks: deps.hooks,
    batcher: createDeliveryBatcher({
      queues: deps.queues,
      timeoutMs: deps.enqueueTimeoutMs ?? 2_000,
      onBatch: (size) => metrics.enqueueBatchSize.observe(size),
      onRecentError: (error) =>
        deps.logger.warn({ err: error }, 'could not remember queued deliveries'),
    }),
    toleranceSeconds: deps.toleranceSeconds,
    now: deps.now ?? Date.now,
    retryAfterSeconds: deps.retryAfterSeconds,
  });
  return app;
}
