// Proves the first customer's acceptance checklist against the Calendly simulator: connecting
// (code or tokens) and reconnecting any number of times, or twice at once, leaves one
// connection and exactly one calhook subscription, refreshing rather than re-authorising;
// stale, disabled and conflicting subscriptions of ours are replaced, foreign ones untouched;
// disconnect removes only that user's subscription and tokens (also when Calendly is down at
// first); users' meetings never mix; tokens in the database are unreadable without the key.
// (The hosted OAuth flow has its own file: hosted-oauth.int.test.ts.)
import { randomBytes } from 'node:crypto';
import { createPkcePair } from '@calhook/calendly';
import type { SimSubscription, SimUser } from '@calhook/calendly-simulator';
import { createSealer } from '@calhook/crypto';
import { connections, meetings, webhookHooks } from '@calhook/db';
import { eventually, uniqueId } from '@calhook/testing';
import { createHookIds, signatureHeader } from '@calhook/webhooks';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ simulator: { retryBaseMs: 50 } });
});
afterAll(async () => {
  await h?.close();
});

async function newUser(plan: 'paid' | 'free' = 'paid'): Promise<SimUser> {
  return h.sim.control.createUser({ plan, email: `${uniqueId('adviser')}@example.com` });
}

async function tokensFor(user: SimUser) {
  const set = await h.sim.control.issueTokens(user.uri);
  return {
    accessToken: set.access_token,
    refreshToken: set.refresh_token,
    expiresAt: new Date(Date.now() + set.expires_in * 1000).toISOString(),
  };
}

/** Runs the simulator's authorize step as a browser would and returns the code. */
async function authorizeCode(user: SimUser, redirectUri: string, challenge?: string) {
  const url = new URL(`${h.sim.url}/oauth/authorize`);
  url.searchParams.set('client_id', 'sim-client-id');
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('redirect_uri', redirectUri);
  url.searchParams.set('state', 'x');
  url.searchParams.set('sim_user', user.uri);
  if (challenge) {
    url.searchParams.set('code_challenge', challenge);
    url.searchParams.set('code_challenge_method', 'S256');
  }
  const response = await fetch(url, { redirect: 'manual' });
  return new URL(response.headers.get('location')!).searchParams.get('code')!;
}

async function subscriptionsOf(user: SimUser): Promise<SimSubscription[]> {
  return (await h.sim.control.subscriptions()).filter((s) => s.user === user.uri);
}

async function ours(user: SimUser) {
  return (await subscriptionsOf(user)).filter((s) => s.callback_url.startsWith(h.config.publicUrl));
}

