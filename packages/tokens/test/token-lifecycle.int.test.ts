// Proves the token lifecycle against the simulator: revocation, outages, 401s, lost answers, scheduling and personal access tokens.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCalendlyClient } from '@calhook/calendly';
import { createLogger } from '@calhook/observability';
import { afterEach, describe, expect, it } from 'vitest';
import { refreshTokenProcessor } from '../../../apps/worker/src/processors/refresh-token.ts';
import { createTokenService, ReauthRequiredError, TokenRefreshError } from '../src/index.ts';
import {
  connectionState,
  type FixtureOptions,
  refreshRequests,
  type TokenFixture,
  tokenFixture,
} from './token-fixture.ts';

let fixture: TokenFixture | undefined;
const cleanups: (() => Promise<void>)[] = [];

async function setup(options: FixtureOptions = {}): Promise<TokenFixture> {
  fixture = await tokenFixture(options);
  return fixture;
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await fixture?.close();
  fixture = undefined;
});

async function pendingJobs(f: TokenFixture) {
  const queue = f.queues.get('connections');
  return [...(await queue.getDelayed()), ...(await queue.getWaiting())];
}

describe('invalid_grant', () => {
  it('marks a connection whose refresh token was revoked reauth_required and stops asking Calendly', async () => {
    const f = await setup();
    const { connectionId, user } = await f.connect({ lifetimeSeconds: 7200 });
    await f.tokens.scheduleRefresh(connectionId);
    expect(await pendingJobs(f)).toHaveLength(1);
    await f.sim.control.revokeTokens(user.uri);

    const error = await f.tokens.refresh(connectionId, 'keep_alive').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReauthRequiredError);
    expect((error as ReauthRequiredError).reason).toBe('invalid_grant');

    const row = await connectionState(f, connectionId);
    expect(row.status).toBe('reauth_required');
    expect(row.lastError).toContain('invalid_grant');
    expect(row.lastErrorAt).not.toBeNull();
    expect(await pendingJobs(f)).toHaveLength(0);
    expect(f.outcomes).toEqual(['invalid_grant']);

    for (let i = 0; i < 3; i++) {
      await expect(f.tokens.getAccessToken(connectionId)).rejects.toMatchObject({
        name: 'ReauthRequiredError',
        reason: 'reauth_required',
      });
    }
    const processor = refreshTokenProcessor({ tokens: f.tokens });
    const outcome = await processor({ connectionId }, {} as never);
    expect(outcome).toEqual({ status: 'reauth_required', reason: 'reauth_required' });
    expect(await refreshRequests(f.sim, user.uri)).toHaveLength(1);
  });
});

describe('token endpoint down', () => {
  it('fails transiently while Calendly is down, keeps the connection active, then recovers', async () => {
    const f = await setup();
    const { connectionId, user, accessToken } = await f.connect({
      lifetimeSeconds: 7200,
      expired: true,
    });
    await f.sim.control.faults({ tokenEndpointDown: true });

    for (const failures of [1, 2]) {
      const error = await f.tokens.refresh(connectionId, 'scheduled').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TokenRefreshError);
      expect((error as TokenRefreshError).kind).toBe('server');
      const row = await connectionState(f, connectionId);
      expect(row.status).toBe('active');
      expect(row.refreshFailures).toBe(failures);
      expect(row.lastError).toContain('server 503');
    }
    // Callers back off after failures instead of spending token requests.
    await expect(f.tokens.getAccessToken(connectionId)).rejects.toBeInstanceOf(TokenRefreshError);
    expect(f.outcomes).toEqual(['transient', 'transient']);

    await f.sim.control.faults({});
    const result = await f.tokens.refresh(connectionId, 'scheduled');
    expect(result.status).toBe('refreshed');
    const row = await connectionState(f, connectionId);
    expect(row).toMatchObject({ status: 'active', refreshFailures: 0, lastError: null });
    const fresh = await f.tokens.getAccessToken(connectionId);
    expect(fresh).not.toBe(accessToken);
    await expect(f.calendly.getCurrentUser(fresh)).resolves.toMatchObject({ uri: user.uri });
    expect((await refreshRequests(f.sim, user.uri)).map((r) => r.outcome)).toEqual(['ok']);
  });
});

