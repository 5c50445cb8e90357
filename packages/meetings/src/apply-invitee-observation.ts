// The one order-aware upsert of meetings and invitees. Webhook ingestion and backfill both go
// through it, so a delivery and a listing of the same data can never disagree.
import { createHash } from 'node:crypto';
import { type InviteeRow, invitees, type MeetingRow, meetings, type Tx } from '@calhook/db';
import { and, eq, inArray, or, sql } from 'drizzle-orm';
import {
  type InviteeRecord,
  type MeetingRecord,
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
 * Keys are taken in ascending order so two transactions never wait on each other in a cycle.
 */
async function lockNaturalKeys(tx: Tx, keys: bigint[]): Promise<void> {
  const ordered = [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const key of ordered) {
    await tx.execute(sql`select pg_advisory_xact_lock(${key.toString()}::bigint)`);
  }
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
  const parsed = observationFromPayload(input);
  if (!parsed.ok) return parsed;
  const { observation } = parsed;
  const self = observation.invitee.calendlyInviteeUri;
  const eventUri = observation.meeting.calendlyEventUri;
  const linked = [observation.invitee.oldInviteeUri, observation.invitee.newInviteeUri].filter(
    (uri): uri is string => uri !== null && uri !== self,
  );

  await lockNaturalKeys(tx, [
    lockKey(connectionId, 'meeting', eventUri),
    ...[self, ...linked].map((uri) => lockKey(connectionId, 'invitee', uri)),
  ]);

  const [storedMeeting] = await tx
    .select()
    .from(meetings)
    .where(and(eq(meetings.connectionId, connectionId), eq(meetings.calendlyEventUri, eventUri)));
  const storedInvitees = await tx
    .select()
    .from(invitees)
    .where(
      and(
        eq(invitees.connectionId, connectionId),
        inArray(invitees.calendlyInviteeUri, [self, ...linked]),
      ),
    );
  const pointingHere = await tx
    .select({
      uri: invitees.calendlyInviteeUri,
      oldInviteeUri: invitees.oldInviteeUri,
      newInviteeUri: invitees.newInviteeUri,
    })
    .from(invitees)
    .where(
      and(
        eq(invitees.connectionId, connectionId),
        or(eq(invitees.oldInviteeUri, self), eq(invitees.newInviteeUri, self)),
      ),
    );

  const storedSelf = storedInvitees.find((row) => row.calendlyInviteeUri === self);
  const counterpartRows = storedInvitees.filter((row) => row.calendlyInviteeUri !== self);
  const plan = planObservation(
    {
      meeting: storedMeeting ? meetingRecordOf(storedMeeting) : undefined,
      invitee: storedSelf ? inviteeRecordOf(storedSelf) : undefined,
      counterparts: new Map(
        counterpartRows.map((row) => [row.calendlyInviteeUri, inviteeRecordOf(row)]),
      ),
      linkedFrom: {
        asNewOf: pointingHere.filter((r) => r.newInviteeUri === self).map((r) => r.uri),
        asOldOf: pointingHere.filter((r) => r.oldInviteeUri === self).map((r) => r.uri),
      },
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

  let meetingId: string;
  if (!storedMeeting) {
    meetingId = await insertMeeting(tx, connectionId, plan.meeting);
    changes.meetingCreated = true;
    changes.contentChanged = true;
  } else {
    meetingId = storedMeeting.id;
    const before = meetingRecordOf(storedMeeting);
    if (!sameContent(before, plan.meeting)) changes.contentChanged = true;
    if (!sameRecord(before, plan.meeting)) {
      await tx
        .update(meetings)
        .set({ ...plan.meeting, updatedAt: sql`now()` })
        .where(eq(meetings.id, storedMeeting.id));
      changes.meetingUpdated = true;
    }
  }

  if (!storedSelf) {
    await insertInvitee(tx, connectionId, meetingId, plan.invitee);
    changes.inviteeCreated = true;
    changes.contentChanged = true;
  } else if (!sameRecord(inviteeRecordOf(storedSelf), plan.invitee)) {
    if (!sameContent(inviteeRecordOf(storedSelf), plan.invitee)) changes.contentChanged = true;
    await updateInvitee(tx, storedSelf.id, plan.invitee);
    changes.inviteeUpdated = true;
  }

  for (const next of plan.counterparts) {
    const row = counterpartRows.find((r) => r.calendlyInviteeUri === next.calendlyInviteeUri);
    if (row && !sameRecord(inviteeRecordOf(row), next)) {
      await updateInvitee(tx, row.id, next);
      changes.counterpartsUpdated += 1;
    }
  }
  return { ok: true, ...changes };
}

// The advisory lock makes a conflict here impossible for writers that go through this module;
// one that does not is a bug, and failing lets the job retry against the committed row.
async function insertMeeting(tx: Tx, connectionId: string, record: MeetingRecord) {
  const [row] = await tx
    .insert(meetings)
    .values({ ...record, connectionId })
    .onConflictDoNothing()
    .returning({ id: meetings.id });
  if (!row) throw new Error(`meeting ${record.calendlyEventUri} was inserted concurrently`);
  return row.id;
}

async function insertInvitee(
  tx: Tx,
  connectionId: string,
  meetingId: string,
  record: InviteeRecord,
) {
  const [row] = await tx
    .insert(invitees)
    .values({ ...record, connectionId, meetingId })
    .onConflictDoNothing()
    .returning({ id: invitees.id });
  if (!row) throw new Error(`invitee ${record.calendlyInviteeUri} was inserted concurrently`);
}

async function updateInvitee(tx: Tx, id: string, record: InviteeRecord) {
  await tx
    .update(invitees)
    .set({ ...record, updatedAt: sql`now()` })
    .where(eq(invitees.id, id));
}