describe('connect', () => {
  it('connects with tokens: one active subscription pointing at our receiver', async () => {
    const user = await newUser();
    const userId = uniqueId('u');
    const response = await h.api('PUT', `/v1/connections/${userId}`, await tokensFor(user));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      userId,
      status: 'active',
      calendlyUserUri: user.uri,
      organizationUri: user.organizationUri,
      webhook: { state: 'active' },
    });
    expect(JSON.stringify(response.body)).not.toMatch(/token_|accessToken|refreshToken|signing/i);
    const subs = await ours(user);
    expect(subs).toHaveLength(1);
    expect(subs[0]).toMatchObject({
      state: 'active',
      callback_url: response.body.webhook.callbackUrl,
    });
    expect(subs[0]?.uri).toBe(response.body.webhook.subscriptionUri);

    const status = await h.api('GET', `/v1/connections/${userId}`);
    // The first import runs right after the connect and records a check of its own: only the
    // time of the last check, and with it the row's updatedAt, may have moved, forward.
    const { lastReconciledAt: answeredAt, updatedAt: answeredUpdate, ...answered } = response.body;
    const { lastReconciledAt: readAt, updatedAt: readUpdate, ...read } = status.body;
    expect(read).toEqual(answered);
    expect(Date.parse(readAt)).toBeGreaterThanOrEqual(Date.parse(answeredAt));
    expect(Date.parse(readUpdate)).toBeGreaterThanOrEqual(Date.parse(answeredUpdate));
  });

  it('connects with an authorization code and PKCE', async () => {
    const user = await newUser();
    const redirectUri = `${h.apiUrl}/oauth/calendly/callback`;
    const { verifier, challenge } = createPkcePair();
    const code = await authorizeCode(user, redirectUri, challenge);
    const response = await h.api('PUT', `/v1/connections/${uniqueId('u')}`, {
      code,
      redirectUri,
      codeVerifier: verifier,
    });
    expect(response.status).toBe(200);
    expect(response.body.webhook.state).toBe('active');
    expect(await ours(user)).toHaveLength(1);
  });

  it('reconnects ten times with no new subscription and no token request wasted', async () => {
    const user = await newUser();
    const userId = uniqueId('u');
    const first = await h.api('PUT', `/v1/connections/${userId}`, await tokensFor(user));
    const tokenRequests = (await h.sim.control.tokenRequests({ userUri: user.uri })).length;
    for (let i = 0; i < 10; i++) {
      const again = await h.api('PUT', `/v1/connections/${userId}`, {});
      expect(again.status).toBe(200);
      expect(again.body.webhook.subscriptionUri).toBe(first.body.webhook.subscriptionUri);
    }
    expect(await ours(user)).toHaveLength(1);
    expect((await h.sim.control.tokenRequests({ userUri: user.uri })).length).toBe(tokenRequests);
  });

  it('refreshes an expired token on reconnect instead of asking for a new code', async () => {
    const user = await newUser();
    const userId = uniqueId('u');
    await h.api('PUT', `/v1/connections/${userId}`, await tokensFor(user));
    // Two hours later, as far as calhook can tell: the stored access token has expired.
    await h.database
      .sql`update connections set token_expires_at = now() - interval '1 minute' where user_id = ${userId}`;
    const before = (await h.sim.control.tokenRequests({ userUri: user.uri })).filter(
      (r) => r.grantType === 'refresh_token',
    ).length;
    const again = await h.api('PUT', `/v1/connections/${userId}`, {});
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('active');
    const after = (await h.sim.control.tokenRequests({ userUri: user.uri })).filter(
      (r) => r.grantType === 'refresh_token',
    );
    expect(after.length).toBe(before + 1);
    expect(after.at(-1)?.outcome).toBe('ok');
  });

  it('serialises two concurrent connects: one connection, one subscription', async () => {
    const user = await newUser();
    const userId = uniqueId('u');
    const [a, b] = await Promise.all([
      h.api('PUT', `/v1/connections/${userId}`, await tokensFor(user)),
      h.api('PUT', `/v1/connections/${userId}`, await tokensFor(user)),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(await ours(user)).toHaveLength(1);
    const rows = await h.database.db
      .select()
      .from(connections)
      .where(eq(connections.userId, userId));
    expect(rows).toHaveLength(1);
  });

  it('replaces a stale and a disabled subscription of ours, and leaves a foreign one alone', async () => {
    const user = await newUser();
    const userId = uniqueId('u');
    const first = await h.api('PUT', `/v1/connections/${userId}`, await tokensFor(user));
    await h.sim.control.setSubscriptionState(first.body.webhook.subscriptionUri, 'disabled');
    const stale = await h.sim.control.createForeignSubscription(
      user.uri,
      `${h.config.publicUrl}/webhooks/calendly/${randomBytes(16).toString('base64url')}`,
    );
    const foreign = await h.sim.control.createForeignSubscription(
      user.uri,
      'https://crm.example.com/hooks/calendly',
    );

    const again = await h.api('PUT', `/v1/connections/${userId}`, {});
    expect(again.status).toBe(200);
    const left = await subscriptionsOf(user);
    const uris = left.map((s) => s.uri);
    expect(uris).not.toContain(first.body.webhook.subscriptionUri);
    expect(uris).not.toContain(stale.uri);
    expect(uris).toContain(foreign.uri);
    const mine = await ours(user);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ state: 'active', uri: again.body.webhook.subscriptionUri });
    expect(again.body.webhook.callbackUrl).not.toBe(first.body.webhook.callbackUrl);
  });

  it('keeps the replaced hook accepted for the grace period', async () => {
    const user = await newUser();
    const userId = uniqueId('u');
    const first = await h.api('PUT', `/v1/connections/${userId}`, await tokensFor(user));
    await h.sim.control.deleteSubscription(first.body.webhook.subscriptionUri);
    const again = await h.api('PUT', `/v1/connections/${userId}`, {});
    expect(again.body.webhook.callbackUrl).not.toBe(first.body.webhook.callbackUrl);
    const [old] = await h.database.db
      .select()
      .from(webhookHooks)
      .where(eq(webhookHooks.callbackUrl, first.body.webhook.callbackUrl));
    expect(old?.state).toBe('retired');
    // A late delivery to the old URL, signed with the app key: still accepted during the grace.
    const body = JSON.stringify({
      event: 'invitee.created',
      created_at: new Date().toISOString(),
      created_by: user.uri,
      payload: {},
    });
    const t = Math.floor(Date.now() / 1000);
    const late = await fetch(first.body.webhook.callbackUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'calendly-webhook-signature': signatureHeader('sim-app-signing-key', t, body),
      },
      body,
    });
    expect(late.status).toBe(200);
  });

  it('deletes a conflicting subscription on 409 and creates ours with a key we hold', async () => {
    const user = await newUser();
    const userId = uniqueId('u');
    await h.api('PUT', `/v1/connections/${userId}`, await tokensFor(user));
    const [row] = await h.database.db
      .select()
      .from(connections)
      .where(eq(connections.userId, userId));
    // The connect's own reconcile job would tidy up the clash planted below: let it finish first.
    await eventually(
      async () => {
        const [r] = await h.database.db
          .select()
          .from(connections)
          .where(eq(connections.id, row!.id));
        return r?.lastBackfilledAt !== null;
      },
      { what: 'the connect job' },
    );
    // Minted under the deployment's keys, as the service would: the receiver admits it.
    const nextId = createHookIds(h.config.encryptionKeys).mint();
    const clash = await h.sim.control.createForeignSubscription(
      user.uri,
      `${h.config.publicUrl}/webhooks/calendly/${nextId}`,
      {
        signingKey: 'a-key-calhook-never-saw',
      },
    );
    // Force a new subscription on the URL Calendly already holds.
    const current = (await ours(user)).find((s) => s.uri !== clash.uri)!;
    await h.sim.control.deleteSubscription(current.uri);
    const service = h.connectionService({ newHookId: () => nextId });
    const report = await service.ensureSubscription(row!.id);
    expect(report.deleted.map((d) => d.uri)).toContain(clash.uri);
    const mine = await ours(user);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.callback_url).toBe(`${h.config.publicUrl}/webhooks/calendly/${nextId}`);
    expect(mine[0]?.signing_key).not.toBe('a-key-calhook-never-saw');
    const [hook] = await h.database.db
      .select()
      .from(webhookHooks)
      .where(eq(webhookHooks.id, nextId));
    expect(
      createSealer(h.config.encryptionKeys).open(hook!.signingKeyEnc!, {
        purpose: 'hook_signing_key',
        id: nextId,
      }),
    ).toBe(mine[0]?.signing_key);
  });

  it('saves a free-plan user with the webhook unavailable and Calendly’s message', async () => {
    // Calendly lets every plan subscribe since 2026-11-03; this is the older gate's 403.
    await h.sim.control.plans({ freePlanWebhooks: 'refused' });
    try {
      const user = await newUser('free');
      const userId = uniqueId('u');
      const response = await h.api('PUT', `/v1/connections/${userId}`, await tokensFor(user));
      expect(response.status).toBe(200);
      expect(response.body.status).toBe('active');
      expect(response.body.webhook).toMatchObject({
        state: 'unavailable',
        message: 'Please upgrade to a paid Calendly account.',
        subscriptionUri: null,
      });
      expect(await subscriptionsOf(user)).toHaveLength(0);
    } finally {
      await h.sim.control.plans({ freePlanWebhooks: 'allowed' });
    }
  });

  it('saves a user whose token lacks a webhook scope, naming the scope Calendly asked for', async () => {
    const user = await h.sim.control.createUser({
      email: `${uniqueId('adviser')}@example.com`,
      scopes: ['users:read', 'scheduled_events:read'],
    });
    const userId = uniqueId('u');
    const response = await h.api('PUT', `/v1/connections/${userId}`, await tokensFor(user));
    expect(response.status).toBe(200);
    expect(response.body.webhook.state).toBe('unavailable');
    // Listing subscriptions is refused first; Calendly names the scope it wants.
    expect(response.body.webhook.message).toMatch(/the token lacks: webhooks:(read|write)/);
    expect(await subscriptionsOf(user)).toHaveLength(0);
  });

  it('answers 422 with Calendly’s error for a bad code, and saves nothing', async () => {
    const userId = uniqueId('u');
    const response = await h.api('PUT', `/v1/connections/${userId}`, {
      code: 'not-a-real-code',
      redirectUri: `${h.apiUrl}/oauth/calendly/callback`,
    });
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({
      error: 'calendly_rejected',
      detail: { error: 'invalid_grant' },
    });
    expect((await h.api('GET', `/v1/connections/${userId}`)).status).toBe(404);
  });

  it('names the invalid field on 400', async () => {
    const bad = await h.api('PUT', `/v1/connections/${uniqueId('u')}`, {
      code: 'x',
      redirectUri: 'not a url',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toMatch(/^body/);
    const reconnectNever = await h.api('PUT', `/v1/connections/${uniqueId('u')}`, {});
    expect(reconnectNever.status).toBe(400);
  });

  it('stores tokens that cannot be read without the key', async () => {
    const user = await newUser();
    const userId = uniqueId('u');
    const tokens = await tokensFor(user);
    await h.api('PUT', `/v1/connections/${userId}`, tokens);
    const [row] = await h.database.sql`select * from connections where user_id = ${userId}`;
    const dump = JSON.stringify(row);
    expect(dump).not.toContain(tokens.accessToken);
    expect(dump).not.toContain(tokens.refreshToken);
    expect(() =>
      createSealer([randomBytes(32)]).open(String(row?.access_token_enc), {
        purpose: 'access_token',
        id: String(row?.id),
      }),
    ).toThrow();
    const hooks = await h.database
      .sql`select signing_key_enc from webhook_hooks where connection_id = ${row?.id}`;
    const sub = (await ours(user))[0]!;
    expect(JSON.stringify(hooks)).not.toContain(sub.signing_key!);
  });
});

