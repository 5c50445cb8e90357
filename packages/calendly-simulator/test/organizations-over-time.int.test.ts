// Proves a user who changes organization keeps their old events listed under user= (invitees then answer 403), and the old organization keeps them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimUser, type Simulator, startSimulator } from '../src/index.ts';
import { api, pathOf } from './api.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

type Listing = { collection: { uri: string; status: string }[] };

let sim: Simulator;
let receiver: WebhookReceiver;
let olga: SimUser; // owns organization A
let alice: SimUser; // member of A, then moves to B
let carol: SimUser; // owns organization B
let oldEvents: { eventUri: string; inviteeUri: string }[];
let newEvent: { eventUri: string; inviteeUri: string };
let oldHook: string;

beforeAll(async () => {
  sim = await startSimulator({ retryBaseMs: 50 });
  receiver = await startWebhookReceiver();
  olga = await sim.control.createUser({ name: 'Olga Owner' });
  alice = await sim.control.createUser({ name: 'Alice', organization: olga.organizationUri });
  carol = await sim.control.createUser({ name: 'Carol Owner' });
  const hook = await api(sim.url, alice.personalAccessToken, '/webhook_subscriptions', {
    method: 'POST',
    json: {
      url: `${receiver.url}/old`,
      events: ['invitee.created', 'invitee.canceled'],
      organization: olga.organizationUri,
      scope: 'user',
      user: alice.uri,
    },
  });
  oldHook = String((hook.body.resource as { uri: string }).uri);
  oldEvents = [
    await sim.control.book(alice.uri, { startTime: '2026-01-05T10:00:00Z' }),
    await sim.control.book(alice.uri, { startTime: '2026-01-07T10:00:00Z' }),
  ];
  const moved = await sim.control.moveUser(alice.uri, { organization: carol.organizationUri });
  expect(moved).toMatchObject({
    uri: alice.uri,
    organizationUri: carol.organizationUri,
    formerOrganizationUris: [olga.organizationUri],
    role: 'user',
  });
  newEvent = await sim.control.book(alice.uri, { startTime: '2026-01-06T10:00:00Z' });
  await sim.control.settle();
});
afterAll(async () => {
  await sim.close();
  await receiver.close();
});

function list(user: SimUser, query: Record<string, string>) {
  return api<Listing>(
    sim.url,
    user.personalAccessToken,
    `/scheduled_events?${new URLSearchParams(query)}`,
  );
}

describe('a user who moved to another organization', () => {
  it('is in the new organization for the API', async () => {
    const me = await api(sim.url, alice.personalAccessToken, '/users/me');
    expect(me.body.resource).toMatchObject({ current_organization: carol.organizationUri });
  });

  it('lists their events of every organization with user= alone, by start time', async () => {
    const listed = await list(alice, { user: alice.uri });
    expect(listed.status).toBe(200);
    expect(listed.body.collection.map((e) => e.uri)).toEqual([
      oldEvents[0]?.eventUri,
      newEvent.eventUri,
      oldEvents[1]?.eventUri,
    ]);
  });

  it('lists one organization’s only when organization= is given too', async () => {
    const listed = await list(alice, { user: alice.uri, organization: carol.organizationUri });
    expect(listed.body.collection.map((e) => e.uri)).toEqual([newEvent.eventUri]);
    expect(
      (await list(alice, { user: alice.uri, organization: olga.organizationUri })).status,
    ).toBe(403);
  });

  it('answers 403 for the invitees of an old organization’s event, 200 for the new one', async () => {
    const old = oldEvents[0]!;
    const denied = await api(
      sim.url,
      alice.personalAccessToken,
      `${pathOf(old.eventUri)}/invitees`,
    );
    expect(denied).toEqual(
      expect.objectContaining({
        status: 403,
        body: { title: 'Permission Denied', message: 'You are not allowed to view this event' },
      }),
    );
    const one = await api(sim.url, alice.personalAccessToken, pathOf(old.inviteeUri));
    expect(one).toMatchObject({
      status: 403,
      body: { message: 'You are not allowed to view this event' },
    });
    const current = await api<Listing>(
      sim.url,
      alice.personalAccessToken,
      `${pathOf(newEvent.eventUri)}/invitees`,
    );
    expect(current.status).toBe(200);
    expect(current.body.collection.map((i) => i.uri)).toEqual([newEvent.inviteeUri]);
  });

  it('still reads the old event itself, and others never in that organization get 404', async () => {
    const old = oldEvents[0]!;
    expect((await api(sim.url, alice.personalAccessToken, pathOf(old.eventUri))).status).toBe(200);
    expect(
      (await api(sim.url, carol.personalAccessToken, `${pathOf(old.eventUri)}/invitees`)).status,
    ).toBe(404);
  });

  it('leaves the old events in the old organization, where its owner sees everything', async () => {
    const listed = await list(olga, { organization: olga.organizationUri });
    expect(listed.body.collection.map((e) => e.uri)).toEqual(oldEvents.map((e) => e.eventUri));
    const invitees = await api(
      sim.url,
      olga.personalAccessToken,
      `${pathOf(oldEvents[0]!.eventUri)}/invitees`,
    );
    expect(invitees.status).toBe(200);
  });

  it('keeps an old booking listable by user= after it changes, and tells the old subscription', async () => {
    await sim.control.cancel(oldEvents[1]!.inviteeUri);
    await sim.control.settle();
    const listed = await list(alice, { user: alice.uri, status: 'canceled' });
    expect(listed.body.collection.map((e) => e.uri)).toEqual([oldEvents[1]?.eventUri]);
    // The subscription made in the old organization heard of the old events only.
    const heard = (await sim.control.deliveries({ subscriptionUri: oldHook })).map((d) => {
      const body = JSON.parse(d.body) as { event: string; payload: { event: string } };
      return [body.event, body.payload.event];
    });
    expect(heard).toEqual([
      ['invitee.created', oldEvents[0]?.eventUri],
      ['invitee.created', oldEvents[1]?.eventUri],
      ['invitee.canceled', oldEvents[1]?.eventUri],
    ]);
  });
});

describe('POST /_sim/users/move', () => {
  it('without an organization makes the user the owner of a new one', async () => {
    const user = await sim.control.createUser({ organization: olga.organizationUri });
    const moved = await sim.control.moveUser(user.uri);
    expect(moved.organizationUri).not.toBe(olga.organizationUri);
    expect(moved).toMatchObject({ role: 'owner', formerOrganizationUris: [olga.organizationUri] });
    const tokens = await sim.control.issueTokens(user.uri);
    expect(tokens.organization).toBe(moved.organizationUri);
  });

  it('refuses an unknown user or organization, or the organization the user is in', async () => {
    await expect(sim.control.moveUser('https://api.calendly.com/users/NOPE')).rejects.toMatchObject(
      {
        status: 404,
      },
    );
    await expect(
      sim.control.moveUser(olga.uri, { organization: 'https://api.calendly.com/organizations/NO' }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      sim.control.moveUser(olga.uri, { organization: olga.organizationUri }),
    ).rejects.toMatchObject({ status: 409 });
  });
});
