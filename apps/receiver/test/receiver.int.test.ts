// Proves the receiver answers every status in API.md's table, queues exactly one job for a
// valid delivery (a duplicate too gets 200 but no second job), queues nothing on any
// rejection (a forged hook id is unknown), and answers 503 fast when Redis is down or frozen.
import { randomBytes } from 'node:crypto';
import { createSealer, type Sealer } from '@calhook/crypto';
import { connections, type DatabaseHandle } from '@calhook/db';
import { createLogger, type Logger } from '@calhook/observability';
import {
  createProducerRedis,
  createQueues,
  type JobPayload,
  type QueuedDelivery,
  type Queues,
  type RedisConnection,
} from '@calhook/queue';
import {
  captureLogs,
  eventually,
  replaceHook,
  type ScratchRedis,
  type SeededHook,
  seedConnectionWithHook,
  startScratchRedis,
  testDatabase,
  testUrls,
  uniqueId,
} from '@calhook/testing';
import {
  createHookIds,
  createHookKeyResolver,
  type HookIds,
  signatureHeader,
} from '@calhook/webhooks';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReceiverApp } from '../src/app.ts';

const APP_KEY = 'app-level-signing-key';
const NOW = Date.UTC(2026, 10, 21, 12, 0, 0);
const nowSeconds = Math.floor(NOW / 1000);
/** Not the default (5), so the 503 test shows the setting reaches the header. */
const RETRY_AFTER_SECONDS = 7;

let database: DatabaseHandle;
let sealer: Sealer;
let hookIds: HookIds;

function build(
  queues: Queues,
  options: {
    enqueueTimeoutMs?: number;
    graceMs?: number;
    logger?: Logger;
    cacheTtlMs?: number;
  } = {},
) {
  return buildReceiverApp({
    logger: options.logger ?? createLogger({ level: 'silent' }),
    hooks: createHookKeyResolver({
      db: database.db,
      sealer,
      hookIds,
      appSigningKey: APP_KEY,
      gracePeriodMs: options.graceMs ?? 60_000,
      cacheTtlMs: options.cacheTtlMs ?? 0,
      now: () => NOW,
    }),
    queues,
    toleranceSeconds: 180,
    retryAfterSeconds: RETRY_AFTER_SECONDS,
    checkReady: async () => {},
    now: () => NOW,
    enqueueTimeoutMs: options.enqueueTimeoutMs ?? 2_000,
  });
}