describe('disconnect', () => {
  it('deletes only this user’s subscription, revokes and clears tokens, keeps meetings; repeatable', async () => {
    const user = await newUser();
    const userId = uniqueId('u');
    const other = uniqueId('u');
    const held = await tokensFor(user);
    const first = await h.api('PUT', `/v1/connections/${userId}`, held);
    // Another app user connected to the same Calendly user keeps their subscription.
    const second = await h.api('PUT', `/v1/connections/${other}`, await tokensFor(user));
    const foreign = await h.sim.control.createForeignSubscription(
      user.uri,
      'https://crm.example.com/hooks/x',
    );
    await h.sim.control.book(user.uri, { inviteeEmail: 'client@example.com' });
    await eventually(
      async () => (await h.api('GET', `/v1/users/${userId}/meetings`)).body.meetings.length === 1,
      {
        what: 'the booking to arrive',
      },
    );

    expect((await h.api('DELETE', `/v1/connections/${userId}`)).status).toBe(204);
    const uris = (await subscriptionsOf(user)).map((s) => s.uri);
    expect(uris).not.toContain(first.body.webhook.subscriptionUri);
    expect(uris).toContain(second.body.webhook.subscriptionUri);
    expect(uris).toContain(foreign.uri);

    const status = await h.api('GET', `/v1/connections/${userId}`);
    expect(status.body).toMatchObject({
      status: 'disconnected',
      tokenExpiresAt: null,
      webhook: { subscriptionUri: null },
    });
    const [row] = await h.database.db
      .select()
      .from(connections)
      .where(eq(connections.userId, userId));
    expect(row).toMatchObject({ accessTokenEnc: null, refreshTokenEnc: null });
    const revoked = await fetch(`${h.sim.url}/users/me`, {
      headers: { authorization: `Bearer ${held.accessToken}` },
    });
    expect(revoked.status).toBe(401);
    const hooks = await h.database.db
      .select()
      .from(webhookHooks)
      .where(eq(webhookHooks.connectionId, row!.id));
    expect(hooks.every((hook) => hook.signingKeyEnc === null)).toBe(true);

    // The receiver caches hook lookups for a few seconds; within that the hook turns 410.
    await eventually(
      async () => {
        const gone = await fetch(first.body.webhook.callbackUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        });
        return gone.status === 410;
      },
      { timeoutMs: 8_000, intervalMs: 250, what: 'the hook to answer 410' },
    );
    expect((await h.api('GET', `/v1/users/${userId}/meetings`)).body.meetings).toHaveLength(1);
    expect((await h.api('DELETE', `/v1/connections/${userId}`)).status).toBe(204);
    expect((await h.api('DELETE', `/v1/connections/${uniqueId('never')}`)).status).toBe(204);
  });

  it('disconnects locally while Calendly is down, and a job finishes the clean-up when it is back', async () => {
    const user = await newUser();
    const userId = uniqueId('u');
    const first = await h.api('PUT', `/v1/connections/${userId}`, await tokensFor(user));
    await h.sim.control.faults({ apiErrorRate: 1 });
    try {
      expect((await h.api('DELETE', `/v1/connections/${userId}`)).status).toBe(204);
      expect((await h.api('GET', `/v1/connections/${userId}`)).body.status).toBe('disconnected');
      expect((await ours(user)).map((s) => s.uri)).toContain(first.body.webhook.subscriptionUri);
    } finally {
      await h.sim.control.faults({});
    }
    // The clean-up job backs off; run its next attempt now rather than waiting for it.
    await eventually(
      async () => {
        const delayed = await h.queues.get('connections').getJobs(['delayed', 'waiting']);
        const job = delayed.find((j) => j.name === 'disconnect-cleanup');
        if (job && (await job.isDelayed())) await job.promote();
        return (await ours(user)).length === 0;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'the clean-up job to delete the subscription' },
    );
  });
});

