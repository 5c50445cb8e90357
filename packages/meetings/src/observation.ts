// Turns an invitee payload (from a webhook or a listing) into the records the merge rules
// compare. Everything that decides a version is settled here, once, for both paths.
import type { Invitee, ScheduledEvent } from '@calhook/calendly';
import {
  type InviteeRecord,
  type MeetingRecord,
  type MeetingStatus,
  type Observation,
  PLACEHOLDER_VERSION,
} from './merge-rules.ts';

export interface InviteeObservationInput {
  invitee: Invitee;
  /** The invitee's scheduled event; defaults to the one embedded in the payload. */
  scheduledEvent?: ScheduledEvent | null;
  /** The webhook event type, when the observation is a delivery. */
  eventType?: string;
  /** When Calendly emitted the event (the envelope's `created_at`), for no-show unmarks. */
  observedAt?: Date;
}

export type ObservationResult =
  | { ok: true; observation: Observation }
  | { ok: false; reason: string };

/**
 * Calendly timestamps may carry microseconds; Date keeps milliseconds, and so does every
 * stored version, so comparisons agree whether a record came from a payload or from a row.
 */
export function parseCalendlyTime(value: string | null | undefined): Date | null {
  if (value === null || value === undefined) return null;
  const ms = Date.parse(value);
  // Outside years 1 to 9999 a time is not one Calendly meant, and Postgres would refuse some.
  return Number.isNaN(ms) || ms < FIRST_MS || ms > LAST_MS ? null : new Date(ms);
}

const FIRST_MS = Date.parse('0001-01-01T00:00:00.000Z');
const LAST_MS = Date.parse('9999-12-31T23:59:59.999Z');

function toStatus(value: string | null | undefined): MeetingStatus {
  return value === 'canceled' ? 'canceled' : 'active';
}

export function meetingFromScheduledEvent(event: ScheduledEvent): MeetingRecord {
  return {
    calendlyEventUri: event.uri,
    name: event.name ?? null,
    status: toStatus(event.status),
    startTime: parseCalendlyTime(event.start_time),
    endTime: parseCalendlyTime(event.end_time),
    location: event.location ?? null,
    eventTypeUri: event.event_type ?? null,
    canceledAt: parseCalendlyTime(event.cancellation?.created_at),
    canceledBy: event.cancellation?.canceled_by ?? null,
    cancelReason: event.cancellation?.reason ?? null,
    sourceUpdatedAt:
      parseCalendlyTime(event.updated_at) ??
      parseCalendlyTime(event.created_at) ??
      PLACEHOLDER_VERSION,
  };
}

/** All we know of a meeting when only an invitee names it; real data always replaces it. */
export function placeholderMeeting(eventUri: string): MeetingRecord {
  return {
    calendlyEventUri: eventUri,
    name: null,
    status: 'active',
    startTime: null,
    endTime: null,
    location: null,
    eventTypeUri: null,
    canceledAt: null,
    canceledBy: null,
    cancelReason: null,
    sourceUpdatedAt: PLACEHOLDER_VERSION,
  };
}

type NoShowObservation = Pick<InviteeRecord, 'noShow' | 'noShowUri' | 'noShowUpdatedAt'>;

/**
 * Which no-show fact this observation carries. A non-null `no_show` in any invitee payload is
 * a mark at its own `created_at` (not at the delivery's time, so a stale payload replayed after
 * an unmark loses to it). A null `no_show` says nothing: an `invitee.created` payload predates
 * any mark, and listed invitees cannot tell "never marked" from "unmarked". Only
 * `invitee_no_show.deleted` unmarks, at the envelope's `created_at`.
 */
function noShowFrom(input: InviteeObservationInput): NoShowObservation | { error: string } {
  if (input.eventType === 'invitee_no_show.deleted') {
    if (!input.observedAt) return { error: 'invitee_no_show.deleted needs the event time' };
    return { noShow: false, noShowUri: null, noShowUpdatedAt: input.observedAt };
  }
  const mark = input.invitee.no_show ?? null;
  const markedAt = parseCalendlyTime(mark?.created_at);
  if (input.eventType === 'invitee_no_show.created') {
    const at = markedAt ?? input.observedAt;
    if (!at) return { error: 'invitee_no_show.created needs the event time' };
    return { noShow: true, noShowUri: mark?.uri ?? null, noShowUpdatedAt: at };
  }
  if (mark && markedAt)
    return { noShow: true, noShowUri: mark.uri ?? null, noShowUpdatedAt: markedAt };
  return { noShow: false, noShowUri: null, noShowUpdatedAt: null };
}

export function observationFromPayload(input: InviteeObservationInput): ObservationResult {
  const { invitee } = input;
  const version = parseCalendlyTime(invitee.updated_at) ?? parseCalendlyTime(invitee.created_at);
  if (!version) return { ok: false, reason: 'invitee has no parseable updated_at or created_at' };
  const scheduledEvent = input.scheduledEvent ?? invitee.scheduled_event ?? null;
  if (scheduledEvent && scheduledEvent.uri !== invitee.event) {
    return { ok: false, reason: 'scheduled_event.uri differs from the invitee event' };
  }
  const noShow = noShowFrom(input);
  if ('error' in noShow) return { ok: false, reason: noShow.error };

  const meeting = scheduledEvent
    ? meetingFromScheduledEvent(scheduledEvent)
    : placeholderMeeting(invitee.event);
  const cancellation = invitee.cancellation ?? null;
  return {
    ok: true,
    observation: {
      meeting,
      invitee: {
        calendlyInviteeUri: invitee.uri,
        calendlyEventUri: invitee.event,
        email: invitee.email ?? null,
        name: invitee.name ?? null,
        timezone: invitee.timezone ?? null,
        status: toStatus(invitee.status),
        rescheduled: invitee.rescheduled ?? false,
        canceledBy: cancellation?.canceled_by ?? null,
        cancelerType: cancellation?.canceler_type ?? null,
        cancelReason: cancellation?.reason ?? null,
        canceledAt: parseCalendlyTime(cancellation?.created_at),
        questionsAndAnswers: invitee.questions_and_answers ?? [],
        tracking: invitee.tracking ?? null,
        sourceUpdatedAt: version,
        oldInviteeUri: invitee.old_invitee ?? null,
        newInviteeUri: invitee.new_invitee ?? null,
        ...noShow,
      },
    },
  };
}
