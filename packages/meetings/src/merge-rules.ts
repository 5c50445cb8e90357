// The rules that make meeting rows order-independent. Every part of a row is a register whose
// merge is "take the greater under a total order" (or, for reschedule links, "take the smaller
// non-null URI"), so each merge is commutative, associative and idempotent: a join-semilattice.
// A product of semilattices is one too, which is why applying deliveries in any order, with any
// duplicates, ends in the same rows (DESIGN.md, "Meetings: idempotent, order-independent").
import { canonicalJson, compareStrings } from './canonical-json.ts';

export type MeetingStatus = 'active' | 'canceled';

/** The stored state of one scheduled event: the `meetings` row without ids and bookkeeping. */
export interface MeetingRecord {
  calendlyEventUri: string;
  name: string | null;
  status: MeetingStatus;
  startTime: Date | null;
  endTime: Date | null;
  location: unknown;
  eventTypeUri: string | null;
  canceledAt: Date | null;
  canceledBy: string | null;
  cancelReason: string | null;
  /** The scheduled event's Calendly `updated_at`; the version of every field above. */
  sourceUpdatedAt: Date;
}

/** The stored state of one invitee: the `invitees` row without ids and bookkeeping. */
export interface InviteeRecord {
  calendlyInviteeUri: string;
  calendlyEventUri: string;
  // Status register, versioned by the invitee's Calendly `updated_at`.
  email: string | null;
  name: string | null;
  timezone: string | null;
  status: MeetingStatus;
  rescheduled: boolean;
  canceledBy: string | null;
  cancelerType: string | null;
  cancelReason: string | null;
  canceledAt: Date | null;
  questionsAndAnswers: unknown[];
  tracking: unknown;
  sourceUpdatedAt: Date;
  // Reschedule links: never un-set once known.
  oldInviteeUri: string | null;
  newInviteeUri: string | null;
  // No-show register, versioned by the time of the mark or unmark; null time = never observed.
  noShow: boolean;
  noShowUri: string | null;
  noShowUpdatedAt: Date | null;
}

/**
 * Version given to a meeting made up from an invitee payload that embeds no scheduled event.
 * Any real scheduled-event data is newer, so it replaces every field of such a placeholder.
 */
export const PLACEHOLDER_VERSION = new Date(0);

const statusRank = (status: MeetingStatus) => (status === 'canceled' ? 1 : 0);

function compareDates(a: Date | null, b: Date | null): number {
  return (a?.getTime() ?? Number.NEGATIVE_INFINITY) - (b?.getTime() ?? Number.NEGATIVE_INFINITY);
}

/** Newer first, then canceled over active, then the canonical form: a total order. */
function compareVersioned<T extends { status: MeetingStatus }>(
  a: T,
  b: T,
  versionOf: (value: T) => Date,
): number {
  return (
    compareDates(versionOf(a), versionOf(b)) ||
    statusRank(a.status) - statusRank(b.status) ||
    compareStrings(canonicalJson(a), canonicalJson(b))
  );
}

export function mergeMeeting(a: MeetingRecord, b: MeetingRecord): MeetingRecord {
  return compareVersioned(a, b, (m) => m.sourceUpdatedAt) >= 0 ? a : b;
}

type InviteeStatusPart = Omit<
  InviteeRecord,
  'oldInviteeUri' | 'newInviteeUri' | 'noShow' | 'noShowUri' | 'noShowUpdatedAt'
>;
type NoShowPart = Pick<InviteeRecord, 'noShow' | 'noShowUri' | 'noShowUpdatedAt'>;

function statusPart(r: InviteeRecord): InviteeStatusPart {
  const { oldInviteeUri, newInviteeUri, noShow, noShowUri, noShowUpdatedAt, ...rest } = r;
  return rest;
}

function noShowPart(r: InviteeRecord): NoShowPart {
  return { noShow: r.noShow, noShowUri: r.noShowUri, noShowUpdatedAt: r.noShowUpdatedAt };
}

/**
 * Newer wins. On a tie an unmark beats a mark: `invitee_no_show.deleted` is the only event
 * that can undo a mark, so when both claim the same instant the explicit undo is taken.
 */
export function compareNoShow(a: NoShowPart, b: NoShowPart): number {
  return (
    compareDates(a.noShowUpdatedAt, b.noShowUpdatedAt) ||
    Number(!a.noShow) - Number(!b.noShow) ||
    compareStrings(canonicalJson(a), canonicalJson(b))
  );
}

