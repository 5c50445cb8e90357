// Proves the client against the Calendly simulator over HTTP: the OAuth round trip with PKCE and
// rotation, every error kind, rate-limit waits, retried 5xx, pagination and secret-free logs.
import { startSimulator } from '@calhook/calendly-simulator';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CalendlyClient,
  type CalendlyClientOptions,
  createCalendlyClient,
  type Listed,
} from './client.ts';
import { CalendlyError } from './errors.ts';
import { createPkcePair } from './pkce.ts';

type Simulator = Awaited<ReturnType<typeof startSimulator>>;
type LogEntry = { level: 'warn' | 'debug'; obj: Record<string, unknown>; msg: string | undefined };

const CLIENT_ID = 'sim-client-id';
const CLIENT_SECRET = 'sim-client-secret';
const REDIRECT_URI = 'https://app.example/oauth/callback';

interface Setup {
  sim: Simulator;
  client: CalendlyClient;
  logs: LogEntry[];
  sleeps: number[];
  /** Every secret the test handed out or received: none may appear in the logs. */
  secrets: Set<string>;
  clock: { ms: number };
}

const opened: Array<{ sim: Simulator; client: CalendlyClient }> = [];

afterEach(async () => {
  for (const { sim, client } of opened.splice(0)) {
    await client.close();
    await sim.close();
  }
});

async function setup(
  simOptions: Parameters<typeof startSimulator>[0] = {},
  clientOptions: Partial<CalendlyClientOptions> & {
    onSleep?: (ms: number) => Promise<void> | void;
  } = {},
): Promise<Setup> {
  // One fake clock drives the simulator's rate-limit windows and the client's sleeps: waiting
  // out a 429 advances it instead of really waiting a minute.
  const clock = { ms: Date.parse('2025-06-02T09:00:00Z') };
  const sim = await startSimulator({ now: () => clock.ms, logger: false, ...simOptions });
  const logs: LogEntry[] = [];
  const sleeps: number[] = [];
  const { onSleep, ...rest } = clientOptions;
  const client = createCalendlyClient({
    apiUrl: sim.url,
    authUrl: sim.url,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    logger: {
      warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
      debug: (obj, msg) => logs.push({ level: 'debug', obj, msg }),
    },
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.ms += ms;
      await onSleep?.(ms);
    },
    random: () => 0.5,
    now: () => clock.ms,
    ...rest,
  });
  opened.push({ sim, client });
  return { sim, client, logs, sleeps, secrets: new Set([CLIENT_SECRET]), clock };
}

async function paidUser(s: Setup, plan: 'paid' | 'free' = 'paid') {
  const user = await s.sim.control.createUser({ plan });
  s.secrets.add(user.personalAccessToken);
  return user;
}

function expectNoSecretsLogged(s: Setup) {
  const text = JSON.stringify(s.logs);
  for (const secret of s.secrets) expect(text).not.toContain(secret);
}

async function authorize(s: Setup, userUri: string, challenge: string, state: string) {
  const url = `${s.client.authorizeUrl({ redirectUri: REDIRECT_URI, state, codeChallenge: challenge })}&sim_user=${encodeURIComponent(userUri)}`;
  const response = await request(url, { method: 'GET' });
  await response.body.dump();
  expect(response.statusCode).toBe(302);
  const location = new URL(String(response.headers.location));
  expect(location.origin + location.pathname).toBe(REDIRECT_URI);
  expect(location.searchParams.get('state')).toBe(state);
  const code = location.searchParams.get('code');
  expect(code).toBeTruthy();
  s.secrets.add(code!);
  return code!;
}

async function failure(promise: Promise<unknown>): Promise<CalendlyError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CalendlyError);
  return error as CalendlyError;
}

