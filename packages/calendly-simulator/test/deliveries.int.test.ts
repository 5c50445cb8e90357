// Proves webhook deliveries: signing keys by token kind, embedded events, reschedule pairs, group cancels, no-shows, 410, disabling and faults.
import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type SimUser,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from '../src/index.ts';
import { api, pathOf, postForm } from './api.ts';
import { eventually } from './eventually.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

interface Envelope {
  event: string;
  created_at: string;
  created_by: string;
  payload: Record<string, unknown> & {
    uri: string;
    status: string;
    scheduled_event: Record<string, unknown> & { uri: string; status: string };
  };
}

let sim: Simulator;
let receiver: WebhookReceiver;
let host: SimUser;

async function setUp(options: SimulatorOptions = {}) {
  sim = await startSimulator({ retryBaseMs: 50, ...options });
  host = await sim.control.createUser({ name: 'Hannah Host' });
}

beforeEach(async () => {
  receiver = await startWebhookReceiver();
});
afterEach(async () => {
  await sim.close();
  await receiver.close();
});

async function subscribe(
  path: string,
  signingKey?: string,
  token = host.personalAccessToken,
): Promise<string> {
  const answer = await api(sim.url, token, '/webhook_subscriptions', {
    method: 'POST',
    json: {
      url: `${receiver.url}${path}`,
      events: [
        'invitee.created',
        'invitee.canceled',
        'invitee_no_show.created',
        'invitee_no_show.deleted',
      ],
      organization: host.organizationUri,
      scope: 'user',
      user: host.uri,
      ...(signingKey ? { signing_key: signingKey } : {}),
    },
  });
  expect(answer.status).toBe(201);
  return String((answer.body.resource as { uri: string }).uri);
}

function verify(signature: string, body: string, key: string): boolean {
  const parts = Object.fromEntries(signature.split(',').map((part) => part.trim().split('=')));
  const expected = createHmac('sha256', key).update(`${parts.t}.${body}`).digest('hex');
  return parts.v1 === expected;
}

function envelopes(): Envelope[] {
  return receiver.received.map((delivery) => JSON.parse(delivery.body) as Envelope);
}

async function settle() {
  expect(await sim.control.settle()).toEqual({ settled: true, pending: 0 });
}

