// Proves the api's operator surface: /openapi.json documents the meetings route, its query
// parameters and the bearer scheme; /docs serves its page and assets itself; every path under
// /admin asks for basic auth when credentials are set and answers 404 saying how to turn the
// board on when they are not; Bull Board is read-only unless ADMIN_READ_ONLY=false, and even
// then it can retry, promote and clean jobs but never add one or change a job's data. With
// QUEUE_SHARDS=3 the board and /metrics show every shard of the event queue.

import { loadConfig } from '@calhook/config';
import type { DatabaseHandle } from '@calhook/db';
import { createLogger } from '@calhook/observability';
import {
  allQueueNames,
  createProducerRedis,
  createQueues,
  type Queues,
  type RedisConnection,
} from '@calhook/queue';
import { testDatabase, testUrls, uniqueId } from '@calhook/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApiApp } from '../src/app.ts';

const logger = createLogger({ level: 'silent' });
// ADMIN_READ_ONLY left unset: its default must reach Bull Board.
const admin = loadConfig({ ADMIN_USER: 'ops', ADMIN_PASSWORD: 'board-password-123' }, []).admin!;
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
let database: DatabaseHandle;
let redis: RedisConnection;
let queues: Queues;
const SHARDS = 3;

beforeAll(() => {
  database = testDatabase();
  redis = createProducerRedis(testUrls().redis);
  queues = createQueues(redis, uniqueId('ops'), { shards: SHARDS });
});
afterAll(async () => {
  await queues.close();
  redis.disconnect();
  await database.close();
});

const build = (withAdmin: boolean, board = admin) =>
  buildApiApp({
    logger,
    db: database.db,
    apiToken: 'operator-api-token-0123',
    checkReady: async () => {},
    ...(withAdmin ? { admin: board, queues: queues.all() } : {}),
  });

describe('OpenAPI', () => {
  it('documents the meetings route, its query parameters and the bearer scheme', async () => {
    const app = build(false);
    const response = await app.inject({ url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title).toBe('calhook API');
    expect(doc.components.securitySchemes.bearerAuth).toEqual(
      expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    );
    const list = doc.paths['/v1/users/{userId}/meetings']?.get;
    expect(list.security).toEqual([{ bearerAuth: [] }]);
    const params = (list.parameters as { name: string; in: string }[]).map(
      (p) => `${p.in}:${p.name}`,
    );
    expect(params.sort()).toEqual(
      [
        'path:userId',
        'query:cursor',
        'query:from',
        'query:limit',
        'query:status',
        'query:to',
      ].sort(),
    );
    expect(
      Object.keys(doc.paths).filter((p) => p.startsWith('/admin') || p === '/metrics'),
    ).toEqual([]);
    await app.close();
  });

  it('serves the docs page and its assets from this server', async () => {
    const app = build(false);
    const page = await app.inject({ url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    const assets = [...page.body.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1] ?? '');
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      expect(asset).toMatch(/^(\/docs\/|\.\/)/);
      const url = asset.startsWith('./') ? `/docs/${asset.slice(2)}` : asset;
      expect((await app.inject({ url })).statusCode, url).toBe(200);
    }
    await app.close();
  });
});

describe('/admin', () => {
  it('asks for basic auth on every path below it, and accepts only the right pair', async () => {
    const app = build(true);
    for (const url of [
      '/admin/queues',
      '/admin/queues/api/queues',
      '/admin/queues/static/favicon-32x32.png',
      '/admin/anything',
    ]) {
      for (const authorization of [
        undefined,
        basic('ops', 'wrong'),
        basic('wrong', admin.password),
        'Bearer x',
      ]) {
        const response = await app.inject({ url, headers: authorization ? { authorization } : {} });
        expect(response.statusCode, `${url} ${authorization}`).toBe(401);
        expect(response.headers['www-authenticate']).toBe('Basic realm="calhook"');
      }
    }
    const page = await app.inject({
      url: '/admin/queues',
      headers: { authorization: basic('ops', admin.password) },
    });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    const api = await app.inject({
      url: '/admin/queues/api/queues',
      headers: { authorization: basic('ops', admin.password) },
    });
    const board = api.json() as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(board.queues.map((q) => q.name).sort()).toEqual(allQueueNames(SHARDS).sort());
    expect(board.queues.every((q) => q.readOnlyMode)).toBe(true);
    const metrics = await app.inject({
      url: '/metrics',
      headers: { authorization: basic('ops', admin.password) },
    });
    expect(metrics.statusCode).toBe(200);
    const measured = new Set(
      [...metrics.body.matchAll(/^calhook_queue_jobs\{queue="([^"]+)",state="waiting"\} /gm)].map(
        (m) => m[1],
      ),
    );
    expect([...measured].sort()).toEqual(allQueueNames(SHARDS).sort());
    await app.close();
  });

  it('refuses every write but retry, promote and clean, even with ADMIN_READ_ONLY=false', async () => {
    const writable = loadConfig(
      { ADMIN_USER: 'ops', ADMIN_PASSWORD: 'board-password-123', ADMIN_READ_ONLY: 'false' },
      [],
    ).admin!;
    const payload = {
      hookId: 'h1',
      connectionId: '00000000-0000-4000-8000-000000000001',
      body: '{}',
      receivedAt: new Date().toISOString(),
    };
    const job = await queues.enqueue('ingest-event', payload);
    // The shard of the payload's connection.
    const events = queues.queueOf('ingest-event', payload);
    const counts = await events.getJobCounts();
    const headers = { authorization: basic('ops', writable.password) };
    const base = `/admin/queues/api/queues/${events.name}`;
    // Bull Board's read-only mode alone lets "pause all queues" through.
    for (const board of [admin, writable]) {
      const app = build(true, board);
      for (const [method, url, body] of [
        ['POST', `${base}/add`, { name: 'ingest-event', data: payload }],
        ['PATCH', `${base}/${job.id}/update-data`, { jobData: { ...payload, body: 'x' } }],
        ['PUT', `${base}/empty`, undefined],
        ['PUT', `${base}/obliterate`, undefined],
        ['PUT', '/admin/queues/api/queues/pause', undefined],
      ] as const) {
        const response = await app.inject({ method, url, headers, ...(body ? { body } : {}) });
        expect(
          response.statusCode,
          `${method} ${url}, ${board.readOnly ? 'read-only' : 'writable'}`,
        ).toBe(403);
      }
      expect(await events.getJobCounts()).toEqual(counts);
      expect((await events.getJob(job.id!))?.data).toEqual(payload);
      const clean = await app.inject({ method: 'PUT', url: `${base}/clean/completed`, headers });
      // Read-only refuses even the writes a writable board allows (the whole list is proved in
      // admin-writes.int.test.ts).
      expect(clean.statusCode).toBe(board.readOnly ? 403 : 200);
      await app.close();
    }
    await job.remove();
  });

  it('answers 404 with how to turn the board on when no credentials are configured', async () => {
    const app = build(false);
    for (const url of ['/admin/queues', '/admin/queues/api/queues']) {
      const response = await app.inject({ url, headers: { authorization: basic('ops', 'x') } });
      expect(response.statusCode).toBe(404);
      expect(response.json().message).toContain('ADMIN_USER');
    }
    // /metrics stays open without credentials (private port).
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(200);
    await app.close();
  });
});
