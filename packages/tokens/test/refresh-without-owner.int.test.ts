// Proves a refresh whose answer carries no owner or organization (nothing promises them on a
// refresh) is stored like any other: the connection stays active and the next refresh works.
import { afterEach, describe, expect, it } from 'vitest';
import {
  connectionState,
  refreshRequests,
  SIM_CLIENT,
  type TokenFixture,
  tokenFixture,
} from './token-fixture.ts';

let fixture: TokenFixture | undefined;

afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

/** Calls the simulator's token endpoint directly, to see the answer's fields as sent. */
async function rawRefresh(f: TokenFixture, refreshToken: string) {
  const response = await fetch(`${f.sim.url}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${SIM_CLIENT.id}:${SIM_CLIENT.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

describe('a refresh answered without owner and organization', () => {
  it('is stored: the connection stays active and the rotated refresh token works next time', async () => {
    const f = await tokenFixture();
    fixture = f;
    await f.sim.control.faults({ omitTokenOwner: true });

    // The switch really takes the fields out of the answer.
    const other = await f.sim.control.createUser();
    const otherTokens = await f.sim.control.issueTokens(other.uri, { lifetimeSeconds: 7200 });
    const answer = await rawRefresh(f, otherTokens.refresh_token);
    expect(answer).toMatchObject({ access_token: expect.any(String), expires_in: 7200 });
    expect(answer).not.toHaveProperty('owner');
    expect(answer).not.toHaveProperty('organization');

    const { connectionId, user, accessToken } = await f.connect({
      lifetimeSeconds: 7200,
      expired: true,
    });
    const first = await f.tokens.getAccessToken(connectionId);
    expect(first).not.toBe(accessToken);
    await expect(f.calendly.getCurrentUser(first)).resolves.toMatchObject({ uri: user.uri });
    const afterFirst = await connectionState(f, connectionId);
    expect(afterFirst).toMatchObject({
      status: 'active',
      refreshFailures: 0,
      lastError: null,
      calendlyUserUri: user.uri,
      organizationUri: user.organizationUri,
    });

    // The next refresh spends the refresh token the first one stored.
    const second = await f.tokens.refresh(connectionId, 'keep_alive');
    expect(second.status).toBe('refreshed');
    const latest = await f.tokens.getAccessToken(connectionId);
    expect(latest).not.toBe(first);
    await expect(f.calendly.getCurrentUser(latest)).resolves.toMatchObject({ uri: user.uri });
    expect(await connectionState(f, connectionId)).toMatchObject({
      status: 'active',
      refreshFailures: 0,
      tokenVersion: afterFirst.tokenVersion + 1,
    });
    expect((await refreshRequests(f.sim, user.uri)).map((r) => r.outcome)).toEqual(['ok', 'ok']);
    expect(f.outcomes).toEqual(['success', 'success']);
  });
});