describe('signing', () => {
  it('signs with the subscription key and embeds the scheduled event', async () => {
    await setUp();
    await subscribe('/hooks/a', 'hook-key');
    const booked = await sim.control.book(host.uri, {
      inviteeEmail: 'ivy@example.com',
      inviteeName: 'Ivy Invitee',
      startTime: '2025-06-01T09:00:00Z',
      durationMinutes: 45,
      questionsAndAnswers: [{ question: 'Topic?', answer: 'Pricing', position: 0 }],
    });
    await settle();

    expect(receiver.received).toHaveLength(1);
    const [delivery] = receiver.received;
    expect(delivery?.contentType).toBe('application/json');
    expect(delivery?.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verify(delivery!.signature, delivery!.body, 'hook-key')).toBe(true);
    expect(verify(delivery!.signature, delivery!.body, 'sim-app-signing-key')).toBe(false);

    const [envelope] = envelopes();
    expect(envelope).toMatchObject({
      event: 'invitee.created',
      created_by: host.uri,
      payload: {
        uri: booked.inviteeUri,
        event: booked.eventUri,
        email: 'ivy@example.com',
        name: 'Ivy Invitee',
        first_name: 'Ivy',
        last_name: 'Invitee',
        status: 'active',
        rescheduled: false,
        old_invitee: null,
        new_invitee: null,
        no_show: null,
        questions_and_answers: [{ question: 'Topic?', answer: 'Pricing', position: 0 }],
        scheduled_event: {
          uri: booked.eventUri,
          status: 'active',
          start_time: '2025-06-01T09:00:00.000000Z',
          end_time: '2025-06-01T09:45:00.000000Z',
          invitees_counter: { total: 1, active: 1, limit: 1 },
          event_memberships: [{ user: host.uri, user_email: host.email, user_name: 'Hannah Host' }],
        },
      },
    });
    expect(envelope?.payload.uri.startsWith(`${booked.eventUri}/invitees/`)).toBe(true);

    const records = await sim.control.deliveries();
    expect(records).toMatchObject([
      { event: 'invitee.created', outcome: 'delivered', status: 200 },
    ]);
  });

  it('signs with the app key when the subscription has none, or when the policy says so', async () => {
    await setUp({ appSigningKey: 'app-key', signingKeyPolicy: 'app' });
    await subscribe('/with-own-key', 'hook-key');
    await sim.control.book(host.uri);
    await settle();
    const [delivery] = receiver.received;
    expect(verify(delivery!.signature, delivery!.body, 'app-key')).toBe(true);
  });

  it('signs a personal-token subscription without a key with the app key', async () => {
    await setUp({ appSigningKey: 'app-key' });
    await subscribe('/no-key');
    await sim.control.book(host.uri);
    await settle();
    const [delivery] = receiver.received;
    expect(verify(delivery!.signature, delivery!.body, 'app-key')).toBe(true);
  });

  it('signs a subscription made with an OAuth access token with the app key by default', async () => {
    await setUp({ appSigningKey: 'app-key' });
    const oauth = await oauthToken(host.uri);
    await subscribe('/oauth', 'hook-key', oauth);
    await sim.control.book(host.uri);
    await settle();
    const [delivery] = receiver.received;
    expect(verify(delivery!.signature, delivery!.body, 'app-key')).toBe(true);
    expect(verify(delivery!.signature, delivery!.body, 'hook-key')).toBe(false);
  });

  it('signs it with its own key under the subscription policy', async () => {
    await setUp({ appSigningKey: 'app-key', signingKeyPolicy: 'subscription' });
    const oauth = await oauthToken(host.uri);
    await subscribe('/oauth', 'hook-key', oauth);
    await sim.control.book(host.uri);
    await settle();
    const [delivery] = receiver.received;
    expect(verify(delivery!.signature, delivery!.body, 'hook-key')).toBe(true);
  });
});

/** An access token from `/oauth/token`, by the authorization-code flow a browser would run. */
async function oauthToken(userUri: string): Promise<string> {
  const redirect = 'http://127.0.0.1:9/callback';
  const authorize = new URL('/oauth/authorize', sim.url);
  authorize.search = new URLSearchParams({
    client_id: 'sim-client-id',
    response_type: 'code',
    redirect_uri: redirect,
    sim_user: userUri,
  }).toString();
  const location = (await fetch(authorize, { redirect: 'manual' })).headers.get('location');
  const code = new URL(location ?? '').searchParams.get('code') ?? '';
  const tokens = await postForm(
    `${sim.url}/oauth/token`,
    { grant_type: 'authorization_code', code, redirect_uri: redirect },
    { id: 'sim-client-id', secret: 'sim-client-secret' },
  );
  expect(tokens.status).toBe(200);
  return String(tokens.body.access_token);
}

