// Replay: re-runs stored inbox deliveries through the current code and rebuilds the meetings
// and invitees they describe. After a fix to the merge rules, a row the old code got wrong at
// the same Calendly timestamp would survive a plain re-apply ("newer wins" keeps it), so the
// affected rows are rebuilt from every stored delivery that mentions them instead.
import {
  connections,
  type Database,
  eventInbox,
  type InboxOutcome,
  type InviteeRow,
  invitees,
  type MeetingRow,
  meetings,
  type Tx,
} from '@calhook/db';
import { and, asc, eq, gte, inArray, notInArray, or, type SQL, sql } from 'drizzle-orm';
import { inviteeRecordOf, meetingRecordOf } from './apply-invitee-observation.ts';
import { canonicalJson } from './canonical-json.ts';
import { ingestDelivery, MEETING_EVENT_TYPES } from './ingest-delivery.ts';
import type { InviteeRecord, MeetingRecord } from './merge-rules.ts';

export interface ReplayFilter {
  /** The app's user id (connections.user_id). */
  userId?: string | undefined;
  /** Deliveries received at or after this time. */
  since?: Date | undefined;
  /** Calendly event type, e.g. `invitee.canceled`. */
  eventType?: string | undefined;
}

export interface ReplayOptions extends ReplayFilter {
  /** Compute and report everything, then roll back. */
  dryRun: boolean;
  now?: () => Date;
}

export interface ReplayedEvent {
  inboxId: number;
  connectionId: string;
  eventType: string | null;
  /** False for deliveries pulled in because they describe the same meetings as selected ones. */
  selected: boolean;
  outcomeBefore: InboxOutcome;
  outcomeAfter: InboxOutcome;
  detail: string | null;
  /** Whether the inbox row's outcome is (or, in a dry run, would be) rewritten. */
  outcomeChanged: boolean;
}

export interface ReplayedRow {
  kind: 'meeting' | 'invitee';
  connectionId: string;
  uri: string;
  /**
   * created/updated: the replay wrote it. kept: the stored row has data newer than any stored
   * delivery about it (from backfill) or no delivery describes it, so it was left alone.
   */
  change: 'created' | 'updated' | 'kept';
  fields: string[];
}

export interface ReplayReport {
  dryRun: boolean;
  selected: number;
  replayed: number;
  events: ReplayedEvent[];
  /** Rows created, updated or kept; rows the replay left exactly as they were are not listed. */
  rows: ReplayedRow[];
}

type InboxSlice = {
  id: number;
  connectionId: string;
  hookId: string;
  body: string;
  receivedAt: Date;
  outcome: InboxOutcome;
  eventType: string | null;
};

/** Meeting and invitee URIs one delivery body names; nothing for bodies that are not meetings. */
export function urisOfDelivery(body: string): { events: string[]; invitees: string[] } {
  const none = { events: [], invitees: [] };
  let envelope: unknown;
  try {
    envelope = JSON.parse(body);
  } catch {
    return none;
  }
  const { event, payload } = (envelope ?? {}) as { event?: unknown; payload?: unknown };
  if (!(MEETING_EVENT_TYPES as readonly unknown[]).includes(event)) return none;
  const p = (payload ?? {}) as Record<string, unknown>;
  const strings = (...values: unknown[]) =>
    values.filter((v): v is string => typeof v === 'string' && v !== '');
  const scheduled = (p.scheduled_event ?? {}) as { uri?: unknown };
  return {
    events: strings(p.event, scheduled.uri),
    invitees: strings(p.uri, p.old_invitee, p.new_invitee),
  };
}

class RollBack extends Error {}

const inboxColumns = {
  id: eventInbox.id,
  connectionId: eventInbox.connectionId,
  hookId: eventInbox.hookId,
  body: eventInbox.body,
  receivedAt: eventInbox.receivedAt,
  outcome: eventInbox.outcome,
  eventType: eventInbox.eventType,
};

/** `applied` and `stale` depend only on arrival order, which a rebuild changes: one class. */
function sameOutcomeClass(a: InboxOutcome, b: InboxOutcome): boolean {
  const applied = (o: InboxOutcome) => o === 'applied' || o === 'stale';
  return a === b || (applied(a) && applied(b));
}

function changedFields(before: object, after: object): string[] {
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  return Object.keys(b).filter((key) => canonicalJson(a[key]) !== canonicalJson(b[key]));
}

const time = (d: Date | null) => d?.getTime() ?? Number.NEGATIVE_INFINITY;

