// What invitees do on Calendly's booking pages: book, cancel, reschedule, and hosts marking
// no-shows. Each operation changes the records and returns the webhook changes it causes.
import type { Failure } from './accounts.ts';
import type { WebhookChange } from './delivery.ts';
import { apiUri, canonicalUri, shortId, uuid } from './ids.ts';
import { inviteePayload } from './resources.ts';
import type {
  Cancellation,
  Invitee,
  QuestionAndAnswer,
  ScheduledEvent,
  SimState,
  User,
} from './state.ts';
import { nextStamp } from './time.ts';

export interface BookInput {
  inviteeEmail?: string;
  inviteeName?: string;
  /** ISO time; default one day after now, on the hour. */
  startTime?: string;
  durationMinutes?: number;
  eventName?: string;
  /** Adds the invitee to this existing (group) event instead of creating one. */
  groupEventUri?: string;
  /** Seats of a new event; above 1 makes it a group event. Default 1. */
  inviteeLimit?: number;
  questionsAndAnswers?: QuestionAndAnswer[];
  timezone?: string;
}

export interface CancelInput {
  reason?: string;
  /** A name, as Calendly reports it; default the invitee's or host's name. */
  canceledBy?: string;
  cancelerType?: 'host' | 'invitee';
}

export type Applied<T> = { ok: true; value: T; changes: WebhookChange[] } | Failure;

export interface Booked {
  eventUri: string;
  inviteeUri: string;
}

function touch(resource: { updatedAtMs: number }, now: number): number {
  resource.updatedAtMs = nextStamp(now, resource.updatedAtMs);
  return resource.updatedAtMs;
}

function change(
  state: SimState,
  event: string,
  invitee: Invitee,
  at: number,
): WebhookChange | null {
  const scheduled = state.events.get(invitee.eventUri);
  if (!scheduled) return null;
  return {
    event,
    createdAtMs: at,
    hostUri: scheduled.hostUri,
    organizationUri: scheduled.organizationUri,
    payload: inviteePayload(state, invitee),
  };
}

function newEvent(
  state: SimState,
  host: User,
  at: number,
  input: { name: string; startMs: number; durationMs: number; eventTypeUri: string; limit: number },
): ScheduledEvent {
  const event: ScheduledEvent = {
    uri: apiUri(`/scheduled_events/${uuid()}`),
    name: input.name,
    status: 'active',
    startMs: input.startMs,
    endMs: input.startMs + input.durationMs,
    eventTypeUri: input.eventTypeUri,
    hostUri: host.uri,
    organizationUri: host.organizationUri,
    joinUrl: `https://meet.google.com/sim-${shortId().toLowerCase().slice(0, 10)}`,
    inviteeLimit: input.limit,
    inviteeUris: [],
    cancellation: null,
    createdAtMs: at,
    updatedAtMs: at,
  };
  state.events.set(event.uri, event);
  return event;
}

function newInvitee(
  state: SimState,
  event: ScheduledEvent,
  at: number,
  input: {
    email: string;
    name: string;
    timezone: string;
    questionsAndAnswers: QuestionAndAnswer[];
    oldInviteeUri: string | null;
  },
): Invitee {
  const invitee: Invitee = {
    uri: `${event.uri}/invitees/${uuid()}`,
    eventUri: event.uri,
    email: input.email,
    name: input.name,
    status: 'active',
    timezone: input.timezone,
    questionsAndAnswers: input.questionsAndAnswers,
    rescheduled: false,
    oldInviteeUri: input.oldInviteeUri,
    newInviteeUri: null,
    cancellation: null,
    noShow: null,
    createdAtMs: at,
    updatedAtMs: at,
  };
  state.invitees.set(invitee.uri, invitee);
  event.inviteeUris.push(invitee.uri);
  return invitee;
}

