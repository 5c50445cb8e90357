// Proves Bull Board cannot write into any tenant's work: read-only (ADMIN_READ_ONLY) it answers
// 403 to every one of its write routes; writable it still answers 403 to adding a job, changing
// a job's data and every write but retry, promote and clean (of finished jobs), and those three
// really work. Every route comes from Bull Board's own route table, sent over HTTP to a real api
// app on real Redis, and each refusal is checked to have left the queues exactly as they were.
import { randomUUID } from 'node:crypto';
import { appRoutes } from '@bull-board/api/dist/routes.js';
import type { DatabaseHandle } from '@calhook/db';
import { createLogger } from '@calhook/observability';
import {
  createProducerRedis,
  createQueues,
  createWorkerRedis,
  createWorkers,
  jobCatalog,
  PermanentJobError,
  type Processor,
  type ProcessorMap,
  type Queues,
  queueNames,
  type RedisConnection,
  type Workers,
} from '@calhook/queue';
import { eventually, testDatabase, testUrls, uniqueId } from '@calhook/testing';
import type { Job } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApiApp } from '../src/app.ts';

const logger = createLogger({ level: 'silent' });
const credentials = { user: 'ops', password: 'board-password-123' };
const authorization = `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`;
const BOARD = '/admin/queues';

/** The writes a writable board allows (API.md: retry, promote, clean), by Bull Board route. */
const ALLOWED = new Set([
  'PUT /api/queues/:queueName/:jobId/retry',
  'PUT /api/queues/:queueName/retry/:queueStatus',
  'PUT /api/queues/:queueName/:jobId/promote',
  'PUT /api/queues/:queueName/promote',
  'PUT /api/queues/:queueName/clean/:queueStatus',
]);

/** Every write route Bull Board registers: method (upper case) and path below BOARD. */
const writeRoutes = appRoutes.api.flatMap((route) =>
  [route.method]
    .flat()
    .filter((method) => method !== 'get')
    .flatMap((method) =>
      [route.route].flat().map((path) => ({ method: method.toUpperCase(), path })),
    ),
);

let database: DatabaseHandle;
let producer: RedisConnection;
let queues: Queues;
let workers: Workers;
// The ingest processor fails until a test flips this, like a bug fixed before a retry.
let failing = true;
const jobs: Record<'done' | 'failedA' | 'failedB' | 'waiting' | 'delayedA' | 'delayedB', Job> =
  {} as never;

const delivery = (body: string) => ({
  hookId: 'h1',
  connectionId: randomUUID(),
  body,
  receivedAt: new Date().toISOString(),
});

beforeAll(async () => {
  database = testDatabase();
  producer = createProducerRedis(testUrls().redis);
  const prefix = uniqueId('board');
  queues = createQueues(producer, prefix);
  const processor: Processor<'ingest-event'> = async (payload) => {
    if (payload.body === 'fail' && failing) throw new PermanentJobError('failed on purpose');
    return { ok: true };
  };
  workers = createWorkers({
    prefix,
    processors: Object.fromEntries(
      Object.keys(jobCatalog).map((name) => [name, processor]),
    ) as unknown as ProcessorMap,
    logger,
    connection: () => createWorkerRedis(testUrls().redis),
    // Only the events queue is worked: jobs in the others stay where the test put them.
    queues: ['events'],
  });
  jobs.done = await queues.enqueue('ingest-event', delivery('ok'));
  jobs.failedA = await queues.enqueue('ingest-event', delivery('fail'));
  jobs.failedB = await queues.enqueue('ingest-event', delivery('fail'));
  jobs.waiting = await queues.enqueue('disconnect-cleanup', {
    connectionId: randomUUID(),
    subscriptionUris: ['https://api.calendly.com/webhook_subscriptions/s1'],
    accessTokenEnc: 'v1.sealed-token',
    refreshTokenEnc: null,
  });
  jobs.delayedA = await queues.enqueue(
    'refresh-token',
    { connectionId: randomUUID() },
    { delayMs: 3_600_000 },
  );
  jobs.delayedB = await queues.enqueue(
    'refresh-token',
    { connectionId: randomUUID() },
    { delayMs: 3_600_000 },
  );
  await queues.schedule('reconcile-sweep', 3_600_000);
  for (const name of ['done', 'failedA', 'failedB'] as const) {
    const want = name === 'done' ? 'completed' : 'failed';
    await eventually(async () => (await jobs[name].getState()) === want, { what: name });
  }
});

