// Proves the simulated OAuth server: PKCE codes, refresh rotation, client auth, token rate limit, expiry and revocation.
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../src/index.ts';
import { api, postForm } from './api.ts';

const CLIENT = { id: 'client-a', secret: 'secret-a' };
const REDIRECT = 'http://127.0.0.1:9/callback';

let clock: { ms: number };
let sim: Simulator;

beforeEach(async () => {
  clock = { ms: Date.parse('2025-03-01T10:00:00Z') };
  sim = await startSimulator({
    clientId: CLIENT.id,
    clientSecret: CLIENT.secret,
    accessTokenLifetimeSeconds: 60,
    tokenRequestsPerMinute: 8,
    now: () => clock.ms,
  });
});
afterEach(() => sim.close());

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

async function authorize(userUri: string, challenge?: string): Promise<URL> {
  const url = new URL('/oauth/authorize', sim.url);
  url.search = new URLSearchParams({
    client_id: CLIENT.id,
    response_type: 'code',
    redirect_uri: REDIRECT,
    state: 'xyz',
    ...(challenge ? { code_challenge: challenge, code_challenge_method: 'S256' } : {}),
    sim_user: userUri,
  }).toString();
  const response = await fetch(url, { redirect: 'manual' });
  expect(response.status).toBe(302);
  return new URL(response.headers.get('location') ?? '');
}

function exchange(code: string, verifier?: string) {
  return postForm(
    `${sim.url}/oauth/token`,
    {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      ...(verifier ? { code_verifier: verifier } : {}),
    },
    CLIENT,
  );
}

function refresh(refreshToken: string) {
  return postForm(
    `${sim.url}/oauth/token`,
    { grant_type: 'refresh_token', refresh_token: refreshToken },
    CLIENT,
  );
}

describe('authorization code with PKCE', () => {
  it('redirects with code and state, and exchanges the code once for a token pair', async () => {
    const user = await sim.control.createUser({ name: 'Ada Lovelace' });
    const { verifier, challenge } = pkce();
    const location = await authorize(user.uri, challenge);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect(location.searchParams.get('state')).toBe('xyz');
    const code = location.searchParams.get('code') ?? '';

    const tokens = await exchange(code, verifier);
    expect(tokens.status).toBe(200);
    expect(tokens.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 60,
      created_at: Math.floor(clock.ms / 1000),
      owner: user.uri,
      organization: user.organizationUri,
      scope: expect.stringContaining('webhooks:write'),
    });
    const me = await api(sim.url, String(tokens.body.access_token), '/users/me');
    expect(me.status).toBe(200);
    expect(me.body.resource).toMatchObject({ uri: user.uri, name: 'Ada Lovelace' });

    const reused = await exchange(code, verifier);
    expect(reused).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('rejects a wrong or missing verifier with invalid_grant', async () => {
    const user = await sim.control.createUser();
    const { challenge } = pkce();
    const code = (await authorize(user.uri, challenge)).searchParams.get('code') ?? '';
    expect(await exchange(code, pkce().verifier)).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: expect.any(String) },
    });
    expect(await exchange(code)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('expires codes after ten minutes', async () => {
    const user = await sim.control.createUser();
    const code = (await authorize(user.uri)).searchParams.get('code') ?? '';
    clock.ms += 10 * 60 * 1000;
    expect(await exchange(code)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('answers 401 invalid_client to bad client credentials, in the header or the form', async () => {
    const user = await sim.control.createUser();
    const code = (await authorize(user.uri)).searchParams.get('code') ?? '';
    const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT };
    const badBasic = await postForm(`${sim.url}/oauth/token`, form, { id: CLIENT.id, secret: 'x' });
    expect(badBasic).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const inForm = await postForm(`${sim.url}/oauth/token`, {
      ...form,
      client_id: CLIENT.id,
      client_secret: CLIENT.secret,
    });
    expect(inForm.status).toBe(200);
  });
});

describe('refresh tokens', () => {
  it('rotate on every use and fail with invalid_grant when reused', async () => {
    const user = await sim.control.createUser();
    const first = await sim.control.issueTokens(user.uri);
    const second = await refresh(first.refresh_token);
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    expect(second.body.access_token).not.toBe(first.access_token);

    const reused = await refresh(first.refresh_token);
    expect(reused).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await refresh(String(second.body.refresh_token))).status).toBe(200);

    const log = await sim.control.tokenRequests({ userUri: user.uri });
    expect(log.map((r) => [r.grantType, r.outcome])).toEqual([
      ['refresh_token', 'ok'],
      ['refresh_token', 'invalid_grant'],
      ['refresh_token', 'ok'],
    ]);
  });

  it('allow at most tokenRequestsPerMinute token requests per user per minute', async () => {
    const user = await sim.control.createUser();
    let refreshToken = (await sim.control.issueTokens(user.uri)).refresh_token;
    for (let i = 0; i < 8; i += 1) {
      const answer = await refresh(refreshToken);
      expect(answer.status).toBe(200);
      refreshToken = String(answer.body.refresh_token);
    }
    expect(await refresh(refreshToken)).toMatchObject({ status: 429 });
    clock.ms += 60_000;
    expect((await refresh(refreshToken)).status).toBe(200);
  });
});

describe('access tokens', () => {
  it('expire after their lifetime on the injected clock', async () => {
    const user = await sim.control.createUser();
    const tokens = await sim.control.issueTokens(user.uri);
    expect((await api(sim.url, tokens.access_token, '/users/me')).status).toBe(200);
    clock.ms += 60_000;
    expect(await api(sim.url, tokens.access_token, '/users/me')).toMatchObject({
      status: 401,
      body: { title: 'Unauthenticated', message: 'The access token is expired' },
    });
    expect(await api(sim.url, 'nonsense', '/users/me')).toMatchObject({
      status: 401,
      body: { title: 'Unauthenticated', message: 'The access token is invalid' },
    });
    // Personal access tokens never expire.
    expect((await api(sim.url, user.personalAccessToken, '/users/me')).status).toBe(200);
  });

  it('can be expired, revoked by the app, or revoked with every grant of the user', async () => {
    const user = await sim.control.createUser();
    const a = await sim.control.issueTokens(user.uri);
    const b = await sim.control.issueTokens(user.uri);
    const c = await sim.control.issueTokens(user.uri);

    await sim.control.expireAccessToken(a.access_token);
    expect((await api(sim.url, a.access_token, '/users/me')).status).toBe(401);
    expect((await refresh(a.refresh_token)).status).toBe(200);

    const revoke = await postForm(`${sim.url}/oauth/revoke`, {
      client_id: CLIENT.id,
      client_secret: CLIENT.secret,
      token: b.access_token,
    });
    expect(revoke).toMatchObject({ status: 200, body: {} });
    expect((await api(sim.url, b.access_token, '/users/me')).status).toBe(401);
    expect(await refresh(b.refresh_token)).toMatchObject({ body: { error: 'invalid_grant' } });

    expect(await sim.control.revokeTokens(user.uri)).toEqual({ revoked: 3 });
    expect((await api(sim.url, c.access_token, '/users/me')).status).toBe(401);
    expect(await refresh(c.refresh_token)).toMatchObject({ body: { error: 'invalid_grant' } });
  });

  it('answers 503 while the token endpoint is switched off', async () => {
    const user = await sim.control.createUser();
    const tokens = await sim.control.issueTokens(user.uri);
    await sim.control.faults({ tokenEndpointDown: true });
    expect((await refresh(tokens.refresh_token)).status).toBe(503);
    await sim.control.faults({});
    expect((await refresh(tokens.refresh_token)).status).toBe(200);
  });
});
