// Proves the webhook path end to end inside one process with real Postgres and Redis: a signed
// delivery accepted by the receiver becomes a meeting readable through the meetings API, a
// duplicate leaves one inbox row and one meeting, and an event signed for user A but sent to
// user B's hook changes nothing of B's.
import { randomBytes } from 'node:crypto';
import { buildApiApp } from '@calhook/api-app';
import { loadConfig } from '@calhook/config';
import { createSealer, type Sealer } from '@calhook/crypto';
import { type DatabaseHandle, eventInbox, meetings } from '@calhook/db';
import { createLogger } from '@calhook/observability';
import {
  createProducerRedis,
  createQueues,
  createWorkerRedis,
  type Queues,
  type RedisConnection,
} from '@calhook/queue';
import {
  eventually,
  type SeededHook,
  seedConnectionWithHook,
  testDatabase,
  testUrls,
  uniqueId,
} from '@calhook/testing';
import { createHookIds, type HookIds, signatureHeader } from '@calhook/webhooks';
import { createWorkerPool, type WorkerPool } from '@calhook/worker-app';
import { eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeInProcess, inProcessReceiver } from './harness.ts';

const API_TOKEN = 'test-api-token-0123456789';
const logger = createLogger({ level: 'silent' });

let database: DatabaseHandle;
let sealer: Sealer;
let hookIds: HookIds;
let producer: RedisConnection;
let queues: Queues;
let pool: WorkerPool;
let receiver: FastifyInstance;
let api: FastifyInstance;

function inviteeCreated(hook: SeededHook, createdBy = hook.calendlyUserUri) {
  const eventUri = `https://api.calendly.com/scheduled_events/${randomBytes(8).toString('hex')}`;
  const inviteeUri = `${eventUri}/invitees/${randomBytes(8).toString('hex')}`;
  const body = JSON.stringify({
    event: 'invitee.created',
    created_at: '2026-11-21T10:00:00.000000Z',
    created_by: createdBy,
    payload: {
      uri: inviteeUri,
      event: eventUri,
      email: 'client@example.com',
      name: 'Client Person',
      first_name: null,
      last_name: null,
      status: 'active',
      timezone: 'Europe/London',
      questions_and_answers: [{ question: 'Topic?', answer: 'Pensions', position: 0 }],
      rescheduled: false,
      old_invitee: null,
      new_invitee: null,
      cancellation: null,
      no_show: null,
      created_at: '2026-11-21T10:00:00.000000Z',
      updated_at: '2026-11-21T10:00:00.000000Z',
      scheduled_event: {
        uri: eventUri,
        name: 'Annual review',
        status: 'active',
        start_time: '2026-12-01T09:00:00.000000Z',
        end_time: '2026-12-01T09:30:00.000000Z',
        event_type: 'https://api.calendly.com/event_types/ET1',
        location: { type: 'zoom', join_url: 'https://zoom.example/j/1' },
        invitees_counter: { total: 1, active: 1, limit: 1 },
        event_memberships: [{ user: createdBy }],
        created_at: '2026-11-21T10:00:00.000000Z',
        updated_at: '2026-11-21T10:00:00.000000Z',
      },
    },
  });
  return { body, eventUri, inviteeUri };
}

function post(hook: SeededHook, body: string, key = hook.signingKey) {
  return receiver.inject({
    method: 'POST',
    url: `/webhooks/calendly/${hook.hookId}`,
    headers: {
      'content-type': 'application/json',
      'calendly-webhook-signature': signatureHeader(key, Math.floor(Date.now() / 1000), body),
    },
    payload: body,
  });
}

async function meetingsOf(userId: string) {
  const response = await api.inject({
    method: 'GET',
    url: `/v1/users/${userId}/meetings`,
    headers: { authorization: `Bearer ${API_TOKEN}` },
  });
  expect(response.statusCode).toBe(200);
  return response.json() as {
    meetings: {
      calendlyEventUri: string;
      name: string;
      invitees: { email: string; name: string }[];
    }[];
    nextCursor: string | null;
  };
}

