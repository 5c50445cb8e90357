import type { Database } from '@calhook/db';
import { listMeetings } from '@calhook/meetings';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

export const userIdSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\w.@:+-]+$/, 'letters, digits and _ . @ : + - only');

const meetingsQuery = z.object({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  status: z.enum(['active', 'canceled']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional(),
});

/** `GET /v1/users/:userId/meetings`: a user's meetings by start time, keyset-paginated. */
export const meetingRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, options) => {
  app.get(
    '/v1/users/:userId/meetings',
    {
      schema: {
        summary: "List a user's meetings",
        tags: ['meetings'],
        params: z.object({ userId: userIdSchema }),
        querystring: meetingsQuery,
      },
    },
    async (request, reply) => {
      const { from, to, status, limit, cursor } = request.query;
      const result = await listMeetings(options.db, {
        userId: request.params.userId,
        from: from ? new Date(from) : undefined,
        to: to ? new Date(to) : undefined,
        status,
        limit,
        cursor,
      });
      if (!result.ok) {
        return reply.code(400).send({
          error: 'invalid_request',
          field: `querystring.${result.field}`,
          message: result.message,
        });
      }
      return { meetings: result.meetings, nextCursor: result.nextCursor };
    },
  );
};