describe('401 on a call', () => {
  it('refreshes once and retries the call when Calendly rejects an unexpired token', async () => {
    const f = await setup();
    const { connectionId, user, accessToken } = await f.connect({ lifetimeSeconds: 7200 });
    await f.sim.control.expireAccessToken(accessToken);
    const used: string[] = [];
    const me = await f.tokens.withAccessToken(connectionId, (token) => {
      used.push(token);
      return f.calendly.getCurrentUser(token);
    });
    expect(me.uri).toBe(user.uri);
    expect(used).toHaveLength(2);
    expect(used[0]).toBe(accessToken);
    expect(used[1]).not.toBe(accessToken);
    expect(await refreshRequests(f.sim, user.uri)).toHaveLength(1);
    expect((await connectionState(f, connectionId)).status).toBe('active');
  });

  it('does not refresh again for a 401 on a token that was already rotated', async () => {
    const f = await setup();
    const { connectionId, user, accessToken } = await f.connect({ lifetimeSeconds: 7200 });
    await f.sim.control.expireAccessToken(accessToken);
    // Twenty callers all hit the 401 with the same token: one refresh serves them all.
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        f.tokens.withAccessToken(connectionId, (token) => f.calendly.getCurrentUser(token)),
      ),
    );
    expect(results.every((me) => me.uri === user.uri)).toBe(true);
    expect(await refreshRequests(f.sim, user.uri)).toHaveLength(1);
  });
});

/**
 * Stands in for Calendly's OAuth host: forwards everything to the simulator, except that the
 * first `lose` /oauth/token requests get no answer, either never reaching the simulator (`swallow`)
 * or reaching it with its answer thrown away (`drop-answer`).
 */
async function lossyTokenProxy(target: string, mode: 'swallow' | 'drop-answer', lose = 1) {
  let tokenRequests = 0;
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const forward = () =>
      fetch(new URL(req.url ?? '/', target), {
        method: req.method ?? 'GET',
        headers: Object.fromEntries(
          ['content-type', 'authorization', 'accept']
            .filter((name) => typeof req.headers[name] === 'string')
            .map((name) => [name, req.headers[name] as string]),
        ),
        body: req.method === 'GET' ? undefined : body,
      });
    if (req.url?.startsWith('/oauth/token') && ++tokenRequests <= lose) {
      if (mode === 'drop-answer') await (await forward()).text();
      return; // never answer
    }
    const answer = await forward();
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? '' });
    res.end(await answer.text());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tokenRequests: () => tokenRequests,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('refresh whose answer was lost', () => {
  async function setupBehindProxy(mode: 'swallow' | 'drop-answer', lose = 1) {
    // The proxy needs the simulator's URL, the client needs the proxy's: build the fixture
    // first, then point a second client through the proxy.
    const base = await setup();
    const proxy = await lossyTokenProxy(base.sim.url, mode, lose);
    cleanups.push(proxy.close);
    const calendly = createCalendlyClient({
      apiUrl: base.sim.url,
      authUrl: proxy.url,
      clientId: 'sim-client-id',
      clientSecret: 'sim-client-secret',
      headersTimeoutMs: 300,
    });
    cleanups.push(() => calendly.close());
    const outcomes: string[] = [];
    const tokens = createTokenService({
      db: base.handle.db,
      sealer: base.sealer,
      calendly,
      queues: base.queues,
      refreshBeforeExpiryMs: 10 * 60_000,
      logger: createLogger({ level: 'silent' }),
      onRefresh: (outcome) => outcomes.push(outcome),
    });
    const connection = await base.connect({ lifetimeSeconds: 7200, expired: true });
    return { base, proxy, tokens, outcomes, ...connection };
  }

  it('retries once with the same refresh token and succeeds when Calendly never got the first request', async () => {
    const { base, proxy, tokens, outcomes, connectionId, user, accessToken } =
      await setupBehindProxy('swallow');
    const token = await tokens.getAccessToken(connectionId);
    expect(token).not.toBe(accessToken);
    await expect(base.calendly.getCurrentUser(token)).resolves.toMatchObject({ uri: user.uri });
    expect(outcomes).toEqual(['unknown', 'success']);
    expect(proxy.tokenRequests()).toBe(2);
    expect((await refreshRequests(base.sim, user.uri)).map((r) => r.outcome)).toEqual(['ok']);
    const row = await connectionState(base, connectionId);
    expect(row).toMatchObject({
      status: 'active',
      refreshOutcomeUnknownAt: null,
      refreshFailures: 0,
      lastError: null,
    });
  });

  it('stays active and keeps the mark when the deliberate retry gets no answer either; a later attempt settles it', async () => {
    const { base, proxy, tokens, outcomes, connectionId, user } = await setupBehindProxy(
      'swallow',
      2,
    );
    const error = await tokens.getAccessToken(connectionId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenRefreshError);
    expect((error as TokenRefreshError).kind).toBe('outcome_unknown');
    expect(outcomes).toEqual(['unknown', 'unknown']);
    expect(proxy.tokenRequests()).toBe(2);
    const marked = await connectionState(base, connectionId);
    expect(marked.status).toBe('active');
    expect(marked.refreshOutcomeUnknownAt).not.toBeNull();
    expect(marked.refreshFailures).toBe(1);

    // The job's next attempt (its own back-off, not the callers' cool-down) gets an answer.
    await expect(tokens.refresh(connectionId, 'scheduled')).resolves.toMatchObject({
      status: 'refreshed',
    });
    expect(proxy.tokenRequests()).toBe(3);
    expect((await refreshRequests(base.sim, user.uri)).map((r) => r.outcome)).toEqual(['ok']);
    expect(await connectionState(base, connectionId)).toMatchObject({
      status: 'active',
      refreshOutcomeUnknownAt: null,
      refreshFailures: 0,
    });
  });

  it('marks the connection reauth_required when Calendly had spent the refresh token, and stops there', async () => {
    const { base, proxy, tokens, outcomes, connectionId, user } =
      await setupBehindProxy('drop-answer');
    const error = await tokens.getAccessToken(connectionId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReauthRequiredError);
    expect((error as ReauthRequiredError).reason).toBe('refresh_outcome_lost');
    expect(outcomes).toEqual(['unknown', 'invalid_grant']);
    expect((await refreshRequests(base.sim, user.uri)).map((r) => r.outcome)).toEqual([
      'ok',
      'invalid_grant',
    ]);
    const row = await connectionState(base, connectionId);
    expect(row.status).toBe('reauth_required');
    expect(row.refreshOutcomeUnknownAt).not.toBeNull();
    expect(row.lastError).toContain('refresh outcome lost');

    await expect(tokens.getAccessToken(connectionId)).rejects.toBeInstanceOf(ReauthRequiredError);
    await expect(tokens.refresh(connectionId, 'scheduled')).rejects.toBeInstanceOf(
      ReauthRequiredError,
    );
    expect(proxy.tokenRequests()).toBe(2);
    expect(await refreshRequests(base.sim, user.uri)).toHaveLength(2);
  });
});

