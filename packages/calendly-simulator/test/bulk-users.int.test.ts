// Proves bulk seeding: users with their own organization, working tokens, a subscription and bookings, answered by column, without deliveries.
import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../src/index.ts';
import { api, postForm } from './api.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

let sim: Simulator;
let receiver: WebhookReceiver;

beforeEach(async () => {
  sim = await startSimulator({ appSigningKey: 'app-key' });
  receiver = await startWebhookReceiver();
});
afterEach(async () => {
  await sim.close();
  await receiver.close();
});

describe('POST /_sim/users/bulk', () => {
  it('seeds users whose OAuth tokens, subscriptions and events work like any other', async () => {
    const seeded = await sim.control.createUsers({
      count: 3,
      eventsPerUser: 2,
      webhookUrl: `${receiver.url}/bulk`,
    });
    expect(seeded.users).toHaveLength(3);
    expect(new Set(seeded.organizations).size).toBe(3);
    expect(seeded.accessTokens).toHaveLength(3);
    expect(seeded.refreshTokens).toHaveLength(3);
    expect(seeded.subscriptions).toHaveLength(3);
    expect(seeded.expiresIn).toBe(7200);

    for (const [i, uri] of seeded.users.entries()) {
      const token = seeded.accessTokens[i]!;
      const me = await api(sim.url, token, '/users/me');
      expect(me.body.resource).toMatchObject({
        uri,
        current_organization: seeded.organizations[i],
      });
      const events = await api<{ collection: { uri: string; invitees_counter: unknown }[] }>(
        sim.url,
        token,
        `/scheduled_events?user=${encodeURIComponent(uri)}`,
      );
      expect(events.body.collection).toHaveLength(2);
      expect(events.body.collection[0]?.invitees_counter).toEqual({
        total: 1,
        active: 1,
        limit: 1,
      });
      const hooks = await api<{ collection: { uri: string; callback_url: string }[] }>(
        sim.url,
        token,
        `/webhook_subscriptions?${new URLSearchParams({ organization: seeded.organizations[i]!, scope: 'user', user: uri })}`,
      );
      expect(hooks.body.collection).toMatchObject([
        { uri: seeded.subscriptions?.[i], callback_url: `${receiver.url}/bulk` },
      ]);
    }
    const refreshed = await postForm(
      `${sim.url}/oauth/token`,
      { grant_type: 'refresh_token', refresh_token: seeded.refreshTokens![0]! },
      { id: 'sim-client-id', secret: 'sim-client-secret' },
    );
    expect(refreshed).toMatchObject({ status: 200, body: { owner: seeded.users[0] } });

    // Seeding delivered nothing; a later booking goes out, signed with the app key (OAuth).
    expect(await sim.control.deliveries()).toEqual([]);
    await sim.control.book(seeded.users[1]!);
    expect(await sim.control.settle()).toEqual({ settled: true, pending: 0 });
    expect(receiver.received).toHaveLength(1);
    const [delivery] = receiver.received;
    const parts = Object.fromEntries(delivery!.signature.split(',').map((p) => p.split('=')));
    expect(parts.v1).toBe(
      createHmac('sha256', 'app-key').update(`${parts.t}.${delivery!.body}`).digest('hex'),
    );
  });

  it('seeds personal tokens and free plans when asked, and nothing else by default', async () => {
    const seeded = await sim.control.createUsers({ count: 2, tokens: 'personal', plan: 'free' });
    expect(seeded).toMatchObject({ refreshTokens: null, expiresIn: null, subscriptions: null });
    const state = await sim.control.state();
    expect(state.users.map((u) => u.plan)).toEqual(['free', 'free']);
    expect(state.scheduledEvents).toEqual([]);
    expect(state.subscriptions).toEqual([]);
    const me = await api(sim.url, seeded.accessTokens[1]!, '/users/me');
    expect(me.headers.get('x-ratelimit-limit')).toBe('50');
  });

  it('refuses bad input with 400 and seeds nothing', async () => {
    for (const input of [
      { count: 0 },
      { count: 100_001 },
      { count: 1.5 },
      { count: 2, eventsPerUser: 51 },
      { count: 2, tokens: 'magic' },
      { count: 2, plan: 'gold' },
      { count: 2, webhookUrl: 'not a url' },
      { count: 2, webhookUrl: 'https://x.test', webhookEvents: ['invitee.exploded'] },
    ]) {
      await expect(
        sim.control.createUsers(input as Parameters<typeof sim.control.createUsers>[0]),
      ).rejects.toMatchObject({ status: 400 });
    }
    expect((await sim.control.state()).users).toEqual([]);
  });
});
