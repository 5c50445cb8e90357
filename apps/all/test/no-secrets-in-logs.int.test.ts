// Proves no secret reaches the logs: every line written by a run of receiver, worker and api
// (deliveries accepted and refused, a failing job, API and admin calls with credentials), by
// the Calendly client's failure logging, and by call sites that log secrets outright, is
// searched for every token and key involved. Add new secrets and call sites to `secrets`.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApiApp } from '@calhook/api-app';
import { createCalendlyClient } from '@calhook/calendly';
import { loadConfig } from '@calhook/config';
import { createSealer } from '@calhook/crypto';
import type { DatabaseHandle } from '@calhook/db';
import { createLogger, createMetrics } from '@calhook/observability';
import {
  createProducerRedis,
  createQueues,
  createWorkerRedis,
  type Queues,
  type RedisConnection,
} from '@calhook/queue';
import {
  captureLogs,
  eventually,
  expectNoSecrets,
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

const secret = (label: string) => `${label}-${randomBytes(18).toString('base64url')}`;
const encryptionKey = randomBytes(32);
const secrets = {
  apiToken: secret('api'),
  adminPassword: secret('admin'),
  encryptionKey: encryptionKey.toString('base64'),
  accessToken: secret('access'),
  refreshToken: secret('refresh'),
  clientSecret: secret('client'),
  oauthCode: secret('code'),
  appSigningKey: secret('appkey'),
} as Record<string, string>;

const logs = captureLogs();
const logger = createLogger({ level: 'trace', destination: logs.destination });
let database: DatabaseHandle;
let producer: RedisConnection;
let queues: Queues;
let pool: WorkerPool;
let receiver: FastifyInstance;
let api: FastifyInstance;
let echo: Server;

beforeAll(async () => {
  database = testDatabase();
  const prefix = uniqueId('secrets');
  producer = createProducerRedis(testUrls().redis);
  queues = createQueues(producer, prefix);
  const sealer = createSealer([encryptionKey]);
  receiver = inProcessReceiver({
    db: database.db,
    sealer,
    hookIds: createHookIds([encryptionKey]),
    queues,
    logger: logger.child({ role: 'receiver' }),
    appSigningKey: secrets.appSigningKey,
  });
  api = buildApiApp({
    logger: logger.child({ role: 'api' }),
    db: database.db,
    apiToken: secrets.apiToken ?? '',
    checkReady: async () => {
      throw new Error(`not ready, sent Authorization: Bearer ${secrets.accessToken}`);
    },
    admin: { user: 'ops', password: secrets.adminPassword ?? '', readOnly: true },
    queues: queues.all(),
  });
  const config = loadConfig(
    {
      QUEUE_PREFIX: prefix,
      ENCRYPTION_KEY: secrets.encryptionKey,
      CALENDLY_API_URL: 'http://127.0.0.1:9',
      CALENDLY_CLIENT_ID: 'client-id',
      CALENDLY_CLIENT_SECRET: secrets.clientSecret,
      CALENDLY_WEBHOOK_SIGNING_KEY: secrets.appSigningKey,
    },
    [],
  );
  pool = createWorkerPool({
    config,
    db: database.db,
    queues,
    logger: logger.child({ role: 'worker' }),
    connection: () => createWorkerRedis(testUrls().redis),
    metrics: createMetrics({ processMetrics: false }),
  });
  // Stands in for Calendly failing: echoes what it was sent (headers, form) in a 500 body.
  echo = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      response.writeHead(500, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({ message: 'boom', received: { headers: request.headers, body } }),
      );
    });
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await closeInProcess({ pool, receiver, api, queues, producer, database });
  await new Promise((resolve) => echo.close(resolve));
});

