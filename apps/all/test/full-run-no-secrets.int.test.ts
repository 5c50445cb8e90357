// Proves no secret reaches the logs over a whole life cycle, with every role logging at trace
// level: connect, a delivery, a forced token refresh, the hosted OAuth flow (with its code), a
// Calendly outage during a reconcile, and a disconnect. Each secret is searched for verbatim
// and in the encodings a log line could carry it in.
import { createSealer } from '@calhook/crypto';
import { connections } from '@calhook/db';
import { createLogger } from '@calhook/observability';
import { captureLogs, eventually, expectNoSecrets, uniqueId } from '@calhook/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

const logs = captureLogs();
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    simulator: { retryBaseMs: 50 },
    logger: createLogger({ level: 'trace', destination: logs.destination }),
  });
});
afterAll(async () => {
  await h?.close();
});

it('never logs a token, code, key or secret', async () => {
  const secrets: Record<string, string> = {
    apiToken: h.env.API_TOKEN!,
    encryptionKey: h.env.ENCRYPTION_KEY!,
    clientSecret: h.env.CALENDLY_CLIENT_SECRET!,
    appSigningKey: h.env.CALENDLY_WEBHOOK_SIGNING_KEY!,
  };
  const sealer = createSealer(h.config.encryptionKeys);
  const user = await h.sim.control.createUser({ email: `${uniqueId('adviser')}@example.com` });
  const userId = uniqueId('u');

  // Connect with tokens.
  const set = await h.sim.control.issueTokens(user.uri);
  secrets.firstAccessToken = set.access_token;
  secrets.firstRefreshToken = set.refresh_token;
  const connected = await h.api('PUT', `/v1/connections/${userId}`, {
    accessToken: set.access_token,
    refreshToken: set.refresh_token,
    expiresAt: new Date(Date.now() + 7_200_000).toISOString(),
  });
  expect(connected.status).toBe(200);
  const subscription = (await h.sim.control.subscriptions()).find(
    (s) => s.uri === connected.body.webhook.subscriptionUri,
  );
  secrets.subscriptionSigningKey = subscription!.signing_key!;

  // A delivery.
  await h.sim.control.book(user.uri, { inviteeEmail: 'client@example.com' });
  await eventually(
    async () => (await h.api('GET', `/v1/users/${userId}/meetings`)).body.meetings.length === 1,
    {
      what: 'the delivery',
    },
  );

  // A refresh, forced by an expired token.
  await h.database
    .sql`update connections set token_expires_at = now() - interval '1 minute' where user_id = ${userId}`;
  expect((await h.api('PUT', `/v1/connections/${userId}`, {})).status).toBe(200);
  const [row] = await h.database.db
    .select()
    .from(connections)
    .where(eq(connections.userId, userId));
  secrets.refreshedAccessToken = sealer.open(row!.accessTokenEnc!, {
    purpose: 'access_token',
    id: row!.id,
  });
  secrets.refreshedRefreshToken = sealer.open(row!.refreshTokenEnc!, {
    purpose: 'refresh_token',
    id: row!.id,
  });
  expect(secrets.refreshedAccessToken).not.toBe(secrets.firstAccessToken);

  // The hosted flow: the code travels in the callback's query string, the completion in the
  // redirect to the app and in the backend's request body.
  const other = await h.sim.control.createUser({ email: `${uniqueId('adviser')}@example.com` });
  const hostedUserId = uniqueId('u');
  const start = await h.api('POST', '/v1/oauth/authorize-url', {
    userId: hostedUserId,
    returnTo: 'https://app.example.com/',
  });
  const authorize = new URL(start.body.url);
  authorize.searchParams.set('sim_user', other.uri);
  const callback = new URL(
    (await fetch(authorize, { redirect: 'manual' })).headers.get('location')!,
  );
  secrets.oauthCode = callback.searchParams.get('code')!;
  secrets.oauthState = callback.searchParams.get('state')!;
  const landed = new URL((await fetch(callback, { redirect: 'manual' })).headers.get('location')!);
  expect(landed.searchParams.get('calendly')).toBe('pending');
  secrets.oauthCompletion = landed.searchParams.get('completion')!;
  const completed = await h.api('POST', '/v1/oauth/complete', {
    userId: hostedUserId,
    completion: secrets.oauthCompletion,
  });
  expect(completed.status).toBe(200);
  const [hosted] = await h.database.db
    .select()
    .from(connections)
    .where(eq(connections.userId, hostedUserId));
  secrets.hostedAccessToken = sealer.open(hosted!.accessTokenEnc!, {
    purpose: 'access_token',
    id: hosted!.id,
  });
  secrets.hostedRefreshToken = sealer.open(hosted!.refreshTokenEnc!, {
    purpose: 'refresh_token',
    id: hosted!.id,
  });
  // Presented again: the refusal is logged without the completion too.
  const again = await h.api('POST', '/v1/oauth/complete', {
    userId: hostedUserId,
    completion: secrets.oauthCompletion,
  });
  expect(again.status).toBe(410);

  // Calendly failing while a reconcile runs: failed calls log Calendly's whole error body.
  await h.sim.control.faults({ apiErrorRate: 1 });
  try {
    expect((await h.api('POST', `/v1/connections/${userId}/reconcile`)).status).toBe(202);
    // Wait for the failure itself: another job finishing meanwhile proves nothing.
    await eventually(
      () => logs.lines().some((line) => String(line.msg).startsWith('Calendly request failed')),
      { what: 'a failed Calendly call to be logged' },
    );
  } finally {
    await h.sim.control.faults({});
  }

  // Disconnect: revokes and deletes at Calendly.
  expect((await h.api('DELETE', `/v1/connections/${userId}`)).status).toBe(204);

  const text = logs.text();
  // The run really logged: requests and jobs are in there (Calendly failures were waited for).
  expect(text).toContain('"msg":"request"');
  expect(text).toContain('"msg":"job done"');
  expectNoSecrets(text, secrets);
});
