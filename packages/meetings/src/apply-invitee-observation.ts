// The one order-aware upsert of meetings and invitees. Webhook ingestion and backfill both go
// through it, so a delivery and a listing of the same data can never disagree. It works on a
// batch of observations at once: one lock statement, three reads and at most two writes
// however many there are, with the merge rules folded in memory in between.
import { createHash } from 'node:crypto';
import {
  type Executor,
  type InviteeRow,
  invitees,
  type MeetingRow,
  meetings,
  type Tx,
} from '@calhook/db';
import { and, type Column, isNotNull, sql } from 'drizzle-orm';
import { jsonRecordset, pairsIn, setFromExcluded } from './bulk-sql.ts';
import {
  type InviteeRecord,
  type MeetingRecord,
  type Observation,
  planObservation,
  sameContent,
  sameRecord,
} from './merge-rules.ts';
import { type InviteeObservationInput, observationFromPayload } from './observation.ts';

export interface ObservationChanges {
  meetingCreated: boolean;
  meetingUpdated: boolean;
  inviteeCreated: boolean;
  inviteeUpdated: boolean;
  /** A field users read changed (not only a version timestamp); creations count too. */
  contentChanged: boolean;
  /** Other invitees whose reschedule link this observation filled in. */
  counterpartsUpdated: number;
}

export type ApplyObservationResult =
  | ({ ok: true } & ObservationChanges)
  | { ok: false; reason: string };

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
 * never wait on each other in a cycle, whatever batches they hold.
 */
