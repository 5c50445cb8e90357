import type { Database } from '@calhook/db';
import { DEFAULT_MEETINGS_LIMIT, listMeetings, MAX_MEETINGS_LIMIT } from '@calhook/meetings';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type ApiMeeting, invalidRequestSchema, meetingsPageSchema } from '../schemas.ts';

export const userIdSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\w.@:+-]+$/, 'letters, digits and _ . @ : + - only');

// Syntax here; listMeetings checks the range (years 1 to 9999) and that `to` is not before `from`.
const time = z.iso.datetime({
  offset: true,
  error: 'must be an ISO 8601 date-time with a zone, e.g. 2026-12-03T09:00:00Z',
});

const meetingsQuery = z.object({
  from: time.optional().describe('Meetings starting at or after this time'),
  to: time.optional().describe('Meetings starting before this time'),
  status: z.enum(['active', 'canceled']).optional(),
  // Decimal digits only: Number() would also take '0x10', '1e2' or ' 5 '.
  limit: z
    .string()
    .regex(/^\d{1,3}$/, `limit must be a whole number from 1 to ${MAX_MEETINGS_LIMIT}`)
    .transform(Number)
    .pipe(z.number().int().min(1).max(MAX_MEETINGS_LIMIT))
    .default(DEFAULT_MEETINGS_LIMIT)
    // Documented as what it is, a whole number: the digits-only check is how it is read.
    .meta({
      type: 'integer',
      minimum: 1,
      maximum: MAX_MEETINGS_LIMIT,
      default: DEFAULT_MEETINGS_LIMIT,
      pattern: undefined,
    }),
  cursor: z.string().max(500).optional().describe('The `nextCursor` of the previous page'),
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
        response: {
          200: meetingsPageSchema,
          400: invalidRequestSchema,
        },
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
      // `location` and `questionsAndAnswers` are Calendly's JSON as stored; the serializer
      // checks them against the document.
      return { meetings: result.meetings as ApiMeeting[], nextCursor: result.nextCursor };
    },
  );
};