/** The rebuilt meeting explains the stored one when it is at least as new. */
const meetingExplained = (stored: MeetingRecord, rebuilt: MeetingRecord) =>
  time(rebuilt.sourceUpdatedAt) >= time(stored.sourceUpdatedAt);

const inviteeExplained = (stored: InviteeRecord, rebuilt: InviteeRecord) =>
  time(rebuilt.sourceUpdatedAt) >= time(stored.sourceUpdatedAt) &&
  time(rebuilt.noShowUpdatedAt) >= time(stored.noShowUpdatedAt);

/**
 * Re-runs the selected inbox deliveries, with every other stored delivery about the same
 * meetings, through `ingestDelivery` (the `ingest-event` job's code) inside a savepoint that is
 * always rolled back, then writes the difference onto the stored rows: ids stay, rows nothing
 * selected describes stay, and a row holding data newer than the inbox knows (from backfill)
 * stays. Running it twice changes nothing the second time. A delivery that arrives for the
 * same meeting while a replay runs can leave that meeting one delivery behind: run replay
 * again, or when ingestion is quiet.
 */
export async function replayInbox(db: Database, options: ReplayOptions): Promise<ReplayReport> {
  const now = options.now ?? (() => new Date());
  let report: ReplayReport | undefined;
  try {
    await db.transaction(async (tx) => {
      report = await replayIn(tx, options, now);
      if (options.dryRun) throw new RollBack();
    });
  } catch (error) {
    if (!(error instanceof RollBack)) throw error;
  }
  if (!report) throw new Error('replay produced no report');
  return report;
}

