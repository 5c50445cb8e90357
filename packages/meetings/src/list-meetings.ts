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
  /** Inclusive lower bound on the start time, within the accepted range. */
  from?: Date;
  /** Exclusive upper bound on the start time, within the accepted range and not before `from`. */
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
      error: 'invalid_cursor' | 'invalid_limit' | 'invalid_time' | 'invalid_window';
      field: 'cursor' | 'limit' | 'from' | 'to';
      message: string;
    };

export const DEFAULT_MEETINGS_LIMIT = 50;
export const MAX_MEETINGS_LIMIT = 200;

/**
 * The instants a query may name (`from`, `to`, a cursor's position): years 1 to 9999 in UTC.
 * Postgres timestamptz holds 4713 BC to 294276 AD and a JS Date ±275760 years, but Postgres has
 * no year 0 and rejects what lies past its range with an error, not an empty result: bounds
 * checked here keep such a value a 400 naming the parameter instead of a failed query.
 */
export const EARLIEST_MEETING_TIME = new Date('0001-01-01T00:00:00.000Z');
export const LATEST_MEETING_TIME = new Date('9999-12-31T23:59:59.999Z');

function inTimeRange(time: Date): boolean {
  const ms = time.getTime();
  return ms >= EARLIEST_MEETING_TIME.getTime() && ms <= LATEST_MEETING_TIME.getTime();
}

const TIME_RANGE_MESSAGE =
  'must be an ISO 8601 date-time from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z';

interface CursorPosition {
  startTime: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Date.toISOString within years 0 to 9999 (expanded years are out of range anyway).
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

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
  // Only what encodeMeetingsCursor writes: Date.parse alone also takes free-form dates.
  if (!ISO_TIME.test(time)) return null;
  const startTime = new Date(time);
  if (!inTimeRange(startTime)) return null;
  return { startTime, id };
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
  for (const field of ['from', 'to'] as const) {
    const time = query[field];
    if (time !== undefined && !inTimeRange(time)) {
      return { ok: false, error: 'invalid_time', field, message: `${field} ${TIME_RANGE_MESSAGE}` };
    }
  }
  // An inverted window is a caller's mistake, not an empty answer; from == to is a valid
  // (empty) half-open window.
  if (query.from && query.to && query.to < query.from) {
    return {
      ok: false,
      error: 'invalid_window',
      field: 'to',
      message: 'to must not be earlier than from',
    };
  }
  let after: CursorPosition | null = null;
  if (query.cursor) {
    after = decodeMeetingsCursor(query.cursor);
    if (!after) {
      return {
        ok: false,
        error: 'invalid_cursor',
        field: 'cursor',
        message: 'malformed cursor: pass a nextCursor unchanged',
      };
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