function parseTime(value: string | undefined, fallback: number): number | null {
  if (value === undefined) return fallback;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

export function book(
  state: SimState,
  now: number,
  hostUri: string,
  input: BookInput,
): Applied<Booked> {
  const host = state.users.get(canonicalUri(hostUri));
  if (!host) return { ok: false, status: 404, message: `no user ${hostUri}` };
  let event: ScheduledEvent;
  if (input.groupEventUri) {
    const existing = state.events.get(canonicalUri(input.groupEventUri));
    if (!existing) return { ok: false, status: 404, message: `no event ${input.groupEventUri}` };
    if (existing.status !== 'active')
      return { ok: false, status: 409, message: 'event is canceled' };
    const active = existing.inviteeUris.filter((u) => state.invitees.get(u)?.status === 'active');
    if (active.length >= existing.inviteeLimit) {
      return { ok: false, status: 409, message: 'event is full (raise inviteeLimit)' };
    }
    event = existing;
    touch(event, now);
  } else {
    const nextHour = Math.ceil((now + 86_400_000) / 3_600_000) * 3_600_000;
    const startMs = parseTime(input.startTime, nextHour);
    if (startMs === null) return { ok: false, status: 400, message: 'startTime is not a date' };
    event = newEvent(state, host, nextStamp(now, null), {
      name: input.eventName ?? '30 Minute Meeting',
      startMs,
      durationMs: (input.durationMinutes ?? 30) * 60_000,
      eventTypeUri: apiUri(`/event_types/${uuid()}`),
      limit: input.inviteeLimit ?? 1,
    });
  }
  const id = shortId().toLowerCase().slice(0, 6);
  const invitee = newInvitee(state, event, event.updatedAtMs, {
    email: input.inviteeEmail ?? `invitee-${id}@example.com`,
    name: input.inviteeName ?? `Invitee ${id}`,
    timezone: input.timezone ?? 'Europe/Berlin',
    questionsAndAnswers: input.questionsAndAnswers ?? [],
    oldInviteeUri: null,
  });
  const created = change(state, 'invitee.created', invitee, invitee.updatedAtMs);
  return {
    ok: true,
    value: { eventUri: event.uri, inviteeUri: invitee.uri },
    changes: created ? [created] : [],
  };
}

/**
 * A booking recorded without any webhook (bulk seeding): one event with one invitee,
 * 30 minutes from `startMs`, hosted by `host` in their current organization.
 */
export function seedBooking(
  state: SimState,
  host: User,
  at: number,
  input: { startMs: number; inviteeEmail: string; inviteeName: string },
): ScheduledEvent {
  const event = newEvent(state, host, at, {
    name: '30 Minute Meeting',
    startMs: input.startMs,
    durationMs: 30 * 60_000,
    eventTypeUri: apiUri(`/event_types/${uuid()}`),
    limit: 1,
  });
  newInvitee(state, event, at, {
    email: input.inviteeEmail,
    name: input.inviteeName,
    timezone: 'Europe/Berlin',
    questionsAndAnswers: [],
    oldInviteeUri: null,
  });
  return event;
}

/** Cancels an invitee; the event is canceled with its last active invitee, not before. */
function cancelInvitee(
  state: SimState,
  now: number,
  invitee: Invitee,
  event: ScheduledEvent,
  input: CancelInput,
): void {
  const host = state.users.get(event.hostUri);
  const cancelerType = input.cancelerType ?? 'invitee';
  const at = touch(invitee, now);
  const cancellation: Cancellation = {
    canceledBy:
      input.canceledBy ?? (cancelerType === 'host' ? (host?.name ?? 'Host') : invitee.name),
    reason: input.reason ?? null,
    cancelerType,
    createdAtMs: at,
  };
  invitee.status = 'canceled';
  invitee.cancellation = cancellation;
  touch(event, now);
  const stillActive = event.inviteeUris.some((u) => state.invitees.get(u)?.status === 'active');
  if (!stillActive) {
    event.status = 'canceled';
    event.cancellation = { ...cancellation, createdAtMs: event.updatedAtMs };
  }
}

function activeInvitee(
  state: SimState,
  inviteeUri: string,
): { ok: true; invitee: Invitee; event: ScheduledEvent } | Failure {
  const invitee = state.invitees.get(canonicalUri(inviteeUri));
  const event = invitee ? state.events.get(invitee.eventUri) : undefined;
  if (!invitee || !event) return { ok: false, status: 404, message: `no invitee ${inviteeUri}` };
  if (invitee.status !== 'active') {
    return { ok: false, status: 409, message: 'invitee is already canceled' };
  }
  return { ok: true, invitee, event };
}

export function cancel(
  state: SimState,
  now: number,
  inviteeUri: string,
  input: CancelInput,
): Applied<Booked> {
  const found = activeInvitee(state, inviteeUri);
  if (!found.ok) return found;
  cancelInvitee(state, now, found.invitee, found.event, input);
  const canceled = change(state, 'invitee.canceled', found.invitee, found.invitee.updatedAtMs);
  return {
    ok: true,
    value: { eventUri: found.event.uri, inviteeUri: found.invitee.uri },
    changes: canceled ? [canceled] : [],
  };
}

/** A reschedule cancels the old invitee and books a new invitee on a new event, linked both ways. */
export function reschedule(
  state: SimState,
  now: number,
  inviteeUri: string,
  input: { startTime: string },
): Applied<Booked> {
  const found = activeInvitee(state, inviteeUri);
  if (!found.ok) return found;
  const { invitee: old, event: oldEvent } = found;
  const startMs = parseTime(input.startTime, Number.NaN);
  if (startMs === null || Number.isNaN(startMs)) {
    return { ok: false, status: 400, message: 'startTime is required and must be a date' };
  }
  const host = state.users.get(oldEvent.hostUri);
  if (!host) return { ok: false, status: 404, message: 'host is gone' };
  cancelInvitee(state, now, old, oldEvent, { cancelerType: 'invitee', canceledBy: old.name });
  old.rescheduled = true;
  const event = newEvent(state, host, nextStamp(now, null), {
    name: oldEvent.name,
    startMs,
    durationMs: oldEvent.endMs - oldEvent.startMs,
    eventTypeUri: oldEvent.eventTypeUri,
    limit: oldEvent.inviteeLimit,
  });
  const invitee = newInvitee(state, event, event.updatedAtMs, {
    email: old.email,
    name: old.name,
    timezone: old.timezone,
    questionsAndAnswers: old.questionsAndAnswers.map((qa) => ({ ...qa })),
    oldInviteeUri: old.uri,
  });
  old.newInviteeUri = invitee.uri;
  const changes = [
    change(state, 'invitee.canceled', old, old.updatedAtMs),
    change(state, 'invitee.created', invitee, invitee.updatedAtMs),
  ].filter((c) => c !== null);
  return { ok: true, value: { eventUri: event.uri, inviteeUri: invitee.uri }, changes };
}

export function setNoShow(
  state: SimState,
  now: number,
  inviteeUri: string,
  noShow: boolean,
): Applied<{ inviteeUri: string; noShowUri: string | null }> {
  const invitee = state.invitees.get(canonicalUri(inviteeUri));
  if (!invitee) return { ok: false, status: 404, message: `no invitee ${inviteeUri}` };
  if (noShow === (invitee.noShow !== null)) {
    return { ok: false, status: 409, message: noShow ? 'already a no-show' : 'not a no-show' };
  }
  const at = touch(invitee, now);
  invitee.noShow = noShow ? { uri: apiUri(`/invitee_no_shows/${uuid()}`), createdAtMs: at } : null;
  const event = noShow ? 'invitee_no_show.created' : 'invitee_no_show.deleted';
  const emitted = change(state, event, invitee, at);
  return {
    ok: true,
    value: { inviteeUri: invitee.uri, noShowUri: invitee.noShow?.uri ?? null },
    changes: emitted ? [emitted] : [],
  };
}
