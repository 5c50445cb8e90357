import type { Database } from '@calhook/db';
import { logRequests, serverOptions } from '@calhook/observability';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { bearerAuth } from './plugins/bearer-auth.ts';
import { meetingRoutes } from './routes/meetings.ts';

export interface ApiDeps {
  logger: FastifyBaseLogger;
  db: Database;
  apiToken: string;
  checkReady: () => Promise<void>;
}

/** Builds the api role; `server.ts` only listens and shuts down. Tests call this with real deps. */
export function buildApiApp(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    ...serverOptions,
    loggerInstance: deps.logger,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  logRequests(app);

  // One error handler: client errors say what was wrong and where; 5xx hide internals.
  app.setErrorHandler((error, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const first = error.validation[0];
      const path = first?.instancePath.replace(/^\//, '').replaceAll('/', '.') ?? '';
      const field = [error.validationContext, path].filter(Boolean).join('.');
      return reply
        .code(400)
        .send({ error: 'invalid_request', field, message: first?.message ?? 'invalid' });
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).send({ error: 'bad_request', message: (error as Error).message });
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

  app.register(async (v1) => {
    v1.addHook('onRequest', bearerAuth(deps.apiToken));
    await v1.register(meetingRoutes, { db: deps.db });
  });
  return app;
}
