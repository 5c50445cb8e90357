import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { basicAuth } from '@calhook/observability';
import type { Queue } from 'bullmq';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';

export interface AdminCredentials {
  user: string;
  password: string;
  /**
   * Bull Board refuses every write (ADMIN_READ_ONLY, default true); else it may retry, promote
   * and clean, nothing more.
   */
  readOnly: boolean;
}

export interface AdminOptions {
  /** Unset when ADMIN_USER/ADMIN_PASSWORD are not configured: the board is then off. */
  admin: AdminCredentials | undefined;
  queues: readonly Queue[];
}

export const BULL_BOARD_PATH = '/admin/queues';

const retriable = new Set(['failed', 'completed']);
// Cleaning waiting, delayed or active jobs would drop acknowledged deliveries and scheduled
// refreshes; finished ones are only kept to be looked at.
const cleanable = new Set(['failed', 'completed']);

/**
 * The writes Bull Board may make when ADMIN_READ_ONLY=false, by method and route (Bull Board's
 * own patterns, below BULL_BOARD_PATH) with a check of the route's parameters: retry, promote
 * and clean. Everything else is refused, including routes a later Bull Board adds: adding a job
 * (it would skip the receiver's signature check and the job catalog), changing a job's data,
 * delay or priority, removing a single job (a waiting one is an acknowledged delivery),
 * emptying or obliterating a queue, pausing or resuming queues (ingest would stop for everyone),
 * concurrency and rate limits, and running, changing or removing job schedulers (the schedule
 * belongs to the catalog).
 */
const ALLOWED_WRITES = new Map<string, (params: Record<string, string>) => boolean>([
  ['PUT /api/queues/:queueName/:jobId/retry', () => true],
  ['PUT /api/queues/:queueName/retry/:queueStatus', (p) => retriable.has(p.queueStatus ?? '')],
  ['PUT /api/queues/:queueName/:jobId/promote', () => true],
  ['PUT /api/queues/:queueName/promote', () => true],
  ['PUT /api/queues/:queueName/clean/:queueStatus', (p) => cleanable.has(p.queueStatus ?? '')],
]);

/**
 * Why this request may not write through Bull Board, or null when it may. Decided on the route
 * Fastify matched and its decoded parameters, never on the raw URL, so no spelling of a path
 * (encoded, doubled slashes) reaches a handler the check did not see.
 */
function writeRefusal(request: FastifyRequest, readOnly: boolean): string | null {
  if (request.method === 'GET' || request.method === 'HEAD') return null;
  if (readOnly) return 'Bull Board is read-only (ADMIN_READ_ONLY=true)';
  const route = request.routeOptions.url ?? '';
  const allowed = route.startsWith(`${BULL_BOARD_PATH}/`)
    ? ALLOWED_WRITES.get(`${request.method} ${route.slice(BULL_BOARD_PATH.length)}`)
    : undefined;
  if (allowed?.(request.params as Record<string, string>)) return null;
  return 'Bull Board may only retry, promote, and clean completed or failed jobs';
}

/**
 * Everything under `/admin`: Bull Board over every calhook queue, behind basic auth. Register
 * with `{ prefix: '/admin' }`. The auth hook and a not-found handler belong to this scope, so
 * every page, asset and board API call below `/admin` asks for credentials, even unknown ones.
 *
 * Without credentials configured the whole prefix answers 404 with a message saying how to turn
 * the board on: it is a deliberate configuration, not an outage (503 would page whoever watches
 * the api's error rate and make clients retry), and no queue data is reachable at all.
 */
export const adminPlugin: FastifyPluginAsync<AdminOptions> = async (app, options) => {
  const admin = options.admin;
  if (!admin) {
    const disabled = {
      error: 'admin_disabled',
      message: 'Bull Board is off: set ADMIN_USER and ADMIN_PASSWORD to turn it on',
    };
    app.get('/', { schema: { hide: true } }, (_request, reply) => reply.code(404).send(disabled));
    app.setNotFoundHandler((_request, reply) => reply.code(404).send(disabled));
    return;
  }

  app.addHook('onRequest', basicAuth(admin));
  // Enforced here, on the server: Bull Board's buttons are only its UI.
  app.addHook('onRequest', async (request, reply) => {
    const refusal = writeRefusal(request, admin.readOnly);
    if (refusal) return reply.code(403).send({ error: 'forbidden', message: refusal });
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not_found' }));

  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: options.queues.map(
      (queue) => new BullMQAdapter(queue, { readOnlyMode: admin.readOnly }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'calhook' } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: '/queues' });
};
