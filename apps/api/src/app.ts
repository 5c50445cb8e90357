import type { EndpointService } from '@calhook/app-webhooks';
import type { Connections, OauthFlow } from '@calhook/connections';
import type { Database } from '@calhook/db';
import {
  createMetrics,
  logRequests,
  type Metrics,
  metricsRoute,
  serverOptions,
  traceRequests,
} from '@calhook/observability';
import type { Queue } from 'bullmq';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { databaseCounts } from './database-counts.ts';
import { type AdminCredentials, adminPlugin } from './plugins/admin.ts';
import { bearerAuth } from './plugins/bearer-auth.ts';
import { registerOpenApi } from './plugins/openapi.ts';
import { changeRoutes } from './routes/changes.ts';
import { connectionRoutes } from './routes/connections.ts';
import { meetingRoutes } from './routes/meetings.ts';
import { callbackRoute, oauthBackendRoutes } from './routes/oauth.ts';
import { probeRoutes } from './routes/probes.ts';
import { webhookEndpointRoutes } from './routes/webhook-endpoints.ts';

export interface ApiDeps {
  logger: FastifyBaseLogger;
  db: Database;
  apiToken: string;
  checkReady: () => Promise<void>;
  /** The connections API and hosted OAuth flow; absent in tests of the meetings API alone. */
  connections?: Connections;
  oauth?: OauthFlow;
  /** The app webhook endpoints API; absent in tests of other routes alone. */
  endpoints?: EndpointService;
  /** Bull Board and /metrics credentials; without them /admin answers 404 and /metrics is open. */
  admin?: AdminCredentials | undefined;
  /** Every calhook queue (`queues.all()`): shown in Bull Board and measured on /metrics. */
  queues?: readonly Queue[];
  /** Served at /metrics; a private registry without process metrics when not given. */
  metrics?: Metrics;
}

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  message?: string | undefined;
  params: Record<string, unknown>;
}

/**
 * Where a request is wrong, as a dotted path. A body that fits none of a union's shapes (the
 * connect body: a code, tokens, or nothing) is judged by the shape it comes closest to, the one
 * with the fewest problems, so `{code, redirectUri: "x"}` names `redirectUri`, not the body.
 */
function closestProblem(issue: ValidationIssue): { path: string; message: string } {
  const at = issue.instancePath.split('/').filter(Boolean);
  const branches = issue.params.errors as { path: PropertyKey[]; message: string }[][] | undefined;
  if (issue.keyword === 'invalid_union' && Array.isArray(branches) && branches.length > 0) {
    const nearest = branches.reduce((a, b) => (b.length < a.length ? b : a))[0];
    if (nearest) {
      return { path: [...at, ...nearest.path.map(String)].join('.'), message: nearest.message };
    }
  }
  return { path: at.join('.'), message: issue.message ?? 'invalid' };
}

/** Logged when an answer does not match its documented schema. */
export const ANSWER_OFF_SCHEMA = 'answer does not match its documented schema';

/** Builds the api role; `server.ts` only listens and shuts down. Tests call this with real deps. */
export function buildApiApp(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    ...serverOptions,
    loggerInstance: deps.logger,
  }).withTypeProvider<ZodTypeProvider>();
  traceRequests(app);
  app.setValidatorCompiler(validatorCompiler);
  // Each answer is checked against the schema the document shows for its status. A mismatch
  // means the document is wrong: it is logged, and the answer still goes out as it is (an app
  // gets its data, never a 500 for a documentation fault). Tests fail on that log line.
  app.setSerializerCompiler(({ schema, method, url, httpStatus }) => {
    // Every route's schemas are zod; anything else (a plugin's JSON schema) is sent unchecked.
    const isZod = typeof schema === 'object' && schema !== null && '_zod' in schema;
    if (!isZod) return (data) => JSON.stringify(data);
    const documented = schema as z.ZodType;
    return (data) => {
      const checked = z.safeEncode(documented, data);
      if (!checked.success) {
        const issues = checked.error.issues.map((issue) => ({
          path: issue.path.join('.'),
          message: issue.message,
        }));
        deps.logger.error({ method, url, status: httpStatus, issues }, ANSWER_OFF_SCHEMA);
      }
      return JSON.stringify(data);
    };
  });
  logRequests(app);

  // One error handler: client errors say what was wrong and where; 5xx hide internals.
  app.setErrorHandler((error, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const first = error.validation[0];
      const problem = first ? closestProblem(first) : { path: '', message: 'invalid' };
      const field = [error.validationContext, problem.path].filter(Boolean).join('.');
      return reply.code(400).send({ error: 'invalid_request', field, message: problem.message });
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).send({ error: 'bad_request', message: (error as Error).message });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ error: 'internal' });
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not_found' }));

  // Before any route: @fastify/swagger documents routes as they are added.
  registerOpenApi(app);

  const metrics = deps.metrics ?? createMetrics({ processMetrics: false });
  if (deps.queues) metrics.observeQueues(deps.queues);
  metrics.observeDatabase(() => databaseCounts(deps.db));
  metricsRoute(app, { metrics, auth: deps.admin });
  app.register(adminPlugin, { prefix: '/admin', admin: deps.admin, queues: deps.queues ?? [] });

  // Registered as a plugin, like every route, so it loads after @fastify/swagger and is listed.
  app.register(probeRoutes, { checkReady: deps.checkReady });

  if (deps.oauth) app.register(callbackRoute, { oauth: deps.oauth });
  app.register(async (v1) => {
    v1.addHook('onRequest', bearerAuth(deps.apiToken));
    await v1.register(meetingRoutes, { db: deps.db });
    await v1.register(changeRoutes, { db: deps.db });
    if (deps.connections) await v1.register(connectionRoutes, { connections: deps.connections });
    if (deps.oauth) await v1.register(oauthBackendRoutes, { oauth: deps.oauth });
    if (deps.endpoints) await v1.register(webhookEndpointRoutes, { endpoints: deps.endpoints });
  });
  return app;
}