afterAll(async () => {
  await workers?.close();
  for (const queue of queues?.all() ?? []) await queue.obliterate({ force: true });
  await queues?.close();
  producer?.disconnect();
  await database?.close();
});

function board(readOnly: boolean): FastifyInstance {
  return buildApiApp({
    logger,
    db: database.db,
    apiToken: 'board-api-token-0123',
    checkReady: async () => {},
    admin: { ...credentials, readOnly },
    queues: queues.all(),
  });
}

/** Everything a board write could change: every job (state, name, data, options), every
 * queue's pause, concurrency and schedulers. */
async function snapshot() {
  const out: Record<string, unknown> = {};
  for (const name of queueNames) {
    const queue = queues.get(name);
    const all = await queue.getJobs([
      'wait',
      'active',
      'delayed',
      'prioritized',
      'waiting-children',
      'completed',
      'failed',
    ]);
    const described = await Promise.all(
      all.map(async (job) => ({
        id: job.id,
        name: job.name,
        state: await job.getState(),
        data: job.data,
        priority: job.opts.priority ?? 0,
        delay: job.delay,
      })),
    );
    out[name] = {
      jobs: described.sort((a, b) => String(a.id).localeCompare(String(b.id))),
      paused: await queue.isPaused(),
      concurrency: await queue.getGlobalConcurrency(),
      schedulers: (await queue.getJobSchedulers()).map((s) => [s.key, s.every, s.pattern]),
    };
  }
  return out;
}

/** A concrete request for one of Bull Board's write routes, aimed where it would do harm. */
function requestFor(path: string, queueStatus: string) {
  const forged = { ...delivery('{"event":"invitee.created"}'), hookId: 'victim' };
  const queueName = path.includes('job-schedulers')
    ? 'connections'
    : path.endsWith('/add')
      ? 'events'
      : 'connections';
  const bodies: Record<string, unknown> = {
    '/api/queues/:queueName/add': { name: 'ingest-event', data: forged },
    '/api/queues/:queueName/:jobId/update-data': {
      jobData: { ...jobs.waiting.data, subscriptionUris: ['https://api.calendly.com/users/x'] },
    },
    '/api/queues/:queueName/:jobId/delay': { runAt: Date.now() },
    '/api/queues/:queueName/:jobId/priority': { priority: 1 },
    '/api/queues/:queueName/concurrency': { concurrency: 1 },
    '/api/queues/:queueName/rate-limit': { max: 1, duration: 60_000 },
    '/api/queues/:queueName/obliterate': { force: true },
    '/api/queues/:queueName/job-schedulers/:schedulerId': { every: 1_000 },
  };
  const url =
    BOARD +
    path
      .replace(':queueName', queueName)
      .replace(':jobId', String(jobs.waiting.id))
      .replace(':queueStatus', queueStatus)
      .replace(':schedulerId', 'reconcile-sweep');
  return { url, body: bodies[path] };
}

async function send(app: FastifyInstance, method: string, url: string, body?: unknown) {
  return app.inject({
    method: method.toUpperCase() as 'PUT',
    url,
    headers: { authorization },
    ...(body === undefined ? {} : { payload: body as object }),
  });
}

/** Bull Board answers its writes 200 or 204. */
function expectDone(response: { statusCode: number; body: string }) {
  expect([200, 204], response.body).toContain(response.statusCode);
}

