// Proves the ingest-event job against real Postgres: inbox first, duplicates and bad input
// recorded once and harmless, foreign events quarantined, concurrent deliveries converging.
import { connections, type DatabaseHandle, eventInbox, meetings } from '@calhook/db';
import { testDatabase, uniqueId } from '@calhook/testing';
import { deliveryContentHash } from '@calhook/webhooks';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection, inviteeDelivery, snapshot } from '../test/fixtures.ts';
import { ingestDeliveries, ingestDelivery } from './ingest-delivery.ts';

let handle: DatabaseHandle;
const NOW = new Date('2024-05-01T10:00:05Z');
const deps = { now: () => NOW };

beforeAll(() => {
  handle = testDatabase();
});
afterAll(async () => {
  await handle.close();
});

const deliver = (connectionId: string, body: string) =>
  ingestDelivery(
    handle.db,
    { hookId: uniqueId('hook'), connectionId, body, receivedAt: new Date('2024-05-01T10:00:01Z') },
    deps,
  );

async function inboxRows(connectionId: string) {
  return handle.db.select().from(eventInbox).where(eq(eventInbox.connectionId, connectionId));
}

describe('ingestDelivery', () => {
  it('creates the meeting and invitee, then treats the same bytes as a duplicate', async () => {
    const connection = await createConnection(handle.db);
    const body = inviteeDelivery({ createdBy: connection.calendlyUserUri ?? '' });

    const first = await deliver(connection.id, body);
    expect(first).toMatchObject({
      outcome: 'applied',
      changed: { meetingsCreated: 1, inviteesCreated: 1 },
    });
    const second = await deliver(connection.id, body);
    expect(second).toMatchObject({ outcome: 'duplicate', inboxId: first.inboxId });

    const inbox = await inboxRows(connection.id);
    expect(inbox).toHaveLength(1);
    expect(inbox[0]).toMatchObject({
      outcome: 'applied',
      eventType: 'invitee.created',
      contentHash: deliveryContentHash(connection.id, body),
      processedAt: NOW,
    });
    const rows = await snapshot(handle.db, connection.id);
    expect(rows.meetings.size).toBe(1);
    const [meeting] = [...rows.meetings.values()];
    expect(meeting).toMatchObject({
      name: 'Intro call',
      status: 'active',
      startTime: new Date('2024-06-01T09:00:00Z'),
      location: { type: 'zoom', join_url: 'https://zoom.example/1' },
    });
    // Stored as JSON objects, not as JSON strings, so SQL can query them.
    const types = await handle.sql`
      select jsonb_typeof(location) as location from meetings where connection_id = ${connection.id}`;
    expect(types[0]?.location).toBe('object');
    const [invitee] = [...rows.invitees.values()];
    expect(invitee).toMatchObject({
      email: 'guest@example.com',
      status: 'active',
      questionsAndAnswers: [{ question: 'Topic?', answer: 'Roadmap', position: 0 }],
    });
    const [conn] = await handle.db
      .select({ lastEventAt: connections.lastEventAt })
      .from(connections)
      .where(eq(connections.id, connection.id));
    expect(conn?.lastEventAt).toEqual(new Date('2024-05-01T10:00:01Z'));
  });

  it('reprocesses an inbox row that was stored but never processed', async () => {
    const connection = await createConnection(handle.db);
    const body = inviteeDelivery({ createdBy: connection.calendlyUserUri ?? '' });
    // What a crash between the inbox insert and the transaction leaves behind.
    await handle.db.insert(eventInbox).values({
      contentHash: deliveryContentHash(connection.id, body),
      hookId: 'h',
      connectionId: connection.id,
      body,
      receivedAt: NOW,
    });
    expect((await deliver(connection.id, body)).outcome).toBe('applied');
    expect(await inboxRows(connection.id)).toHaveLength(1);
  });

  it('records malformed JSON as invalid and changes nothing', async () => {
    const connection = await createConnection(handle.db);
    const result = await deliver(connection.id, '{"event": "invitee.created",');
    expect(result).toMatchObject({ outcome: 'invalid', detail: expect.stringContaining('JSON') });
    const [inbox] = await inboxRows(connection.id);
    expect(inbox).toMatchObject({ outcome: 'invalid', processedAt: NOW });
    expect((await snapshot(handle.db, connection.id)).meetings.size).toBe(0);
  });

  it('records an envelope or payload that fails the schema as invalid, naming the field', async () => {
    const connection = await createConnection(handle.db);
    const noCreator = await deliver(connection.id, JSON.stringify({ event: 'invitee.created' }));
    expect(noCreator).toMatchObject({
      outcome: 'invalid',
      detail: expect.stringContaining('created_by'),
    });
    const badPayload = await deliver(
      connection.id,
      JSON.stringify({
        event: 'invitee.created',
        created_at: '2024-05-01T10:00:00Z',
        created_by: connection.calendlyUserUri,
        payload: { event: 'https://api.calendly.com/scheduled_events/E' },
      }),
    );
    expect(badPayload).toMatchObject({
      outcome: 'invalid',
      detail: expect.stringContaining('uri'),
    });
  });

  it("quarantines user A's event delivered to B's hook and leaves B's meetings alone", async () => {
    const a = await createConnection(handle.db);
    const b = await createConnection(handle.db);
    await deliver(b.id, inviteeDelivery({ createdBy: b.calendlyUserUri ?? '' }));
    const before = await snapshot(handle.db, b.id);

    const result = await deliver(b.id, inviteeDelivery({ createdBy: a.calendlyUserUri ?? '' }));
    expect(result).toMatchObject({ outcome: 'quarantined', changed: { meetingsCreated: 0 } });
    expect(await snapshot(handle.db, b.id)).toEqual(before);
    expect((await snapshot(handle.db, a.id)).meetings.size).toBe(0);
  });

  it('quarantines every event of a connection without a Calendly user', async () => {
    const connection = await createConnection(handle.db, null);
    const result = await deliver(connection.id, inviteeDelivery({ createdBy: 'https://x/u' }));
    expect(result.outcome).toBe('quarantined');
  });

  it('stores and acknowledges event types it does not handle', async () => {
    const connection = await createConnection(handle.db);
    const body = JSON.stringify({
      event: 'routing_form_submission.created',
      created_at: '2024-05-01T10:00:00Z',
      created_by: connection.calendlyUserUri,
      payload: { anything: true },
    });
    expect(await deliver(connection.id, body)).toMatchObject({ outcome: 'ignored' });
    const [inbox] = await inboxRows(connection.id);
    expect(inbox).toMatchObject({
      outcome: 'ignored',
      eventType: 'routing_form_submission.created',
    });
  });

  it('reports stale when the delivery is older than what is stored', async () => {
    const connection = await createConnection(handle.db);
    const createdBy = connection.calendlyUserUri ?? '';
    const eventUri = `https://api.calendly.com/scheduled_events/${uniqueId('E')}`;
    const inviteeUri = `${eventUri}/invitees/I1`;
    const canceled = inviteeDelivery({
      createdBy,
      eventUri,
      inviteeUri,
      event: 'invitee.canceled',
      createdAt: '2024-05-01T11:00:00Z',
      invitee: { status: 'canceled', created_at: '2024-05-01T10:00:00Z' },
      scheduledEvent: { status: 'canceled', created_at: '2024-05-01T10:00:00Z' },
    });
    const created = inviteeDelivery({ createdBy, eventUri, inviteeUri });
    expect((await deliver(connection.id, canceled)).outcome).toBe('applied');
    expect(await deliver(connection.id, created)).toMatchObject({
      outcome: 'stale',
      changed: { meetingsCreated: 0, meetingsUpdated: 0, inviteesCreated: 0, inviteesUpdated: 0 },
    });
    const rows = await snapshot(handle.db, connection.id);
    expect(rows.invitees.get(inviteeUri)?.status).toBe('canceled');
    expect(rows.meetings.get(eventUri)?.status).toBe('canceled');
  });

  it('creates a placeholder meeting when no scheduled event is embedded, replaced by real data', async () => {
    const connection = await createConnection(handle.db);
    const createdBy = connection.calendlyUserUri ?? '';
    const eventUri = `https://api.calendly.com/scheduled_events/${uniqueId('E')}`;
    await deliver(connection.id, inviteeDelivery({ createdBy, eventUri, scheduledEvent: null }));
    expect((await snapshot(handle.db, connection.id)).meetings.get(eventUri)).toMatchObject({
      name: null,
      startTime: null,
    });
    await deliver(
      connection.id,
      inviteeDelivery({ createdBy, eventUri, createdAt: '2024-05-01T09:00:00Z' }),
    );
    expect((await snapshot(handle.db, connection.id)).meetings.get(eventUri)).toMatchObject({
      name: 'Intro call',
    });
  });

  it('converges when the cancel and the create of one invitee are applied concurrently', async () => {
    for (let round = 0; round < 5; round++) {
      const connection = await createConnection(handle.db);
      const createdBy = connection.calendlyUserUri ?? '';
      const eventUri = `https://api.calendly.com/scheduled_events/${uniqueId('E')}`;
      const inviteeUri = `${eventUri}/invitees/I1`;
      const newEventUri = `https://api.calendly.com/scheduled_events/${uniqueId('E')}`;
      const newInviteeUri = `${newEventUri}/invitees/I2`;
      const created = inviteeDelivery({ createdBy, eventUri, inviteeUri });
      const canceled = inviteeDelivery({
        createdBy,
        eventUri,
        inviteeUri,
        event: 'invitee.canceled',
        createdAt: '2024-05-01T11:00:00Z',
        invitee: {
          status: 'canceled',
          rescheduled: true,
          new_invitee: newInviteeUri,
          created_at: '2024-05-01T10:00:00Z',
        },
        scheduledEvent: { status: 'canceled', created_at: '2024-05-01T10:00:00Z' },
      });
      const rebooked = inviteeDelivery({
        createdBy,
        eventUri: newEventUri,
        inviteeUri: newInviteeUri,
        createdAt: '2024-05-01T11:00:01Z',
        invitee: { old_invitee: inviteeUri },
      });
      const results = await Promise.all(
        [canceled, created, rebooked].map((body) => deliver(connection.id, body)),
      );
      expect(results.map((r) => r.outcome)).not.toContain('invalid');

      const rows = await snapshot(handle.db, connection.id);
      expect(rows.meetings.get(eventUri)?.status).toBe('canceled');
      expect(rows.meetings.get(newEventUri)?.status).toBe('active');
      expect(rows.invitees.get(inviteeUri)).toMatchObject({
        status: 'canceled',
        rescheduled: true,
        newInviteeUri,
      });
      expect(rows.invitees.get(newInviteeUri)).toMatchObject({
        status: 'active',
        oldInviteeUri: inviteeUri,
      });
      const count = await handle.db
        .select({ id: meetings.id })
        .from(meetings)
        .where(eq(meetings.connectionId, connection.id));
      expect(count).toHaveLength(2);
    }
  });

  it('answers invalid, without an inbox row, for an unknown connection', async () => {
    const result = await deliver('00000000-0000-4000-8000-000000000000', '{}');
    expect(result).toMatchObject({ outcome: 'invalid', detail: 'connection not found' });
  });
});

