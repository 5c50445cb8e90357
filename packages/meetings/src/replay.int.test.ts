// Proves replay against real Postgres: a dry run reports the rebuild and changes nothing; a
// real run after a "rules fix" (rows corrupted in SQL with their Calendly timestamps kept)
// corrects exactly the selected meetings, keeps newer backfilled rows, revives a quarantined
// delivery that is now valid, and a second run changes nothing.
import { connections, type DatabaseHandle, eventInbox, invitees, meetings } from '@calhook/db';
import { testDatabase, uniqueId } from '@calhook/testing';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection, inviteeDelivery, snapshot } from '../test/fixtures.ts';
import { ingestDelivery } from './ingest-delivery.ts';
import { replayInbox } from './replay.ts';

let handle: DatabaseHandle;
const deps = { now: () => new Date('2024-05-02T00:00:00Z') };

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

describe('replayInbox', () => {
  it('rebuilds corrupted rows from the inbox once, and only those selected', async () => {
    const connection = await createConnection(handle.db);
    const createdBy = connection.calendlyUserUri ?? '';
    const eventUri = `https://api.calendly.com/scheduled_events/${uniqueId('E')}`;
    const inviteeUri = `${eventUri}/invitees/${uniqueId('I')}`;
    const otherEventUri = `https://api.calendly.com/scheduled_events/${uniqueId('E')}`;
    await deliver(connection.id, inviteeDelivery({ createdBy, eventUri, inviteeUri }));
    const canceledAt = '2024-05-01T12:00:00.000000Z';
    await deliver(
      connection.id,
      inviteeDelivery({
        createdBy,
        eventUri,
        inviteeUri,
        event: 'invitee.canceled',
        createdAt: canceledAt,
        invitee: {
          status: 'canceled',
          cancellation: { canceled_by: 'Guest One', reason: 'ill', canceler_type: 'invitee' },
        },
      }),
    );
    await deliver(connection.id, inviteeDelivery({ createdBy, eventUri: otherEventUri }));
    const correct = await snapshot(handle.db, connection.id);

    // Old code wrote wrong values under the right timestamps: "newer wins" alone keeps them.
    await handle.db
      .update(meetings)
      .set({ name: 'WRONG' })
      .where(eq(meetings.connectionId, connection.id));
    await handle.db
      .update(invitees)
      .set({ status: 'active', email: 'wrong@example.com' })
      .where(eq(invitees.calendlyInviteeUri, inviteeUri));
    // A second invitee only backfill knows about: no delivery describes it, so it stays.
    const [meeting] = await handle.db
      .select()
      .from(meetings)
      .where(
        and(eq(meetings.connectionId, connection.id), eq(meetings.calendlyEventUri, eventUri)),
      );
    const backfilledUri = `${eventUri}/invitees/${uniqueId('B')}`;
    await handle.db.insert(invitees).values({
      connectionId: connection.id,
      meetingId: meeting?.id ?? '',
      calendlyInviteeUri: backfilledUri,
      calendlyEventUri: eventUri,
      status: 'active',
      sourceUpdatedAt: new Date('2024-05-01T13:00:00Z'),
    });
    const corrupted = await snapshot(handle.db, connection.id);
    const ids = await handle.db
      .select({ id: invitees.id })
      .from(invitees)
      .where(eq(invitees.connectionId, connection.id));

    const selection = { userId: connection.userId, eventType: 'invitee.canceled' };
    const dry = await replayInbox(handle.db, { ...selection, dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, selected: 1, replayed: 2 });
    const written = (r: typeof dry) =>
      r.rows
        .filter((row) => row.change !== 'kept')
        .map(({ kind, uri, change, fields }) => ({ kind, uri, change, fields: fields.sort() }));
    expect(written(dry)).toEqual([
      { kind: 'meeting', uri: eventUri, change: 'updated', fields: ['name'] },
      { kind: 'invitee', uri: inviteeUri, change: 'updated', fields: ['email', 'status'] },
    ]);
    expect(dry.rows.filter((row) => row.change === 'kept').map((row) => row.uri)).toEqual([
      backfilledUri,
    ]);
    expect(await snapshot(handle.db, connection.id)).toEqual(corrupted);

    const real = await replayInbox(handle.db, { ...selection, dryRun: false });
    expect(written(real)).toEqual(written(dry));
    const fixed = await snapshot(handle.db, connection.id);
    expect(fixed.meetings.get(eventUri)).toEqual(correct.meetings.get(eventUri));
    expect(fixed.invitees.get(inviteeUri)).toEqual(correct.invitees.get(inviteeUri));
    expect(fixed.invitees.get(backfilledUri)).toEqual(corrupted.invitees.get(backfilledUri));
    // Not selected: the other meeting keeps its (wrong) name until a replay selects it.
    expect(fixed.meetings.get(otherEventUri)?.name).toBe('WRONG');
    // Rows are corrected in place: ids the app may hold stay valid.
    const idsAfter = await handle.db
      .select({ id: invitees.id })
      .from(invitees)
      .where(eq(invitees.connectionId, connection.id));
    expect(new Set(idsAfter.map((r) => r.id))).toEqual(new Set(ids.map((r) => r.id)));

    const again = await replayInbox(handle.db, { ...selection, dryRun: false });
    expect(written(again)).toEqual([]);
    expect(again.events.filter((e) => e.outcomeChanged)).toEqual([]);
    expect(await snapshot(handle.db, connection.id)).toEqual(fixed);
  });

  it('applies a delivery quarantined under old data once it is valid, and records the outcome', async () => {
    const connection = await createConnection(handle.db, 'https://api.calendly.com/users/OLD');
    const createdBy = `https://api.calendly.com/users/${uniqueId('U')}`;
    const body = inviteeDelivery({ createdBy });
    expect((await deliver(connection.id, body)).outcome).toBe('quarantined');
    await handle.db
      .update(connections)
      .set({ calendlyUserUri: createdBy })
      .where(eq(connections.id, connection.id));

    const report = await replayInbox(handle.db, { userId: connection.userId, dryRun: false });
    expect(report.events).toMatchObject([
      { outcomeBefore: 'quarantined', outcomeAfter: 'applied', outcomeChanged: true },
    ]);
    expect(report.rows.map((r) => [r.kind, r.change])).toEqual([
      ['meeting', 'created'],
      ['invitee', 'created'],
    ]);
    const [inbox] = await handle.db
      .select()
      .from(eventInbox)
      .where(eq(eventInbox.connectionId, connection.id));
    expect(inbox?.outcome).toBe('applied');
    expect((await snapshot(handle.db, connection.id)).meetings.size).toBe(1);

    const again = await replayInbox(handle.db, { userId: connection.userId, dryRun: false });
    expect(again.rows).toEqual([]);
    expect(again.events.map((e) => e.outcomeChanged)).toEqual([false]);
  });
});
