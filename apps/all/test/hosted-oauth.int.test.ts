// Proves the hosted OAuth flow connects only the app user it was started for, and only when
// that user's backend completes it: a link opened and approved by someone else ties nobody's
// Calendly to anyone (403, completion void, code never exchanged); completions are single use
// (also when presented twice at once) and expire after 10 minutes; returnTo must be an allowed
// origin; states stay signed, single use and expiring. Real roles, Postgres, Redis and the
// Calendly simulator over HTTP.
import { randomBytes } from 'node:crypto';
import { buildApiApp } from '@calhook/api-app';
import { createCalendlyClient } from '@calhook/calendly';
import type { SimUser } from '@calhook/calendly-simulator';
import { createOauthFlow } from '@calhook/connections';
import { createSealer } from '@calhook/crypto';
import { createLogger } from '@calhook/observability';
import { uniqueId } from '@calhook/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

const APP = 'https://app.example.com';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ env: { OAUTH_RETURN_ORIGINS: APP } });
});
afterAll(async () => {
  await h?.close();
});

async function newCalendlyUser(): Promise<SimUser> {
  return h.sim.control.createUser({ email: `${uniqueId('adviser')}@example.com` });
}

/** The app backend starts a flow for its logged-in user. */
async function start(userId: string, returnTo = `${APP}/settings`) {
  const response = await h.api('POST', '/v1/oauth/authorize-url', { userId, returnTo });
  expect(response.status).toBe(200);
  return new URL(response.body.url);
}

/** Whoever opens the link approves at Calendly as `approver`; returns calhook's callback URL. */
async function approve(authorize: URL, approver: SimUser) {
  authorize.searchParams.set('sim_user', approver.uri);
  const toCallback = await fetch(authorize, { redirect: 'manual' });
  return new URL(toCallback.headers.get('location')!);
}

/** The browser follows the callback; returns where calhook sent it. */
async function land(callback: URL) {
  const response = await fetch(callback, { redirect: 'manual' });
  expect(response.status).toBe(302);
  return new URL(response.headers.get('location')!);
}

/** A flow for `userId` approved by `approver`, up to the page the browser lands on. */
async function pendingFlow(userId: string, approver: SimUser) {
  const landed = await land(await approve(await start(userId), approver));
  expect(landed.searchParams.get('calendly')).toBe('pending');
  return landed.searchParams.get('completion')!;
}

const complete = (userId: string, completion: string) =>
  h.api('POST', '/v1/oauth/complete', { userId, completion });
const connection = (userId: string) => h.api('GET', `/v1/connections/${userId}`);
const tokenRequestsOf = async (user: SimUser) =>
  (await h.sim.control.tokenRequests({ userUri: user.uri })).length;
const subscriptionsOf = async (user: SimUser) =>
  (await h.sim.control.subscriptions()).filter((s) => s.user === user.uri);

