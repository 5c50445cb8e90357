// Proves /scheduled_events and their invitees list, filter and page like Calendly's, for backfills.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimUser, type Simulator, startSimulator } from '../src/index.ts';
import { api, pathOf } from './api.ts';

let sim: Simulator;
let host: SimUser;
let colleague: SimUser;
const booked: { eventUri: string; inviteeUri: string }[] = [];

beforeAll(async () => {
  sim = await startSimulator();
  host = await sim.control.createUser({ name: 'Host' });
  colleague = await sim.control.createUser({ organization: host.organizationUri });
  for (const day of [3, 1, 2, 5, 4]) {
    booked.push(await sim.control.book(host.uri, { startTime: `2025-06-0${day}T10:00:00Z` }));
  }
  await sim.control.book(colleague.uri, { startTime: '2025-06-01T12:00:00Z' });
  await sim.control.cancel(booked[0]!.inviteeUri);
});
afterAll(() => sim.close());

type Listing = {
  collection: { uri: string; start_time: string; status: string }[];
  pagination: { next_page: string | null; previous_page: string | null; count: number };
};

async function listAll(path: string, token = host.personalAccessToken) {
  const items: Listing['collection'] = [];
  let next: string | null = path;
  while (next) {
    const page: { status: number; body: Listing } = await api<Listing>(sim.url, token, next);
    expect(page.status).toBe(200);
    items.push(...page.body.collection);
    next = page.body.pagination.next_page ? pathOf(page.body.pagination.next_page) : null;
  }
  return items;
}

describe('GET /scheduled_events', () => {
  it('lists one user’s events by start time across pages', async () => {
    const user = encodeURIComponent(host.uri);
    const events = await listAll(`/scheduled_events?user=${user}&count=2&sort=start_time:asc`);
    expect(events.map((e) => e.start_time.slice(0, 10))).toEqual([
      '2025-06-01',
      '2025-06-02',
      '2025-06-03',
      '2025-06-04',
      '2025-06-05',
    ]);
  });

  it('filters by status and a start-time window (max exclusive)', async () => {
    const user = encodeURIComponent(host.uri);
    const canceled = await listAll(`/scheduled_events?user=${user}&status=canceled`);
    expect(canceled.map((e) => e.uri)).toEqual([booked[0]?.eventUri]);
    const window = await listAll(
      `/scheduled_events?user=${user}&min_start_time=2025-06-02T10:00:00Z&max_start_time=2025-06-04T10:00:00Z`,
    );
    expect(window.map((e) => e.start_time)).toEqual([
      '2025-06-02T10:00:00.000000Z',
      '2025-06-03T10:00:00.000000Z',
    ]);
  });

  it('lists the whole organization for its owner only', async () => {
    const org = encodeURIComponent(host.organizationUri);
    expect(await listAll(`/scheduled_events?organization=${org}`)).toHaveLength(6);
    const denied = await api(
      sim.url,
      colleague.personalAccessToken,
      `/scheduled_events?organization=${org}`,
    );
    expect(denied.status).toBe(403);
  });

  it('answers 400 without user or organization, or with a bad count', async () => {
    const none = await api(sim.url, host.personalAccessToken, '/scheduled_events?count=500');
    expect(none.status).toBe(400);
    expect(none.body).toMatchObject({
      title: 'Invalid Argument',
      details: [{ parameter: 'user' }, { parameter: 'count' }],
    });
  });
});

describe('GET /scheduled_events/{uuid} and its invitees', () => {
  it('returns the event and its invitees', async () => {
    const target = booked[1]!;
    const event = await api(sim.url, host.personalAccessToken, pathOf(target.eventUri));
    expect(event).toMatchObject({
      status: 200,
      body: { resource: { uri: target.eventUri, status: 'active', event_guests: [] } },
    });
    const invitees = await api<{ collection: { uri: string; event: string }[] }>(
      sim.url,
      host.personalAccessToken,
      `${pathOf(target.eventUri)}/invitees?status=active`,
    );
    expect(invitees.body.collection).toMatchObject([
      { uri: target.inviteeUri, event: target.eventUri },
    ]);
    const one = await api(sim.url, host.personalAccessToken, pathOf(target.inviteeUri));
    expect(one).toMatchObject({ status: 200, body: { resource: { uri: target.inviteeUri } } });
  });

  it('answers 404 for an unknown event', async () => {
    const answer = await api(sim.url, host.personalAccessToken, '/scheduled_events/nope');
    expect(answer).toMatchObject({ status: 404, body: { title: 'Resource Not Found' } });
  });
});

describe('count on every list endpoint', () => {
  const cases: [string, string][] = [
    ['101', 'must be less than or equal to 100'],
    ['1000', 'must be less than or equal to 100'],
    ['0', 'must be greater than or equal to 1'],
    ['-3', 'must be greater than or equal to 1'],
    ['abc', 'must be an integer'],
    ['1.5', 'must be an integer'],
    ['', 'must be an integer'],
  ];

  function listPaths(): string[] {
    const user = encodeURIComponent(host.uri);
    const org = encodeURIComponent(host.organizationUri);
    return [
      `/scheduled_events?user=${user}`,
      `${pathOf(booked[1]!.eventUri)}/invitees?status=active`,
      `/webhook_subscriptions?organization=${org}&scope=user&user=${user}`,
    ];
  }

  it('answers 400 Invalid Argument naming count when it is not 1 to 100', async () => {
    for (const path of listPaths()) {
      for (const [count, message] of cases) {
        const answer = await api(
          sim.url,
          host.personalAccessToken,
          `${path}&count=${encodeURIComponent(count)}`,
        );
        expect({ path, count, status: answer.status, body: answer.body }).toEqual({
          path,
          count,
          status: 400,
          body: {
            title: 'Invalid Argument',
            message: expect.any(String),
            details: [{ parameter: 'count', message }],
          },
        });
      }
    }
  });

  it('takes 100 and 1', async () => {
    for (const path of listPaths()) {
      for (const count of ['100', '1']) {
        const answer = await api(sim.url, host.personalAccessToken, `${path}&count=${count}`);
        expect({ path, status: answer.status }).toEqual({ path, status: 200 });
      }
    }
  });
});