beforeAll(async () => {
  database = testDatabase();
  const encryptionKeys = [randomBytes(32)];
  sealer = createSealer(encryptionKeys);
  hookIds = createHookIds(encryptionKeys);
  const prefix = uniqueId('pipe');
  producer = createProducerRedis(testUrls().redis);
  queues = createQueues(producer, prefix);
  receiver = inProcessReceiver({ db: database.db, sealer, hookIds, queues, logger });
  api = buildApiApp({ logger, db: database.db, apiToken: API_TOKEN, checkReady: async () => {} });
  // Connection jobs are not exercised here; their services only need to exist.
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
  });
});

afterAll(async () => {
  await closeInProcess({ pool, receiver, api, queues, producer, database });
});

describe('webhook path', () => {
  it('turns a signed delivery into a meeting visible through the API', async () => {
    const hook = await seedConnectionWithHook(database.db, { sealer, hookIds });
    const { body, eventUri } = inviteeCreated(hook);
    expect((await post(hook, body)).statusCode).toBe(200);
    const listed = await eventually(
      async () => {
        const page = await meetingsOf(hook.userId);
        return page.meetings.length > 0 ? page : undefined;
      },
      { what: 'the meeting to appear' },
    );
    expect(listed.meetings).toHaveLength(1);
    expect(listed.meetings[0]).toMatchObject({
      calendlyEventUri: eventUri,
      name: 'Annual review',
      status: 'active',
      startTime: '2026-12-01T09:00:00.000Z',
      invitees: [{ email: 'client@example.com', status: 'active', noShow: false }],
    });
  });

  it('keeps one inbox row and one meeting for a duplicate delivery', async () => {
    const hook = await seedConnectionWithHook(database.db, { sealer, hookIds });
    const { body, eventUri } = inviteeCreated(hook);
    expect((await post(hook, body)).statusCode).toBe(200);
    await eventually(async () => (await meetingsOf(hook.userId)).meetings.length === 1);
    // The same bytes again, after the first job completed, and once more with a new signature.
    expect((await post(hook, body)).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 10));
    expect((await post(hook, body)).statusCode).toBe(200);
    await eventually(async () => {
      const jobs = await queues.get('events').getJobCounts('waiting', 'active');
      return jobs.waiting === 0 && jobs.active === 0;
    });
    const inbox = await database.db
      .select()
      .from(eventInbox)
      .where(eq(eventInbox.connectionId, hook.connectionId));
    expect(inbox).toHaveLength(1);
    const rows = await database.db
      .select()
      .from(meetings)
      .where(eq(meetings.calendlyEventUri, eventUri));
    expect(rows).toHaveLength(1);
  });

  it("quarantines user A's event sent to user B's hook and leaves B's meetings untouched", async () => {
    const alice = await seedConnectionWithHook(database.db, { sealer, hookIds });
    const bob = await seedConnectionWithHook(database.db, { sealer, hookIds });
    const own = inviteeCreated(bob);
    expect((await post(bob, own.body)).statusCode).toBe(200);
    await eventually(async () => (await meetingsOf(bob.userId)).meetings.length === 1);

    // Alice's event, correctly signed with Bob's hook key, posted to Bob's hook.
    const foreign = inviteeCreated(bob, alice.calendlyUserUri);
    expect((await post(bob, foreign.body)).statusCode).toBe(200);
    const row = await eventually(
      async () => {
        const [r] = await database.db
          .select()
          .from(eventInbox)
          .where(eq(eventInbox.body, foreign.body));
        return r?.processedAt ? r : undefined;
      },
      { what: 'the foreign delivery to be processed' },
    );
    expect(row.outcome).toBe('quarantined');
    const bobs = await meetingsOf(bob.userId);
    expect(bobs.meetings.map((m) => m.calendlyEventUri)).toEqual([own.eventUri]);
    expect((await meetingsOf(alice.userId)).meetings).toEqual([]);
  });
});

