import {
  type BasicCredentials,
  type Logger,
  logRequests,
  type Metrics,
  metricsRoute,
  serverOptions,
} from '@calhook/observability';
import Fastify, { type FastifyBaseLogger } from 'fastify';

export interface WorkerHttpOptions {
  host: string;
  port: number;
  metrics: Metrics;
  /** Resolves when Redis and Postgres answer, rejects otherwise. */
  checkReady: () => Promise<void>;
  logger: Logger;
  /** Basic auth for /metrics, the same admin credentials as the other roles when set. */
  metricsAuth?: BasicCredentials | undefined;
}

export interface WorkerHttp {
  url: string;
  close(): Promise<void>;
}

/**
 * The worker's small HTTP server: /metrics for Prometheus, /healthz for liveness, /readyz for
 * readiness. Nothing else listens in the worker, so orchestrators and scrapers have one port.
 */
export async function startWorkerHttp(options: WorkerHttpOptions): Promise<WorkerHttp> {
  const loggerInstance: FastifyBaseLogger = options.logger;
  const app = Fastify({ ...serverOptions, loggerInstance });
  logRequests(app);
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not_found' }));
  metricsRoute(app, { metrics: options.metrics, auth: options.metricsAuth });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    try {
      await options.checkReady();
      return { status: 'ready' };
    } catch (error) {
      request.log.warn({ err: error }, 'not ready');
      return reply.code(503).send({ status: 'unavailable' });
    }
  });
  const url = await app.listen({ host: options.host, port: options.port });
  return { url, close: () => app.close() };
}