async function lockNaturalKeys(tx: Tx, keys: bigint[]): Promise<void> {
  const ordered = [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  await tx.execute(
    sql`select count(pg_advisory_xact_lock(k)) from unnest(${sql.param(ordered.map(String))}::bigint[]) as k`,
  );
}

export interface ObservationItem {
  connectionId: string;
  input: InviteeObservationInput;
}

/** A row as this batch sees it: what the database held when read, and what it should hold now. */
interface Tracked<R> {
  connectionId: string;
  id: string | undefined;
  stored: R | undefined;
  current: R;
}

interface TrackedInvitee extends Tracked<InviteeRecord> {
  /** The stored row's meeting; a new row takes the id of its event's meeting once written. */
  meetingId: string | undefined;
}

const keyOf = (connectionId: string, uri: string) => `${connectionId}\n${uri}`;

function dedupeById<R extends { id: string }>(rows: R[]): R[] {
  const byId = new Map<string, R>();
  for (const row of rows) byId.set(row.id, row);
  return [...byId.values()];
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

/** A connection id and a Calendly URI: the natural key of a meeting or an invitee. */
type Pair = readonly [connectionId: string, uri: string];

/**
 * The stored meetings of these (connection, event URI) pairs: one index lookup a pair, so a
 * batch costs the same however many meetings are stored. Exported for the plan test.
 */
export function storedMeetingsQuery(tx: Executor, pairs: readonly Pair[]) {
  return tx
    .select()
    .from(meetings)
    .where(pairsIn(meetings.connectionId, meetings.calendlyEventUri, pairs));
}

/**
 * The invitees `named` (a batch's invitees and the ones they link to) and those whose
 * reschedule links name one of `selves`: one index walk each (the link columns have partial
 * indexes). A row can come back twice; the caller keeps one. Exported for the plan test.
 */
export function storedInviteesQuery(tx: Executor, named: readonly Pair[], selves: readonly Pair[]) {
  const linkingTo = (column: Column) =>
    tx
      .select()
      .from(invitees)
      .where(and(isNotNull(column), pairsIn(invitees.connectionId, column, selves)));
  return tx
    .select()
    .from(invitees)
    .where(pairsIn(invitees.connectionId, invitees.calendlyInviteeUri, named))
    .unionAll(linkingTo(invitees.oldInviteeUri))
    .unionAll(linkingTo(invitees.newInviteeUri));
}

/**
 * Merges one invitee observation into the connection's meetings. Must run inside a
 * transaction (the locks last until it ends). Never makes a row older than it was.
 */
export async function applyInviteeObservation(
  tx: Tx,
  connectionId: string,
  input: InviteeObservationInput,
): Promise<ApplyObservationResult> {
  const [result] = await applyInviteeObservations(tx, [{ connectionId, input }]);
  if (!result) throw new Error('no result for the observation');
  return result;
}

/**
 * Merges many observations, possibly of many connections, in one transaction, with the same
 * result as applying them one by one in the given order: every row they can touch is locked
 * and read first, each observation is planned against the state the ones before it left, and
 * only the final state of each changed row is written. The counts of each result say what
 * that observation changed, exactly as a one-by-one application would report.
 */
export async function applyInviteeObservations(
  tx: Tx,
  items: readonly ObservationItem[],
): Promise<ApplyObservationResult[]> {
  const results: ApplyObservationResult[] = [];
  const planned: {
    index: number;
    connectionId: string;
    observation: Observation;
    self: string;
    linked: string[];
  }[] = [];
  for (const [index, item] of items.entries()) {
    const parsed = observationFromPayload(item.input);
    results.push(parsed.ok ? { ok: false, reason: 'not applied' } : parsed);
    if (!parsed.ok) continue;
    const { observation } = parsed;
    const self = observation.invitee.calendlyInviteeUri;
    const linked = [observation.invitee.oldInviteeUri, observation.invitee.newInviteeUri].filter(
      (uri): uri is string => uri !== null && uri !== self,
    );
    planned.push({ index, connectionId: item.connectionId, observation, self, linked });
  }
  if (planned.length === 0) return results;

  await lockNaturalKeys(
    tx,
    planned.flatMap((p) => [
      lockKey(p.connectionId, 'meeting', p.observation.meeting.calendlyEventUri),
      ...[p.self, ...p.linked].map((uri) => lockKey(p.connectionId, 'invitee', uri)),
    ]),
  );

  const storedMeetings = await storedMeetingsQuery(
    tx,
    planned.map((p) => [p.connectionId, p.observation.meeting.calendlyEventUri]),
  );
  const storedInvitees = dedupeById(
    await storedInviteesQuery(
      tx,
      planned.flatMap((p) => [p.self, ...p.linked].map((uri): Pair => [p.connectionId, uri])),
      planned.map((p): Pair => [p.connectionId, p.self]),
    ),
  );

  const meetingRows = new Map<string, Tracked<MeetingRecord>>();
  for (const row of storedMeetings) {
    const record = meetingRecordOf(row);
    meetingRows.set(keyOf(row.connectionId, row.calendlyEventUri), {
      connectionId: row.connectionId,
      id: row.id,
      stored: record,
      current: record,
    });
  }
  const inviteeRows = new Map<string, TrackedInvitee>();
  for (const row of storedInvitees) {
    const record = inviteeRecordOf(row);
    inviteeRows.set(keyOf(row.connectionId, row.calendlyInviteeUri), {
      connectionId: row.connectionId,
      id: row.id,
      meetingId: row.meetingId,
      stored: record,
      current: record,
    });
  }

  for (const { index, connectionId, observation, self, linked } of planned) {
    const meetingKey = keyOf(connectionId, observation.meeting.calendlyEventUri);
    const meeting = meetingRows.get(meetingKey);
    const invitee = inviteeRows.get(keyOf(connectionId, self));
    const counterparts = new Map<string, InviteeRecord>();
    for (const uri of linked) {
      const row = inviteeRows.get(keyOf(connectionId, uri));
      if (row) counterparts.set(uri, row.current);
    }
    const asNewOf: string[] = [];
    const asOldOf: string[] = [];
    for (const row of inviteeRows.values()) {
      if (row.connectionId !== connectionId) continue;
      if (row.current.newInviteeUri === self) asNewOf.push(row.current.calendlyInviteeUri);
      if (row.current.oldInviteeUri === self) asOldOf.push(row.current.calendlyInviteeUri);
    }
    const plan = planObservation(
      {
        meeting: meeting?.current,
        invitee: invitee?.current,
        counterparts,
        linkedFrom: { asNewOf, asOldOf },
      },
      observation,
    );

    const changes: ObservationChanges = {
      meetingCreated: false,
      meetingUpdated: false,
      inviteeCreated: false,
      inviteeUpdated: false,
      contentChanged: false,
      counterpartsUpdated: 0,
    };
    if (!meeting) {
      meetingRows.set(meetingKey, {
        connectionId,
        id: undefined,
        stored: undefined,
        current: plan.meeting,
      });
      changes.meetingCreated = true;
      changes.contentChanged = true;
    } else {
      if (!sameContent(meeting.current, plan.meeting)) changes.contentChanged = true;
      if (!sameRecord(meeting.current, plan.meeting)) changes.meetingUpdated = true;
      meeting.current = plan.meeting;
    }
    if (!invitee) {
      inviteeRows.set(keyOf(connectionId, self), {
        connectionId,
        id: undefined,
        meetingId: undefined,
        stored: undefined,
        current: plan.invitee,
      });
      changes.inviteeCreated = true;
      changes.contentChanged = true;
    } else {
      if (!sameRecord(invitee.current, plan.invitee)) {
        if (!sameContent(invitee.current, plan.invitee)) changes.contentChanged = true;
        changes.inviteeUpdated = true;
      }
      invitee.current = plan.invitee;
    }
    for (const next of plan.counterparts) {
      const row = inviteeRows.get(keyOf(connectionId, next.calendlyInviteeUri));
      if (row && !sameRecord(row.current, next)) {
        row.current = next;
        changes.counterpartsUpdated += 1;
      }
    }
    results[index] = { ok: true, ...changes };
  }

  await writeMeetings(tx, meetingRows);
  await writeInvitees(tx, inviteeRows, meetingRows);
  return results;
}

const changed = <R extends MeetingRecord | InviteeRecord>(row: Tracked<R>) =>
  !row.stored || !sameRecord(row.stored, row.current);

/**
 * One upsert for every meeting the batch created or changed. The advisory locks make a
 * conflict with a writer outside this batch impossible; the conflict clause is how an
 * existing row is updated in the same statement as the new ones are inserted.
 */
async function writeMeetings(tx: Tx, rows: Map<string, Tracked<MeetingRecord>>) {
  const dirty = [...rows.values()].filter(changed);
  if (dirty.length === 0) return;
  const { columns, source } = jsonRecordset(
    meetings,
    ['connectionId', 'calendlyEventUri', ...MEETING_FIELDS],
    dirty.map((row) => ({ ...row.current, connectionId: row.connectionId })),
  );
  const written = await tx.execute<{ id: string; connection_id: string; uri: string }>(sql`
    insert into ${meetings} (${columns}) select ${columns} from ${source}
    on conflict (connection_id, calendly_event_uri) do update
      set ${setFromExcluded(meetings, MEETING_FIELDS)}, updated_at = now()
    returning id, connection_id, calendly_event_uri as uri`);
  for (const row of written) {
    const tracked = rows.get(keyOf(row.connection_id, row.uri));
    if (tracked) tracked.id = row.id;
  }
}

async function writeInvitees(
  tx: Tx,
  rows: Map<string, TrackedInvitee>,
  meetingRows: Map<string, Tracked<MeetingRecord>>,
) {
  const dirty = [...rows.values()].filter(changed);
  if (dirty.length === 0) return;
  const { columns, source } = jsonRecordset(
    invitees,
    ['connectionId', 'meetingId', 'calendlyInviteeUri', ...INVITEE_FIELDS],
    dirty.map((row) => {
      const meetingId =
        row.meetingId ?? meetingRows.get(keyOf(row.connectionId, row.current.calendlyEventUri))?.id;
      if (!meetingId) throw new Error(`no meeting for invitee ${row.current.calendlyInviteeUri}`);
      return { ...row.current, connectionId: row.connectionId, meetingId };
    }),
  );
  // An invitee keeps the meeting it was first filed under: meeting_id is not updated.
  await tx.execute(sql`
    insert into ${invitees} (${columns}) select ${columns} from ${source}
    on conflict (connection_id, calendly_invitee_uri) do update
      set ${setFromExcluded(invitees, INVITEE_FIELDS)}, updated_at = now()`);
}
