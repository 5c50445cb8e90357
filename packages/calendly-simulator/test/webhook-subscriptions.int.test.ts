// Proves /webhook_subscriptions follows Calendly's rules: shapes, pagination, 409 per user, plans, scopes and validation errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimUser, type Simulator, startSimulator } from '../src/index.ts';
import { type Answer, api, pathOf } from './api.ts';

interface SubscriptionPage {
  collection: { uri: string }[];
  pagination: { count: number; next_page: string | null; next_page_token: string | null };
}

let sim: Simulator;
let owner: SimUser;

beforeAll(async () => {
  sim = await startSimulator();
  owner = await sim.control.createUser({ name: 'Owner' });
});
afterAll(() => sim.close());

function create(token: string, json: Record<string, unknown>) {
  return api(sim.url, token, '/webhook_subscriptions', { method: 'POST', json });
}

function userHook(user: SimUser, url: string, extra: Record<string, unknown> = {}) {
  return {
    url,
    events: ['invitee.created', 'invitee.canceled'],
    organization: user.organizationUri,
    scope: 'user',
    user: user.uri,
    signing_key: 'per-hook-key',
    ...extra,
  };
}

describe('POST /webhook_subscriptions', () => {
  it('creates a user-scoped subscription and never returns its signing key', async () => {
    const answer = await create(owner.personalAccessToken, userHook(owner, 'https://a.test/h/1'));
    expect(answer.status).toBe(201);
    const resource = answer.body.resource as Record<string, unknown>;
    expect(resource).toEqual({
      uri: expect.stringMatching(/^https:\/\/api\.calendly\.com\/webhook_subscriptions\/[\w-]+$/),
      callback_url: 'https://a.test/h/1',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      updated_at: expect.any(String),
      retry_started_at: null,
      state: 'active',
      events: ['invitee.created', 'invitee.canceled'],
      scope: 'user',
      organization: owner.organizationUri,
      user: owner.uri,
      group: null,
      creator: owner.uri,
    });
    expect(JSON.stringify(answer.body)).not.toContain('per-hook-key');

    const got = await api(sim.url, owner.personalAccessToken, pathOf(String(resource.uri)));
    expect(got).toMatchObject({ status: 200, body: { resource } });
  });

  it('answers 409 Already Exists for the same url in the same organization and user', async () => {
    const hook = userHook(owner, 'https://a.test/h/dup');
    expect((await create(owner.personalAccessToken, hook)).status).toBe(201);
    expect(await create(owner.personalAccessToken, hook)).toMatchObject({
      status: 409,
      body: { title: 'Already Exists', message: 'Hook with this url already exists' },
    });
  });

  it('lets other users, other urls and organization scope share or reuse a url', async () => {
    const url = 'https://a.test/h/shared';
    const colleague = await sim.control.createUser({ organization: owner.organizationUri });
    expect((await create(owner.personalAccessToken, userHook(owner, url))).status).toBe(201);
    expect((await create(colleague.personalAccessToken, userHook(colleague, url))).status).toBe(
      201,
    );
    expect((await create(owner.personalAccessToken, userHook(owner, `${url}/other`))).status).toBe(
      201,
    );
    const orgHook = {
      url,
      events: ['invitee.created'],
      organization: owner.organizationUri,
      scope: 'organization',
    };
    expect((await create(owner.personalAccessToken, orgHook)).status).toBe(201);
    expect((await create(owner.personalAccessToken, orgHook)).status).toBe(201);
  });

  it('still answers 409 while the same url of the same user is disabled', async () => {
    const hook = userHook(owner, 'https://a.test/h/disabled');
    const first = await create(owner.personalAccessToken, hook);
    await sim.control.setSubscriptionState(
      String((first.body.resource as { uri: string }).uri),
      'disabled',
    );
    expect((await create(owner.personalAccessToken, hook)).status).toBe(409);
  });

  it('lets free-plan users subscribe by default, as Calendly does since 2026-11-03', async () => {
    const free = await sim.control.createUser({ plan: 'free' });
    const answer = await create(free.personalAccessToken, userHook(free, 'https://a.test/free'));
    expect(answer.status).toBe(201);
  });

  it('refuses free-plan users with 403 upgrade while the old gate is switched on', async () => {
    const free = await sim.control.createUser({ plan: 'free' });
    expect(await sim.control.plans({ freePlanWebhooks: 'refused' })).toEqual({
      freePlanWebhooks: 'refused',
    });
    try {
      expect(
        await create(free.personalAccessToken, userHook(free, 'https://a.test/free-gate')),
      ).toEqual(
        expect.objectContaining({
          status: 403,
          body: {
            title: 'Permission Denied',
            message: 'Please upgrade to a paid Calendly account.',
          },
        }),
      );
      // Paid users are not concerned.
      const paid = await create(owner.personalAccessToken, userHook(owner, 'https://a.test/paid'));
      expect(paid.status).toBe(201);
    } finally {
      await sim.control.plans({ freePlanWebhooks: 'allowed' });
    }
    expect(
      (await create(free.personalAccessToken, userHook(free, 'https://a.test/free-gate'))).status,
    ).toBe(201);
  });

  it('refuses free-plan users from the start with the freePlanWebhooks option', async () => {
    const gated = await startSimulator({ freePlanWebhooks: 'refused' });
    try {
      const free = await gated.control.createUser({ plan: 'free' });
      const answer = await api(gated.url, free.personalAccessToken, '/webhook_subscriptions', {
        method: 'POST',
        json: userHook(free, 'https://a.test/free-option'),
      });
      expect(answer).toMatchObject({
        status: 403,
        body: { message: 'Please upgrade to a paid Calendly account.' },
      });
      await gated.control.reset();
      const again = await gated.control.createUser({ plan: 'free' });
      const after = await api(gated.url, again.personalAccessToken, '/webhook_subscriptions', {
        method: 'POST',
        json: userHook(again, 'https://a.test/free-option'),
      });
      expect(after.status).toBe(403);
    } finally {
      await gated.close();
    }
  });

  it('refuses a user-scoped subscription for another user with 403', async () => {
    const colleague = await sim.control.createUser({ organization: owner.organizationUri });
    const answer = await create(colleague.personalAccessToken, {
      ...userHook(colleague, 'https://a.test/other'),
      user: owner.uri,
    });
    expect(answer).toMatchObject({ status: 403, body: { title: 'Permission Denied' } });
  });

  it('answers 403 Insufficient scope naming the scope each endpoint needs', async () => {
    const reader = await sim.control.createUser({ scopes: ['users:read', 'webhooks:read'] });
    const answer = await create(reader.personalAccessToken, userHook(reader, 'https://a.test/r'));
    expect(answer).toEqual(
      expect.objectContaining({
        status: 403,
        body: {
          title: 'Insufficient scope',
          message: expect.stringContaining('webhooks:write'),
          required_scopes: ['webhooks:write'],
        },
      }),
    );
    const listing = new URLSearchParams({
      organization: reader.organizationUri,
      scope: 'user',
      user: reader.uri,
    });
    const listed = await api(
      sim.url,
      reader.personalAccessToken,
      `/webhook_subscriptions?${listing}`,
    );
    expect(listed.status).toBe(200);

    const blind = await sim.control.createUser({ scopes: ['webhooks:write'] });
    expect(await api(sim.url, blind.personalAccessToken, '/users/me')).toMatchObject({
      status: 403,
      body: { title: 'Insufficient scope', required_scopes: ['users:read'] },
    });
    expect(
      await api(sim.url, blind.personalAccessToken, `/scheduled_events?user=${blind.uri}`),
    ).toMatchObject({
      status: 403,
      body: { title: 'Insufficient scope', required_scopes: ['scheduled_events:read'] },
    });
    // webhooks:write implies reading them.
    const written = await api(
      sim.url,
      blind.personalAccessToken,
      `/webhook_subscriptions?${new URLSearchParams({ organization: blind.organizationUri, scope: 'user', user: blind.uri })}`,
    );
    expect(written.status).toBe(200);
    const none = await sim.control.createUser({ scopes: ['users:read'] });
    const unlisted = await api(
      sim.url,
      none.personalAccessToken,
      `/webhook_subscriptions?${new URLSearchParams({ organization: none.organizationUri, scope: 'user', user: none.uri })}`,
    );
    expect(unlisted).toMatchObject({ status: 403, body: { required_scopes: ['webhooks:read'] } });
  });

  it('answers 400 naming each invalid parameter', async () => {
    const empty = await create(owner.personalAccessToken, {});
    expect(empty.status).toBe(400);
    expect(empty.body).toMatchObject({ title: 'Invalid Argument', message: expect.any(String) });
    expect((empty.body.details as { parameter: string }[]).map((d) => d.parameter)).toEqual([
      'url',
      'events',
      'organization',
      'scope',
    ]);

    const wrong = await create(owner.personalAccessToken, {
      url: 'https://a.test/x',
      events: ['invitee.created', 'invitee.exploded'],
      organization: 'https://api.calendly.com/organizations/NOTMINE0000000000',
      scope: 'user',
    });
    expect(wrong.status).toBe(400);
    expect((wrong.body.details as { parameter: string }[]).map((d) => d.parameter)).toEqual([
      'events',
      'organization',
      'user',
    ]);
  });
});

