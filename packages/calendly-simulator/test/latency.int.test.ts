// Proves the latency setting delays every API and OAuth call by timers (calls overlap, the control API stays prompt), set by option or at run time.
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../src/index.ts';
import { api, postForm } from './api.ts';

let sim: Simulator;
afterEach(() => sim.close());

const CLIENT = { id: 'sim-client-id', secret: 'sim-client-secret' };

async function timed<T>(call: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await call();
  return { ms: performance.now() - started, value };
}

describe('latency', () => {
  it('delays token, revoke, users/me, subscriptions, events and invitees', async () => {
    sim = await startSimulator({ latencyMs: 150 });
    const user = await sim.control.createUser();
    const booked = await sim.control.book(user.uri);
    const pair = await sim.control.issueTokens(user.uri);
    const token = user.personalAccessToken;
    const org = encodeURIComponent(user.organizationUri);
    const who = encodeURIComponent(user.uri);
    const calls: [string, () => Promise<{ status: number }>][] = [
      [
        'token',
        () =>
          postForm(
            `${sim.url}/oauth/token`,
            { grant_type: 'refresh_token', refresh_token: pair.refresh_token },
            CLIENT,
          ),
      ],
      ['revoke', () => postForm(`${sim.url}/oauth/revoke`, { token: pair.access_token }, CLIENT)],
      ['users/me', () => api(sim.url, token, '/users/me')],
      [
        'subscriptions',
        () =>
          api(sim.url, token, `/webhook_subscriptions?organization=${org}&scope=user&user=${who}`),
      ],
      ['events', () => api(sim.url, token, `/scheduled_events?user=${who}`)],
      ['invitees', () => api(sim.url, token, `${new URL(booked.eventUri).pathname}/invitees`)],
    ];
    for (const [name, call] of calls) {
      const { ms, value } = await timed(call);
      expect({ name, status: value.status }).toEqual({ name, status: 200 });
      expect({ name, delayed: ms >= 150 }).toEqual({ name, delayed: true });
    }
  });

  it('adds a uniform 0..jitter share on top', async () => {
    sim = await startSimulator({ latencyMs: 100, latencyJitterMs: 200, random: () => 0.5 });
    const user = await sim.control.createUser();
    const { ms } = await timed(() => api(sim.url, user.personalAccessToken, '/users/me'));
    expect(ms).toBeGreaterThanOrEqual(200);
  });

  it('waits on timers: delayed calls overlap and the control API answers meanwhile', async () => {
    sim = await startSimulator();
    const user = await sim.control.createUser();
    expect(await sim.control.latency({ latencyMs: 1000 })).toEqual({
      latencyMs: 1000,
      latencyJitterMs: 0,
    });
    let finished = 0;
    const started = performance.now();
    const pending = Array.from({ length: 5 }, () =>
      api(sim.url, user.personalAccessToken, '/users/me').then((answer) => {
        finished += 1;
        return answer;
      }),
    );
    // The control API is not delayed: it answers while all five still wait.
    await sim.control.state();
    expect(finished).toBe(0);
    const answers = await Promise.all(pending);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // One after the other they would take 5 s; overlapping, a little over 1 s.
    expect(performance.now() - started).toBeLessThan(4000);

    expect(await sim.control.latency({})).toEqual({ latencyMs: 0, latencyJitterMs: 0 });
    await expect(sim.control.latency({ latencyMs: -1 })).rejects.toMatchObject({ status: 400 });
  });

  it('comes back to the option’s value on reset', async () => {
    sim = await startSimulator({ latencyMs: 120 });
    await sim.control.latency({});
    await sim.control.reset();
    const user = await sim.control.createUser();
    const { ms } = await timed(() => api(sim.url, user.personalAccessToken, '/users/me'));
    expect(ms).toBeGreaterThanOrEqual(120);
  });

  it('refuses a negative latency option', async () => {
    await expect(startSimulator({ latencyMs: -5 })).rejects.toThrow(/latencyMs/);
    sim = await startSimulator();
  });
});
