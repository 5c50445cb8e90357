import { CalendlyUnavailableError, ConnectInputError, type OauthFlow } from '@calhook/connections';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  calendlyRejectedSchema,
  calendlyUnavailableSchema,
  connectionSchema,
  invalidBodySchema,
  invalidRequestSchema,
} from '../schemas.ts';
import { userIdSchema } from './meetings.ts';

/**
 * The app backend's side of the hosted flow (bearer): `POST /v1/oauth/authorize-url` starts
 * it, `POST /v1/oauth/complete` finishes it for the backend's logged-in user.
 */
export const oauthBackendRoutes: FastifyPluginAsyncZod<{ oauth: OauthFlow }> = async (
  app,
  { oauth },
) => {
  // Checked in the schema so a refused returnTo is the usual 400 naming `body.returnTo`.
  const returnTo = z.string().superRefine((value, ctx) => {
    const problem = oauth.returnToProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

  app.post(
    '/v1/oauth/authorize-url',
    {
      schema: {
        summary: 'A Calendly authorize URL with PKCE and a signed, expiring state',
        tags: ['oauth'],
        body: z.object({
          userId: userIdSchema.describe('Your logged-in user the flow is for'),
          returnTo: returnTo.describe(
            'Where the browser lands afterwards, with `calendly=pending&completion=...`',
          ),
        }),
        response: {
          200: z.object({ url: z.url().describe('Send the browser here') }),
          400: invalidBodySchema,
        },
      },
    },
    async (request, reply) => {
      try {
        const { url } = await oauth.authorizeUrl(request.body.userId, request.body.returnTo);
        return { url };
      } catch (error) {
        if (!(error instanceof ConnectInputError)) throw error;
        return reply
          .code(400)
          .send({ error: 'invalid_request', field: error.field, message: error.message });
      }
    },
  );

  app.post(
    '/v1/oauth/complete',
    {
      schema: {
        summary: 'Completes a hosted OAuth flow for the logged-in user it was started for',
        tags: ['oauth'],
        body: z.object({
          userId: userIdSchema.describe('Your logged-in user serving the landing page'),
          completion: z
            .string()
            .min(1)
            .max(200)
            .describe('The `completion` parameter of the page the browser landed on'),
        }),
        response: {
          200: connectionSchema,
          400: invalidBodySchema,
          403: z
            .object({ error: z.literal('user_mismatch'), message: z.string() })
            .describe('The flow was started for another user: the completion is now void'),
          410: z
            .object({ error: z.literal('completion_expired'), message: z.string() })
            .describe('The completion was already used, has expired (10 minutes) or is unknown'),
          422: calendlyRejectedSchema,
          503: calendlyUnavailableSchema.describe(
            'Calendly could not be reached: send the user through the flow again',
          ),
        },
      },
    },
    async (request, reply) => {
      try {
        const result = await oauth.complete(request.body.userId, request.body.completion);
        if (result.ok) return result.connection;
        switch (result.reason) {
          case 'user_mismatch':
            return reply.code(403).send({
              error: 'user_mismatch',
              message: 'this flow was started for another user; the completion is now void',
            });
          case 'completion_expired':
            return reply.code(410).send({
              error: 'completion_expired',
              message: 'this completion was already used, has expired or is unknown',
            });
          case 'calendly_rejected':
            return reply.code(422).send({ error: 'calendly_rejected', detail: result.detail });
        }
      } catch (error) {
        if (!(error instanceof CalendlyUnavailableError)) throw error;
        // The completion is spent either way (Calendly may have used the code): no Retry-After.
        return reply.code(503).send({
          error: 'calendly_unavailable',
          message: 'Calendly could not be reached: send the user through the flow again',
        });
      }
    },
  );
};

/** `GET /oauth/calendly/callback` (no bearer: the user's browser comes here from Calendly). */
export const callbackRoute: FastifyPluginAsyncZod<{ oauth: OauthFlow }> = async (
  app,
  { oauth },
) => {
  app.get(
    '/oauth/calendly/callback',
    {
      schema: {
        summary: 'Calendly sends the browser back here; redirects to returnTo with a completion',
        tags: ['oauth'],
        querystring: z.object({
          code: z.string().max(2_000).optional(),
          state: z.string().max(500).optional(),
          error: z.string().max(200).optional(),
        }),
        response: {
          302: z
            .null()
            .describe(
              'To returnTo with `calendly=pending&completion=<token>` or `calendly=error&reason=...`',
            ),
          400: z.union([
            invalidRequestSchema,
            z.object({ error: z.literal('invalid_state'), message: z.string() }),
          ]),
        },
      },
    },
    async (request, reply) => {
      const result = await oauth.callback(request.query);
      if (result.redirect) return reply.redirect(result.redirect, 302);
      return reply
        .code(400)
        .send({ error: 'invalid_state', message: 'this link is not from a calhook authorize URL' });
    },
  );
};