async function replayIn(tx: Tx, options: ReplayOptions, now: () => Date): Promise<ReplayReport> {
  const filters: SQL[] = [];
  if (options.userId !== undefined) filters.push(eq(connections.userId, options.userId));
  if (options.since !== undefined) filters.push(gte(eventInbox.receivedAt, options.since));
  if (options.eventType !== undefined) filters.push(eq(eventInbox.eventType, options.eventType));
  const selected: InboxSlice[] = await tx
    .select(inboxColumns)
    .from(eventInbox)
    .innerJoin(connections, eq(connections.id, eventInbox.connectionId))
    .where(and(...filters))
    .orderBy(asc(eventInbox.id));

  // Per connection: every stored delivery that names a meeting or invitee a selected delivery
  // names, followed until no new one turns up (reschedules link invitees across meetings).
  const events = new Map<number, InboxSlice>(selected.map((row) => [row.id, row]));
  const eventUris = new Map<string, Set<string>>();
  const inviteeUris = new Map<string, Set<string>>();
  const setOf = (map: Map<string, Set<string>>, key: string) => {
    const set = map.get(key) ?? new Set<string>();
    map.set(key, set);
    return set;
  };
  const learn = (row: InboxSlice) => {
    const uris = urisOfDelivery(row.body);
    let added = 0;
    for (const [map, list] of [
      [eventUris, uris.events],
      [inviteeUris, uris.invitees],
    ] as const) {
      const set = setOf(map, row.connectionId);
      for (const uri of list) {
        if (set.has(uri)) continue;
        set.add(uri);
        added++;
      }
    }
    return added;
  };
  for (const row of selected) learn(row);
  const connectionIds = [...new Set(selected.map((row) => row.connectionId))];
  for (const connectionId of connectionIds) {
    for (let round = 0; round < 20; round++) {
      const uris = [
        ...(eventUris.get(connectionId) ?? []),
        ...(inviteeUris.get(connectionId) ?? []),
      ];
      if (uris.length === 0) break;
      const known = [...events.keys()];
      const found: InboxSlice[] = await tx
        .select(inboxColumns)
        .from(eventInbox)
        .where(
          and(
            eq(eventInbox.connectionId, connectionId),
            known.length > 0 ? notInArray(eventInbox.id, known) : undefined,
            or(...uris.map((uri) => sql`position(${uri} in ${eventInbox.body}) > 0`)),
          ),
        );
      let added = 0;
      for (const row of found) {
        // A body merely containing the text is not about the meeting; its parsed URIs decide.
        const named = urisOfDelivery(row.body);
        if (![...named.events, ...named.invitees].some((uri) => uris.includes(uri))) continue;
        events.set(row.id, row);
        added += learn(row) + 1;
      }
      if (added === 0) break;
    }
  }
  const ordered = [...events.values()].sort((a, b) => a.id - b.id);

  const stored = await readRows(tx, eventUris, inviteeUris, true);

  // Rebuild from nothing inside a savepoint, read the result, and always roll it back: what is
  // written for real is only the difference, onto the stored rows.
  let rebuilt: Rows = { meetings: [], invitees: [] };
  let after = new Map<
    number,
    {
      outcome: InboxOutcome;
      detail: string | null;
      eventType: string | null;
      calendlyCreatedAt: Date | null;
    }
  >();
  try {
    await tx.transaction(async (sp) => {
      const inviteeIds = stored.invitees.map((row) => row.id);
      const meetingIds = stored.meetings.map((row) => row.id);
      if (inviteeIds.length > 0) await sp.delete(invitees).where(inArray(invitees.id, inviteeIds));
      if (meetingIds.length > 0) await sp.delete(meetings).where(inArray(meetings.id, meetingIds));
      const ids = ordered.map((row) => row.id);
      if (ids.length > 0) {
        await sp.update(eventInbox).set({ processedAt: null }).where(inArray(eventInbox.id, ids));
      }
      for (const row of ordered) {
        // A transaction runs every statement ingestDelivery issues; its own transaction call
        // becomes a nested savepoint. The inbox insert is a no-op (the row exists) and the
        // processed mark was cleared above, so the delivery runs exactly as a first arrival.
        await ingestDelivery(
          sp as unknown as Database,
          {
            hookId: row.hookId,
            connectionId: row.connectionId,
            body: row.body,
            receivedAt: row.receivedAt,
          },
          { now },
        );
      }
      rebuilt = await readRows(sp, eventUris, inviteeUris, false);
      if (ids.length > 0) {
        const outcomes = await sp
          .select({
            id: eventInbox.id,
            outcome: eventInbox.outcome,
            detail: eventInbox.outcomeDetail,
            eventType: eventInbox.eventType,
            calendlyCreatedAt: eventInbox.calendlyCreatedAt,
          })
          .from(eventInbox)
          .where(inArray(eventInbox.id, ids));
        after = new Map(outcomes.map(({ id, ...rest }) => [id, rest]));
      }
      throw new RollBack();
    });
  } catch (error) {
    if (!(error instanceof RollBack)) throw error;
  }

  const rows: ReplayedRow[] = [];
  const keyOf = (connectionId: string, uri: string) => `${connectionId}\n${uri}`;

  // Meetings first: invitees point at them.
  const meetingIdByKey = new Map<string, string>();
  const storedMeetings = new Map(
    stored.meetings.map((row) => [keyOf(row.connectionId, row.calendlyEventUri), row]),
  );
  const rebuiltMeetings = new Map(
    rebuilt.meetings.map((row) => [keyOf(row.connectionId, row.calendlyEventUri), row]),
  );
  for (const [key, row] of storedMeetings) meetingIdByKey.set(key, row.id);
  for (const key of new Set([...storedMeetings.keys(), ...rebuiltMeetings.keys()])) {
    const old = storedMeetings.get(key);
    const next = rebuiltMeetings.get(key);
    const connectionId = (old ?? next)?.connectionId ?? '';
    const uri = (old ?? next)?.calendlyEventUri ?? '';
    if (!next) {
      rows.push({ kind: 'meeting', connectionId, uri, change: 'kept', fields: [] });
      continue;
    }
    const target = meetingRecordOf(next);
    if (!old) {
      const [inserted] = await tx
        .insert(meetings)
        .values({ ...target, connectionId })
        .returning({ id: meetings.id });
      if (inserted) meetingIdByKey.set(key, inserted.id);
      rows.push({ kind: 'meeting', connectionId, uri, change: 'created', fields: [] });
      continue;
    }
    const current = meetingRecordOf(old);
    if (!meetingExplained(current, target)) {
      rows.push({ kind: 'meeting', connectionId, uri, change: 'kept', fields: [] });
      continue;
    }
    const fields = changedFields(current, target);
    if (fields.length === 0) continue;
    await tx
      .update(meetings)
      .set({ ...target, updatedAt: sql`now()` })
      .where(eq(meetings.id, old.id));
    rows.push({ kind: 'meeting', connectionId, uri, change: 'updated', fields });
  }

  const storedInvitees = new Map(
    stored.invitees.map((row) => [keyOf(row.connectionId, row.calendlyInviteeUri), row]),
  );
  const rebuiltInvitees = new Map(
    rebuilt.invitees.map((row) => [keyOf(row.connectionId, row.calendlyInviteeUri), row]),
  );
  for (const key of new Set([...storedInvitees.keys(), ...rebuiltInvitees.keys()])) {
    const old = storedInvitees.get(key);
    const next = rebuiltInvitees.get(key);
    const connectionId = (old ?? next)?.connectionId ?? '';
    const uri = (old ?? next)?.calendlyInviteeUri ?? '';
    if (!next) {
      rows.push({ kind: 'invitee', connectionId, uri, change: 'kept', fields: [] });
      continue;
    }
    const target = inviteeRecordOf(next);
    const meetingId = meetingIdByKey.get(keyOf(connectionId, target.calendlyEventUri));
    if (!meetingId) throw new Error(`replay: no meeting for invitee ${uri}`);
    if (!old) {
      await tx.insert(invitees).values({ ...target, connectionId, meetingId });
      rows.push({ kind: 'invitee', connectionId, uri, change: 'created', fields: [] });
      continue;
    }
    const current = inviteeRecordOf(old);
    if (!inviteeExplained(current, target)) {
      rows.push({ kind: 'invitee', connectionId, uri, change: 'kept', fields: [] });
      continue;
    }
    const fields = changedFields(current, target);
    if (old.meetingId !== meetingId) fields.push('meetingId');
    if (fields.length === 0) continue;
    await tx
      .update(invitees)
      .set({ ...target, meetingId, updatedAt: sql`now()` })
      .where(eq(invitees.id, old.id));
    rows.push({ kind: 'invitee', connectionId, uri, change: 'updated', fields });
  }

  // The inbox says what the current code makes of each delivery: a delivery quarantined or
  // invalid under old code and valid now (or the reverse) gets its new outcome. applied/stale
  // swaps are not rewritten: they only record which copy of a state arrived first.
  const selectedIds = new Set(selected.map((row) => row.id));
  const replayed: ReplayedEvent[] = [];
  for (const row of ordered) {
    const result = after.get(row.id);
    if (!result) continue;
    const outcomeChanged = !sameOutcomeClass(row.outcome, result.outcome);
    if (outcomeChanged) {
      await tx
        .update(eventInbox)
        .set({
          outcome: result.outcome,
          outcomeDetail: result.detail,
          eventType: result.eventType,
          calendlyCreatedAt: result.calendlyCreatedAt,
          processedAt: now(),
        })
        .where(eq(eventInbox.id, row.id));
    }
    replayed.push({
      inboxId: row.id,
      connectionId: row.connectionId,
      eventType: result.eventType ?? row.eventType,
      selected: selectedIds.has(row.id),
      outcomeBefore: row.outcome,
      outcomeAfter: result.outcome,
      detail: result.detail,
      outcomeChanged,
    });
  }

  return {
    dryRun: options.dryRun,
    selected: selected.length,
    replayed: replayed.length,
    events: replayed,
    rows,
  };
}

