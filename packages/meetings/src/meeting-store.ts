// The owner of the `meetings` and `invitees` tables (one aggregate: an invitee belongs to a
// meeting). Ingest, backfill and replay all write through these operations, so a row is only
// ever written one way.
import { createHash } from 'node:crypto';
import {
  type ChangeType,
  changeRepo,
  type Executor,
  type InviteeRow,
  invitees,
  type MeetingRow,
  meetings,
} from '@calhook/db';
import { and, type Column, isNotNull, sql } from 'drizzle-orm';
import { jsonRecordset, pairsIn, setFromExcluded } from './bulk-sql.ts';
import { meetingJson } from './meeting-json.ts';
import type { InviteeRecord, MeetingRecord } from './merge-rules.ts';

/** A connection id and a Calendly URI: the natural key of a meeting or an invitee. */
export type NaturalKey = readonly [connectionId: string, uri: string];

export const naturalKey = (connectionId: string, uri: string) => `${connectionId}\n${uri}`;

export function meetingRecordOf(row: MeetingRow): MeetingRecord {
  return {
    calendlyEventUri: row.calendlyEventUri,
    name: row.name,
    status: row.status,
    startTime: row.startTime,
    endTime: row.endTime,
    location: row.location ?? null,
    eventTypeUri: row.eventTypeUri,
    canceledAt: row.canceledAt,
    canceledBy: row.canceledBy,
    cancelReason: row.cancelReason,
    sourceUpdatedAt: row.sourceUpdatedAt,
  };
}

export function inviteeRecordOf(row: InviteeRow): InviteeRecord {
  return {
    calendlyInviteeUri: row.calendlyInviteeUri,
    calendlyEventUri: row.calendlyEventUri,
    email: row.email,
    name: row.name,
    timezone: row.timezone,
    status: row.status,
    rescheduled: row.rescheduled,
    canceledBy: row.canceledBy,
    cancelerType: row.cancelerType,
    cancelReason: row.cancelReason,
    canceledAt: row.canceledAt,
    questionsAndAnswers: Array.isArray(row.questionsAndAnswers) ? row.questionsAndAnswers : [],
    tracking: row.tracking ?? null,
    sourceUpdatedAt: row.sourceUpdatedAt,
    oldInviteeUri: row.oldInviteeUri,
    newInviteeUri: row.newInviteeUri,
    noShow: row.noShow,
    noShowUri: row.noShowUri,
    noShowUpdatedAt: row.noShowUpdatedAt,
  };
}

function lockKey(connectionId: string, kind: 'meeting' | 'invitee', uri: string): bigint {
  return createHash('sha256').update(`${connectionId}\n${kind}\n${uri}`).digest().readBigInt64BE(0);
}

/**
 * Serialises every transaction that touches the same meeting or invitee of a connection,
 * including rows that do not exist yet: a row lock cannot cover an insert race, and the
 * reschedule links need the counterpart's row to be either committed or not yet started.
 * Keys are taken in ascending order (unnest keeps the array's order) so two transactions
 * never wait on each other in a cycle, whatever batches they hold. Must run in a transaction.
 */
