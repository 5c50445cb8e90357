import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
} from 'fastify-type-provider-zod';
import { badRequestSchema, internalErrorSchema, unauthorizedSchema } from '../schemas.ts';

const jsonSchemaTransform = createJsonSchemaTransform({});
type TransformInput = Parameters<typeof jsonSchemaTransform>[0];
const withComponents = createJsonSchemaTransformObject({});
type TransformObjectInput = Parameters<typeof withComponents>[0];

/**
 * The named schemas (schemas.ts) as components, without the request-side copies (`<id>Input`)
 * the type provider adds for every named schema: they are listed only when a route uses one.
 */
function transformObject(input: TransformObjectInput): ReturnType<typeof withComponents> {
  const document = withComponents(input);
  const schemas = ((document as { components?: { schemas?: Record<string, unknown> } }).components
    ?.schemas ?? {}) as Record<string, unknown>;
  const unused = () =>
    Object.keys(schemas).filter((id) => {
      const others = JSON.stringify({
        ...document,
        components: { schemas: { ...schemas, [id]: null } },
      });
      return id.endsWith('Input') && !others.includes(`"#/components/schemas/${id}"`);
    });
  for (let ids = unused(); ids.length > 0; ids = unused()) {
    for (const id of ids) delete schemas[id];
  }
  return document;
}

/**
 * The api's OpenAPI document, generated from the zod route schemas, at `/openapi.json`, and a
 * docs page at `/docs` whose assets come from @fastify/swagger-ui's own package (no CDN).
 * Call on the root instance (not inside a plugin, whose scope would hide the routes) before
 * any route is added: @fastify/swagger collects routes as they are added. The typed client
 * (packages/client) is generated from this document: `pnpm client:generate`.
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
    // The bearer hook and the error handler cover the whole /v1 scope, so the document says
    // so for every /v1 route: the security scheme, its 401, the 413/415 of a route with a body
    // and the 500 that hides internals.
    transform: (input: TransformInput) => {
      if (!input.url.startsWith('/v1/')) return jsonSchemaTransform(input);
      const response = {
        ...(input.schema.response as object | undefined),
        401: unauthorizedSchema,
        // Refused by Fastify before the route runs: a body over 1 MiB, or one that is not JSON.
        ...(input.schema.body ? { 413: badRequestSchema, 415: badRequestSchema } : {}),
        500: internalErrorSchema,
      };
      const out = jsonSchemaTransform({ ...input, schema: { ...input.schema, response } });
      return { ...out, schema: { ...out.schema, security: [{ bearerAuth: [] }] } };
    },
    transformObject,
  });
  app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: false } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
