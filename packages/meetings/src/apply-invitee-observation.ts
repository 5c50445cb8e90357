// The one order-aware upsert of meetings and invitees. Webhook ingestion and backfill both go
// through it, so a delivery and a listing of the same data can never disagree. It works on a
// batch of observations at once: one lock statement, three reads and at most two writes
// however many there are, with the merge rules folded in memory in between.
import type { Executor, Tx } from '@calhook/db';
import {
  type ChangedMeeting,
  inviteeRecordOf,
  inviteesByKeys,
  lockKeys,
  meetingRecordOf,
  meetingsByKeysQuery,
  type NaturalKey,
  naturalKey,
  recordChanges,
  upsertInvitees,
  upsertMeetings,
} from './meeting-store.ts';
import {
  type InviteeRecord,
  type MeetingRecord,
  type Observation,
  planObservation,
  sameContent,
  sameRecord,
} from './merge-rules.ts';
import { type InviteeObservationInput, observationFromPayload } from './observation.ts';
import { isolatable, pgErrorCode } from './pg-errors.ts';

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

const keyOf = naturalKey;

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

  const inviteeKeys = planned.flatMap((p) =>
    [p.self, ...p.linked].map((uri): NaturalKey => [p.connectionId, uri]),
  );
  const meetingKeys = planned.map(
    (p): NaturalKey => [p.connectionId, p.observation.meeting.calendlyEventUri],
  );
  await lockKeys(tx, { meetings: meetingKeys, invitees: inviteeKeys });
  const storedMeetings = await meetingsByKeysQuery(tx, meetingKeys);
  const storedInvitees = await inviteesByKeys(
    tx,
    inviteeKeys,
    planned.map((p): NaturalKey => [p.connectionId, p.self]),
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
  const inviteeMeetings = await writeInvitees(tx, inviteeRows, meetingRows);
  await recordChanges(tx, changedMeetings(meetingRows, inviteeMeetings));
  return results;
}

const changed = <R extends MeetingRecord | InviteeRecord>(row: Tracked<R>) =>
  !row.stored || !sameRecord(row.stored, row.current);

/** Writes the final state of every meeting the batch created or changed; records their ids. */
async function writeMeetings(tx: Tx, rows: Map<string, Tracked<MeetingRecord>>) {
  const dirty = [...rows.values()].filter(changed);
  const ids = await upsertMeetings(
    tx,
    dirty.map((row) => ({ connectionId: row.connectionId, record: row.current })),
  );
  for (const row of dirty) {
    row.id = ids.get(keyOf(row.connectionId, row.current.calendlyEventUri)) ?? row.id;
  }
}

/**
 * Writes every invitee the batch created or changed; returns the meetings of those whose content
 * changed (a newer Calendly timestamp alone changes nothing anyone reads).
 */
async function writeInvitees(
  tx: Tx,
  rows: Map<string, TrackedInvitee>,
  meetingRows: Map<string, Tracked<MeetingRecord>>,
): Promise<Set<string>> {
  const contentChanged = new Set<string>();
  const writes = [...rows.values()].filter(changed).map((row) => {
    const meetingId =
      row.meetingId ?? meetingRows.get(keyOf(row.connectionId, row.current.calendlyEventUri))?.id;
    if (!meetingId) throw new Error(`no meeting for invitee ${row.current.calendlyInviteeUri}`);
    if (!row.stored || !sameContent(row.stored, row.current)) contentChanged.add(meetingId);
    return { connectionId: row.connectionId, meetingId, record: row.current };
  });
  await upsertInvitees(tx, writes);
  return contentChanged;
}

/** Every meeting whose row or one of whose invitees the batch changed, with before and after. */
function changedMeetings(
  meetingRows: Map<string, Tracked<MeetingRecord>>,
  inviteeMeetings: Set<string>,
): ChangedMeeting[] {
  const out: ChangedMeeting[] = [];
  const known = new Set<string>();
  for (const row of meetingRows.values()) {
    if (!row.id) continue;
    known.add(row.id);
    const contentChanged = !row.stored || !sameContent(row.stored, row.current);
    if (contentChanged || inviteeMeetings.has(row.id)) {
      out.push({ meetingId: row.id, before: row.stored, after: row.current });
    }
  }
  // A counterpart's meeting, changed through a reschedule link: it existed; its state is not
  // known here, and only the link changed.
  for (const id of inviteeMeetings) {
    if (!known.has(id)) out.push({ meetingId: id, before: 'existing', after: undefined });
  }
  return out;
}

/**
 * Applies a batch in one transaction. When Postgres refuses something in it, each observation
 * goes again alone in a transaction of its own, and one it still refuses is reported as not
 * applied (with Postgres's reason) instead of failing the others. Infrastructure failures (a
 * lost connection) still throw: every item would fail the same way.
 */
export async function applyObservationsIsolated(
  db: Executor,
  items: readonly ObservationItem[],
): Promise<ApplyObservationResult[]> {
  if (items.length === 0) return [];
  try {
    return await db.transaction((tx) => applyInviteeObservations(tx, items));
  } catch (error) {
    if (!isolatable(error)) throw error;
  }
  const results: ApplyObservationResult[] = [];
  for (const item of items) {
    try {
      results.push(
        await db.transaction((tx) => applyInviteeObservation(tx, item.connectionId, item.input)),
      );
    } catch (error) {
      if (!isolatable(error)) throw error;
      results.push({ ok: false, reason: `database refused it (${pgErrorCode(error)})` });
    }
  }
  return results;
}