describe('multi-user isolation', () => {
  it('lands each user’s bookings only in their own meetings', async () => {
    const alice = await newUser();
    const bob = await newUser();
    const aliceId = uniqueId('alice');
    const bobId = uniqueId('bob');
    await h.api('PUT', `/v1/connections/${aliceId}`, await tokensFor(alice));
    await h.api('PUT', `/v1/connections/${bobId}`, await tokensFor(bob));
    const a = await h.sim.control.book(alice.uri, {
      inviteeEmail: 'a@example.com',
      eventName: 'Alice review',
    });
    const b1 = await h.sim.control.book(bob.uri, {
      inviteeEmail: 'b1@example.com',
      eventName: 'Bob review',
    });
    const b2 = await h.sim.control.book(bob.uri, {
      inviteeEmail: 'b2@example.com',
      eventName: 'Bob intro',
    });
    const list = async (id: string) =>
      (await h.api('GET', `/v1/users/${id}/meetings`)).body.meetings as {
        calendlyEventUri: string;
      }[];
    await eventually(
      async () => (await list(aliceId)).length === 1 && (await list(bobId)).length === 2,
      {
        what: 'both users’ bookings',
      },
    );
    expect((await list(aliceId)).map((m) => m.calendlyEventUri)).toEqual([a.eventUri]);
    expect((await list(bobId)).map((m) => m.calendlyEventUri).sort()).toEqual(
      [b1.eventUri, b2.eventUri].sort(),
    );
    const rows = await h.database.db
      .select()
      .from(meetings)
      .where(eq(meetings.calendlyEventUri, a.eventUri));
    expect(rows).toHaveLength(1);
  });
});