describe('scheduling', () => {
  it('keeps one pending refresh job per connection, at the planned delay', async () => {
    const clock = new Date('2030-01-01T00:00:00Z');
    let nextRandom = 0.5;
    const f = await setup({ service: { now: () => clock, random: () => nextRandom } });
    const { connectionId } = await f.connect({ lifetimeSeconds: 7200 });
    // Token written by the fixture expires ~2 h after real now; re-store it on the fixed clock.
    await f.tokens.storeTokens(f.handle.db, connectionId, {
      accessToken: 'a',
      refreshToken: 'r',
      expiresAt: new Date(clock.getTime() + 7_200_000),
    });

    await f.tokens.scheduleRefresh(connectionId);
    nextRandom = 0;
    await f.tokens.scheduleRefresh(connectionId);

    const jobs = await pendingJobs(f);
    expect(jobs).toHaveLength(1);
    // 2 h life - 10 min lead - no jitter (random 0) on the second, replacing call.
    expect(jobs[0]?.delay).toBe(7_200_000 - 600_000);
    expect(jobs[0]?.data).toEqual({ connectionId });

    await f.tokens.cancelRefresh(connectionId);
    expect(await pendingJobs(f)).toHaveLength(0);
  });

  it('plans the keep-alive refresh when the refresh token would otherwise sit unused too long', async () => {
    const clock = new Date('2030-01-01T00:00:00Z');
    const f = await setup({
      service: { now: () => clock, random: () => 0, keepAliveAfterMs: 3_600_000 },
    });
    const { connectionId } = await f.connect({ lifetimeSeconds: 7200 });
    await f.tokens.storeTokens(f.handle.db, connectionId, {
      accessToken: 'a',
      refreshToken: 'r',
      expiresAt: new Date(clock.getTime() + 7_200_000),
    });
    await f.tokens.scheduleRefresh(connectionId);
    const jobs = await pendingJobs(f);
    expect(jobs.map((job) => job.delay)).toEqual([3_600_000]);
  });

  it('hands out a personal access token as it is and never schedules a refresh for it', async () => {
    const f = await setup();
    const { connectionId, user } = await f.connectPersonal();
    await f.tokens.scheduleRefresh(connectionId);
    expect(await pendingJobs(f)).toHaveLength(0);
    expect(await f.tokens.getAccessToken(connectionId)).toBe(user.personalAccessToken);
    const result = await f.tokens.refresh(connectionId, 'keep_alive');
    expect(result).toMatchObject({ status: 'skipped', because: 'personal_access_token' });
    await expect(
      f.tokens.withAccessToken(connectionId, (token) => f.calendly.getCurrentUser(token)),
    ).resolves.toMatchObject({ uri: user.uri });
    expect(await f.sim.control.tokenRequests({ userUri: user.uri })).toHaveLength(0);
  });

  it('skips a scheduled job that fires long before the token is due', async () => {
    const f = await setup();
    const { connectionId, user } = await f.connect({ lifetimeSeconds: 7200 });
    const result = await f.tokens.refresh(connectionId, 'scheduled');
    expect(result).toMatchObject({ status: 'skipped', because: 'not_due' });
    expect(await refreshRequests(f.sim, user.uri)).toHaveLength(0);
  });
});
