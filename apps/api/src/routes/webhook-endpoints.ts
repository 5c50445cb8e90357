import type { EndpointService, Refusal } from '@calhook/app-webhooks';
import { changeTypes } from '@calhook/db';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  cursorExpiredSchema,
  invalidBodySchema,
  invalidRequestSchema,
  newWebhookEndpointSchema,
  notFoundSchema,
  webhookDeliverySchema,
  webhookEndpointSchema,
  webhookSecretSchema,
} from '../schemas.ts';

const params = z.object({ id: z.string().min(1).max(100) });

const createBody = z.strictObject({
  url: z.string().min(1).max(2_000),
  // Documented as the change types; checked by the service, whose 400 names `body.types`.
  types: z
    .array(
      z
        .string()
        .max(100)
        .meta({ enum: [...changeTypes] }),
    )
    .max(20)
    .optional(),
  description: z.string().max(500).optional(),
});

const deliveriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

const replayBody = z.strictObject({ after: z.string().min(1).max(200) });

/**
 * App webhook endpoints (API.md "Changes"): where changes are POSTed, signed per Standard
 * Webhooks; their secrets, delivery log and replays.
 */
export const webhookEndpointRoutes: FastifyPluginAsyncZod<{ endpoints: EndpointService }> = async (
  app,
  { endpoints },
) => {
  const refuse = (reply: FastifyReply, r: Refusal): FastifyReply => {
    switch (r.error) {
      case 'not_found':
        return reply.code(404).send({ error: 'not_found', message: 'no such webhook endpoint' });
      case 'invalid_request':
        return reply.code(400).send({ error: r.error, field: r.field, message: r.message });
      case 'cursor_expired':
        return reply
          .code(410)
          .send({ error: r.error, message: r.message, oldestCursor: r.oldestCursor });
    }
  };

  app.post(
    '/v1/webhook-endpoints',
    {
      schema: {
        summary: 'Add an endpoint that every change (or the given types) is POSTed to',
        tags: ['webhook-endpoints'],
        body: createBody,
        response: { 201: newWebhookEndpointSchema, 400: invalidBodySchema },
      },
    },
    async (request, reply) => {
      const result = await endpoints.create(request.body);
      if (!result.ok) return refuse(reply, result);
      return reply.code(201).send(result.endpoint);
    },
  );

  app.get(
    '/v1/webhook-endpoints',
    {
      schema: {
        summary: 'Every endpoint, without secrets',
        tags: ['webhook-endpoints'],
        response: { 200: z.object({ endpoints: z.array(webhookEndpointSchema) }) },
      },
    },
    async () => ({ endpoints: await endpoints.list() }),
  );

  app.get(
    '/v1/webhook-endpoints/:id',
    {
      schema: {
        summary: 'One endpoint, without its secret',
        tags: ['webhook-endpoints'],
        params,
        response: { 200: webhookEndpointSchema, 400: invalidRequestSchema, 404: notFoundSchema },
      },
    },
    async (request, reply) => {
      const result = await endpoints.get(request.params.id);
      return result.ok ? result.endpoint : refuse(reply, result);
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id/secret',
    {
      schema: {
        summary: "The endpoint's signing secret",
        tags: ['webhook-endpoints'],
        params,
        response: { 200: webhookSecretSchema, 400: invalidRequestSchema, 404: notFoundSchema },
      },
    },
    async (request, reply) => {
      const result = await endpoints.secret(request.params.id);
      return result.ok ? { secret: result.secret } : refuse(reply, result);
    },
  );

  app.delete(
    '/v1/webhook-endpoints/:id',
    {
      schema: {
        summary: 'Delete an endpoint: nothing more is sent to it',
        tags: ['webhook-endpoints'],
        params,
        response: {
          204: z.null().describe('Deleted'),
          400: invalidRequestSchema,
          404: notFoundSchema,
        },
      },
    },
    async (request, reply) => {
      const result = await endpoints.remove(request.params.id);
      return result.ok ? reply.code(204).send(null) : refuse(reply, result);
    },
  );

  app.post(
    '/v1/webhook-endpoints/:id/rotate-secret',
    {
      schema: {
        summary: 'A new secret; the previous one also signs for 24 hours',
        tags: ['webhook-endpoints'],
        params,
        response: { 200: webhookSecretSchema, 400: invalidRequestSchema, 404: notFoundSchema },
      },
    },
    async (request, reply) => {
      const result = await endpoints.rotate(request.params.id);
      return result.ok ? { secret: result.secret } : refuse(reply, result);
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id/deliveries',
    {
      schema: {
        summary: 'Delivery attempts to the endpoint, newest first',
        tags: ['webhook-endpoints'],
        params,
        querystring: deliveriesQuery,
        response: {
          200: z.object({
            deliveries: z.array(webhookDeliverySchema),
            nextCursor: z
              .string()
              .nullable()
              .describe('Pass as `cursor` for older attempts; null on the last page'),
          }),
          400: invalidRequestSchema,
          404: notFoundSchema,
        },
      },
    },
    async (request, reply) => {
      const result = await endpoints.deliveries(request.params.id, request.query);
      return result.ok
        ? { deliveries: result.deliveries, nextCursor: result.nextCursor }
        : refuse(reply, result);
    },
  );

  app.post(
    '/v1/webhook-endpoints/:id/replay',
    {
      schema: {
        summary: 'Send every change after a cursor again (same webhook-id)',
        tags: ['webhook-endpoints'],
        params,
        body: replayBody,
        response: {
          202: z
            .object({ status: z.literal('accepted') })
            .describe('The changes after the cursor will be sent again'),
          400: invalidBodySchema,
          404: notFoundSchema,
          410: cursorExpiredSchema,
        },
      },
    },
    async (request, reply) => {
      const result = await endpoints.replay(request.params.id, request.body.after);
      return result.ok ? reply.code(202).send({ status: 'accepted' }) : refuse(reply, result);
    },
  );
};
