// Proves the meetings read side: only the user's meetings, filters, start-time order, keyset
// pages that neither skip nor repeat, invitees attached, and a typed error for a bad cursor,
// limit, out-of-range time or inverted window.
import type { DatabaseHandle } from '@calhook/db';
import { testDatabase, uniqueId } from '@calhook/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection, inviteeDelivery } from '../test/fixtures.ts';
import { ingestDelivery } from './ingest-delivery.ts';
import { encodeMeetingsCursor, listMeetings, type Meeting } from './list-meetings.ts';

let handle: DatabaseHandle;
let userId: string;
const eventUris: string[] = [];

// Six meetings, two of them starting at the same instant (the id breaks the tie), one canceled.
const starts = [
  '2024-06-03T09:00:00Z',
  '2024-06-01T09:00:00Z',
  '2024-06-02T09:00:00Z',
  '2024-06-02T09:00:00Z',
  '2024-06-05T09:00:00Z',
  '2024-06-04T09:00:00Z',
];

beforeAll(async () => {
  handle = testDatabase();
  const connection = await createConnection(handle.db);
  userId = connection.userId;
  const other = await createConnection(handle.db);
  const deliver = (connectionId: string, body: string) =>
    ingestDelivery(
      handle.db,
      { hookId: 'h', connectionId, body, receivedAt: new Date() },
      { now: () => new Date() },
    );
  for (const [index, start] of starts.entries()) {
    const eventUri = `https://api.calendly.com/scheduled_events/${uniqueId('E')}`;
    eventUris.push(eventUri);
    const canceled = index === 4;
    await deliver(
      connection.id,
      inviteeDelivery({
        createdBy: connection.calendlyUserUri ?? '',
        eventUri,
        event: canceled ? 'invitee.canceled' : 'invitee.created',
        invitee: canceled
          ? {
              status: 'canceled',
              cancellation: { canceled_by: 'Guest One', reason: 'ill', canceler_type: 'invitee' },
            }
          : {},
        scheduledEvent: {
          start_time: start,
          end_time: start.replace('09:00', '09:30'),
          status: canceled ? 'canceled' : 'active',
        },
      }),
    );
  }
  // A second invitee on the first meeting, and another user's meeting that must never show.
  await deliver(
    connection.id,
    inviteeDelivery({
      createdBy: connection.calendlyUserUri ?? '',
      eventUri: eventUris[0] ?? '',
      invitee: { email: 'second@example.com' },
      scheduledEvent: { start_time: starts[0], end_time: '2024-06-03T09:30:00Z' },
    }),
  );
  await deliver(other.id, inviteeDelivery({ createdBy: other.calendlyUserUri ?? '' }));
});

afterAll(async () => {
  await handle.close();
});

async function list(query: Omit<Parameters<typeof listMeetings>[1], 'userId'> = {}) {
  const result = await listMeetings(handle.db, { userId, ...query });
  if (!result.ok) throw new Error(result.message);
  return result;
}

