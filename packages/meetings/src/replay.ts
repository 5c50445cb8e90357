// Replay: re-runs stored inbox deliveries through the current code and rebuilds the meetings
// and invitees they describe. After a fix to the merge rules, a row the old code got wrong at
// the same Calendly timestamp would survive a plain re-apply ("newer wins" keeps it), so the
// affected rows are rebuilt from every stored delivery that mentions them instead. In steps:
// select the deliveries, close over the URIs they name, rebuild those rows from scratch in a
// savepoint that is rolled back, diff the rebuilt rows against the stored ones, write the
// difference through the table owners.
import { isMeetingEvent } from '@calhook/calendly';
import type { Database, InboxOutcome, InviteeRow, MeetingRow, Tx } from '@calhook/db';
import { canonicalJson } from './canonical-json.ts';
import * as inbox from './inbox-store.ts';
import { ingestDelivery } from './ingest-delivery.ts';
import {
  deleteForRebuild,
  inviteeRecordOf,
  meetingRecordOf,
  naturalKey,
  rowsAbout,
  upsertInvitees,
  upsertMeetings,
} from './meeting-store.ts';
import type { InviteeRecord, MeetingRecord } from './merge-rules.ts';

export type ReplayFilter = inbox.InboxFilter;

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
  if (!isMeetingEvent(event)) return none;
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

/** Runs `work` in a savepoint that is always rolled back, and returns what it computed. */
async function thenRollBack<T>(tx: Tx, work: (sp: Tx) => Promise<T>): Promise<T> {
  let result: { value: T } | undefined;
  try {
    await tx.transaction(async (sp) => {
      result = { value: await work(sp) };
      throw new RollBack();
    });
  } catch (error) {
    if (!(error instanceof RollBack)) throw error;
  }
  if (!result) throw new Error('rolled-back work produced nothing');
  return result.value;
}

/**
 * Re-runs the selected inbox deliveries, with every other stored delivery about the same
 * meetings, through `ingestDelivery` (the ingest job's code) inside a savepoint that is always
 * rolled back, then writes the difference onto the stored rows: ids stay, rows nothing
 * selected describes stay, and a row holding data newer than the inbox knows (from backfill)
 * stays. Running it twice changes nothing the second time. A delivery that arrives for the
 * same meeting while a replay runs can leave that meeting one delivery behind: run replay
 * again, or when ingestion is quiet.
 */
export async function replayInbox(db: Database, options: ReplayOptions): Promise<ReplayReport> {
  const now = options.now ?? (() => new Date());
  const run = async (tx: Tx) => {
    const selected = await inbox.select(tx, options);
    const scope = await closeOverUris(tx, selected);
    const stored = await readScope(tx, scope.uris, true);
    const rebuilt = await thenRollBack(tx, (sp) => rebuild(sp, scope, stored, now));
    const rows = await writeDifference(tx, stored, rebuilt.rows);
    const events = await rewriteOutcomes(tx, scope.deliveries, selected, rebuilt.outcomes, now);
    return {
      dryRun: options.dryRun,
      selected: selected.length,
      replayed: events.length,
      events,
      rows,
    };
  };
  if (!options.dryRun) return db.transaction(run);
  return db.transaction((tx) => thenRollBack(tx, run));
}

/** Per connection, the URIs of the meetings and invitees a set of deliveries names. */
type UriScope = Map<string, { events: Set<string>; invitees: Set<string> }>;

/** Reschedules link invitees across meetings; past this many rounds the chain is cut. */
const MAX_LINK_ROUNDS = 20;

/**
 * Every stored delivery that names a meeting or invitee a selected delivery names, followed
 * until no new one turns up (each round may pull in another meeting through a reschedule link).
 */
async function closeOverUris(
  tx: Tx,
  selected: readonly inbox.StoredDelivery[],
): Promise<{ deliveries: inbox.StoredDelivery[]; uris: UriScope }> {
  const deliveries = new Map(selected.map((row) => [row.id, row]));
  const uris: UriScope = new Map();
  const learn = (row: inbox.StoredDelivery): number => {
    const named = urisOfDelivery(row.body);
    const scope = uris.get(row.connectionId) ?? { events: new Set(), invitees: new Set() };
    uris.set(row.connectionId, scope);
    const before = scope.events.size + scope.invitees.size;
    for (const uri of named.events) scope.events.add(uri);
    for (const uri of named.invitees) scope.invitees.add(uri);
    return scope.events.size + scope.invitees.size - before;
  };
  for (const row of selected) learn(row);
  for (const [connectionId, scope] of uris) {
    for (let round = 0; round < MAX_LINK_ROUNDS; round++) {
      const texts = [...scope.events, ...scope.invitees];
      const found = await inbox.mentioning(tx, connectionId, texts, [...deliveries.keys()]);
      let added = 0;
      for (const row of found) {
        const named = urisOfDelivery(row.body);
        if (![...named.events, ...named.invitees].some((uri) => texts.includes(uri))) continue;
        deliveries.set(row.id, row);
        added += learn(row) + 1;
      }
      if (added === 0) break;
    }
  }
  return { deliveries: [...deliveries.values()].sort((a, b) => a.id - b.id), uris };
}

