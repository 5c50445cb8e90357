// Proves app webhooks end to end on the real roles, the Calendly simulator and a local HTTP
// server playing the app: the endpoints API as API.md writes it (secrets, 404s, 400s naming the
// field, SSRF refusals), every change a user's bookings, group invitees, no-shows, reschedules,
// cancellations and reconnect-needed make delivered with the feed's exact body, signed so the
// `standardwebhooks` package verifies it; an endpoint answering 500 then 200 and one down for a
// while get everything; a rotation signs with both secrets; a replay sends again with the same
// webhook-id; a deleted endpoint gets nothing more; 24 h of failures (by an injected clock)
// disable an endpoint; an endpoint that holds every request takes only its share of the
// worker, and another endpoint gets all its changes meanwhile.

import { randomUUID } from 'node:crypto';
import { buildApiApp } from '@calhook/api-app';
import { createEndpointService } from '@calhook/app-webhooks';
import { createSealer } from '@calhook/crypto';
import { changeRepo } from '@calhook/db';
import { createLogger } from '@calhook/observability';
import {
  type AppEndpoint,
  eventually,
  type ReceivedWebhook,
  type ScratchDatabase,
  scratchDatabase,
  startAppEndpoint,
} from '@calhook/testing';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers and bodies are read freely and asserted with expect
type Json = any;

let h: Harness;
let scratch: ScratchDatabase;
let clockOffsetMs = 0;
const apps: AppEndpoint[] = [];

beforeAll(async () => {
  // Endpoints are deployment-wide: a database of this file's own keeps other files' workers off them.
  scratch = await scratchDatabase();
  h = await startHarness({
    env: { DATABASE_URL: scratch.url, WEBHOOK_ENDPOINTS_ALLOW_PRIVATE: 'true' },
    worker: { appWebhookClock: () => new Date(Date.now() + clockOffsetMs) },
  });
});
afterEach(() => {
  clockOffsetMs = 0;
});
afterAll(async () => {
  await h?.close();
  for (const app of apps) await app.close();
  await scratch?.drop();
});

async function newApp(): Promise<AppEndpoint> {
  const app = await startAppEndpoint();
  apps.push(app);
  return app;
}

async function createEndpoint(app: AppEndpoint, extra: Record<string, unknown> = {}) {
  const { status, body } = await h.api('POST', '/v1/webhook-endpoints', { url: app.url, ...extra });
  expect(status).toBe(201);
  return body as { id: string; secret: string };
}

const ofUser = (app: AppEndpoint, userId: string) =>
  app.received.filter((r) => r.change?.userId === userId);

const delivered = (app: AppEndpoint, userId: string, match: (r: ReceivedWebhook) => boolean) =>
  ofUser(app, userId).some((r) => r.answered === 200 && match(r));

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  await eventually(check, { what, timeoutMs });
}

/** Every change of the user in the feed, in order. */
async function feedOf(userId: string) {
  const changes: { id: string; cursor: string }[] = [];
  for (let after: string | undefined; ; ) {
    const query = new URLSearchParams({ userId, limit: '500', ...(after ? { after } : {}) });
    const { body } = await h.api('GET', `/v1/changes?${query}`);
    changes.push(...body.changes);
    if (body.changes.length === 0) return changes;
    after = body.nextCursor;
  }
}

async function apiMeeting(userId: string, eventUri: string) {
  const { body } = await h.api('GET', `/v1/users/${userId}/meetings?limit=200`);
  return body.meetings.find((m: { calendlyEventUri: string }) => m.calendlyEventUri === eventUri);
}

const meetingIs =
  (eventUri: string, extra: (data: Json) => boolean = () => true) =>
  (r: ReceivedWebhook) =>
    r.change?.data?.calendlyEventUri === eventUri && extra(r.change.data);

