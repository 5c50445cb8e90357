import type { OauthFlow } from '@calhook/connections';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { userIdSchema } from './meetings.ts';

const returnTo = z.url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' });

/** `POST /v1/oauth/authorize-url` (bearer): where to send the user to connect Calendly. */
export const authorizeUrlRoute: FastifyPluginAsyncZod<{ oauth: OauthFlow }> = async (
  app,
  { oauth },
) => {
  app.post(
    '/v1/oauth/authorize-url',
    {
      schema: {
        summary: 'A Calendly authorize URL with PKCE and a signed, expiring state',
        tags: ['oauth'],
        body: z.object({ userId: userIdSchema, returnTo }),
      },
    },
    async (request) => {
      const { url } = await oauth.authorizeUrl(request.body.userId, request.body.returnTo);
      return { url };
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
        summary: 'Calendly sends the browser back here; redirects to returnTo',
        tags: ['oauth'],
        querystring: z.object({
          code: z.string().max(2_000).optional(),
          state: z.string().max(500).optional(),
          error: z.string().max(200).optional(),
        }),
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