describe('OAuth', () => {
  let s: Setup;
  beforeEach(async () => {
    s = await setup();
  });

  it('authorizes with PKCE, exchanges the code, refreshes with rotation and rejects the old refresh token', async () => {
    const user = await paidUser(s);
    const pkce = createPkcePair();
    s.secrets.add(pkce.verifier);
    const code = await authorize(s, user.uri, pkce.challenge, 'state-123');

    const first = await s.client.exchangeCode({
      code,
      redirectUri: REDIRECT_URI,
      codeVerifier: pkce.verifier,
    });
    s.secrets.add(first.accessToken).add(first.refreshToken);
    expect(first.ownerUri).toBe(user.uri);
    expect(first.organizationUri).toBe(user.organizationUri);
    expect(first.createdAt.getTime()).toBe(Math.floor(s.clock.ms / 1000) * 1000);
    expect(first.expiresAt.getTime()).toBe(first.createdAt.getTime() + 7200 * 1000);

    const me = await s.client.getCurrentUser(first.accessToken);
    expect(me.uri).toBe(user.uri);
    expect(me.current_organization).toBe(user.organizationUri);

    const second = await s.client.refreshToken(first.refreshToken);
    s.secrets.add(second.accessToken).add(second.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect((await s.client.getCurrentUser(second.accessToken)).uri).toBe(user.uri);

    const reused = await failure(s.client.refreshToken(first.refreshToken));
    expect(reused.kind).toBe('oauth');
    expect(reused.isInvalidGrant).toBe(true);
    expect(reused.status).toBe(400);

    // A code is single-use as well.
    const replayed = await failure(
      s.client.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier: pkce.verifier }),
    );
    expect(replayed.isInvalidGrant).toBe(true);
    expectNoSecretsLogged(s);
  });

  it('rejects a code exchanged with the wrong verifier', async () => {
    const user = await paidUser(s);
    const pkce = createPkcePair();
    const code = await authorize(s, user.uri, pkce.challenge, 's');
    const error = await failure(
      s.client.exchangeCode({
        code,
        redirectUri: REDIRECT_URI,
        codeVerifier: createPkcePair().verifier,
      }),
    );
    expect(error.kind).toBe('oauth');
    expect(error.isInvalidGrant).toBe(true);
  });

  it('revokes an access token', async () => {
    const user = await paidUser(s);
    const tokens = await s.sim.control.issueTokens(user.uri);
    s.secrets.add(tokens.access_token).add(tokens.refresh_token);
    expect((await s.client.getCurrentUser(tokens.access_token)).uri).toBe(user.uri);
    await s.client.revokeToken(tokens.access_token);
    const error = await failure(s.client.getCurrentUser(tokens.access_token));
    expect(error.kind).toBe('unauthenticated');
    expect(error.status).toBe(401);
    expectNoSecretsLogged(s);
  });
});

