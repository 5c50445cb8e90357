// Proves an app backend can run calhook through @calhook/client alone: the hosted OAuth flow
// completed, a user connected with tokens, meetings listed after a booking, the change feed
// paged to the end and resumed from its cursor, reconcile and disconnect, and the documented
// errors (401, 400 naming the field, 404, 410) as typed values. Real roles, Postgres, Redis
// and the Calendly simulator over HTTP. Along the way: the document the running api serves is
// the committed one the client is generated from, every answer matched its documented schema
// (the api logs when one does not), and app webhook endpoints are managed through it: created,
// listed, a booking delivered and logged, the secret rotated, a replay, deleted. The `@ts-expect-error` lines are checked by tsc: a
// wrong body or query does not compile.
import { readFile } from 'node:fs/promises';
import { ANSWER_OFF_SCHEMA } from '@calhook/api-app';
import type { SimUser } from '@calhook/calendly-simulator';
import {
  type CalhookClient,
  CalhookError,
  type Change,
  createCalhookClient,
} from '@calhook/client';
import { createLogger } from '@calhook/observability';
import {
  type AppEndpoint,
  captureLogs,
  eventually,
  type ScratchDatabase,
  scratchDatabase,
  startAppEndpoint,
  uniqueId,
} from '@calhook/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

const APP = 'https://app.example.com';
const logs = captureLogs();
let h: Harness;
let client: CalhookClient;
// Webhook endpoints are deployment-wide: a database of this file's own keeps them to its users.
let scratch: ScratchDatabase;
let sink: AppEndpoint;

beforeAll(async () => {
  scratch = await scratchDatabase();
  sink = await startAppEndpoint();
  h = await startHarness({
    env: {
      DATABASE_URL: scratch.url,
      OAUTH_RETURN_ORIGINS: APP,
      WEBHOOK_ENDPOINTS_ALLOW_PRIVATE: 'true',
    },
    logger: createLogger({ level: 'warn', destination: logs.destination }),
  });
  client = createCalhookClient({ baseUrl: h.apiUrl, apiToken: h.env.API_TOKEN as string });
});
afterAll(async () => {
  await h?.close();
  await sink?.close();
  await scratch?.drop();
});

const newCalendlyUser = (): Promise<SimUser> =>
  h.sim.control.createUser({ email: `${uniqueId('adviser')}@example.com` });

/** The browser's part of the hosted flow: approve at Calendly, land back in the app. */
async function browserApproves(url: string, approver: SimUser): Promise<URL> {
  const authorize = new URL(url);
  authorize.searchParams.set('sim_user', approver.uri);
  const toCallback = await fetch(authorize, { redirect: 'manual' });
  const landing = await fetch(toCallback.headers.get('location')!, { redirect: 'manual' });
  expect(landing.status).toBe(302);
  return new URL(landing.headers.get('location')!);
}

/** Every change of a user from the start of the feed, read with the pager. */
async function readAll(userId: string, after?: string) {
  const changes: Change[] = [];
  let cursor = after;
  for await (const page of client.changePages({ userId, limit: 2, after: cursor })) {
    expect(page.changes.length).toBeLessThanOrEqual(2);
    changes.push(...page.changes);
    cursor = page.nextCursor;
  }
  return { changes, cursor };
}