describe('a batch job with text Postgres cannot hold and a delivery it refuses', () => {
  it('applies the text with U+FFFD, records the refused one as invalid, and completes', async () => {
    const hook = await seedConnectionWithHook(database.db, { sealer, hookIds });
    const good = inviteeCreated(hook);
    // Valid JSON whose name Postgres text cannot hold as it is.
    const withNul = inviteeCreated(hook);
    const nulBody = withNul.body.replace('"Client Person"', '"Client\\u0000Person"');
    // Valid JSON whose invitee URI is longer than Postgres can index: refused for good.
    const refused = inviteeCreated(hook);
    const longUri = `${refused.eventUri}/invitees/${randomBytes(9_000).toString('base64url')}`;
    const refusedBody = refused.body.replace(
      /"uri":"[^"]+\/invitees\/[^"]+"/,
      JSON.stringify({ uri: longUri }).slice(1, -1),
    );
    expect(refusedBody).toContain(longUri);
    const receivedAt = new Date().toISOString();
    const job = await queues.enqueue('ingest-deliveries', {
      deliveries: [good.body, nulBody, refusedBody].map((body) => ({
        hookId: hook.hookId,
        connectionId: hook.connectionId,
        body,
        receivedAt,
      })),
    });
    const done = await eventually(
      async () => {
        const state = await queues.get('events').getJob(job.id as string);
        return state?.finishedOn ? state : undefined;
      },
      { what: 'the job to finish' },
    );
    expect(done.failedReason).toBeUndefined();
    expect(done.returnvalue).toMatchObject({ deliveries: 3, outcomes: { applied: 2, invalid: 1 } });

    const inbox = await database.db
      .select()
      .from(eventInbox)
      .where(eq(eventInbox.connectionId, hook.connectionId));
    expect(inbox.map((row) => row.outcome).sort()).toEqual(['applied', 'applied', 'invalid']);
    const invalid = inbox.find((row) => row.outcome === 'invalid');
    expect(invalid?.outcomeDetail).toMatch(/^the database refused it \(54000: /);
    expect(invalid?.body).toContain(longUri);
    const listed = await meetingsOf(hook.userId);
    expect(listed.meetings.map((m) => m.calendlyEventUri).sort()).toEqual(
      [good.eventUri, withNul.eventUri].sort(),
    );
    const named = listed.meetings.find((m) => m.calendlyEventUri === withNul.eventUri);
    expect(named?.invitees[0]?.name).toBe('Client\uFFFDPerson');
  });
});

describe('meetings API', () => {
  it('requires the bearer token', async () => {
    const none = await api.inject({ method: 'GET', url: '/v1/users/u1/meetings' });
    expect(none.statusCode).toBe(401);
    const wrong = await api.inject({
      method: 'GET',
      url: '/v1/users/u1/meetings',
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.statusCode).toBe(401);
  });

  it('names the invalid field on 400', async () => {
    const headers = { authorization: `Bearer ${API_TOKEN}` };
    const badLimit = await api.inject({
      method: 'GET',
      url: '/v1/users/u1/meetings?limit=0',
      headers,
    });
    expect(badLimit.statusCode).toBe(400);
    expect(badLimit.json()).toMatchObject({ error: 'invalid_request', field: 'querystring.limit' });
    const badFrom = await api.inject({
      method: 'GET',
      url: '/v1/users/u1/meetings?from=yesterday',
      headers,
    });
    expect(badFrom.json()).toMatchObject({ field: 'querystring.from' });
    const badCursor = await api.inject({
      method: 'GET',
      url: '/v1/users/u1/meetings?cursor=zzz',
      headers,
    });
    expect(badCursor.statusCode).toBe(400);
    expect(badCursor.json()).toMatchObject({ field: 'querystring.cursor' });
  });
});