describe('ingestDeliveries', () => {
  const at = (second: number) => new Date(`2024-05-01T10:00:${String(second).padStart(2, '0')}Z`);

  it('gives every delivery of one batch the outcome it would have had alone, in order', async () => {
    const a = await createConnection(handle.db);
    const b = await createConnection(handle.db);
    const eventUri = `https://api.calendly.com/scheduled_events/${uniqueId('E')}`;
    const inviteeUri = `${eventUri}/invitees/I1`;
    const created = inviteeDelivery({ createdBy: a.calendlyUserUri ?? '', eventUri, inviteeUri });
    const canceled = inviteeDelivery({
      createdBy: a.calendlyUserUri ?? '',
      eventUri,
      inviteeUri,
      event: 'invitee.canceled',
      createdAt: '2024-05-01T11:00:00Z',
      invitee: { status: 'canceled', updated_at: '2024-05-01T11:00:00Z' },
    });
    const earlier = inviteeDelivery({ createdBy: b.calendlyUserUri ?? '' });
    await deliver(b.id, earlier);
    const hookId = uniqueId('hook');
    const batch = [
      { connectionId: a.id, body: created, receivedAt: at(1) },
      { connectionId: a.id, body: created, receivedAt: at(2) },
      { connectionId: b.id, body: earlier, receivedAt: at(3) },
      { connectionId: b.id, body: 'not json', receivedAt: at(4) },
      { connectionId: b.id, body: created, receivedAt: at(5) },
      {
        connectionId: a.id,
        body: inviteeDelivery({
          createdBy: a.calendlyUserUri ?? '',
          event: 'routing_form_submission.created',
        }),
        receivedAt: at(6),
      },
      { connectionId: a.id, body: canceled, receivedAt: at(7) },
    ].map((d) => ({ ...d, hookId }));

    const results = await ingestDeliveries(handle.db, batch, deps);
    expect(results.map((r) => r.outcome)).toEqual([
      'applied',
      'duplicate',
      'duplicate',
      'invalid',
      'quarantined',
      'ignored',
      'applied',
    ]);
    expect(results[0]?.changed).toEqual({
      meetingsCreated: 1,
      meetingsUpdated: 0,
      inviteesCreated: 1,
      inviteesUpdated: 0,
    });
    expect(results[1]?.inboxId).toBe(results[0]?.inboxId);
    expect(results[6]?.changed).toMatchObject({ meetingsCreated: 0, inviteesUpdated: 1 });

    const rowsA = await snapshot(handle.db, a.id);
    expect(rowsA.invitees.get(inviteeUri)).toMatchObject({ status: 'canceled' });
    expect(await inboxRows(a.id)).toHaveLength(3);
    const inboxB = await inboxRows(b.id);
    expect(inboxB.map((r) => r.outcome).sort()).toEqual(['applied', 'invalid', 'quarantined']);
    expect(inboxB.every((r) => r.processedAt?.getTime() === NOW.getTime())).toBe(true);
    expect((await snapshot(handle.db, b.id)).meetings.size).toBe(1);

    // Each connection's latest event is the newest delivery from its own user.
    const lastEvents = await handle.db
      .select({ id: connections.id, lastEventAt: connections.lastEventAt })
      .from(connections)
      .where(eq(connections.id, a.id));
    expect(lastEvents[0]?.lastEventAt).toEqual(at(7));
  });

  it('fails as a whole, writing nothing, when one delivery names no connection', async () => {
    const connection = await createConnection(handle.db);
    const body = inviteeDelivery({ createdBy: connection.calendlyUserUri ?? '' });
    const batch = [
      { hookId: 'h', connectionId: connection.id, body, receivedAt: NOW },
      { hookId: 'h', connectionId: '00000000-0000-4000-8000-000000000000', body, receivedAt: NOW },
    ];
    await expect(ingestDeliveries(handle.db, batch, deps)).rejects.toThrow();
    expect(await inboxRows(connection.id)).toHaveLength(0);
  });
});
