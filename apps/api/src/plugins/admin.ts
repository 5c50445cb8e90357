import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { basicAuth } from '@calhook/observability';
import type { Queue } from 'bullmq';
import type { FastifyPluginAsync } from 'fastify';

export interface AdminCredentials {
  user: string;
  password: string;
  /** Bull Board without its retry, promote and clean buttons (ADMIN_READ_ONLY, default true). */
  readOnly: boolean;
}

export interface AdminOptions {
  /** Unset when ADMIN_USER/ADMIN_PASSWORD are not configured: the board is then off. */
  admin: AdminCredentials | undefined;
  queues: readonly Queue[];
}

export const BULL_BOARD_PATH = '/admin/queues';

/**
 * The only writes Bull Board may make when ADMIN_READ_ONLY=false (API.md): retry, promote and
 * clean, for one job or a whole status. Its other buttons (add a job, edit a job's data, empty,
 * obliterate, pause, reschedule) would bypass the job catalog or drop acknowledged deliveries.
 */
const ALLOWED_WRITE = new RegExp(
  `^${BULL_BOARD_PATH}/api/queues/[^/]+/(?:(?:retry|clean)/[^/]+|promote|[^/]+/(?:retry|clean|promote))$`,
);

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
  // Bull Board's own read-only mode refuses every write; this holds even when it is off.
  app.addHook('onRequest', (request, reply, done) => {
    const path = request.url.split('?')[0] ?? '';
    if (request.method === 'GET' || request.method === 'HEAD' || ALLOWED_WRITE.test(path)) {
      return done();
    }
    reply
      .code(403)
      .send({ error: 'forbidden', message: 'Bull Board may only retry, promote and clean jobs' });
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