describe('listMeetings', () => {
  it("lists the user's meetings by start time with their invitees in the API shape", async () => {
    const { meetings, nextCursor } = await list();
    expect(nextCursor).toBeNull();
    expect(meetings.map((m) => m.startTime)).toEqual(
      [...starts].sort().map((s) => new Date(s).toISOString()),
    );
    const first = meetings.find((m) => m.calendlyEventUri === eventUris[0]) as Meeting;
    expect(first.invitees.map((i) => i.email).sort()).toEqual([
      'guest@example.com',
      'second@example.com',
    ]);
    const canceled = meetings.find((m) => m.calendlyEventUri === eventUris[4]);
    expect(canceled).toMatchObject({ status: 'canceled' });
    expect(canceled?.invitees[0]).toEqual({
      uri: expect.any(String),
      email: 'guest@example.com',
      name: 'Guest One',
      status: 'canceled',
      noShow: false,
      rescheduled: false,
      oldInviteeUri: null,
      newInviteeUri: null,
      canceledBy: 'Guest One',
      cancelReason: 'ill',
      questionsAndAnswers: [{ question: 'Topic?', answer: 'Roadmap', position: 0 }],
    });
    expect(first).toMatchObject({
      id: expect.any(String),
      name: 'Intro call',
      endTime: '2024-06-03T09:30:00.000Z',
      location: { type: 'zoom', join_url: 'https://zoom.example/1' },
      eventTypeUri: 'https://api.calendly.com/event_types/ET1',
      canceledAt: null,
      cancelReason: null,
      updatedAt: expect.stringMatching(/Z$/),
    });
  });

  it('filters by start time (from inclusive, to exclusive) and status', async () => {
    const window = await list({
      from: new Date('2024-06-02T09:00:00Z'),
      to: new Date('2024-06-04T09:00:00Z'),
    });
    expect(window.meetings.map((m) => m.startTime)).toEqual([
      '2024-06-02T09:00:00.000Z',
      '2024-06-02T09:00:00.000Z',
      '2024-06-03T09:00:00.000Z',
    ]);
    const canceled = await list({ status: 'canceled' });
    expect(canceled.meetings.map((m) => m.calendlyEventUri)).toEqual([eventUris[4]]);
    expect((await list({ status: 'active' })).meetings).toHaveLength(5);
  });

  it('pages with a cursor without skipping or repeating, even across equal start times', async () => {
    const all = (await list()).meetings.map((m) => m.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<typeof list>> = await list({ limit: 2, cursor });
      seen.push(...page.meetings.map((m) => m.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(all);
  });

  it('returns nothing for an unknown user', async () => {
    const result = await listMeetings(handle.db, { userId: uniqueId('nobody') });
    expect(result).toEqual({ ok: true, meetings: [], nextCursor: null });
  });

  it('answers a typed error for a malformed cursor or limit', async () => {
    for (const cursor of [
      'not-a-cursor!',
      Buffer.from('["2024-06-01T00:00:00Z","x"]').toString('base64url'),
      Buffer.from('{"a":1}').toString('base64url'),
    ]) {
      expect(await listMeetings(handle.db, { userId, cursor })).toMatchObject({
        ok: false,
        error: 'invalid_cursor',
        field: 'cursor',
      });
    }
    for (const limit of [0, 201, 1.5]) {
      expect(await listMeetings(handle.db, { userId, limit })).toMatchObject({
        ok: false,
        error: 'invalid_limit',
      });
    }
    for (const time of ['0000-12-31T23:59:59.999Z', '+010000-01-01T00:00:00.000Z']) {
      const cursor = Buffer.from(
        JSON.stringify([time, '00000000-0000-4000-8000-000000000000']),
      ).toString('base64url');
      expect(await listMeetings(handle.db, { userId, cursor })).toMatchObject({
        ok: false,
        field: 'cursor',
      });
    }
    const valid = encodeMeetingsCursor({
      startTime: new Date('2024-06-04T00:00:00Z'),
      id: '00000000-0000-4000-8000-000000000000',
    });
    expect((await list({ cursor: valid })).meetings).toHaveLength(2);
  });

  it('answers a typed error for a time outside years 1 to 9999 or a window ending before it starts', async () => {
    for (const [field, time] of [
      ['from', new Date('0000-12-31T23:59:59.999Z')],
      ['to', new Date('+010000-01-01T00:00:00Z')],
      ['from', new Date(Number.NaN)],
    ] as const) {
      expect(await listMeetings(handle.db, { userId, [field]: time })).toMatchObject({
        ok: false,
        error: 'invalid_time',
        field,
      });
    }
    expect(
      await listMeetings(handle.db, {
        userId,
        from: new Date('2024-06-03T00:00:00Z'),
        to: new Date('2024-06-02T00:00:00Z'),
      }),
    ).toMatchObject({ ok: false, error: 'invalid_window', field: 'to' });
    const edges = await list({
      from: new Date('0001-01-01T00:00:00Z'),
      to: new Date('9999-12-31T23:59:59.999Z'),
    });
    expect(edges.meetings).toHaveLength(starts.length);
  });
});