describe('changes', () => {
  it('sends a reschedule as a canceled/created pair linking old and new invitee', async () => {
    await setUp();
    await subscribe('/h');
    const first = await sim.control.book(host.uri, { startTime: '2025-06-01T09:00:00Z' });
    const moved = await sim.control.reschedule(first.inviteeUri, {
      startTime: '2025-06-02T09:00:00Z',
    });
    await settle();
    expect(moved.eventUri).not.toBe(first.eventUri);

    const [, ...pair] = envelopes();
    const canceled = pair.find((e) => e.event === 'invitee.canceled');
    const created = pair.find((e) => e.event === 'invitee.created');
    expect(canceled?.payload).toMatchObject({
      uri: first.inviteeUri,
      status: 'canceled',
      rescheduled: true,
      new_invitee: moved.inviteeUri,
      cancellation: { canceler_type: 'invitee' },
      scheduled_event: { uri: first.eventUri, status: 'canceled' },
    });
    expect(created?.payload).toMatchObject({
      uri: moved.inviteeUri,
      status: 'active',
      old_invitee: first.inviteeUri,
      scheduled_event: { uri: moved.eventUri, start_time: '2025-06-02T09:00:00.000000Z' },
    });
  });

  it('keeps a group event active until its last invitee cancels', async () => {
    await setUp();
    await subscribe('/h');
    const a = await sim.control.book(host.uri, { inviteeLimit: 5, eventName: 'Workshop' });
    const b = await sim.control.book(host.uri, { groupEventUri: a.eventUri });
    expect(b.eventUri).toBe(a.eventUri);

    await sim.control.cancel(a.inviteeUri, { reason: 'sick', cancelerType: 'invitee' });
    await settle();
    expect(envelopes().at(-1)?.payload).toMatchObject({
      uri: a.inviteeUri,
      status: 'canceled',
      cancellation: { reason: 'sick', canceler_type: 'invitee' },
      scheduled_event: { status: 'active', invitees_counter: { total: 2, active: 1, limit: 5 } },
    });

    await sim.control.cancel(b.inviteeUri, { cancelerType: 'host' });
    await settle();
    expect(envelopes().at(-1)?.payload).toMatchObject({
      uri: b.inviteeUri,
      cancellation: { canceled_by: 'Hannah Host', canceler_type: 'host' },
      scheduled_event: { status: 'canceled', invitees_counter: { total: 2, active: 0 } },
    });
  });

  it('marks and unmarks a no-show, bumping updated_at even on a frozen clock', async () => {
    await setUp({ now: () => Date.parse('2025-05-01T08:00:00Z') });
    await subscribe('/h');
    const booked = await sim.control.book(host.uri);
    await sim.control.markNoShow(booked.inviteeUri);
    await sim.control.unmarkNoShow(booked.inviteeUri);
    await settle();

    const [created, marked, unmarked] = envelopes();
    expect(marked).toMatchObject({
      event: 'invitee_no_show.created',
      payload: { no_show: { uri: expect.stringContaining('/invitee_no_shows/') } },
    });
    expect(unmarked).toMatchObject({
      event: 'invitee_no_show.deleted',
      payload: { no_show: null },
    });
    const stamps = [created, marked, unmarked].map((e) => String(e?.payload.updated_at));
    expect([...stamps].sort()).toEqual(stamps);
    expect(new Set(stamps).size).toBe(3);
  });
});