/**
 * A link is set once and never cleared. Calendly gives an invitee at most one predecessor and
 * one successor, so two different non-null values do not happen; should they, the smaller URI
 * is kept so the result still does not depend on order.
 */
export function joinLink(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareStrings(a, b) <= 0 ? a : b;
}

export function mergeInvitee(a: InviteeRecord, b: InviteeRecord): InviteeRecord {
  const status = compareVersioned(statusPart(a), statusPart(b), (r) => r.sourceUpdatedAt);
  const noShow = compareNoShow(noShowPart(a), noShowPart(b));
  return {
    ...statusPart(status >= 0 ? a : b),
    oldInviteeUri: joinLink(a.oldInviteeUri, b.oldInviteeUri),
    newInviteeUri: joinLink(a.newInviteeUri, b.newInviteeUri),
    ...noShowPart(noShow >= 0 ? a : b),
  };
}

export function sameRecord(a: MeetingRecord | InviteeRecord, b: MeetingRecord | InviteeRecord) {
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * Same as far as a user can tell: equal but for the Calendly timestamps that version the
 * fields. A listing that only carries a newer `updated_at` changed nothing anyone reads, so it
 * must not count as a repair.
 */
export function sameContent(a: MeetingRecord | InviteeRecord, b: MeetingRecord | InviteeRecord) {
  const strip = ({ sourceUpdatedAt: _s, ...rest }: MeetingRecord | InviteeRecord) => {
    const { noShowUpdatedAt: _n, ...content } = rest as Partial<InviteeRecord>;
    return content;
  };
  return canonicalJson(strip(a)) === canonicalJson(strip(b));
}

/** What one delivery (or one listed invitee) says, already normalised into records. */
export interface Observation {
  meeting: MeetingRecord;
  invitee: InviteeRecord;
}

/** The stored rows an observation can touch, read under lock. */
export interface StoredSlice {
  meeting: MeetingRecord | undefined;
  invitee: InviteeRecord | undefined;
  /** Stored rows of the invitees the payload links to (its old and new invitee), if they exist. */
  counterparts: ReadonlyMap<string, InviteeRecord>;
  /** URIs of stored invitees that already name this invitee as their new / old invitee. */
  linkedFrom: { asNewOf: readonly string[]; asOldOf: readonly string[] };
}

export interface Plan {
  meeting: MeetingRecord;
  invitee: InviteeRecord;
  /** The counterpart rows with their link to this invitee filled in. */
  counterparts: InviteeRecord[];
}

/**
 * The next state of every row an observation touches. A reschedule's two halves arrive in
 * either order: each side pushes its link into the other when that row exists, and pulls the
 * links other rows already hold about it, so both rows end up linked whichever came first.
 */
export function planObservation(slice: StoredSlice, observation: Observation): Plan {
  const meeting = slice.meeting
    ? mergeMeeting(slice.meeting, observation.meeting)
    : observation.meeting;

  const self = observation.invitee.calendlyInviteeUri;
  let incoming = observation.invitee;
  for (const uri of slice.linkedFrom.asNewOf) {
    incoming = { ...incoming, oldInviteeUri: joinLink(incoming.oldInviteeUri, uri) };
  }
  for (const uri of slice.linkedFrom.asOldOf) {
    incoming = { ...incoming, newInviteeUri: joinLink(incoming.newInviteeUri, uri) };
  }
  const invitee = slice.invitee ? mergeInvitee(slice.invitee, incoming) : incoming;

  const counterparts: InviteeRecord[] = [];
  const { oldInviteeUri, newInviteeUri } = observation.invitee;
  const older = oldInviteeUri === self ? undefined : slice.counterparts.get(oldInviteeUri ?? '');
  if (older) counterparts.push({ ...older, newInviteeUri: joinLink(older.newInviteeUri, self) });
  const newer = newInviteeUri === self ? undefined : slice.counterparts.get(newInviteeUri ?? '');
  if (newer) {
    const base = counterparts.find((c) => c.calendlyInviteeUri === newer.calendlyInviteeUri);
    const from = base ?? newer;
    const filled = { ...from, oldInviteeUri: joinLink(from.oldInviteeUri, self) };
    if (base) counterparts[counterparts.indexOf(base)] = filled;
    else counterparts.push(filled);
  }
  return { meeting, invitee, counterparts };
}