describe('hosted OAuth flow', () => {
  it('parks the code at the callback and connects the user when their backend completes', async () => {
    const calendlyUser = await newCalendlyUser();
    const userId = uniqueId('u');
    const authorize = await start(userId);
    expect(authorize.origin).toBe(new URL(h.sim.url).origin);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    const callback = await approve(authorize, calendlyUser);
    expect(callback.pathname).toBe('/oauth/calendly/callback');

    const landed = await land(callback);
    expect(`${landed.origin}${landed.pathname}`).toBe(`${APP}/settings`);
    expect([...landed.searchParams.keys()].sort()).toEqual(['calendly', 'completion']);
    expect(landed.searchParams.get('calendly')).toBe('pending');
    const completion = landed.searchParams.get('completion')!;
    expect(completion).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The callback connected nobody and did not even exchange the code.
    expect((await connection(userId)).status).toBe(404);
    expect(await tokenRequestsOf(calendlyUser)).toBe(0);

    const done = await complete(userId, completion);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({
      userId,
      status: 'active',
      calendlyUserUri: calendlyUser.uri,
      webhook: { state: 'active' },
    });
    // The first import runs right after the completion and records a check of its own: only
    // the time of the last check and the row's updatedAt may have moved, forward.
    const { lastReconciledAt: doneCheck, updatedAt: doneUpdate, ...completed } = done.body;
    const {
      lastReconciledAt: readCheck,
      updatedAt: readUpdate,
      ...read
    } = (await connection(userId)).body;
    expect(read).toEqual(completed);
    if (doneCheck) expect(Date.parse(readCheck)).toBeGreaterThanOrEqual(Date.parse(doneCheck));
    expect(Date.parse(readUpdate)).toBeGreaterThanOrEqual(Date.parse(doneUpdate));

    // Used twice: 410, and nothing changes.
    const again = await complete(userId, completion);
    expect(again.status).toBe(410);
    expect(again.body.error).toBe('completion_expired');
    expect(await subscriptionsOf(calendlyUser)).toHaveLength(1);

    // The same callback again: the state is spent, and no second completion is issued.
    const replay = await land(callback);
    expect(replay.toString()).toBe(`${APP}/settings?calendly=error&reason=state_used`);
  });

  it('never connects the Calendly of someone who opened another user’s link', async () => {
    // App user M starts a flow and sends the link to V, who is logged in to the app as appV.
    const victim = await newCalendlyUser();
    const mallory = uniqueId('m');
    const appV = uniqueId('v');

    // V's browser lands in the app with the completion; V's backend presents it for V: 403.
    const completion = await pendingFlow(mallory, victim);
    const forVictim = await complete(appV, completion);
    expect(forVictim.status).toBe(403);
    expect(forVictim.body).toEqual({ error: 'user_mismatch', message: expect.any(String) });
    expect(JSON.stringify(forVictim.body)).not.toContain(mallory);
    // The completion is void: even the user the flow was for cannot use it now.
    const retry = await complete(mallory, completion);
    expect(retry.status).toBe(410);
    expect(retry.body.error).toBe('completion_expired');

    // Presented for any other user than M, another flow's completion is refused the same way.
    const second = await pendingFlow(mallory, victim);
    expect((await complete(uniqueId('anyone'), second)).status).toBe(403);
    expect((await complete(mallory, second)).status).toBe(410);

    // Nobody was connected and V's code was never exchanged: calhook never held V's tokens.
    expect((await connection(mallory)).status).toBe(404);
    expect((await connection(appV)).status).toBe(404);
    expect(await tokenRequestsOf(victim)).toBe(0);
    expect(await subscriptionsOf(victim)).toHaveLength(0);
  });

  it('connects the flow’s user to whoever approved, when that user’s backend completes it', async () => {
    // The consented case: the person who approved hands the landing page to the flow's user.
    const approver = await newCalendlyUser();
    const userId = uniqueId('u');
    const completion = await pendingFlow(userId, approver);
    const done = await complete(userId, completion);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ userId, calendlyUserUri: approver.uri, status: 'active' });
  });

  it('completes once when the same completion is presented twice at the same time', async () => {
    const calendlyUser = await newCalendlyUser();
    const userId = uniqueId('u');
    const completion = await pendingFlow(userId, calendlyUser);
    const answers = await Promise.all([complete(userId, completion), complete(userId, completion)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 410]);
    expect(await tokenRequestsOf(calendlyUser)).toBe(1);
    expect(await subscriptionsOf(calendlyUser)).toHaveLength(1);
  });

  it('answers 422 when Calendly refuses the code at completion', async () => {
    const calendlyUser = await newCalendlyUser();
    const userId = uniqueId('u');
    const callback = await approve(await start(userId), calendlyUser);
    callback.searchParams.set('code', 'a-code-calendly-never-issued');
    const landed = await land(callback);
    const refused = await complete(userId, landed.searchParams.get('completion')!);
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({
      error: 'calendly_rejected',
      detail: { error: 'invalid_grant' },
    });
    expect((await connection(userId)).status).toBe(404);
  });

  it('answers 410 for an unknown completion and 400 for a malformed request', async () => {
    const unknown = await complete('u1', randomBytes(32).toString('base64url'));
    expect(unknown.status).toBe(410);
    expect(unknown.body.error).toBe('completion_expired');
    const missing = await h.api('POST', '/v1/oauth/complete', { userId: 'u1' });
    expect(missing.status).toBe(400);
    expect(missing.body.field).toBe('body.completion');
    const noBearer = await fetch(`${h.apiUrl}/v1/oauth/complete`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'u1', completion: 'x' }),
    });
    expect(noBearer.status).toBe(401);
  });

  it('expires a completion 10 minutes after the callback', async () => {
    // The flow on an injected clock, served by an api app of its own over the same database
    // and simulator.
    const logger = createLogger({ level: 'silent' });
    let clock = Date.now();
    const calendly = createCalendlyClient({
      apiUrl: h.config.calendly.apiUrl,
      authUrl: h.config.calendly.authUrl,
      clientId: h.config.calendly.clientId,
      clientSecret: h.config.calendly.clientSecret,
    });
    const oauth = createOauthFlow({
      db: h.database.db,
      sealer: createSealer(h.config.encryptionKeys),
      calendly,
      connections: h.connectionService({}),
      redirectUri: `${h.apiUrl}/oauth/calendly/callback`,
      stateKey: randomBytes(32),
      returnOrigins: h.config.oauthReturnOrigins,
      logger,
      now: () => new Date(clock),
    });
    const apiToken = randomBytes(18).toString('base64url');
    const app = buildApiApp({
      logger,
      db: h.database.db,
      apiToken,
      checkReady: async () => {},
      oauth,
    });
    try {
      const call = async (method: 'GET' | 'POST', url: string, payload?: object) => {
        const response = await app.inject({
          method,
          url,
          headers: { authorization: `Bearer ${apiToken}` },
          ...(payload ? { payload } : {}),
        });
        return response;
      };
      const pendingAt = async (userId: string) => {
        const started = await call('POST', '/v1/oauth/authorize-url', {
          userId,
          returnTo: `${APP}/x`,
        });
        const callback = await approve(new URL(started.json().url), await newCalendlyUser());
        const landed = await call('GET', `${callback.pathname}${callback.search}`);
        expect(landed.statusCode).toBe(302);
        return new URL(landed.headers.location as string).searchParams.get('completion')!;
      };

      const stale = uniqueId('u');
      const staleCompletion = await pendingAt(stale);
      const fresh = uniqueId('u');
      const freshCompletion = await pendingAt(fresh);
      clock += 10 * 60_000 - 1_000;
      expect(
        (await call('POST', '/v1/oauth/complete', { userId: fresh, completion: freshCompletion }))
          .statusCode,
      ).toBe(200);
      clock += 1_001;
      const expired = await call('POST', '/v1/oauth/complete', {
        userId: stale,
        completion: staleCompletion,
      });
      expect(expired.statusCode).toBe(410);
      expect(expired.json().error).toBe('completion_expired');
      expect((await connection(stale)).status).toBe(404);
    } finally {
      await app.close();
      await calendly.close();
    }
  });

  it('refuses a returnTo outside OAUTH_RETURN_ORIGINS, so the callback is no open redirect', async () => {
    for (const returnTo of [
      'https://evil.example/settings',
      'https://app.example.com.evil.example/',
      'http://app.example.com/settings',
      'javascript:alert(1)',
      'https://user:pw@app.example.com/',
    ]) {
      const bad = await h.api('POST', '/v1/oauth/authorize-url', { userId: 'u1', returnTo });
      expect(bad.status, returnTo).toBe(400);
      expect(bad.body).toMatchObject({ error: 'invalid_request', field: 'body.returnTo' });
    }
    const good = await h.api('POST', '/v1/oauth/authorize-url', {
      userId: 'u1',
      returnTo: `${APP}/deep/path?tab=calendar`,
    });
    expect(good.status).toBe(200);
  });

  it('refuses a tampered state and connects nothing', async () => {
    const user = await newCalendlyUser();
    const userId = uniqueId('u');
    const callback = await approve(await start(userId), user);
    const state = callback.searchParams.get('state')!;
    callback.searchParams.set('state', `${state.split('.')[0]}.${'A'.repeat(43)}`);
    expect((await land(callback)).toString()).toBe(
      `${APP}/settings?calendly=error&reason=invalid_state`,
    );
    const unknown = new URL(callback);
    unknown.searchParams.set('state', 'nothing.ours');
    const response = await fetch(unknown, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect((await connection(userId)).status).toBe(404);
  });

  it('refuses an expired state', async () => {
    const user = await newCalendlyUser();
    const userId = uniqueId('u');
    const callback = await approve(await start(userId), user);
    const id = callback.searchParams.get('state')!.split('.')[0]!;
    await h.database
      .sql`update oauth_states set expires_at = now() - interval '1 second' where id = ${id}`;
    expect((await land(callback)).toString()).toBe(
      `${APP}/settings?calendly=error&reason=state_expired`,
    );
    expect((await connection(userId)).status).toBe(404);
  });

  it('sends a denial back to returnTo and spends the state', async () => {
    const user = await newCalendlyUser();
    const authorize = await start(uniqueId('u'));
    authorize.searchParams.set('sim_deny', '1');
    const callback = await approve(authorize, user);
    expect((await land(callback)).toString()).toBe(
      `${APP}/settings?calendly=error&reason=access_denied`,
    );
  });
});