describe('failing receivers', () => {
  it('retries, sets retry_started_at, then disables the subscription after the window', async () => {
    await setUp({ disableAfterSeconds: 1 });
    const uri = await subscribe('/h');
    receiver.answerWith(500);
    await sim.control.book(host.uri);

    const retrying = await eventually(async () => {
      const { body } = await api(sim.url, host.personalAccessToken, pathOf(uri));
      const resource = body.resource as { retry_started_at: string | null; state: string };
      return resource.retry_started_at !== null && resource;
    });
    expect(retrying.state).toBe('active');

    await eventually(
      async () => {
        const { body } = await api(sim.url, host.personalAccessToken, pathOf(uri));
        return (body.resource as { state: string }).state === 'disabled';
      },
      { what: 'subscription disabled' },
    );
    await settle();
    const attempts = await sim.control.deliveries({ subscriptionUri: uri });
    expect(attempts.length).toBeGreaterThan(2);
    expect(attempts.every((a) => a.outcome === 'failed' && a.status === 500)).toBe(true);

    receiver.answerWith(200);
    const before = receiver.received.length;
    await sim.control.book(host.uri);
    await settle();
    expect(receiver.received.length).toBe(before);
  });

  it('deletes the subscription at once when the receiver answers 410, without retrying', async () => {
    await setUp({ disableAfterSeconds: 60 });
    const gone = await subscribe('/gone');
    const failing = await subscribe('/failing');
    receiver.answerWith(410, '/gone');
    receiver.answerWith(500, '/failing');
    await sim.control.book(host.uri);
    await eventually(
      async () => (await sim.control.deliveries({ subscriptionUri: failing })).length >= 2,
      { what: 'a retry of the failing subscription' },
    );

    expect(await sim.control.deliveries({ subscriptionUri: gone })).toMatchObject([
      { outcome: 'gone', status: 410, attempt: 1 },
    ]);
    const answer = await api(sim.url, host.personalAccessToken, pathOf(gone));
    expect(answer.status).toBe(404);
    expect((await sim.control.subscriptions()).map((s) => s.uri)).toEqual([failing]);
    receiver.answerWith(200, '/failing');
    await settle();
    expect((await sim.control.deliveries({ subscriptionUri: gone })).length).toBe(1);
    expect((await sim.control.deliveries({ subscriptionUri: failing })).at(-1)).toMatchObject({
      outcome: 'delivered',
    });

    // A new subscription with the same url can be made at once, and later bookings go to it.
    receiver.answerWith(200);
    await subscribe('/gone');
    const before = receiver.received.length;
    await sim.control.book(host.uri);
    await settle();
    expect(
      receiver.received
        .slice(before)
        .map((r) => r.path)
        .sort(),
    ).toEqual(['/failing', '/gone']);
  });

  it('keeps retrying other 4xx answers', async () => {
    await setUp({ disableAfterSeconds: 60 });
    const uri = await subscribe('/h');
    receiver.answerWith(404);
    await sim.control.book(host.uri);
    await eventually(async () => (await sim.control.deliveries()).length >= 2, {
      what: 'a retry',
    });
    receiver.answerWith(200);
    await settle();
    const attempts = await sim.control.deliveries({ subscriptionUri: uri });
    expect(attempts.slice(0, 2)).toMatchObject([
      { outcome: 'failed', status: 404, attempt: 1 },
      { outcome: 'failed', status: 404, attempt: 2 },
    ]);
    expect(attempts.at(-1)).toMatchObject({ outcome: 'delivered' });
    expect((await sim.control.subscriptions()).map((s) => s.uri)).toEqual([uri]);
  });

  it('clears retry_started_at once a delivery succeeds', async () => {
    await setUp({ disableAfterSeconds: 60 });
    const uri = await subscribe('/h');
    receiver.answerWith(503);
    await sim.control.book(host.uri);
    await eventually(async () => (await sim.control.deliveries()).length > 0);
    receiver.answerWith(200);
    await settle();
    const [subscription] = await sim.control.subscriptions();
    expect(subscription).toMatchObject({ uri, state: 'active', retry_started_at: null });
    expect((await sim.control.deliveries()).at(-1)).toMatchObject({ outcome: 'delivered' });
  });
});

describe('fault switches', () => {
  it('duplicate delivers every message twice with the same bytes', async () => {
    await setUp();
    await subscribe('/h');
    await sim.control.faults({ duplicate: true });
    await sim.control.book(host.uri);
    await settle();
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[0]?.body).toBe(receiver.received[1]?.body);
  });

  it('reorder sends a batch backwards', async () => {
    await setUp();
    await subscribe('/h');
    const booked = await sim.control.book(host.uri);
    await settle();
    await sim.control.faults({ reorder: true });
    await sim.control.reschedule(booked.inviteeUri, { startTime: '2025-07-01T10:00:00Z' });
    await settle();
    expect(envelopes().map((e) => e.event)).toEqual([
      'invitee.created',
      'invitee.created',
      'invitee.canceled',
    ]);
  });

  it('drop delivers nothing while the listings still change', async () => {
    await setUp();
    await subscribe('/h');
    await sim.control.faults({ drop: true });
    const booked = await sim.control.book(host.uri);
    await settle();
    expect(receiver.received).toHaveLength(0);
    expect(await sim.control.deliveries()).toMatchObject([{ outcome: 'dropped' }]);
    const listing = await api<{ collection: { uri: string }[] }>(
      sim.url,
      host.personalAccessToken,
      `/scheduled_events?user=${encodeURIComponent(host.uri)}`,
    );
    expect(listing.body.collection.map((e) => e.uri)).toEqual([booked.eventUri]);
  });

  it('delivers nothing to disabled, deleted or other users’ subscriptions', async () => {
    await setUp();
    const uri = await subscribe('/mine');
    const other = await sim.control.createUser();
    await sim.control.createForeignSubscription(host.uri, `${receiver.url}/foreign`);
    await sim.control.setSubscriptionState(uri, 'disabled');
    await sim.control.book(other.uri);
    await sim.control.book(host.uri);
    await settle();
    expect(receiver.received.map((r) => r.path)).toEqual(['/foreign']);
  });
});