describe('GET /webhook_subscriptions', () => {
  it('requires organization and scope, and user for user scope', async () => {
    const answer = await api(
      sim.url,
      owner.personalAccessToken,
      '/webhook_subscriptions?scope=user',
    );
    expect(answer.status).toBe(400);
    expect((answer.body.details as { parameter: string }[]).map((d) => d.parameter)).toEqual([
      'organization',
      'user',
    ]);
  });

  it('pages with page tokens and next_page URLs on api.calendly.com', async () => {
    const user = await sim.control.createUser();
    const created: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const answer = await create(user.personalAccessToken, userHook(user, `https://b.test/${i}`));
      created.push(String((answer.body.resource as { uri: string }).uri));
    }
    const seen: string[] = [];
    const query = new URLSearchParams({
      organization: user.organizationUri,
      scope: 'user',
      user: user.uri,
      count: '2',
    });
    let path: string | null = `/webhook_subscriptions?${query}`;
    const counts: number[] = [];
    while (path) {
      const page: Answer<SubscriptionPage> = await api<SubscriptionPage>(
        sim.url,
        user.personalAccessToken,
        path,
      );
      expect(page.status).toBe(200);
      seen.push(...page.body.collection.map((s) => s.uri));
      counts.push(page.body.pagination.count);
      const next: string | null = page.body.pagination.next_page;
      if (next) {
        expect(next.startsWith('https://api.calendly.com/webhook_subscriptions?')).toBe(true);
        expect(new URL(next).searchParams.get('page_token')).toBe(
          page.body.pagination.next_page_token,
        );
      }
      path = next ? pathOf(next) : null;
    }
    expect(seen).toEqual(created);
    expect(counts).toEqual([2, 2, 1]);
  });
});

describe('DELETE /webhook_subscriptions/{uuid}', () => {
  it('answers 204, then 404', async () => {
    const answer = await create(owner.personalAccessToken, userHook(owner, 'https://a.test/del'));
    const path = pathOf(String((answer.body.resource as { uri: string }).uri));
    const token = owner.personalAccessToken;
    expect((await api(sim.url, token, path, { method: 'DELETE' })).status).toBe(204);
    expect(await api(sim.url, token, path, { method: 'DELETE' })).toMatchObject({
      status: 404,
      body: { title: 'Resource Not Found' },
    });
    expect((await api(sim.url, token, path)).status).toBe(404);
  });
});