describe('API errors', () => {
  let s: Setup;
  beforeEach(async () => {
    s = await setup();
  });

  it('classifies 400, 401, 403, 404 and 409 and logs each with its body, without secrets', async () => {
    const user = await paidUser(s);
    const token = user.personalAccessToken;
    const base = {
      events: ['invitee.created', 'invitee.canceled'],
      organization: user.organizationUri,
      user: user.uri,
      scope: 'user' as const,
      signingKey: 'whsec-signing-key-1234567890',
    };
    s.secrets.add(base.signingKey);

    const invalid = await failure(
      s.client.createWebhookSubscription(token, { ...base, url: 'not a url' }),
    );
    expect(invalid.kind).toBe('validation');
    expect(invalid.status).toBe(400);
    expect(invalid.details).toContainEqual(expect.objectContaining({ parameter: 'url' }));

    const unauthenticated = await failure(s.client.getCurrentUser('not-a-real-token'));
    expect(unauthenticated.kind).toBe('unauthenticated');

    // Calendly's older plan gate, the 403 a client must still classify.
    await s.sim.control.plans({ freePlanWebhooks: 'refused' });
    const free = await paidUser(s, 'free');
    const forbidden = await failure(
      s.client.createWebhookSubscription(free.personalAccessToken, {
        ...base,
        organization: free.organizationUri,
        user: free.uri,
        url: 'https://hooks.example/free',
      }),
    );
    expect(forbidden.kind).toBe('forbidden');
    expect(forbidden.message).toContain('Please upgrade to a paid Calendly account.');

    const missing = await failure(
      s.client.getWebhookSubscription(
        token,
        'https://api.calendly.com/webhook_subscriptions/does-not-exist',
      ),
    );
    expect(missing.kind).toBe('not_found');

    const created = await s.client.createWebhookSubscription(token, {
      ...base,
      url: 'https://hooks.example/webhooks/calendly/h1',
    });
    expect(created.callback_url).toBe('https://hooks.example/webhooks/calendly/h1');
    expect(created.state).toBe('active');
    const conflict = await failure(
      s.client.createWebhookSubscription(token, {
        ...base,
        url: 'https://hooks.example/webhooks/calendly/h1',
      }),
    );
    expect(conflict.kind).toBe('conflict');
    expect(conflict.message).toContain('Hook with this url already exists');

    const statuses = s.logs.map((entry) => entry.obj.status);
    expect(statuses).toEqual([400, 401, 403, 404, 409]);
    expect(s.logs[0]?.obj).toMatchObject({
      method: 'POST',
      path: '/webhook_subscriptions',
      kind: 'validation',
      errorBody: { title: 'Invalid Argument', details: expect.any(Array) },
    });
    expect(s.logs[2]?.obj.errorBody).toMatchObject({
      message: 'Please upgrade to a paid Calendly account.',
    });
    s.secrets.add('not-a-real-token');
    expectNoSecretsLogged(s);
  });

  it('waits out a spent window before calling again, so Calendly never answers 429', async () => {
    s = await setup({ requestsPerMinute: 2 });
    const user = await paidUser(s);
    const token = user.personalAccessToken;
    await s.client.getCurrentUser(token);
    await s.client.getCurrentUser(token);
    const me = await s.client.getCurrentUser(token);
    expect(me.uri).toBe(user.uri);
    // The second answer said 0 remaining, 60 s to the reset: the third call waited for it.
    expect(s.sleeps).toEqual([60_000]);
    expect(s.logs).toHaveLength(0);
    expect(await s.sim.control.requests()).toMatchObject({
      [user.uri]: { total: 3, rateLimited: 0 },
    });
    expectNoSecretsLogged(s);
  });

  it('waits out a 429 on a GET for the time Calendly asks, then succeeds', async () => {
    const sim: { current?: Simulator } = {};
    s = await setup({}, { onSleep: async () => void (await sim.current?.control.faults({})) });
    sim.current = s.sim;
    const user = await paidUser(s);
    await s.sim.control.faults({ rateLimitRate: 1, rateLimitResetSeconds: 60 });
    const me = await s.client.getCurrentUser(user.personalAccessToken);
    expect(me.uri).toBe(user.uri);
    expect(s.sleeps).toEqual([60_000]);
    expect(s.logs[0]?.obj).toMatchObject({ status: 429, kind: 'rate_limited', retryInMs: 60_000 });
    expect(s.logs[0]?.obj.errorBody).toMatchObject({ title: 'Too Many Requests' });
    expectNoSecretsLogged(s);
  });

  it('surfaces a 429 on a POST with its wait instead of retrying', async () => {
    s = await setup();
    const user = await paidUser(s);
    await s.sim.control.faults({ rateLimitRate: 1, rateLimitResetSeconds: 60 });
    const error = await failure(
      s.client.createWebhookSubscription(user.personalAccessToken, {
        url: 'https://hooks.example/h',
        events: ['invitee.created'],
        organization: user.organizationUri,
        user: user.uri,
        scope: 'user',
      }),
    );
    expect(error.kind).toBe('rate_limited');
    expect(error.retryAfterMs).toBe(60_000);
    expect(s.sleeps).toEqual([]);
  });

  it('surfaces a 429 whose wait exceeds the cap', async () => {
    s = await setup({ requestsPerMinute: 1 }, { maxRateLimitWaitMs: 5_000 });
    const user = await paidUser(s);
    await s.client.getCurrentUser(user.personalAccessToken);
    const error = await failure(s.client.getCurrentUser(user.personalAccessToken));
    expect(error.kind).toBe('rate_limited');
    expect(error.retryAfterMs).toBe(60_000);
    expect(s.sleeps).toEqual([]);
  });

  it('retries a GET through injected 5xx and then succeeds', async () => {
    let sleeps = 0;
    const sim: { current?: Simulator } = {};
    s = await setup(
      // random 0.1 < apiErrorRate and < 0.5: every injected fault is a 500.
      { random: () => 0.1 },
      {
        onSleep: async () => {
          sleeps += 1;
          if (sleeps === 2) await sim.current?.control.faults({ apiErrorRate: 0 });
        },
      },
    );
    sim.current = s.sim;
    const user = await paidUser(s);
    await s.sim.control.faults({ apiErrorRate: 1 });
    const me = await s.client.getCurrentUser(user.personalAccessToken);
    expect(me.uri).toBe(user.uri);
    expect(s.sleeps).toEqual([150, 300]);
    expect(s.logs.map((entry) => entry.obj.status)).toEqual([500, 500]);
  });

  it('does not retry a token request through injected 5xx', async () => {
    s = await setup({ random: () => 0.1 });
    const user = await paidUser(s);
    const tokens = await s.sim.control.issueTokens(user.uri);
    s.secrets.add(tokens.access_token).add(tokens.refresh_token);
    await s.sim.control.faults({ apiErrorRate: 1 });
    const error = await failure(s.client.refreshToken(tokens.refresh_token));
    expect(error.kind).toBe('server');
    expect(s.sleeps).toEqual([]);
    expectNoSecretsLogged(s);
  });
});

