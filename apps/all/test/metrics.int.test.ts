// Proves /metrics counts exactly what happened in a scripted run of receiver, worker and api:
// one delivery accepted, one duplicate, one refused for its signature, one job failed, with
// queue depth read from Redis at scrape time, and basic auth on /metrics when admin is set.
import { randomBytes } from 'node:crypto';
import { buildApiApp } from '@calhook/api-app';
import { loadConfig } from '@calhook/config';
import { createSealer } from '@calhook/crypto';
import type { DatabaseHandle } from '@calhook/db';
import { createLogger, createMetrics, type Metrics } from '@calhook/observability';
import {
  createProducerRedis,
  createQueues,
  createWorkerRedis,
  type Queues,
  type RedisConnection,
} from '@calhook/queue';
import {
  eventually,
  seedConnectionWithHook,
  testDatabase,
  testUrls,
  uniqueId,
} from '@calhook/testing';
import { createHookIds, signatureHeader } from '@calhook/webhooks';
import { createWorkerPool, type WorkerPool } from '@calhook/worker-app';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeInProcess, inProcessReceiver } from './harness.ts';

const logger = createLogger({ level: 'silent' });
const admin = { user: 'ops', password: 'metrics-password-123', readOnly: false };
const basic = `Basic ${Buffer.from(`${admin.user}:${admin.password}`).toString('base64')}`;
let database: DatabaseHandle;
let producer: RedisConnection;
let queues: Queues;
let pool: WorkerPool;
let receiver: FastifyInstance;
let api: FastifyInstance;
const encryptionKeys = [randomBytes(32)];
const sealer = createSealer(encryptionKeys);
const hookIds = createHookIds(encryptionKeys);
const receiverMetrics = createMetrics({ processMetrics: false });
const workerMetrics = createMetrics({ processMetrics: false });

