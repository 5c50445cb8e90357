import type { FastifyInstance } from 'fastify';
import { type BasicCredentials, basicAuth } from './basic-auth.ts';
import type { Metrics } from './metrics.ts';

/**
 * `GET /metrics` in Prometheus text, in a scope of its own so the optional basic auth covers
 * this route only. With credentials (ADMIN_USER/ADMIN_PASSWORD set) every role asks for them,
 * since the receiver and the api may face the internet; without, the port must be private.
 */
export function metricsRoute(
  app: FastifyInstance,
  options: { metrics: Metrics; auth?: BasicCredentials | undefined },
): void {
  app.register(async (scope) => {
    if (options.auth) scope.addHook('onRequest', basicAuth(options.auth));
    scope.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      const text = await options.metrics.render();
      return reply.header('content-type', options.metrics.contentType).send(text);
    });
  });
}
