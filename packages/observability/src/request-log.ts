import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { type FastifyHttpOptions, type FastifyInstance, LogController } from 'fastify';

/** Fastify options shared by every role: request ids from `x-request-id` or fresh ones. */
export const serverOptions = {
  // Fastify's own two lines per request are replaced by the one written in logRequests.
  logController: new LogController({ disableRequestLogging: true }),
  requestIdHeader: 'x-request-id',
  genReqId: () => randomUUID(),
  requestTimeout: 15_000,
  // Node enforces the later of headersTimeout and requestTimeout, so its default 60 s
  // headersTimeout (Fastify sets requestTimeout only after creating the server) let a client
  // trickling its body hold a socket ~90 s. Checked every 2 s instead of every 30 s.
  http: { headersTimeout: 10_000, connectionsCheckingInterval: 2_000 },
  connectionTimeout: 20_000,
  keepAliveTimeout: 72_000,
  return503OnClosing: true,
} satisfies FastifyHttpOptions<Server>;

/** One log line per request, written when the answer has gone out. */
export function logRequests(app: FastifyInstance): void {
  app.addHook('onResponse', async (request, reply) => {
    const level = reply.statusCode >= 500 ? 'error' : 'info';
    request.log[level](
      {
        method: request.method,
        url: request.routeOptions.url ?? request.url.split('?')[0],
        hookId: (request.params as { hookId?: string } | undefined)?.hookId,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });
}
