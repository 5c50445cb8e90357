import { changeRepo, type Database } from '@calhook/db';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  type ApiChange,
  changesPageSchema,
  cursorExpiredSchema,
  invalidRequestSchema,
} from '../schemas.ts';
import { userIdSchema } from './meetings.ts';

const changesQuery = z.object({
  after: z
    .string()
    .max(200)
    .optional()
    .describe(
      "A change's `cursor` or a page's `nextCursor`; without it, from the oldest change kept",
    ),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  userId: userIdSchema.optional().describe("Only this user's changes"),
});

/**
 * `GET /v1/changes`: the change feed in order, gap-free across concurrent transactions. Paging
 * with `nextCursor` (always present; poll it again when a page is empty) yields every change
 * exactly once. Without `after`, from the oldest change kept.
 */
export const changeRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, { db }) => {
  app.get(
    '/v1/changes',
    {
      schema: {
        summary: 'The change feed: every change to a meeting or connection, in order',
        tags: ['changes'],
        querystring: changesQuery,
        response: {
          200: changesPageSchema,
          400: invalidRequestSchema,
          410: cursorExpiredSchema,
        },
      },
    },
    async (request, reply) => {
      const { after, limit, userId } = request.query;
      const oldest = await changeRepo.prunedThrough(db);
      let from = oldest;
      if (after !== undefined) {
        const position = changeRepo.decodeCursor(after);
        if (!position) {
          return reply.code(400).send({
            error: 'invalid_request',
            field: 'querystring.after',
            message: 'not a cursor calhook issued',
          });
        }
        if (changeRepo.isBefore(position, oldest)) {
          return reply.code(410).send({
            error: 'cursor_expired',
            message: 'the changes after this cursor are older than CHANGES_RETENTION',
            oldestCursor: changeRepo.encodeCursor(oldest),
          });
        }
        from = position;
      }
      const page = await changeRepo.read(db, { after: from, limit, userId });
      return {
        // `data` is the snapshot stored with the change; the serializer checks it.
        changes: page.rows.map(changeRepo.toChange) as ApiChange[],
        nextCursor: changeRepo.encodeCursor(page.next),
      };
    },
  );
};