function delivery(hook: SeededHook, overrides: { key?: string; t?: number; body?: string } = {}) {
  const body =
    overrides.body ??
    `${JSON.stringify({
      event: 'invitee.created',
      created_at: '2026-11-21T11:59:00.000000Z',
      created_by: hook.calendlyUserUri,
      payload: {
        uri: `https://api.calendly.com/scheduled_events/E1/invitees/${randomBytes(4).toString('hex')}`,
      },
    })}\n`;
  const t = overrides.t ?? nowSeconds;
  return {
    method: 'POST' as const,
    url: `/webhooks/calendly/${hook.hookId}`,
    headers: {
      'content-type': 'application/json',
      'calendly-webhook-signature': signatureHeader(overrides.key ?? hook.signingKey, t, body),
    },
    payload: body,
  };
}

async function jobCount(queues: Queues) {
  const counts = await queues
    .get('events')
    .getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** Every delivery in every job of the events queue, whatever the job's state. */
async function queuedDeliveries(queues: Queues): Promise<QueuedDelivery[]> {
  const jobs = await queues
    .get('events')
    .getJobs(['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized']);
  return jobs.flatMap((job) => {
    expect(job.name).toBe('ingest-deliveries');
    return (job.data as JobPayload<'ingest-deliveries'>).deliveries;
  });
}

beforeAll(() => {
  database = testDatabase();
  const encryptionKeys = [randomBytes(32)];
  sealer = createSealer(encryptionKeys);
  hookIds = createHookIds(encryptionKeys);
});
afterAll(async () => {
  await database.close();
});

describe('with Redis up', () => {
  let redis: RedisConnection;
  let queues: Queues;
  let app: FastifyInstance;
  let hook: SeededHook;

  beforeAll(async () => {
    redis = createProducerRedis(testUrls().redis);
    queues = createQueues(redis, uniqueId('rcv'));
    app = build(queues);
    hook = await seedConnectionWithHook(database.db, { sealer, hookIds });
  });
  afterAll(async () => {
    await app.close();
    await queues.get('events').obliterate({ force: true });
    await queues.close();
    redis.disconnect();
  });

  it('accepts a valid delivery once, and a duplicate with 200 but no second job', async () => {
    const before = await jobCount(queues);
    const request = delivery(hook);
    const first = await app.inject(request);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ status: 'accepted' });
    const second = await app.inject(request);
    expect(second.statusCode).toBe(200);
    expect(await jobCount(queues)).toBe(before + 1);

    const queued = (await queuedDeliveries(queues)).filter((d) => d.body === request.payload);
    expect(queued).toEqual([
      {
        hookId: hook.hookId,
        connectionId: hook.connectionId,
        body: request.payload,
        receivedAt: new Date(NOW).toISOString(),
      },
    ]);
  });

  it('queues concurrent deliveries together, each exactly once, repeats included', async () => {
    const before = await jobCount(queues);
    const requests = Array.from({ length: 60 }, () => delivery(hook));
    // Every delivery three times at once, shuffled: the receiver holds all 180 at the same time.
    const sends = [...requests, ...requests, ...requests].sort(() => Math.random() - 0.5);
    const answers = await Promise.all(sends.map((request) => app.inject(request)));
    expect(answers.map((a) => a.statusCode)).toEqual(sends.map(() => 200));

    const jobs = (await jobCount(queues)) - before;
    expect(jobs).toBeGreaterThan(0);
    expect(jobs).toBeLessThan(requests.length);
    const bodies = (await queuedDeliveries(queues)).map((d) => d.body);
    for (const request of requests) {
      expect(bodies.filter((body) => body === request.payload)).toHaveLength(1);
    }
  });

  it('accepts the app-level key', async () => {
    const response = await app.inject(delivery(hook, { key: APP_KEY }));
    expect(response.statusCode).toBe(200);
  });

  it('keeps accepting both keys, in any order, from a cached hook', async () => {
    const cached = build(queues, { cacheTtlMs: 60_000 });
    try {
      // The app key signing first puts it first in the cached answer; the hook's own key
      // must still be accepted after that, and a stranger's refused.
      const keys = [APP_KEY, hook.signingKey, APP_KEY, hook.signingKey, hook.signingKey];
      for (const key of keys) {
        expect((await cached.inject(delivery(hook, { key }))).statusCode).toBe(200);
      }
      const stranger = await cached.inject(delivery(hook, { key: 'someone-else' }));
      expect(stranger.statusCode).toBe(401);
    } finally {
      await cached.close();
    }
  });

  it.each([
    ['a wrong key', { key: 'someone-else' }, 'no_matching_key'],
    ['a stale timestamp', { t: nowSeconds - 181 }, 'stale_timestamp'],
    ['a future timestamp', { t: nowSeconds + 181 }, 'future_timestamp'],
  ])('refuses %s with 401 and queues nothing', async (_label, overrides, reason) => {
    const before = await jobCount(queues);
    const response = await app.inject(delivery(hook, overrides));
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: 'invalid_signature', reason });
    expect(await jobCount(queues)).toBe(before);
  });

  it('refuses a missing or malformed header with 401', async () => {
    const request = delivery(hook);
    const missing = await app.inject({
      ...request,
      headers: { 'content-type': 'application/json' },
    });
    expect(missing.json()).toEqual({ error: 'invalid_signature', reason: 'missing_header' });
    const malformed = await app.inject({
      ...request,
      headers: { ...request.headers, 'calendly-webhook-signature': 'v1=abc' },
    });
    expect(malformed.statusCode).toBe(401);
    expect(malformed.json()).toEqual({ error: 'invalid_signature', reason: 'malformed_header' });
  });

  it('refuses a body changed after signing (one byte more)', async () => {
    const request = delivery(hook);
    const response = await app.inject({ ...request, payload: `${request.payload} ` });
    expect(response.statusCode).toBe(401);
  });

  it('answers 404 for an unknown hook', async () => {
    const before = await jobCount(queues);
    const request = delivery({ ...hook, hookId: 'AAAAAAAAAAAAAAAAAAAAAA' });
    const response = await app.inject(request);
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: 'unknown_hook' });
    const odd = await app.inject({ ...request, url: '/webhooks/calendly/..%2Fx' });
    expect(odd.statusCode).toBe(404);
    expect(await jobCount(queues)).toBe(before);
  });

  it('answers 404 for a forged hook id: the shape of a minted one, not its MAC', async () => {
    const before = await jobCount(queues);
    const minted = Buffer.from(hook.hookId, 'base64url');
    const wrongTag = Buffer.from(minted);
    wrongTag[wrongTag.length - 1] = (wrongTag.at(-1) ?? 0) ^ 1;
    // Minted with another deployment's keys: right shape, a MAC this one never made.
    const foreign = createHookIds([randomBytes(32)]).mint();
    // The delivery is correctly signed with the real hook's key: only the id is wrong.
    for (const hookId of [wrongTag.toString('base64url'), foreign]) {
      expect(hookId).toMatch(/^[A-Za-z0-9_-]{32}$/);
      const response = await app.inject(delivery({ ...hook, hookId }));
      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({ error: 'unknown_hook' });
    }
    expect(await jobCount(queues)).toBe(before);
  });

  it('accepts a hook id minted before ids carried a MAC, while its row exists', async () => {
    const legacyId = randomBytes(16).toString('base64url');
    const legacy = await seedConnectionWithHook(
      database.db,
      { sealer, hookIds },
      { hookId: legacyId },
    );
    // A receiver started after the hook existed, as every deploy of this code is.
    const fresh = build(queues);
    try {
      const response = await fresh.inject(delivery(legacy));
      expect(response.statusCode).toBe(200);
      const unknown = await fresh.inject(
        delivery({ ...legacy, hookId: randomBytes(16).toString('base64url') }),
      );
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json()).toEqual({ error: 'unknown_hook' });
    } finally {
      await fresh.close();
    }
  });

  it('answers 410 for a disconnected connection', async () => {
    const gone = await seedConnectionWithHook(
      database.db,
      { sealer, hookIds },
      { status: 'disconnected' },
    );
    const before = await jobCount(queues);
    const response = await app.inject(delivery(gone));
    expect(response.statusCode).toBe(410);
    expect(response.json()).toEqual({ error: 'hook_gone' });
    expect(await jobCount(queues)).toBe(before);
  });

  it('keeps a replaced hook and its key for the grace period, then answers 410', async () => {
    const old = await seedConnectionWithHook(database.db, { sealer, hookIds });
    const fresh = await seedConnectionWithHook(database.db, { sealer, hookIds });
    await replaceHook(database.db, old, fresh, new Date(NOW - 30_000));

    const freshHook = { ...fresh, connectionId: old.connectionId };
    // In-flight delivery to the old URL, and one to the new URL still signed with the old key.
    expect((await app.inject(delivery(old))).statusCode).toBe(200);
    expect((await app.inject(delivery(freshHook, { key: old.signingKey }))).statusCode).toBe(200);

    const pastGrace = build(queues, { graceMs: 10_000 });
    expect((await pastGrace.inject(delivery(old))).statusCode).toBe(410);
    expect((await pastGrace.inject(delivery(freshHook, { key: old.signingKey }))).statusCode).toBe(
      401,
    );
    expect((await pastGrace.inject(delivery(freshHook))).statusCode).toBe(200);
    await pastGrace.close();
  });

  it('answers 413 over 1 MiB and 415 for non-JSON, queuing nothing', async () => {
    const before = await jobCount(queues);
    const big = `{"pad":"${'x'.repeat(1024 * 1024)}"}`;
    const tooLarge = await app.inject(delivery(hook, { body: big }));
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json()).toEqual({ error: 'payload_too_large', limit: '1 MiB' });
    const request = delivery(hook);
    const text = await app.inject({
      ...request,
      headers: { ...request.headers, 'content-type': 'text/plain' },
    });
    expect(text.statusCode).toBe(415);
    const form = await app.inject({
      ...request,
      headers: { ...request.headers, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.statusCode).toBe(415);
    expect(await jobCount(queues)).toBe(before);
  });

  it('accepts a body that is not valid JSON when correctly signed: the worker records it', async () => {
    const response = await app.inject(delivery(hook, { body: '{not json' }));
    expect(response.statusCode).toBe(200);
  });

  it('logs each refusal with its reason, and accepted deliveries only at debug', async () => {
    const logs = captureLogs();
    const logged = build(queues, {
      logger: createLogger({ level: 'info', destination: logs.destination }),
    });
    expect((await logged.inject(delivery(hook))).statusCode).toBe(200);
    expect((await logged.inject(delivery(hook, { key: 'someone-else' }))).statusCode).toBe(401);
    const unknown = { ...hook, hookId: 'BBBBBBBBBBBBBBBBBBBBBB' };
    expect((await logged.inject(delivery(unknown))).statusCode).toBe(404);
    const request = delivery(hook);
    const text = { ...request, headers: { ...request.headers, 'content-type': 'text/plain' } };
    expect((await logged.inject(text)).statusCode).toBe(415);
    await logged.close();
    const lines = logs.lines().filter((line) => line.msg === 'request');
    expect(lines.map((line) => [line.status, line.reason])).toEqual([
      [401, 'no_matching_key'],
      [404, 'unknown_hook'],
      [415, 'unsupported_media_type'],
    ]);
    // The accepted one is counted in the summary written on close.
    expect(logs.lines().find((line) => line.msg === 'requests answered')).toMatchObject({
      route: '/webhooks/calendly/:hookId',
      answered: 1,
    });
  });

  it('answers health and readiness', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});

describe('with QUEUE_SHARDS=3', () => {
  it("queues each connection's deliveries in its shard, once, beside that shard's recent set", async () => {
    const redis = createProducerRedis(testUrls().redis);
    const queues = createQueues(redis, uniqueId('rcv3'), { shards: 3 });
    const app = build(queues);
    try {
      const hooks = await Promise.all(
        Array.from({ length: 9 }, () => seedConnectionWithHook(database.db, { sealer, hookIds })),
      );
      const requests = hooks.flatMap((hook) => [delivery(hook), delivery(hook)]);
      // Every delivery twice, all at once: the repeats meet their first in the shard's lane.
      const answers = await Promise.all(
        [...requests, ...requests].map((request) => app.inject(request)),
      );
      expect(answers.map((a) => a.statusCode)).toEqual(answers.map(() => 200));

      const shardOf = (hook: SeededHook) =>
        queues.queueOf('ingest-deliveries', {
          deliveries: [
            { hookId: hook.hookId, connectionId: hook.connectionId, body: '', receivedAt: '' },
          ],
        });
      for (const queue of queues.shardsOf('events')) {
        const jobs = await queue.getJobs(['waiting', 'active', 'completed', 'failed']);
        const bodies = jobs.flatMap((job) =>
          (job.data as JobPayload<'ingest-deliveries'>).deliveries.map((d) => d.body),
        );
        const mine = hooks.filter((hook) => shardOf(hook) === queue);
        const expected = requests
          .filter((r) => mine.some((hook) => r.url.endsWith(hook.hookId)))
          .map((r) => r.payload);
        expect(bodies.sort(), queue.name).toEqual(expected.sort());
        if (mine.length === 0) continue;
        const recent = queue.toKey('recent-deliveries');
        await eventually(async () => (await redis.zcard(recent)) === expected.length, {
          what: `the recent set of ${queue.name}`,
        });
        if (redis.isCluster) {
          const slot = (key: string) => redis.call('CLUSTER', 'KEYSLOT', key);
          expect(await slot(recent)).toBe(await slot(queue.toKey('wait')));
        }
      }
    } finally {
      await app.close();
      for (const queue of queues.all()) await queue.obliterate({ force: true });
      await queues.close();
      redis.disconnect();
    }
  });
});

describe('with Redis failing', () => {
  let scratch: ScratchRedis;
  let redis: RedisConnection;
  let queues: Queues;
  let app: FastifyInstance;
  let hook: SeededHook;

  beforeAll(async () => {
    scratch = await startScratchRedis();
    redis = createProducerRedis(scratch.url);
    redis.on('error', () => {});
    queues = createQueues(redis, uniqueId('rcv'));
    app = build(queues);
    hook = await seedConnectionWithHook(database.db, { sealer, hookIds });
  });
  afterAll(async () => {
    await app.close();
    await queues.close().catch(() => {});
    redis.disconnect();
    scratch.process.kill('SIGCONT');
    await scratch.kill();
  });

  it('answers 200 while it is up', async () => {
    expect((await app.inject(delivery(hook))).statusCode).toBe(200);
  });

  it('answers 503 with Retry-After within about 2 s when Redis hangs, and queues nothing late', async () => {
    scratch.process.kill('SIGSTOP');
    const started = performance.now();
    const refused = delivery(hook);
    const response = await app.inject(refused);
    const elapsed = performance.now() - started;
    scratch.process.kill('SIGCONT');
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ error: 'unavailable' });
    expect(response.headers['retry-after']).toBe(String(RETRY_AFTER_SECONDS));
    expect(elapsed).toBeLessThan(3_000);
    // The batch Redis sat on holds nothing back once it answers again.
    const next = delivery(hook);
    expect((await app.inject(next)).statusCode).toBe(200);
    // The delivery answered 503 was not queued once Redis woke up: Calendly will send it again.
    const bodies = (await queuedDeliveries(queues)).map((d) => d.body);
    expect(bodies).toContain(next.payload);
    expect(bodies).not.toContain(refused.payload);
  });

  it('answers 503 when Redis is gone, and nothing is queued', async () => {
    await scratch.kill();
    await eventually(() => redis.status !== 'ready', { what: 'redis to drop' });
    const response = await app.inject(delivery(hook));
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe(String(RETRY_AFTER_SECONDS));
  });
});

describe('connections table', () => {
  it('has the seeded rows the tests rely on', async () => {
    const rows = await database.db.select({ id: connections.id }).from(connections).limit(1);
    expect(rows.length).toBe(1);
  });
});
