// Rows and deliveries for the meetings integration tests: every test gets its own connection.
import { connections, type Database, invitees, meetings } from '@calhook/db';
import { uniqueId } from '@calhook/testing';
import { asc, eq } from 'drizzle-orm';
import { inviteeRecordOf, meetingRecordOf } from '../src/meeting-store.ts';
import type { InviteeRecord, MeetingRecord } from '../src/merge-rules.ts';

export async function createConnection(
  db: Database,
  calendlyUserUri: string | null = `https://api.calendly.com/users/${uniqueId('U')}`,
): Promise<{ id: string; userId: string; calendlyUserUri: string | null }> {
  const userId = uniqueId('user');
  const [row] = await db
    .insert(connections)
    .values({ userId, calendlyUserUri })
    .returning({ id: connections.id });
  if (!row) throw new Error('connection not inserted');
  return { id: row.id, userId, calendlyUserUri };
}

/** The rows of one connection, stripped of ids and bookkeeping, keyed by Calendly URI. */
export async function snapshot(db: Database, connectionId: string) {
  const meetingRows = await db
    .select()
    .from(meetings)
    .where(eq(meetings.connectionId, connectionId))
    .orderBy(asc(meetings.calendlyEventUri));
  const inviteeRows = await db
    .select()
    .from(invitees)
    .where(eq(invitees.connectionId, connectionId))
    .orderBy(asc(invitees.calendlyInviteeUri));
  const meetingUriById = new Map(meetingRows.map((m) => [m.id, m.calendlyEventUri]));
  return {
    meetings: new Map<string, MeetingRecord>(
      meetingRows.map((m) => [m.calendlyEventUri, meetingRecordOf(m)]),
    ),
    invitees: new Map<string, InviteeRecord & { meeting: string | undefined }>(
      inviteeRows.map((i) => [
        i.calendlyInviteeUri,
        { ...inviteeRecordOf(i), meeting: meetingUriById.get(i.meetingId) },
      ]),
    ),
  };
}

export interface EnvelopeOptions {
  createdBy: string;
  event?: string;
  createdAt?: string;
  inviteeUri?: string;
  eventUri?: string;
  invitee?: Record<string, unknown>;
  scheduledEvent?: Record<string, unknown> | null;
}

/** A realistic invitee delivery body; overrides go into the invitee and its scheduled event. */
export function inviteeDelivery(options: EnvelopeOptions): string {
  const eventUri = options.eventUri ?? `https://api.calendly.com/scheduled_events/${uniqueId('E')}`;
  const at = options.createdAt ?? '2024-05-01T10:00:00.000000Z';
  const scheduledEvent =
    options.scheduledEvent === null
      ? undefined
      : {
          uri: eventUri,
          name: 'Intro call',
          status: 'active',
          start_time: '2024-06-01T09:00:00.000000Z',
          end_time: '2024-06-01T09:30:00.000000Z',
          event_type: 'https://api.calendly.com/event_types/ET1',
          location: { type: 'zoom', join_url: 'https://zoom.example/1' },
          invitees_counter: { total: 1, active: 1, limit: 1 },
          event_memberships: [{ user: options.createdBy }],
          created_at: at,
          updated_at: at,
          ...options.scheduledEvent,
        };
  return JSON.stringify({
    event: options.event ?? 'invitee.created',
    created_at: at,
    created_by: options.createdBy,
    payload: {
      uri: options.inviteeUri ?? `${eventUri}/invitees/${uniqueId('I')}`,
      event: eventUri,
      email: 'guest@example.com',
      name: 'Guest One',
      status: 'active',
      timezone: 'Europe/Berlin',
      questions_and_answers: [{ question: 'Topic?', answer: 'Roadmap', position: 0 }],
      tracking: { utm_source: null },
      rescheduled: false,
      old_invitee: null,
      new_invitee: null,
      cancellation: null,
      no_show: null,
      created_at: at,
      updated_at: at,
      scheduled_event: scheduledEvent,
      ...options.invitee,
    },
  });
}