interface Rows {
  meetings: MeetingRow[];
  invitees: InviteeRow[];
}

async function readScope(tx: Tx, uris: UriScope, lock: boolean): Promise<Rows> {
  const out: Rows = { meetings: [], invitees: [] };
  for (const [connectionId, scope] of uris) {
    const found = await rowsAbout(
      tx,
      connectionId,
      { events: [...scope.events], invitees: [...scope.invitees] },
      lock,
    );
    out.meetings.push(...found.meetings);
    out.invitees.push(...found.invitees);
  }
  return out;
}

type Outcomes = Map<number, inbox.StoredDelivery>;

/**
 * The rows the current code makes of these deliveries from nothing: the stored rows removed,
 * every delivery run again as a first arrival (the inbox insert is a no-op, the processed
 * mark cleared), and the result read back. The caller rolls all of it back.
 */
async function rebuild(
  sp: Tx,
  scope: { deliveries: readonly inbox.StoredDelivery[]; uris: UriScope },
  stored: Rows,
  now: () => Date,
): Promise<{ rows: Rows; outcomes: Outcomes }> {
  await deleteForRebuild(sp, {
    meetings: stored.meetings.map((row) => row.id),
    invitees: stored.invitees.map((row) => row.id),
  });
  const ids = scope.deliveries.map((row) => row.id);
  await inbox.markUnprocessed(sp, ids);
  for (const row of scope.deliveries) {
    await ingestDelivery(
      sp,
      {
        hookId: row.hookId,
        connectionId: row.connectionId,
        body: row.body,
        receivedAt: row.receivedAt,
      },
      { now },
    );
  }
  const rows = await readScope(sp, scope.uris, false);
  const outcomes = new Map((await inbox.byIds(sp, ids)).map((row) => [row.id, row]));
  return { rows, outcomes };
}

function changedFields(before: object, after: object): string[] {
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  return Object.keys(b).filter((key) => canonicalJson(a[key]) !== canonicalJson(b[key]));
}

const time = (d: Date | null) => d?.getTime() ?? Number.NEGATIVE_INFINITY;

/** One kind of row, as the diff sees it. */
interface RowKind<R, Rec> {
  kind: 'meeting' | 'invitee';
  uriOf(row: R): string;
  recordOf(row: R): Rec;
  /** The rebuilt record explains the stored one when it is at least as new. */
  explains(stored: Rec, rebuilt: Rec): boolean;
}

type Decision<R, Rec> =
  | { action: 'keep'; row: ReplayedRow }
  | { action: 'write'; row: ReplayedRow; target: Rec; rebuilt: R; stored: R | undefined };

/**
 * Stored against rebuilt rows of one kind: created where only the rebuild has it, kept where
 * only the store has it or the store holds newer data, updated where fields differ.
 */
function diff<R extends { connectionId: string }, Rec extends object>(
  kind: RowKind<R, Rec>,
  stored: readonly R[],
  rebuilt: readonly R[],
  extraFields: (stored: R, rebuilt: R) => string[] = () => [],
): Decision<R, Rec>[] {
  const key = (row: R) => naturalKey(row.connectionId, kind.uriOf(row));
  const before = new Map(stored.map((row) => [key(row), row]));
  const after = new Map(rebuilt.map((row) => [key(row), row]));
  const out: Decision<R, Rec>[] = [];
  for (const k of new Set([...before.keys(), ...after.keys()])) {
    const old = before.get(k);
    const next = after.get(k);
    const any = (old ?? next) as R;
    const row = (change: ReplayedRow['change'], fields: string[] = []): ReplayedRow => ({
      kind: kind.kind,
      connectionId: any.connectionId,
      uri: kind.uriOf(any),
      change,
      fields,
    });
    if (!next) {
      out.push({ action: 'keep', row: row('kept') });
      continue;
    }
    const target = kind.recordOf(next);
    if (!old) {
      out.push({ action: 'write', row: row('created'), target, rebuilt: next, stored: undefined });
      continue;
    }
    const current = kind.recordOf(old);
    if (!kind.explains(current, target)) {
      out.push({ action: 'keep', row: row('kept') });
      continue;
    }
    const fields = [...changedFields(current, target), ...extraFields(old, next)];
    if (fields.length === 0) continue;
    out.push({ action: 'write', row: row('updated', fields), target, rebuilt: next, stored: old });
  }
  return out;
}

