import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];

/**
 * The api's OpenAPI document, generated from the zod route schemas, at `/openapi.json`, and a
 * docs page at `/docs` whose assets come from @fastify/swagger-ui's own package (no CDN).
 * Call on the root instance (not inside a plugin, whose scope would hide the routes) before
 * any route is added: @fastify/swagger collects routes as they are added.
 */
export function registerOpenApi(app: FastifyInstance): void {
  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'calhook API',
        description:
          "Connections and meetings of your app's users. Every /v1 route takes `Authorization: Bearer <API_TOKEN>`.",
        version: '1.0.0',
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'The API_TOKEN' },
        },
      },
    },
    // The bearer hook guards the whole /v1 scope, so the document says so for every /v1 route.
    transform: (input: TransformInput) => {
      const out = jsonSchemaTransform(input);
      if (!input.url.startsWith('/v1/')) return out;
      return { ...out, schema: { ...out.schema, security: [{ bearerAuth: [] }] } };
    },
  });
  app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: false } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