/** The value of one sample in Prometheus text, 0 when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? '').split(',').filter(Boolean);
    if (wanted.every((w) => present.includes(w)) && present.length === wanted.length) {
      return Number(match[3]);
    }
  }
  return 0;
}

async function scrape(app: FastifyInstance, headers: Record<string, string> = {}) {
  const response = await app.inject({ url: '/metrics', headers });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toContain('text/plain');
  return response.body;
}

const render = (metrics: Metrics) => metrics.render();

beforeAll(async () => {
  database = testDatabase();
  const prefix = uniqueId('metrics');
  producer = createProducerRedis(testUrls().redis);
  queues = createQueues(producer, prefix);
  receiver = inProcessReceiver({
    db: database.db,
    sealer,
    hookIds,
    queues,
    logger,
    metrics: receiverMetrics,
  });
  api = buildApiApp({
    logger,
    db: database.db,
    apiToken: 'metrics-api-token-0123',
    checkReady: async () => {},
    admin,
    queues: queues.all(),
  });
  const config = loadConfig(
    {
      QUEUE_PREFIX: prefix,
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      CALENDLY_API_URL: 'http://127.0.0.1:9',
    },
    [],
  );
  pool = createWorkerPool({
    config,
    db: database.db,
    queues,
    logger,
    connection: () => createWorkerRedis(testUrls().redis),
    metrics: workerMetrics,
    only: ['events'],
  });
});

afterAll(async () => {
  await closeInProcess({ pool, receiver, api, queues, producer, database });
});

describe('/metrics', () => {
  it('reads exactly what a scripted run did', async () => {
    const hook = await seedConnectionWithHook(database.db, { sealer, hookIds });
    await seedConnectionWithHook(database.db, { sealer, hookIds });
    const body = JSON.stringify({ event: 'invitee.created', created_by: hook.calendlyUserUri });
    const post = (key: string) =>
      receiver.inject({
        method: 'POST',
        url: `/webhooks/calendly/${hook.hookId}`,
        headers: {
          'content-type': 'application/json',
          'calendly-webhook-signature': signatureHeader(key, Math.floor(Date.now() / 1000), body),
        },
        payload: body,
      });
    expect((await post(hook.signingKey)).statusCode).toBe(200);
    expect((await post(hook.signingKey)).statusCode).toBe(200);
    expect((await post('not-the-key-000000')).statusCode).toBe(401);
    const noHeader = await receiver.inject({
      method: 'POST',
      url: `/webhooks/calendly/${hook.hookId}`,
      headers: { 'content-type': 'application/json' },
      payload: body,
    });
    expect(noHeader.statusCode).toBe(401);
    await queues.get('events').add('ingest-event', { connectionId: 'nope' }, { attempts: 1 });

    await eventually(
      async () => {
        const text = await render(workerMetrics);
        return (
          sample(text, 'calhook_jobs_total', { job: 'ingest-event', outcome: 'failed' }) === 1 &&
          sample(text, 'calhook_jobs_total', {
            job: 'ingest-deliveries',
            outcome: 'completed',
          }) === 1
        );
      },
      { what: 'both jobs to finish' },
    );

    const fromReceiver = await scrape(receiver);
    expect(sample(fromReceiver, 'calhook_webhook_deliveries_total', { status: '200' })).toBe(2);
    expect(sample(fromReceiver, 'calhook_webhook_deliveries_total', { status: '401' })).toBe(2);
    expect(
      sample(fromReceiver, 'calhook_webhook_signature_failures_total', {
        reason: 'no_matching_key',
      }),
    ).toBe(1);
    expect(
      sample(fromReceiver, 'calhook_webhook_signature_failures_total', {
        reason: 'missing_header',
      }),
    ).toBe(1);
    expect(sample(fromReceiver, 'calhook_webhook_enqueue_seconds_count', { outcome: 'ok' })).toBe(
      2,
    );

    // The repeat was remembered as queued: one job ran, and it completed.
    expect(sample(fromReceiver, 'calhook_webhook_enqueue_batch_size_count', {})).toBe(2);
    const fromWorker = await render(workerMetrics);
    expect(
      sample(fromWorker, 'calhook_jobs_total', { job: 'ingest-deliveries', outcome: 'completed' }),
    ).toBe(1);
    expect(
      sample(fromWorker, 'calhook_jobs_total', { job: 'ingest-deliveries', outcome: 'retried' }),
    ).toBe(0);
    expect(
      sample(fromWorker, 'calhook_job_duration_seconds_count', {
        job: 'ingest-deliveries',
        outcome: 'completed',
      }),
    ).toBe(1);
    // The malformed job added by hand failed at once: no retry can fix a payload.
    expect(
      sample(fromWorker, 'calhook_jobs_total', { job: 'ingest-event', outcome: 'failed' }),
    ).toBe(1);
    expect(
      sample(fromWorker, 'calhook_jobs_total', { job: 'ingest-event', outcome: 'retried' }),
    ).toBe(0);
    // The one job that reached the database went in one batch of one.
    expect(sample(fromWorker, 'calhook_ingest_batch_size_count', {})).toBe(1);
    expect(sample(fromWorker, 'calhook_ingest_batch_size_sum', {})).toBe(1);

    expect((await api.inject({ url: '/metrics' })).statusCode).toBe(401);
    const fromApi = await scrape(api, { authorization: basic });
    expect(sample(fromApi, 'calhook_queue_jobs', { queue: 'events', state: 'failed' })).toBe(1);
    expect(sample(fromApi, 'calhook_queue_jobs', { queue: 'events', state: 'waiting' })).toBe(0);
    expect(sample(fromApi, 'calhook_queue_oldest_waiting_seconds', { queue: 'events' })).toBe(0);
    expect(sample(fromApi, 'calhook_metrics_source_up', { source: 'queues' })).toBe(1);
    expect(sample(fromApi, 'calhook_metrics_source_up', { source: 'database' })).toBe(1);
    // Other test files share the database: at least these two connections and hooks exist.
    expect(sample(fromApi, 'calhook_connections', { status: 'active' })).toBeGreaterThanOrEqual(2);
    expect(
      sample(fromApi, 'calhook_webhook_subscriptions', { state: 'active' }),
    ).toBeGreaterThanOrEqual(2);
  });

  it('reports the age of the oldest waiting job of a queue nobody works', async () => {
    await queues
      .get('reconcile')
      .add('reconcile-connection', {}, { timestamp: Date.now() - 90_000 });
    const text = await scrape(api, { authorization: basic });
    expect(sample(text, 'calhook_queue_jobs', { queue: 'reconcile', state: 'waiting' })).toBe(1);
    const age = sample(text, 'calhook_queue_oldest_waiting_seconds', { queue: 'reconcile' });
    expect(age).toBeGreaterThanOrEqual(90);
    expect(age).toBeLessThan(120);
  });
});