const meetingKind: RowKind<MeetingRow, MeetingRecord> = {
  kind: 'meeting',
  uriOf: (row) => row.calendlyEventUri,
  recordOf: meetingRecordOf,
  explains: (stored, rebuilt) => time(rebuilt.sourceUpdatedAt) >= time(stored.sourceUpdatedAt),
};

const inviteeKind: RowKind<InviteeRow, InviteeRecord> = {
  kind: 'invitee',
  uriOf: (row) => row.calendlyInviteeUri,
  recordOf: inviteeRecordOf,
  explains: (stored, rebuilt) =>
    time(rebuilt.sourceUpdatedAt) >= time(stored.sourceUpdatedAt) &&
    time(rebuilt.noShowUpdatedAt) >= time(stored.noShowUpdatedAt),
};

/** Writes what the rebuild changed onto the stored rows, meetings first (invitees point at them). */
async function writeDifference(tx: Tx, stored: Rows, rebuilt: Rows): Promise<ReplayedRow[]> {
  const meetingDecisions = diff(meetingKind, stored.meetings, rebuilt.meetings);
  const meetingIds = new Map(
    stored.meetings.map((row) => [naturalKey(row.connectionId, row.calendlyEventUri), row.id]),
  );
  const written = await upsertMeetings(
    tx,
    meetingDecisions.flatMap((d) =>
      d.action === 'write' ? [{ connectionId: d.rebuilt.connectionId, record: d.target }] : [],
    ),
  );
  for (const [key, id] of written) meetingIds.set(key, id);

  // An invitee is filed under its event's meeting, as the stored side now has it.
  const storedMeetingOf = (row: InviteeRow) => {
    const id = meetingIds.get(naturalKey(row.connectionId, row.calendlyEventUri));
    if (!id) throw new Error(`replay: no meeting for invitee ${row.calendlyInviteeUri}`);
    return id;
  };
  const inviteeDecisions = diff(inviteeKind, stored.invitees, rebuilt.invitees, (old, next) =>
    old.meetingId !== storedMeetingOf(next) ? ['meetingId'] : [],
  );
  await upsertInvitees(
    tx,
    inviteeDecisions.flatMap((d) =>
      d.action === 'write'
        ? [
            {
              connectionId: d.rebuilt.connectionId,
              meetingId: storedMeetingOf(d.rebuilt),
              record: d.target,
            },
          ]
        : [],
    ),
    { refile: true },
  );
  return [...meetingDecisions, ...inviteeDecisions].map((d) => d.row);
}

/** `applied` and `stale` depend only on arrival order, which a rebuild changes: one class. */
function sameOutcomeClass(a: InboxOutcome, b: InboxOutcome): boolean {
  const applied = (o: InboxOutcome) => o === 'applied' || o === 'stale';
  return a === b || (applied(a) && applied(b));
}

/**
 * The inbox says what the current code makes of each delivery: a delivery quarantined or
 * invalid under old code and valid now (or the reverse) gets its new outcome. applied/stale
 * swaps are not rewritten: they only record which copy of a state arrived first.
 */
async function rewriteOutcomes(
  tx: Tx,
  deliveries: readonly inbox.StoredDelivery[],
  selected: readonly inbox.StoredDelivery[],
  after: Outcomes,
  now: () => Date,
): Promise<ReplayedEvent[]> {
  const selectedIds = new Set(selected.map((row) => row.id));
  const events: ReplayedEvent[] = [];
  const marks: inbox.InboxMark[] = [];
  for (const row of deliveries) {
    const result = after.get(row.id);
    if (!result) continue;
    const outcomeChanged = !sameOutcomeClass(row.outcome, result.outcome);
    if (outcomeChanged) {
      marks.push({
        id: row.id,
        outcome: result.outcome,
        outcomeDetail: result.outcomeDetail,
        eventType: result.eventType,
        calendlyCreatedAt: result.calendlyCreatedAt,
      });
    }
    events.push({
      inboxId: row.id,
      connectionId: row.connectionId,
      eventType: result.eventType ?? row.eventType,
      selected: selectedIds.has(row.id),
      outcomeBefore: row.outcome,
      outcomeAfter: result.outcome,
      detail: result.outcomeDetail,
      outcomeChanged,
    });
  }
  await inbox.markProcessed(tx, marks, now());
  return events;
}