interface Rows {
  meetings: MeetingRow[];
  invitees: InviteeRow[];
}

async function readRows(
  tx: Tx,
  eventUris: Map<string, Set<string>>,
  inviteeUris: Map<string, Set<string>>,
  lock: boolean,
): Promise<Rows> {
  const out: Rows = { meetings: [], invitees: [] };
  const connectionIds = new Set([...eventUris.keys(), ...inviteeUris.keys()]);
  for (const connectionId of connectionIds) {
    const events = [...(eventUris.get(connectionId) ?? [])];
    const uris = [...(inviteeUris.get(connectionId) ?? [])];
    const meetingQuery = tx
      .select()
      .from(meetings)
      .where(
        and(
          eq(meetings.connectionId, connectionId),
          inArray(meetings.calendlyEventUri, events.length > 0 ? events : ['']),
        ),
      );
    // Locked until commit: a live delivery for these rows waits for the replay to finish.
    const found = lock ? await meetingQuery.for('update') : await meetingQuery;
    out.meetings.push(...found);
    const meetingIds = found.map((row) => row.id);
    const inviteeQuery = tx
      .select()
      .from(invitees)
      .where(
        and(
          eq(invitees.connectionId, connectionId),
          or(
            inArray(invitees.calendlyInviteeUri, uris.length > 0 ? uris : ['']),
            meetingIds.length > 0 ? inArray(invitees.meetingId, meetingIds) : undefined,
          ),
        ),
      );
    out.invitees.push(...(lock ? await inviteeQuery.for('update') : await inviteeQuery));
  }
  return out;
}
