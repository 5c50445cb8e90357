// Builds the simulator's Fastify instance: Calendly's API and OAuth server on one port (their
// paths do not collide), plus the `/_sim` control API.
import Fastify, { type FastifyInstance } from 'fastify';
import { createAuthenticate } from './api-auth.ts';
import { invalidArgument, notFound, sendApiError } from './api-errors.ts';
import type { SimContext } from './context.ts';
import { controlRoutes } from './control-routes.ts';
import { createLatency } from './latency.ts';
import { oauthRoutes } from './oauth-routes.ts';
import { scheduledEventRoutes } from './scheduled-event-routes.ts';
import { userRoutes } from './user-routes.ts';
import { webhookSubscriptionRoutes } from './webhook-subscription-routes.ts';

class BadBody extends Error {
  readonly statusCode = 400;
}

export function buildSimulatorApp(context: SimContext): FastifyInstance {
  const app = Fastify({ logger: false });

  // Lenient JSON: an empty body (DELETE with a content type) is no body, bad JSON is a 400.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const raw = typeof body === 'string' ? body : body.toString('utf8');
    if (raw.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(raw));
    } catch {
      done(new BadBody('The request body is not valid JSON'), undefined);
    }
  });
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      const raw = typeof body === 'string' ? body : body.toString('utf8');
      done(null, Object.fromEntries(new URLSearchParams(raw)));
    },
  );

  app.setErrorHandler((error, request, reply) => {
    const status =
      typeof error === 'object' && error !== null && 'statusCode' in error
        ? Number(error.statusCode)
        : 500;
    const message = error instanceof Error ? error.message : String(error);
    if (status >= 500) context.options.logger.warn('simulator error', request.url, error);
    if (request.url.startsWith('/oauth/')) {
      return reply.code(status >= 500 ? 500 : 400).send({
        error: status >= 500 ? 'server_error' : 'invalid_request',
        error_description: message,
      });
    }
    if (status === 400) return invalidArgument(reply, [{ parameter: 'body', message }]);
    return sendApiError(reply, status, status >= 500 ? 'Internal Server Error' : 'Error', message);
  });
  app.setNotFoundHandler((_request, reply) => notFound(reply));

  // Latency applies to what stands for Calendly (OAuth and API), never to the control API.
  const delay = createLatency(context);
  app.register(async (oauth) => {
    oauth.addHook('onRequest', delay);
    oauth.register(oauthRoutes(context));
  });
  app.register(controlRoutes(context));
  app.register(async (api) => {
    api.addHook('onRequest', delay);
    api.addHook('onRequest', createAuthenticate(context));
    api.register(userRoutes(context));
    api.register(webhookSubscriptionRoutes(context));
    api.register(scheduledEventRoutes(context));
  });
  return app;
}
