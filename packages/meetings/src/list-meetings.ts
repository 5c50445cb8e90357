// The meetings read side: one query for a page of meetings with their invitees, each rendered
// by meeting-json.ts (as the change feed renders them), keyset pagination on (start_time, id)
// so pages stay stable while rows are being written.
import { connections, type Executor, meetings } from '@calhook/db';
import { and, asc, eq, gt, gte, isNotNull, lt, or, type SQL, sql } from 'drizzle-orm';
import { meetingJson } from './meeting-json.ts';
import type { MeetingStatus } from './merge-rules.ts';

export interface MeetingInvitee {
  uri: string;
  email: string | null;
  name: string | null;
  status: MeetingStatus;
  noShow: boolean;
  rescheduled: boolean;
  oldInviteeUri: string | null;
  newInviteeUri: string | null;
  canceledBy: string | null;
  cancelReason: string | null;
  questionsAndAnswers: unknown[];
}

/** The API's Meeting (API.md). */
export interface Meeting {
  id: string;
  calendlyEventUri: string;
  name: string | null;
  status: MeetingStatus;
  startTime: string;
  endTime: string | null;
  location: unknown;
  eventTypeUri: string | null;
  canceledAt: string | null;
  cancelReason: string | null;
  /** When calhook last changed the meeting row. */
  updatedAt: string;
  /** Grows with every recorded change to the meeting or its invitees. */
  version: number;
  invitees: MeetingInvitee[];
}

export interface ListMeetingsQuery {
  userId: string;
  /** Inclusive lower bound on the start time. */
  from?: Date;
  /** Exclusive upper bound on the start time. */
  to?: Date;
  status?: MeetingStatus;
  /** 1..200, default 50. */
  limit?: number;
  cursor?: string | null;
}

export type ListMeetingsResult =
  | { ok: true; meetings: Meeting[]; nextCursor: string | null }
  | {
      ok: false;
      error: 'invalid_cursor' | 'invalid_limit';
      field: 'cursor' | 'limit';
      message: string;
    };

export const DEFAULT_MEETINGS_LIMIT = 50;
export const MAX_MEETINGS_LIMIT = 200;

interface CursorPosition {
  startTime: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeMeetingsCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.startTime.toISOString(), position.id])).toString(
    'base64url',
  );
}

export function decodeMeetingsCursor(cursor: string): CursorPosition | null {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(value) || value.length !== 2) return null;
  const [time, id] = value as unknown[];
  if (typeof time !== 'string' || typeof id !== 'string' || !UUID.test(id)) return null;
  const ms = Date.parse(time);
  if (Number.isNaN(ms)) return null;
  return { startTime: new Date(ms), id };
}

/**
 * Lists a user's meetings by start time. Meetings whose start time is not known yet (made up
 * from an invitee payload without its scheduled event) are left out until real data fills them.
 */
export async function listMeetings(
  db: Executor,
  query: ListMeetingsQuery,
): Promise<ListMeetingsResult> {
  const limit = query.limit ?? DEFAULT_MEETINGS_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_MEETINGS_LIMIT) {
    return {
      ok: false,
      error: 'invalid_limit',
      field: 'limit',
      message: `limit must be an integer from 1 to ${MAX_MEETINGS_LIMIT}`,
    };
  }
  let after: CursorPosition | null = null;
  if (query.cursor) {
    after = decodeMeetingsCursor(query.cursor);
    if (!after) {
      return { ok: false, error: 'invalid_cursor', field: 'cursor', message: 'malformed cursor' };
    }
  }

  const conditions: (SQL | undefined)[] = [
    eq(connections.userId, query.userId),
    isNotNull(meetings.startTime),
    query.from ? gte(meetings.startTime, query.from) : undefined,
    query.to ? lt(meetings.startTime, query.to) : undefined,
    query.status ? eq(meetings.status, query.status) : undefined,
    after
      ? or(
          gt(meetings.startTime, after.startTime),
          and(eq(meetings.startTime, after.startTime), gt(meetings.id, after.id)),
        )
      : undefined,
  ];
  const rows = await db
    .select({
      id: meetings.id,
      startTime: meetings.startTime,
      meeting: sql<Meeting>`${meetingJson(sql.raw('"meetings"'))}`,
    })
    .from(meetings)
    .innerJoin(connections, eq(connections.id, meetings.connectionId))
    .where(and(...conditions))
    .orderBy(asc(meetings.startTime), asc(meetings.id))
    // One extra row tells whether another page exists without a count query.
    .limit(limit + 1);

  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const nextCursor =
    rows.length > limit && last?.startTime
      ? encodeMeetingsCursor({ startTime: last.startTime, id: last.id })
      : null;
  return {
    ok: true,
    meetings: page.map((row) => row.meeting),
    nextCursor,
  };
}