describe('logs', () => {
  it('carry no secret through a run of every role and the Calendly client', async () => {
    const hook = await seedConnectionWithHook(database.db, {
      sealer: createSealer([encryptionKey]),
      hookIds: createHookIds([encryptionKey]),
    });
    secrets.signingKey = hook.signingKey;
    const body = JSON.stringify({
      event: 'invitee.created',
      created_at: '2026-01-01T00:00:00.000000Z',
      created_by: hook.calendlyUserUri,
      payload: { uri: 'x', access_token: secrets.accessToken },
    });
    const post = (key: string, headers: Record<string, string> = {}) =>
      receiver.inject({
        method: 'POST',
        url: `/webhooks/calendly/${hook.hookId}`,
        headers: {
          'content-type': 'application/json',
          'calendly-webhook-signature': signatureHeader(key, Math.floor(Date.now() / 1000), body),
          authorization: `Bearer ${secrets.accessToken}`,
          ...headers,
        },
        payload: body,
      });
    expect((await post(hook.signingKey)).statusCode).toBe(200);
    expect((await post(secrets.appSigningKey ?? '')).statusCode).toBe(200);
    expect((await post(secret('wrong'))).statusCode).toBe(401);

    // A job that fails: its payload does not match the catalog.
    await queues
      .get('events')
      .add(
        'ingest-event',
        { connectionId: 'not-a-uuid', refresh_token: secrets.refreshToken },
        { attempts: 1 },
      );
    await eventually(async () => (await queues.get('events').getJobCounts('failed')).failed === 1, {
      what: 'the bad job to fail',
    });
    await eventually(async () => logs.text().includes('invalid'), {
      what: 'the ingest job to log',
    });

    const basic = Buffer.from(`ops:${secrets.adminPassword}`).toString('base64');
    for (const authorization of [`Bearer ${secrets.apiToken}`, `Bearer ${secrets.accessToken}`]) {
      await api.inject({ url: '/v1/users/u1/meetings?limit=0', headers: { authorization } });
    }
    await api.inject({ url: `/v1/users/u1/meetings?code=${secrets.oauthCode}` });
    await api.inject({
      url: '/admin/queues/api/queues',
      headers: { authorization: `Basic ${basic}` },
    });
    await api.inject({ url: '/metrics', headers: { authorization: `Basic ${basic}` } });
    await api.inject({ url: '/readyz' });

    const calendly = createCalendlyClient({
      apiUrl: `http://127.0.0.1:${(echo.address() as AddressInfo).port}`,
      authUrl: `http://127.0.0.1:${(echo.address() as AddressInfo).port}`,
      clientId: 'client-id',
      clientSecret: secrets.clientSecret,
      logger: logger.child({ component: 'calendly' }),
      maxRetries: 1,
      retryBaseMs: 1,
    });
    await expect(calendly.getCurrentUser(secrets.accessToken ?? '')).rejects.toThrow();
    await expect(calendly.refreshToken(secrets.refreshToken ?? '')).rejects.toThrow();
    await expect(
      calendly.exchangeCode({ code: secrets.oauthCode ?? '', redirectUri: 'http://x/cb' }),
    ).rejects.toThrow();
    await expect(calendly.revokeToken(secrets.accessToken ?? '')).rejects.toThrow();
    await calendly.close();

    // Call sites that log secrets outright, as careless code might.
    const config = loadConfig(
      {
        API_TOKEN: secrets.apiToken,
        ENCRYPTION_KEY: secrets.encryptionKey,
        CALENDLY_CLIENT_SECRET: secrets.clientSecret,
        CALENDLY_WEBHOOK_SIGNING_KEY: secrets.appSigningKey,
        ADMIN_USER: 'ops',
        ADMIN_PASSWORD: secrets.adminPassword,
      },
      ['api'],
    );
    logger.info({ config }, 'starting with config');
    logger.info(
      {
        connection: {
          tokens: { accessToken: secrets.accessToken, refresh_token: secrets.refreshToken },
        },
      },
      'nested tokens',
    );
    const error = Object.assign(new Error(`refresh failed for Bearer ${secrets.accessToken}`), {
      signingKey: secrets.signingKey,
      cause: Object.assign(new Error('inner'), { clientSecret: secrets.clientSecret }),
    });
    logger.error({ err: error, error }, 'failure with secrets attached');
    logger.warn(`redirect to /cb?code=${secrets.oauthCode}&state=abc`);

    const text = logs.text();
    // The run really happened and was logged: the search below is not over an empty file.
    expect(text).toContain('"msg":"request"');
    expect(text).toContain('job payload does not match the catalog');
    expect(text).toContain('Calendly request failed');
    expect(text).toContain('starting with config');
    expectNoSecrets(text, secrets);
  });
});
