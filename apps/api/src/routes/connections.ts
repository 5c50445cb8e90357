import {
  CalendlyRejectedError,
  CalendlyUnavailableError,
  type ConnectInput,
  ConnectInputError,
  type Connections,
} from '@calhook/connections';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  calendlyRejectedSchema,
  calendlyUnavailableSchema,
  connectionSchema,
  invalidBodySchema,
  invalidRequestSchema,
  notFoundSchema,
} from '../schemas.ts';
import { userIdSchema } from './meetings.ts';

const connectBody = z.union([
  z
    .strictObject({
      code: z.string().min(1).max(2_000),
      redirectUri: z.url(),
      codeVerifier: z.string().min(43).max(128).optional(),
    })
    .describe('An authorization code from your own OAuth flow'),
  z
    .strictObject({
      accessToken: z.string().min(1).max(4_000),
      refreshToken: z.string().min(1).max(4_000).optional(),
      expiresAt: z.iso.datetime({ offset: true }).optional(),
    })
    .describe(
      'Tokens your backend holds; an access token alone is a personal access token (never refreshed)',
    ),
  // Reconnect with what calhook holds: refreshed if needed, never re-authorised.
  z.strictObject({}).describe('Reconnect with the tokens calhook holds'),
]);

const params = z.object({ userId: userIdSchema });

/** The app backend's side: connect, status, disconnect, reconcile now (API.md). */
export const connectionRoutes: FastifyPluginAsyncZod<{ connections: Connections }> = async (
  app,
  { connections },
) => {
  app.put(
    '/v1/connections/:userId',
    {
      schema: {
        summary: 'Connect or reconnect a user, idempotently',
        tags: ['connections'],
        params,
        body: connectBody,
        response: {
          200: connectionSchema,
          400: invalidBodySchema,
          422: calendlyRejectedSchema,
          503: calendlyUnavailableSchema.describe(
            'Calendly could not be reached; try again after the Retry-After header',
          ),
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const input: ConnectInput =
        'code' in body
          ? {
              kind: 'code',
              code: body.code,
              redirectUri: body.redirectUri,
              codeVerifier: body.codeVerifier,
            }
          : 'accessToken' in body
            ? {
                kind: 'tokens',
                accessToken: body.accessToken,
                refreshToken: body.refreshToken,
                expiresAt: body.expiresAt ? new Date(body.expiresAt) : undefined,
              }
            : { kind: 'reconnect' };
      try {
        const { connection } = await connections.connect(request.params.userId, input);
        return connection;
      } catch (error) {
        if (error instanceof CalendlyRejectedError) {
          return reply.code(422).send({ error: 'calendly_rejected', detail: error.detail });
        }
        if (error instanceof ConnectInputError) {
          return reply
            .code(400)
            .send({ error: 'invalid_request', field: error.field, message: error.message });
        }
        if (error instanceof CalendlyUnavailableError) {
          const seconds = Math.ceil((error.retryAfterMs ?? 30_000) / 1000);
          return reply
            .code(503)
            .header('retry-after', String(seconds))
            .send({
              error: 'calendly_unavailable',
              message: `Calendly could not be reached: try again in ${seconds} s`,
            });
        }
        throw error;
      }
    },
  );

  app.get(
    '/v1/connections/:userId',
    {
      schema: {
        summary: "A user's connection status",
        tags: ['connections'],
        params,
        response: { 200: connectionSchema, 400: invalidRequestSchema, 404: notFoundSchema },
      },
    },
    async (request, reply) => {
      const connection = await connections.status(request.params.userId);
      if (!connection)
        return reply.code(404).send({ error: 'not_found', message: 'this user never connected' });
      return connection;
    },
  );

  app.delete(
    '/v1/connections/:userId',
    {
      schema: {
        summary: 'Disconnect a user (repeatable); meetings stay',
        tags: ['connections'],
        params,
        response: {
          204: z
            .null()
            .describe('Disconnected (also when already disconnected or never connected)'),
          400: invalidRequestSchema,
        },
      },
    },
    async (request, reply) => {
      await connections.disconnect(request.params.userId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/connections/:userId/reconcile',
    {
      schema: {
        summary: "Reconcile and backfill a user's subscription now",
        tags: ['connections'],
        params,
        response: {
          202: z
            .object({ status: z.literal('queued'), jobId: z.string() })
            .describe('A run that starts after this request is queued'),
          400: invalidRequestSchema,
          404: notFoundSchema,
        },
      },
    },
    async (request, reply) => {
      const queued = await connections.requestReconcile(request.params.userId, 'requested');
      if (!queued)
        return reply.code(404).send({ error: 'not_found', message: 'this user never connected' });
      return reply.code(202).send({ status: 'queued', jobId: queued.jobId });
    },
  );
};
