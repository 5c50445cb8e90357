// Proves per-user API rate limiting with Calendly's X-RateLimit headers, the injected API error fault and the 429 storm fault.
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../src/index.ts';
import { api } from './api.ts';

let sim: Simulator;
afterEach(() => sim.close());

describe('rate limits', () => {
  it('answers 429 past the per-user limit until the minute is over', async () => {
    const clock = { ms: Date.parse('2025-01-01T00:00:00Z') };
    sim = await startSimulator({ requestsPerMinute: 3, now: () => clock.ms });
    const user = await sim.control.createUser();
    const other = await sim.control.createUser();
    const token = user.personalAccessToken;

    const first = await api(sim.url, token, '/users/me');
    expect(first.headers.get('x-ratelimit-limit')).toBe('3');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('2');
    expect(first.headers.get('x-ratelimit-reset')).toBe('60');
    await api(sim.url, token, '/users/me');
    await api(sim.url, token, '/users/me');
    clock.ms += 20_000;
    const limited = await api(sim.url, token, '/users/me');
    expect(limited).toMatchObject({ status: 429, body: { title: expect.any(String) } });
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(limited.headers.get('x-ratelimit-reset')).toBe('40');
    // Limits are per user.
    expect((await api(sim.url, other.personalAccessToken, '/users/me')).status).toBe(200);

    clock.ms += 40_000;
    expect((await api(sim.url, token, '/users/me')).status).toBe(200);
    expect(await sim.control.requests()).toMatchObject({
      [user.uri]: { total: 5, rateLimited: 1 },
      [other.uri]: { total: 1, rateLimited: 0 },
    });
  });

  it('gives free-plan users the lower limit', async () => {
    sim = await startSimulator({ freePlanRequestsPerMinute: 1 });
    const user = await sim.control.createUser({ plan: 'free' });
    expect((await api(sim.url, user.personalAccessToken, '/users/me')).status).toBe(200);
    expect((await api(sim.url, user.personalAccessToken, '/users/me')).status).toBe(429);
  });
});

describe('apiErrorRate fault', () => {
  it('fails every API call at rate 1 and none after a reset', async () => {
    sim = await startSimulator();
    const user = await sim.control.createUser();
    await sim.control.faults({ apiErrorRate: 1 });
    const statuses = new Set<number>();
    for (let i = 0; i < 10; i += 1) {
      statuses.add((await api(sim.url, user.personalAccessToken, '/users/me')).status);
    }
    expect([...statuses].every((s) => s === 500 || s === 429)).toBe(true);
    await sim.control.faults({});
    expect((await api(sim.url, user.personalAccessToken, '/users/me')).status).toBe(200);
  });
});

describe('rateLimitRate fault', () => {
  /** Alternates below and above one half: with rate 0.5, every other call is refused. */
  function alternating() {
    let call = 0;
    return () => (call++ % 2 === 0 ? 0.25 : 0.75);
  }

  it('answers 429 with Calendly’s headers to its share of calls, without spending the limit', async () => {
    sim = await startSimulator({ random: alternating(), requestsPerMinute: 10 });
    const user = await sim.control.createUser();
    expect(
      await sim.control.faults({ rateLimitRate: 0.5, rateLimitResetSeconds: 7 }),
    ).toMatchObject({ rateLimitRate: 0.5, rateLimitResetSeconds: 7 });
    const answers = [];
    for (let i = 0; i < 6; i += 1) {
      answers.push(await api(sim.url, user.personalAccessToken, '/users/me'));
    }
    expect(answers.map((a) => a.status)).toEqual([429, 200, 429, 200, 429, 200]);
    const refused = answers[0]!;
    expect(refused.body).toMatchObject({ title: 'Too Many Requests', message: expect.any(String) });
    expect(refused.headers.get('x-ratelimit-limit')).toBe('10');
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('x-ratelimit-reset')).toBe('7');
    // Only the three answered calls used the real window.
    expect(answers.map((a) => a.headers.get('x-ratelimit-remaining'))).toEqual([
      '0',
      '9',
      '0',
      '8',
      '0',
      '7',
    ]);
    expect(await sim.control.requests()).toMatchObject({
      [user.uri]: { total: 6, rateLimited: 3 },
    });
  });

  it('lets a caller that waits and retries converge, and stops after a reset', async () => {
    sim = await startSimulator();
    const user = await sim.control.createUser();
    await sim.control.faults({ rateLimitRate: 0.5 });
    let refused = 0;
    for (let done = 0; done < 20; ) {
      const answer = await api(sim.url, user.personalAccessToken, '/users/me');
      if (answer.status === 429) refused += 1;
      else {
        expect(answer.status).toBe(200);
        done += 1;
      }
      expect(refused).toBeLessThan(200);
    }
    expect(refused).toBeGreaterThan(0);
    await sim.control.faults({});
    for (let i = 0; i < 20; i += 1) {
      expect((await api(sim.url, user.personalAccessToken, '/users/me')).status).toBe(200);
    }
  });
});