export async function lockKeys(
  tx: Executor,
  keys: { meetings: readonly NaturalKey[]; invitees: readonly NaturalKey[] },
): Promise<void> {
  const all = [
    ...keys.meetings.map(([c, uri]) => lockKey(c, 'meeting', uri)),
    ...keys.invitees.map(([c, uri]) => lockKey(c, 'invitee', uri)),
  ];
  const ordered = [...new Set(all)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (ordered.length === 0) return;
  await tx.execute(
    sql`select count(pg_advisory_xact_lock(k)) from unnest(${sql.param(ordered.map(String))}::bigint[]) as k`,
  );
}

/**
 * The stored meetings of these (connection, event URI) pairs: one index lookup a pair, so a
 * batch costs the same however many meetings are stored. Exported for the plan test.
 */
export function meetingsByKeysQuery(ex: Executor, keys: readonly NaturalKey[]) {
  return ex
    .select()
    .from(meetings)
    .where(pairsIn(meetings.connectionId, meetings.calendlyEventUri, keys));
}

/**
 * The invitees `named` (a batch's invitees and the ones they link to) and those whose
 * reschedule links name one of `selves`: one index walk each (the link columns have partial
 * indexes). A row can come back twice; the caller keeps one. Exported for the plan test.
 */
export function inviteesByKeysQuery(
  ex: Executor,
  named: readonly NaturalKey[],
  selves: readonly NaturalKey[],
) {
  const linkingTo = (column: Column) =>
    ex
      .select()
      .from(invitees)
      .where(and(isNotNull(column), pairsIn(invitees.connectionId, column, selves)));
  return ex
    .select()
    .from(invitees)
    .where(pairsIn(invitees.connectionId, invitees.calendlyInviteeUri, named))
    .unionAll(linkingTo(invitees.oldInviteeUri))
    .unionAll(linkingTo(invitees.newInviteeUri));
}

/** The stored invitees of these keys and every invitee linking to `selves`, once each. */
export async function inviteesByKeys(
  ex: Executor,
  named: readonly NaturalKey[],
  selves: readonly NaturalKey[],
): Promise<InviteeRow[]> {
  const byId = new Map<string, InviteeRow>();
  for (const row of await inviteesByKeysQuery(ex, named, selves)) byId.set(row.id, row);
  return [...byId.values()];
}

/**
 * Meetings of one connection by event URI and invitees by URI or by those meetings: what a
 * replay rebuilds. `lock` holds the rows until the transaction ends, so a live delivery for
 * them waits for the replay.
 */
export async function rowsAbout(
  ex: Executor,
  connectionId: string,
  uris: { events: readonly string[]; invitees: readonly string[] },
  lock: boolean,
): Promise<{ meetings: MeetingRow[]; invitees: InviteeRow[] }> {
  const meetingQuery = meetingsByKeysQuery(
    ex,
    uris.events.map((uri): NaturalKey => [connectionId, uri]),
  );
  const foundMeetings = lock ? await meetingQuery.for('update') : await meetingQuery;
  const meetingIds = foundMeetings.map((row) => row.id);
  const inviteeQuery = ex
    .select()
    .from(invitees)
    .where(
      sql`${invitees.connectionId} = ${connectionId} and (${invitees.calendlyInviteeUri} = any(${sql.param([...uris.invitees])}::text[]) or ${invitees.meetingId} = any(${sql.param(meetingIds)}::uuid[]))`,
    );
  return {
    meetings: foundMeetings,
    invitees: lock ? await inviteeQuery.for('update') : await inviteeQuery,
  };
}

const MEETING_FIELDS = [
  'name',
  'status',
  'startTime',
  'endTime',
  'location',
  'eventTypeUri',
  'canceledAt',
  'canceledBy',
  'cancelReason',
  'sourceUpdatedAt',
] as const satisfies readonly (keyof MeetingRecord)[];

const INVITEE_FIELDS = [
  'calendlyEventUri',
  'email',
  'name',
  'timezone',
  'status',
  'rescheduled',
  'canceledBy',
  'cancelerType',
  'cancelReason',
  'canceledAt',
  'questionsAndAnswers',
  'tracking',
  'sourceUpdatedAt',
  'oldInviteeUri',
  'newInviteeUri',
  'noShow',
  'noShowUri',
  'noShowUpdatedAt',
] as const satisfies readonly (keyof InviteeRecord)[];

export interface MeetingWrite {
  connectionId: string;
  record: MeetingRecord;
}

export interface InviteeWrite {
  connectionId: string;
  meetingId: string;
  record: InviteeRecord;
}

/**
 * Inserts or updates these meetings by natural key in one statement, and returns the id of
 * each by `naturalKey`. The caller holds the natural-key locks, so no writer outside its
 * transaction can conflict; the conflict clause is how an existing row is updated in the same
 * statement as the new ones are inserted.
 */
export async function upsertMeetings(
  tx: Executor,
  writes: readonly MeetingWrite[],
): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  if (writes.length === 0) return ids;
  const { columns, source } = jsonRecordset(
    meetings,
    ['connectionId', 'calendlyEventUri', ...MEETING_FIELDS],
    writes.map((w) => ({ ...w.record, connectionId: w.connectionId })),
  );
  const written = await tx.execute<{ id: string; connection_id: string; uri: string }>(sql`
    insert into ${meetings} (${columns}) select ${columns} from ${source}
    on conflict (connection_id, calendly_event_uri) do update
      set ${setFromExcluded(meetings, MEETING_FIELDS)}, updated_at = now()
    returning id, connection_id, calendly_event_uri as uri`);
  for (const row of written) ids.set(naturalKey(row.connection_id, row.uri), row.id);
  return ids;
}