describe('webhook subscriptions and scheduled events', () => {
  let s: Setup;
  beforeEach(async () => {
    s = await setup({}, { pageSize: 2 });
  });

  it('lists subscriptions across pages and deletes, treating an absent one as done', async () => {
    const user = await paidUser(s);
    const token = user.personalAccessToken;
    const urls = [1, 2, 3, 4, 5].map((n) => `https://hooks.example/webhooks/calendly/h${n}`);
    for (const url of urls) {
      await s.client.createWebhookSubscription(token, {
        url,
        events: ['invitee.created'],
        organization: user.organizationUri,
        user: user.uri,
        scope: 'user',
      });
    }
    const all = await s.client.listWebhookSubscriptions(token, {
      organization: user.organizationUri,
      scope: 'user',
      user: user.uri,
    });
    expect(all.map((sub) => sub.callback_url)).toEqual(urls);

    const first = all[0]!;
    expect((await s.client.getWebhookSubscription(token, first.uri)).uri).toBe(first.uri);
    await s.client.deleteWebhookSubscription(token, first.uri);
    await s.client.deleteWebhookSubscription(token, first.uri);
    expect(s.logs).toContainEqual(
      expect.objectContaining({ level: 'debug', obj: expect.objectContaining({ status: 404 }) }),
    );
    const missing = await failure(s.client.getWebhookSubscription(token, first.uri));
    expect(missing.kind).toBe('not_found');
    const left = await s.client.listWebhookSubscriptions(token, {
      organization: user.organizationUri,
      scope: 'user',
      user: user.uri,
    });
    expect(left).toHaveLength(4);
  });

  it('iterates scheduled events and invitees across pages, oldest first', async () => {
    const user = await paidUser(s);
    const token = user.personalAccessToken;
    const starts = [3, 1, 5, 2, 4].map((day) =>
      new Date(Date.parse('2025-06-10T10:00:00Z') + day * 86_400_000).toISOString(),
    );
    const booked = [];
    for (const [i, startTime] of starts.entries()) {
      booked.push(
        await s.sim.control.book(user.uri, { inviteeEmail: `guest${i}@example.com`, startTime }),
      );
    }
    const events = [];
    for await (const event of s.client.listScheduledEvents(token, {
      user: user.uri,
      minStartTime: new Date('2025-06-01T00:00:00Z'),
      maxStartTime: new Date('2025-07-01T00:00:00Z'),
    })) {
      events.push(listedValue(event));
    }
    expect(events).toHaveLength(5);
    const times = events.map((event) => Date.parse(event.start_time ?? ''));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(events.map((event) => event.uri))).toEqual(
      new Set(booked.map((booking) => booking.eventUri)),
    );

    const target = booked[0]!;
    const event = await s.client.getScheduledEvent(token, target.eventUri);
    expect(event.uri).toBe(target.eventUri);
    const invitees = [];
    for await (const invitee of s.client.listEventInvitees(token, target.eventUri)) {
      invitees.push(listedValue(invitee));
    }
    expect(invitees.map((invitee) => invitee.uri)).toEqual([target.inviteeUri]);
    expect(invitees[0]?.email).toBe('guest0@example.com');

    // A group event's invitees span pages too (page size 2 here).
    const group = await s.sim.control.book(user.uri, {
      inviteeEmail: 'g0@example.com',
      inviteeLimit: 5,
      startTime: '2025-06-20T10:00:00Z',
    });
    for (const email of ['g1@example.com', 'g2@example.com']) {
      await s.sim.control.book(user.uri, { inviteeEmail: email, groupEventUri: group.eventUri });
    }
    const groupInvitees = [];
    for await (const invitee of s.client.listEventInvitees(token, group.eventUri)) {
      groupInvitees.push(listedValue(invitee).email);
    }
    expect(groupInvitees).toEqual(['g0@example.com', 'g1@example.com', 'g2@example.com']);

    await s.sim.control.cancel(target.inviteeUri, {});
    const canceled = [];
    for await (const e of s.client.listScheduledEvents(token, {
      user: user.uri,
      status: 'canceled',
    })) {
      canceled.push(listedValue(e).uri);
    }
    expect(canceled).toEqual([target.eventUri]);
  });
});

/** A listed item's value; the simulator's items always parse, so a skipped one fails the test. */
function listedValue<T>(listed: Listed<T>): T {
  if (!listed.ok) throw new Error(`listed item skipped: ${listed.reason}`);
  return listed.value;
}