describe('the webhook endpoints API', () => {
  it('creates, shows, reveals, rotates and deletes endpoints', async () => {
    const app = await newApp();
    const { status, body } = await h.api('POST', '/v1/webhook-endpoints', {
      url: app.url,
      types: ['meeting.canceled'],
      description: 'CRM',
    });
    expect(status).toBe(201);
    expect(body).toEqual({
      id: expect.any(String),
      url: app.url,
      types: ['meeting.canceled'],
      description: 'CRM',
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]+=*$/),
      status: 'active',
      createdAt: expect.any(String),
    });
    expect(Buffer.from(body.secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    const { secret, ...shown } = body;

    const list = await h.api('GET', '/v1/webhook-endpoints');
    expect(list.status).toBe(200);
    expect(list.body.endpoints).toContainEqual(shown);
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect((await h.api('GET', `/v1/webhook-endpoints/${body.id}`)).body).toEqual(shown);
    expect((await h.api('GET', `/v1/webhook-endpoints/${body.id}/secret`)).body).toEqual({
      secret,
    });

    const rotated = await h.api('POST', `/v1/webhook-endpoints/${body.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(secret);
    expect((await h.api('GET', `/v1/webhook-endpoints/${body.id}/secret`)).body).toEqual({
      secret: rotated.body.secret,
    });

    const all = await h.api('POST', '/v1/webhook-endpoints', { url: app.url });
    expect(all.body.types).toEqual([
      'meeting.created',
      'meeting.updated',
      'meeting.canceled',
      'connection.updated',
    ]);

    expect((await h.api('DELETE', `/v1/webhook-endpoints/${body.id}`)).status).toBe(204);
    expect((await h.api('DELETE', `/v1/webhook-endpoints/${all.body.id}`)).status).toBe(204);
    for (const [method, path] of [
      ['GET', ''],
      ['DELETE', ''],
      ['GET', '/secret'],
      ['POST', '/rotate-secret'],
      ['GET', '/deliveries'],
    ] as const) {
      const answer = await h.api(method, `/v1/webhook-endpoints/${body.id}${path}`);
      expect(answer.status, `${method} ${path}`).toBe(404);
    }
    const replay = await h.api('POST', `/v1/webhook-endpoints/${body.id}/replay`, {
      after:
        (await feedOf('nobody')).at(-1)?.cursor ??
        (await h.api('GET', '/v1/changes')).body.nextCursor,
    });
    expect(replay.status).toBe(404);
    expect((await h.api('GET', '/v1/webhook-endpoints')).body.endpoints).not.toContainEqual(shown);
  });

  it('answers 400 naming the field, and creates nothing', async () => {
    const before = (await h.api('GET', '/v1/webhook-endpoints')).body.endpoints.length;
    const cases: [unknown, string][] = [
      [{ url: 'https://example.com/x', types: ['meeting.exploded'] }, 'body.types'],
      [{ url: 'nonsense' }, 'body.url'],
      [{ url: 'ftp://example.com/x' }, 'body.url'],
      [{ types: ['meeting.created'] }, 'body.url'],
      [{ url: 'https://example.com/x', extra: 1 }, 'body'],
    ];
    for (const [body, field] of cases) {
      const answer = await h.api('POST', '/v1/webhook-endpoints', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.field, JSON.stringify(body)).toBe(field);
    }
    expect((await h.api('GET', '/v1/webhook-endpoints')).body.endpoints).toHaveLength(before);

    const app = await newApp();
    const { id } = await createEndpoint(app);
    const badReplay = await h.api('POST', `/v1/webhook-endpoints/${id}/replay`, { after: 'x' });
    expect(badReplay).toMatchObject({ status: 400, body: { field: 'body.after' } });
    const badPage = await h.api('GET', `/v1/webhook-endpoints/${id}/deliveries?cursor=nope`);
    expect(badPage).toMatchObject({ status: 400, body: { field: 'querystring.cursor' } });
    await h.api('DELETE', `/v1/webhook-endpoints/${id}`);
  });

  it('refuses http and private addresses unless they are allowed', async () => {
    const strict = buildApiApp({
      logger: createLogger({ level: 'silent' }),
      db: h.database.db,
      apiToken: h.env.API_TOKEN as string,
      checkReady: async () => {},
      endpoints: createEndpointService({
        db: h.database.db,
        sealer: createSealer(h.config.encryptionKeys),
        queues: h.queues,
        allowPrivate: false,
      }),
    });
    try {
      const before = (await h.api('GET', '/v1/webhook-endpoints')).body.endpoints.length;
      for (const url of [
        'http://hooks.example.com/calhook',
        'https://127.0.0.1/hook',
        'https://localhost:8443/hook',
        'https://[::1]/hook',
        'https://10.0.0.8/hook',
        'https://169.254.169.254/latest/meta-data',
        'https://[fd00:ec2::254]/',
      ]) {
        const answer = await strict.inject({
          method: 'POST',
          url: '/v1/webhook-endpoints',
          headers: { authorization: `Bearer ${h.env.API_TOKEN}` },
          payload: { url },
        });
        expect(answer.statusCode, url).toBe(400);
        expect(answer.json(), url).toMatchObject({ error: 'invalid_request', field: 'body.url' });
      }
      expect((await h.api('GET', '/v1/webhook-endpoints')).body.endpoints).toHaveLength(before);
    } finally {
      await strict.close();
    }
  });
});

describe('delivery', () => {
  it("sends every change of a user's meetings and connection, signed, equal to the feed", async () => {
    const app = await newApp();
    const canceledOnly = await newApp();
    const endpoint = await createEndpoint(app);
    await createEndpoint(canceledOnly, { types: ['meeting.canceled'] });
    const { user, userId } = await h.connectNewUser();

    const booked = await h.sim.control.book(user.uri, {
      inviteeEmail: 'a@example.com',
      inviteeLimit: 3,
    });
    await waitFor('the booking', () => delivered(app, userId, meetingIs(booked.eventUri)));
    await h.sim.control.book(user.uri, {
      inviteeEmail: 'b@example.com',
      groupEventUri: booked.eventUri,
    });
    await waitFor('the second invitee', () =>
      delivered(
        app,
        userId,
        meetingIs(booked.eventUri, (m) => m.invitees.length === 2),
      ),
    );
    await h.sim.control.markNoShow(booked.inviteeUri);
    await waitFor('the no-show', () =>
      delivered(
        app,
        userId,
        meetingIs(booked.eventUri, (m) => m.invitees.some((i: { noShow: boolean }) => i.noShow)),
      ),
    );
    const single = await h.sim.control.book(user.uri, { inviteeEmail: 'c@example.com' });
    await waitFor('the single booking', () => delivered(app, userId, meetingIs(single.eventUri)));
    const moved = await h.sim.control.reschedule(single.inviteeUri, {
      startTime: new Date(Date.now() + 5 * 86_400_000).toISOString(),
    });
    await waitFor(
      'the reschedule',
      () =>
        delivered(
          app,
          userId,
          meetingIs(single.eventUri, (m) => m.status === 'canceled'),
        ) && delivered(app, userId, meetingIs(moved.eventUri)),
    );
    await h.sim.control.cancel(moved.inviteeUri, {});
    await waitFor('the cancellation', () =>
      delivered(
        app,
        userId,
        meetingIs(moved.eventUri, (m) => m.status === 'canceled'),
      ),
    );
    await h.sim.control.revokeTokens(user.uri);
    await h.api('POST', `/v1/connections/${userId}/reconcile`);
    await waitFor('the connection to need reconnecting', () =>
      delivered(
        app,
        userId,
        (r) => r.change.type === 'connection.updated' && r.change.data.status === 'reauth_required',
      ),
    );

    // Every request verifies with the app's library and is exactly the feed's change.
    const verifier = new Webhook(endpoint.secret);
    const received = ofUser(app, userId);
    for (const request of received) {
      const verified = verifier.verify(request.body, request.headers as Record<string, string>);
      expect(request.headers['webhook-id']).toBe(request.change.id);
      expect(verified).toEqual(request.change);
    }
    const feed = await feedOf(userId);
    const firstIndex = feed.findIndex((c) => c.id === received[0]?.change.id);
    expect(firstIndex).toBeGreaterThanOrEqual(0);
    const byId = new Map(received.map((r) => [r.change.id, r.change]));
    for (const change of feed.slice(firstIndex)) expect(byId.get(change.id)).toEqual(change);
    expect(byId.size).toBe(feed.length - firstIndex);

    const types = (eventUri: string) =>
      feed
        .slice(firstIndex)
        .filter((c: Json) => c.data?.calendlyEventUri === eventUri)
        .map((c: Json) => c.type);
    expect(types(booked.eventUri)).toEqual([
      'meeting.created',
      'meeting.updated',
      'meeting.updated',
    ]);
    expect(types(single.eventUri)).toContain('meeting.canceled');
    expect(types(moved.eventUri)[0]).toBe('meeting.created');
    expect(types(moved.eventUri).at(-1)).toBe('meeting.canceled');
    // Versions grow with each change of a meeting; the last snapshot is what the API shows.
    for (const eventUri of [booked.eventUri, moved.eventUri]) {
      const versions = feed
        .slice(firstIndex)
        .filter((c: Json) => c.data?.calendlyEventUri === eventUri)
        .map((c: Json) => c.data.version as number);
      for (let i = 1; i < versions.length; i++) {
        expect(versions[i]).toBeGreaterThan(versions[i - 1] as number);
      }
      const last = [...received].reverse().find(meetingIs(eventUri));
      expect(last?.change.data).toEqual(await apiMeeting(userId, eventUri));
    }
    const reauth = received.filter((r) => r.change.type === 'connection.updated').at(-1);
    expect(reauth?.change.data).toEqual((await h.api('GET', `/v1/connections/${userId}`)).body);

    // The delivery log holds each of them, answered 200.
    const logged = new Set<string>();
    for (let cursor: string | null = null; ; ) {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const { body: page } = await h.api(
        'GET',
        `/v1/webhook-endpoints/${endpoint.id}/deliveries?limit=500${query}`,
      );
      for (const d of page.deliveries) if (d.status === 200) logged.add(d.changeId);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    for (const id of byId.keys()) expect(logged.has(id), id).toBe(true);

    // The endpoint subscribed to cancellations only got cancellations.
    await waitFor('the cancellation at the filtered endpoint', () =>
      delivered(
        canceledOnly,
        userId,
        meetingIs(moved.eventUri, (m) => m.status === 'canceled'),
      ),
    );
    const filtered = ofUser(canceledOnly, userId).map((r) => r.change.type);
    expect(new Set(filtered)).toEqual(new Set(['meeting.canceled']));
  });

  it('retries an endpoint that answers 500, and logs each attempt newest first', async () => {
    const app = await newApp();
    const seen = new Set<string>();
    app.respond = ({ webhookId }) => {
      if (seen.has(webhookId)) return 200;
      seen.add(webhookId);
      return 500;
    };
    const { id } = await createEndpoint(app);
    const { user, userId } = await h.connectNewUser();
    const booked = await h.sim.control.book(user.uri, { inviteeEmail: 'd@example.com' });
    await waitFor('the booking after a 500', () =>
      delivered(app, userId, meetingIs(booked.eventUri)),
    );
    const attempts = ofUser(app, userId).filter(meetingIs(booked.eventUri));
    expect(attempts.map((r) => r.answered)).toEqual([500, 200]);
    expect(attempts[0]?.headers['webhook-id']).toBe(attempts[1]?.headers['webhook-id']);

    const changeId = attempts[0]?.change.id;
    await waitFor('the endpoint active again', async () => {
      const { body } = await h.api('GET', `/v1/webhook-endpoints/${id}`);
      return body.status === 'active';
    });
    const log: Json[] = [];
    for (let cursor: string | null = null; ; ) {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const { status, body } = await h.api(
        'GET',
        `/v1/webhook-endpoints/${id}/deliveries?limit=1${query}`,
      );
      expect(status).toBe(200);
      expect(body.deliveries.length).toBeLessThanOrEqual(1);
      log.push(...body.deliveries);
      cursor = body.nextCursor;
      if (!cursor) break;
    }
    const ofChange = log.filter((d) => d.changeId === changeId);
    expect(ofChange).toEqual([
      { changeId, attempt: 2, status: 200, at: expect.any(String), durationMs: expect.any(Number) },
      { changeId, attempt: 1, status: 500, at: expect.any(String), durationMs: expect.any(Number) },
    ]);
    const times = log.map((d) => Date.parse(d.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    await h.api('DELETE', `/v1/webhook-endpoints/${id}`);
  });

  it('delivers everything to an endpoint that was down for a while', async () => {
    const app = await newApp();
    const { id } = await createEndpoint(app);
    const { user, userId } = await h.connectNewUser();
    await app.stop();
    const bookings: { eventUri: string }[] = [];
    for (const email of ['e1@example.com', 'e2@example.com', 'e3@example.com']) {
      bookings.push(await h.sim.control.book(user.uri, { inviteeEmail: email }));
    }
    await waitFor('refused attempts in the log', async () => {
      const { body } = await h.api('GET', `/v1/webhook-endpoints/${id}/deliveries?limit=100`);
      return body.deliveries.filter((d: Json) => d.status === 'error').length >= 3;
    });
    const { body: failing } = await h.api('GET', `/v1/webhook-endpoints/${id}`);
    expect(failing.status).toBe('failing');
    const { body: log } = await h.api('GET', `/v1/webhook-endpoints/${id}/deliveries?limit=1`);
    expect(log.deliveries[0]).toMatchObject({ status: 'error', error: expect.any(String) });
    await app.start();
    await waitFor(
      'every booking once the endpoint is back',
      () => bookings.every((b) => delivered(app, userId, meetingIs(b.eventUri))),
      30_000,
    );
    await h.api('DELETE', `/v1/webhook-endpoints/${id}`);
  }, 60_000);

  it('signs with both secrets for 24 hours after a rotation', async () => {
    const app = await newApp();
    const { id, secret: previous } = await createEndpoint(app);
    const { body } = await h.api('POST', `/v1/webhook-endpoints/${id}/rotate-secret`);
    const current = body.secret as string;
    const { user, userId } = await h.connectNewUser();
    const first = await h.sim.control.book(user.uri, { inviteeEmail: 'f@example.com' });
    await waitFor('a booking after the rotation', () =>
      delivered(app, userId, meetingIs(first.eventUri)),
    );
    const request = ofUser(app, userId).find(meetingIs(first.eventUri)) as ReceivedWebhook;
    expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(2);
    const headers = request.headers as Record<string, string>;
    expect(new Webhook(current).verify(request.body, headers)).toEqual(request.change);
    expect(new Webhook(previous).verify(request.body, headers)).toEqual(request.change);

    // A day later only the new secret signs.
    clockOffsetMs = 24 * 3_600_000 + 60_000;
    const later = await h.sim.control.book(user.uri, { inviteeEmail: 'g@example.com' });
    await waitFor('a booking a day later', () => delivered(app, userId, meetingIs(later.eventUri)));
    const next = ofUser(app, userId).find(meetingIs(later.eventUri)) as ReceivedWebhook;
    const at = new Date(Number(next.headers['webhook-timestamp']) * 1000);
    const signature = String(next.headers['webhook-signature']);
    expect(signature).toBe(new Webhook(current).sign(next.change.id, at, next.body));
    expect(signature).not.toContain(new Webhook(previous).sign(next.change.id, at, next.body));
    await h.api('DELETE', `/v1/webhook-endpoints/${id}`);
  });

  it('replays the changes after a cursor with the same webhook-id', async () => {
    const app = await newApp();
    const { id } = await createEndpoint(app);
    const { user, userId } = await h.connectNewUser();
    const one = await h.sim.control.book(user.uri, { inviteeEmail: 'h1@example.com' });
    await waitFor('the first booking', () => delivered(app, userId, meetingIs(one.eventUri)));
    const two = await h.sim.control.book(user.uri, { inviteeEmail: 'h2@example.com' });
    await waitFor('the second booking', () => delivered(app, userId, meetingIs(two.eventUri)));
    const firstChange = ofUser(app, userId).find(meetingIs(one.eventUri))?.change;
    const secondChange = ofUser(app, userId).find(meetingIs(two.eventUri))?.change;

    const answer = await h.api('POST', `/v1/webhook-endpoints/${id}/replay`, {
      after: firstChange.cursor,
    });
    expect(answer.status).toBe(202);
    await waitFor(
      'the second booking again',
      () => ofUser(app, userId).filter((r) => r.change.id === secondChange.id).length === 2,
    );
    const again = ofUser(app, userId).filter((r) => r.change.id === secondChange.id);
    expect(again[1]?.headers['webhook-id']).toBe(secondChange.id);
    expect(again[1]?.change).toEqual(secondChange);
    expect(ofUser(app, userId).filter((r) => r.change.id === firstChange.id)).toHaveLength(1);
    await h.api('DELETE', `/v1/webhook-endpoints/${id}`);
  });

  it('sends nothing more to a deleted endpoint', async () => {
    const gone = await newApp();
    const kept = await newApp();
    const { id } = await createEndpoint(gone);
    const { id: keptId } = await createEndpoint(kept);
    const { user, userId } = await h.connectNewUser();
    expect((await h.api('DELETE', `/v1/webhook-endpoints/${id}`)).status).toBe(204);
    const booked = await h.sim.control.book(user.uri, { inviteeEmail: 'i@example.com' });
    await waitFor('the booking at the kept endpoint', () =>
      delivered(kept, userId, meetingIs(booked.eventUri)),
    );
    const queue = h.queues.get('webhooks');
    await waitFor('the delivery queue idle', async () => {
      const counts = await queue.getJobCounts('waiting', 'active', 'prioritized');
      return Object.values(counts).every((n) => n === 0);
    });
    expect(ofUser(gone, userId).filter(meetingIs(booked.eventUri))).toEqual([]);
    await h.api('DELETE', `/v1/webhook-endpoints/${keptId}`);
  });

  it('keeps delivering to one endpoint while another holds every request', async () => {
    const fast = await newApp();
    const slow = await newApp();
    const held: (() => void)[] = [];
    slow.respond = () => new Promise((resolve) => held.push(() => resolve(200)));
    const fastEndpoint = await createEndpoint(fast);
    // The dispatcher queues endpoints in id order: the slow one is made to come first, so
    // without a per-endpoint share its jobs would take every delivery slot.
    let slowEndpoint = await createEndpoint(slow);
    while (slowEndpoint.id > fastEndpoint.id) {
      await h.api('DELETE', `/v1/webhook-endpoints/${slowEndpoint.id}`);
      slowEndpoint = await createEndpoint(slow);
    }
    const userId = `burst-${Date.now()}`;
    const CHANGES = 150;
    await h.database.db.transaction((tx) =>
      changeRepo.append(
        tx,
        Array.from({ length: CHANGES }, (_, i) => ({
          type: 'meeting.updated' as const,
          userId,
          connectionId: randomUUID(),
          meetingId: null,
          data: { n: i },
        })),
      ),
    );
    try {
      await waitFor(
        'every change at the fast endpoint while the slow one has answered none',
        () => new Set(ofUser(fast, userId).map((r) => r.change.id)).size === CHANGES,
        12_000,
      );
      expect(ofUser(slow, userId)).toEqual([]);
      expect(slow.pending).toBeGreaterThan(0);
      expect(slow.pending).toBeLessThanOrEqual(32);
    } finally {
      await h.api('DELETE', `/v1/webhook-endpoints/${slowEndpoint.id}`);
      await h.api('DELETE', `/v1/webhook-endpoints/${fastEndpoint.id}`);
      for (const release of held) release();
    }
  });

  it('disables an endpoint that has failed for 24 hours', async () => {
    const app = await newApp();
    app.respond = () => 503;
    const { id } = await createEndpoint(app);
    const { user, userId } = await h.connectNewUser();
    await h.sim.control.book(user.uri, { inviteeEmail: 'j@example.com' });
    await waitFor('the endpoint failing', async () => {
      const { body } = await h.api('GET', `/v1/webhook-endpoints/${id}`);
      return body.status === 'failing';
    });
    expect(ofUser(app, userId).every((r) => r.answered === 503)).toBe(true);
    // A day on, the next retry's failure disables it.
    clockOffsetMs = 24 * 3_600_000 + 1_000;
    await waitFor(
      'the endpoint disabled',
      async () => {
        const { body } = await h.api('GET', `/v1/webhook-endpoints/${id}`);
        return body.status === 'disabled';
      },
      30_000,
    );
    await waitFor(
      'the disabled endpoint in the metrics',
      async () => {
        const { body } = await h.api('GET', '/v1/webhook-endpoints');
        const disabled = body.endpoints.filter((e: Json) => e.status === 'disabled').length;
        const text = await (await fetch(`${h.apiUrl}/metrics`)).text();
        const metric = /calhook_app_webhook_endpoints\{status="disabled"\} (\d+)/.exec(text);
        return disabled > 0 && Number(metric?.[1]) === disabled;
      },
      30_000,
    );
  }, 60_000);
});