/**
 * Inserts or updates these invitees by natural key in one statement. An invitee keeps the
 * meeting it was first filed under (`meeting_id` is not updated) unless `refile` is set: a
 * replay rebuilding rows from scratch files it where the current rules put it.
 */
export async function upsertInvitees(
  tx: Executor,
  writes: readonly InviteeWrite[],
  options: { refile: boolean } = { refile: false },
): Promise<void> {
  if (writes.length === 0) return;
  const { columns, source } = jsonRecordset(
    invitees,
    ['connectionId', 'meetingId', 'calendlyInviteeUri', ...INVITEE_FIELDS],
    writes.map((w) => ({ ...w.record, connectionId: w.connectionId, meetingId: w.meetingId })),
  );
  const refile = options.refile ? sql`, meeting_id = excluded.meeting_id` : sql``;
  await tx.execute(sql`
    insert into ${invitees} (${columns}) select ${columns} from ${source}
    on conflict (connection_id, calendly_invitee_uri) do update
      set ${setFromExcluded(invitees, INVITEE_FIELDS)}${refile}, updated_at = now()`);
}

/**
 * Removes rows so a replay can rebuild them from the inbox. Only ever inside a savepoint that
 * the replay rolls back: what it writes for real goes through the upserts above.
 */
export async function deleteForRebuild(
  tx: Executor,
  ids: { meetings: readonly string[]; invitees: readonly string[] },
): Promise<void> {
  if (ids.invitees.length > 0) {
    await tx
      .delete(invitees)
      .where(sql`${invitees.id} = any(${sql.param([...ids.invitees])}::uuid[])`);
  }
  if (ids.meetings.length > 0) {
    await tx
      .delete(meetings)
      .where(sql`${meetings.id} = any(${sql.param([...ids.meetings])}::uuid[])`);
  }
}

/** A meeting a transaction changed (its row, or one of its invitees). */
export interface ChangedMeeting {
  meetingId: string;
  /**
   * The meeting as it was before the transaction; undefined for one it created; `existing`
   * for one that existed in a state the caller did not read.
   */
  before: Pick<MeetingRecord, 'status' | 'startTime'> | 'existing' | undefined;
  /** As it is now, when the caller knows (a counterpart's meeting it never read: not known). */
  after: Pick<MeetingRecord, 'status' | 'startTime'> | undefined;
}

/**
 * What kind of change this was. A meeting the API did not show before (new, or a placeholder
 * without a start time) is created; one that turned canceled is canceled; anything else, later
 * changes of a canceled meeting included, is updated.
 */
export function changeTypeOf(change: ChangedMeeting): ChangeType {
  if (change.before === 'existing') return 'meeting.updated';
  if (!change.before || change.before.startTime === null) return 'meeting.created';
  if (change.before.status !== 'canceled' && change.after?.status === 'canceled') {
    return 'meeting.canceled';
  }
  return 'meeting.updated';
}

/**
 * Records the meetings a transaction changed: each existing one's version grows by one, and one
 * change per meeting goes to the feed with the meeting as the API now shows it. Meetings the API
 * does not show (no start time yet) change version but record nothing. Call after the writes,
 * in their transaction.
 */
export async function recordChanges(tx: Executor, changed: readonly ChangedMeeting[]) {
  const byId = new Map<string, ChangedMeeting>();
  for (const change of changed) if (!byId.has(change.meetingId)) byId.set(change.meetingId, change);
  if (byId.size === 0) return;
  const existing = [...byId.values()].filter((c) => c.before).map((c) => c.meetingId);
  if (existing.length > 0) {
    await tx.execute(sql`
      update ${meetings} set version = version + 1, updated_at = now()
      where id = any(${sql.param(existing)}::uuid[])`);
  }
  await changeRepo.appendMeetingSnapshots(
    tx,
    [...byId.values()].map((c) => ({ meetingId: c.meetingId, type: changeTypeOf(c) })),
    meetingJson(),
  );
}