describe('@calhook/client on a running calhook', () => {
  it('is generated from the document the running api serves', async () => {
    const served = await (await fetch(`${h.apiUrl}/openapi.json`)).json();
    const committed = JSON.parse(
      await readFile(new URL('../../../packages/client/openapi.json', import.meta.url), 'utf8'),
    );
    // A route added or changed since the client was generated: run `pnpm client:generate`.
    expect(served).toEqual(committed);
  });

  it('connects a user through the hosted flow and reads their meetings and changes', async () => {
    const calendlyUser = await newCalendlyUser();
    const userId = uniqueId('u');

    const started = await client.authorizeUrl(userId, `${APP}/settings`);
    expect(started.response.status).toBe(200);
    const landed = await browserApproves(started.data!.url, calendlyUser);
    expect(landed.searchParams.get('calendly')).toBe('pending');
    const completion = landed.searchParams.get('completion')!;

    const done = await client.completeOauth(userId, completion);
    expect(done.error).toBeUndefined();
    expect(done.data).toMatchObject({
      userId,
      status: 'active',
      calendlyUserUri: calendlyUser.uri,
      webhook: { state: 'active' },
    });
    // The first import runs right after the completion and records a check of its own: only
    // the time of the last check and the row's updatedAt may have moved, forward.
    const status = await client.connection(userId);
    const { lastReconciledAt: doneCheck, updatedAt: doneUpdate, ...completed } = done.data!;
    const { lastReconciledAt: readCheck, updatedAt: readUpdate, ...read } = status.data!;
    expect(read).toEqual(completed);
    if (doneCheck)
      expect(Date.parse(readCheck ?? '')).toBeGreaterThanOrEqual(Date.parse(doneCheck));
    expect(Date.parse(readUpdate)).toBeGreaterThanOrEqual(Date.parse(doneUpdate));

    const again = await client.completeOauth(userId, completion);
    expect(again.response.status).toBe(410);
    expect(again.error).toMatchObject({ error: 'completion_expired' });

    const booked = await h.sim.control.book(calendlyUser.uri, { inviteeEmail: 'ana@example.com' });
    const meeting = await eventually(
      async () => {
        const { data } = await client.meetings(userId, { status: 'active', limit: 50 });
        return data?.meetings.find((m) => m.calendlyEventUri === booked.eventUri);
      },
      { what: 'the booking in the meetings list' },
    );
    expect(meeting).toMatchObject({ status: 'active', version: 1 });
    expect(meeting.invitees.map((i) => i.email)).toEqual(['ana@example.com']);

    // Paged two at a time to the end: the connection's changes, then the booking.
    const first = await eventually(
      async () => {
        const read = await readAll(userId);
        const created = read.changes.find(
          (c) => c.type === 'meeting.created' && c.data.calendlyEventUri === booked.eventUri,
        );
        return created && { ...read, created };
      },
      { what: 'the booking in the change feed' },
    );
    expect(first.changes.length).toBeGreaterThan(2);
    expect(new Set(first.changes.map((c) => c.id)).size).toBe(first.changes.length);
    expect(first.changes.every((c) => c.userId === userId)).toBe(true);
    const connected = first.changes.filter((c) => c.type === 'connection.updated');
    expect(connected.at(-1)?.data).toMatchObject({ status: 'active' });
    expect(first.created.data).toEqual(meeting);

    // From the stored cursor, only what happened since: the cancellation.
    await h.sim.control.cancel(booked.inviteeUri, { reason: 'conflict' });
    const next = await eventually(
      async () => {
        const read = await readAll(userId, first.cursor);
        return read.changes.some((c) => c.type === 'meeting.canceled') && read;
      },
      { what: 'the cancellation in the change feed' },
    );
    expect(next.changes.map((c) => c.id)).not.toContain(first.created.id);
    const canceled = next.changes.find((c) => c.type === 'meeting.canceled');
    expect(canceled?.type === 'meeting.canceled' && canceled.data.status).toBe('canceled');
  });

  it('connects with tokens, reconciles and disconnects', async () => {
    const calendlyUser = await newCalendlyUser();
    const userId = uniqueId('u');
    const tokens = await h.sim.control.issueTokens(calendlyUser.uri);

    const connected = await client.connect(userId, {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      expiresAt: new Date(Date.now() + tokens.expires_in * 1000).toISOString(),
    });
    expect(connected.data).toMatchObject({ userId, status: 'active' });

    const reconcile = await client.reconcile(userId);
    expect(reconcile.response.status).toBe(202);
    expect(reconcile.data).toMatchObject({ status: 'queued', jobId: expect.any(String) });

    const disconnected = await client.disconnect(userId);
    expect(disconnected.response.status).toBe(204);
    expect(disconnected.error).toBeUndefined();
    expect((await client.connection(userId)).data?.status).toBe('disconnected');
    expect((await client.disconnect(userId)).response.status).toBe(204);
  });

  it('manages webhook endpoints: create, list, deliveries, rotate, replay, delete', async () => {
    const created = await client.webhookEndpoints.create({
      url: sink.url,
      types: ['meeting.created'],
      description: 'the app',
    });
    expect(created.response.status).toBe(201);
    const endpoint = created.data!;
    expect(endpoint).toMatchObject({ types: ['meeting.created'], status: 'active' });
    expect(endpoint.secret).toMatch(/^whsec_/);
    const { secret: _secret, ...shown } = endpoint;
    expect((await client.webhookEndpoints.list()).data?.endpoints).toContainEqual(shown);
    expect((await client.webhookEndpoints.get(endpoint.id)).data).toEqual(shown);
    expect((await client.webhookEndpoints.secret(endpoint.id)).data).toEqual({
      secret: endpoint.secret,
    });

    const calendlyUser = await newCalendlyUser();
    const userId = uniqueId('u');
    const tokens = await h.sim.control.issueTokens(calendlyUser.uri);
    await client.connect(userId, { accessToken: tokens.access_token });
    const booked = await h.sim.control.book(calendlyUser.uri, { inviteeEmail: 'bo@example.com' });
    const delivered = await eventually(
      () =>
        sink.received.find(
          (r) => r.answered === 200 && r.change?.data?.calendlyEventUri === booked.eventUri,
        ),
      { what: 'the booking delivered to the endpoint', timeoutMs: 15_000 },
    );
    expect(delivered.change).toMatchObject({ type: 'meeting.created', userId });
    const log = await eventually(
      async () => {
        const { data } = await client.webhookEndpoints.deliveries(endpoint.id, { limit: 10 });
        return data?.deliveries.find((d) => d.changeId === delivered.change.id);
      },
      { what: 'the attempt in the delivery log' },
    );
    expect(log).toMatchObject({ attempt: 1, status: 200 });

    const rotated = await client.webhookEndpoints.rotateSecret(endpoint.id);
    expect(rotated.data?.secret).toMatch(/^whsec_/);
    expect(rotated.data?.secret).not.toBe(endpoint.secret);

    const replay = await client.webhookEndpoints.replay(endpoint.id, 'not-a-cursor');
    expect(replay.response.status).toBe(400);
    expect(replay.error).toMatchObject({ field: 'body.after' });

    expect((await client.webhookEndpoints.remove(endpoint.id)).response.status).toBe(204);
    const gone = await client.webhookEndpoints.get(endpoint.id);
    expect(gone.response.status).toBe(404);
    expect(gone.error).toMatchObject({ error: 'not_found' });
  });

  it('returns the documented errors as values', async () => {
    const never = await client.connection(uniqueId('never'));
    expect(never.response.status).toBe(404);
    expect(never.error).toMatchObject({ error: 'not_found' });
    expect((await client.reconcile(uniqueId('never'))).response.status).toBe(404);

    const wrongToken = createCalhookClient({ baseUrl: h.apiUrl, apiToken: 'not-the-token' });
    const refused = await wrongToken.meetings('u1');
    expect(refused.response.status).toBe(401);
    expect(refused.error).toMatchObject({ error: 'unauthorized' });

    const badWindow = await client.meetings('u1', { from: 'yesterday' });
    expect(badWindow.response.status).toBe(400);
    expect(badWindow.error).toMatchObject({ error: 'invalid_request', field: 'querystring.from' });

    const badBody = await client.connect('u1', { code: 'abc', redirectUri: 'not a url' });
    expect(badBody.response.status).toBe(400);
    expect(badBody.error).toMatchObject({ field: 'body.redirectUri' });

    // Refused before the route runs, as the document says for every route with a body.
    const notJson = await fetch(`${h.apiUrl}/v1/oauth/complete`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.env.API_TOKEN}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'userId=u1',
    });
    expect(notJson.status).toBe(415);
    expect(await notJson.json()).toMatchObject({ error: 'bad_request' });

    const pages = client.changePages({ after: 'not-a-cursor' });
    const thrown = await pages.next().catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(CalhookError);
    expect(thrown).toMatchObject({ status: 400, body: { field: 'querystring.after' } });
  });

  it('does not compile a wrong body, query or path', () => {
    // Never called: these lines are here for tsc, which fails if any of them compiles.
    const wrong = () => [
      // @ts-expect-error a code needs its redirectUri
      client.connect('u1', { code: 'abc' }),
      // @ts-expect-error a refresh token comes with its access token
      client.connect('u1', { refreshToken: 'r' }),
      // @ts-expect-error status is active or canceled
      client.meetings('u1', { status: 'cancelled' }),
      // @ts-expect-error limit is a number
      client.changes({ limit: '10' }),
      // @ts-expect-error completing needs the completion
      client.http.POST('/v1/oauth/complete', { body: { userId: 'u1' } }),
      // @ts-expect-error no such route
      client.http.GET('/v1/meetings'),
      // @ts-expect-error an endpoint subscribes to change types only
      client.webhookEndpoints.create({ url: 'https://x', types: ['meeting.booked'] }),
    ];
    expect(typeof wrong).toBe('function');
  });

  it('answered everything as documented', () => {
    const off = logs.lines().filter((line) => line.msg === ANSWER_OFF_SCHEMA);
    expect(off).toEqual([]);
  });
});