describe('Bull Board writes', () => {
  it('finds the routes it guards in Bull Board’s own table', () => {
    const listed = new Set(writeRoutes.map((r) => `${r.method} ${r.path}`));
    for (const allowed of ALLOWED) expect(listed, allowed).toContain(allowed);
    for (const dangerous of [
      'POST /api/queues/:queueName/add',
      'PATCH /api/queues/:queueName/:jobId/update-data',
      'PUT /api/queues/:queueName/:jobId/clean',
      'PUT /api/queues/pause',
      'PUT /api/queues/:queueName/obliterate',
    ]) {
      expect(listed, dangerous).toContain(dangerous);
    }
  });

  it('read-only: answers 403 to every write route and changes nothing; reads work', async () => {
    const app = board(true);
    try {
      const before = await snapshot();
      for (const { method, path } of writeRoutes) {
        for (const status of ['failed', 'completed']) {
          const { url, body } = requestFor(path, status);
          const response = await send(app, method, url, body);
          expect(response.statusCode, `${method} ${url}`).toBe(403);
          expect(response.json().error).toBe('forbidden');
        }
      }
      expect(await snapshot()).toEqual(before);
      const read = await send(app, 'GET', `${BOARD}/api/queues`);
      expect(read.statusCode).toBe(200);
      const job = await send(app, 'GET', `${BOARD}/api/queues/events/${jobs.failedA.id}`);
      expect(job.statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('writable: answers 403 to adding, editing and every write but retry, promote, clean', async () => {
    const app = board(false);
    try {
      const before = await snapshot();
      const forbidden = writeRoutes.filter((r) => !ALLOWED.has(`${r.method} ${r.path}`));
      expect(forbidden.length).toBeGreaterThan(15);
      for (const { method, path } of forbidden) {
        const { url, body } = requestFor(path, 'failed');
        const response = await send(app, method, url, body);
        expect(response.statusCode, `${method} ${url}`).toBe(403);
        expect(response.json().error).toBe('forbidden');
      }
      // Clean is for finished jobs only: waiting and delayed jobs are work still owed.
      for (const status of ['wait', 'delayed', 'active', 'paused', 'prioritized']) {
        const response = await send(app, 'PUT', `${BOARD}/api/queues/connections/clean/${status}`);
        expect(response.statusCode, status).toBe(403);
      }
      // Other spellings of "add a job" reach no handler either.
      for (const url of [
        `${BOARD}/api/queues/events/%61dd`,
        `${BOARD}/api/queues/events/add/`,
        `${BOARD}/api/queues/events/add?x=1`,
        `/admin//queues/api/queues/events/add`,
        `${BOARD}/api/queues/%65vents/add`,
      ]) {
        const response = await send(app, 'POST', url, {
          name: 'ingest-event',
          data: delivery('{}'),
        });
        expect(response.statusCode, url).toBe(403);
      }
      expect(await snapshot()).toEqual(before);
    } finally {
      await app.close();
    }
  });

  it('writable: retry, promote and clean really happen', async () => {
    const app = board(false);
    try {
      failing = false;
      const one = await send(app, 'PUT', `${BOARD}/api/queues/events/${jobs.failedA.id}/retry`);
      expectDone(one);
      const all = await send(app, 'PUT', `${BOARD}/api/queues/events/retry/failed`);
      expectDone(all);
      for (const job of [jobs.failedA, jobs.failedB]) {
        await eventually(async () => (await job.getState()) === 'completed', {
          what: `retried job ${job.id} to complete`,
        });
      }

      const promoteOne = await send(
        app,
        'PUT',
        `${BOARD}/api/queues/connections/${jobs.delayedA.id}/promote`,
      );
      expectDone(promoteOne);
      expect(await jobs.delayedA.getState()).toBe('waiting');
      const promoteAll = await send(app, 'PUT', `${BOARD}/api/queues/connections/promote`);
      expectDone(promoteAll);
      expect(await jobs.delayedB.getState()).toBe('waiting');

      const events = queues.get('events');
      expect(await events.getJobCounts('completed')).toEqual({ completed: 3 });
      // Bull Board cleans only jobs finished more than 5 s ago: clean until these are gone.
      await eventually(
        async () => {
          const clean = await send(app, 'PUT', `${BOARD}/api/queues/events/clean/completed`);
          expectDone(clean);
          return (await events.getJobCounts('completed')).completed === 0;
        },
        { timeoutMs: 15_000, intervalMs: 500, what: 'the completed jobs to be cleaned' },
      );
      // The waiting clean-up job was never touched.
      expect(await jobs.waiting.getState()).toBe('waiting');
    } finally {
      await app.close();
    }
  });
});
