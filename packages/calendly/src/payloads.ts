// One schema per Calendly object: the webhook envelope, and the invitee and scheduled event
// that webhooks embed and the list endpoints return (both parse with these, once, in one place).
// Parsing is deliberately lenient: unknown keys pass through, and fields the spec calls
// non-null are accepted as null or missing, because real payloads break the spec now and then
// (CALENDLY.md, "The invitee payload"). Timestamps stay strings: they may carry microseconds,
// and the meeting rules decide what to do with an unparseable one.
import { z } from 'zod';

const text = z.string().nullish();
const count = z.number().nullish();

/**
 * The webhook events calhook subscribes to and applies to meetings: what every subscription it
 * creates carries, and what ingest turns into meeting rows (others are stored and ignored).
 */
export const MEETING_EVENTS = [
  'invitee.created',
  'invitee.canceled',
  'invitee_no_show.created',
  'invitee_no_show.deleted',
] as const;
export type MeetingEvent = (typeof MEETING_EVENTS)[number];

export function isMeetingEvent(event: unknown): event is MeetingEvent {
  return (MEETING_EVENTS as readonly unknown[]).includes(event);
}

export const webhookEnvelopeSchema = z.looseObject({
  event: z.string(),
  created_at: z.string(),
  // The user URI of the subscription's creator: the tenant check compares it to the connection.
  created_by: z.string(),
  payload: z.unknown(),
});
export type WebhookEnvelope = z.infer<typeof webhookEnvelopeSchema>;

export const cancellationSchema = z.looseObject({
  canceled_by: text,
  reason: text,
  canceler_type: text,
  created_at: text,
});
export type Cancellation = z.infer<typeof cancellationSchema>;

export const locationSchema = z.looseObject({
  type: text,
  location: text,
  join_url: text,
});

export const eventMembershipSchema = z.looseObject({
  user: text,
  user_email: text,
  user_name: text,
});

/** A scheduled event: embedded in invitee webhooks, or an item of the events listing. */
export const scheduledEventSchema = z.looseObject({
  uri: z.string(),
  name: text,
  status: text,
  start_time: text,
  end_time: text,
  event_type: text,
  location: locationSchema.nullish(),
  invitees_counter: z.looseObject({ total: count, active: count, limit: count }).nullish(),
  event_memberships: z.array(eventMembershipSchema).nullish(),
  cancellation: cancellationSchema.nullish(),
  created_at: text,
  updated_at: text,
});
export type ScheduledEvent = z.infer<typeof scheduledEventSchema>;

export const questionAndAnswerSchema = z.looseObject({
  question: text,
  answer: text,
  position: count,
});

export const noShowSchema = z.looseObject({
  uri: text,
  created_at: text,
});
export type NoShow = z.infer<typeof noShowSchema>;

/** An invitee: a webhook's `payload`, or an item of an event's invitee listing. */
export const inviteeSchema = z.looseObject({
  uri: z.string(),
  // The scheduled event URI. Group events have many invitees: never dedupe on it.
  event: z.string(),
  email: text,
  name: text,
  first_name: text,
  last_name: text,
  status: text,
  timezone: text,
  questions_and_answers: z.array(questionAndAnswerSchema).nullish(),
  tracking: z.looseObject({}).nullish(),
  rescheduled: z.boolean().nullish(),
  old_invitee: text,
  new_invitee: text,
  cancel_url: text,
  reschedule_url: text,
  cancellation: cancellationSchema.nullish(),
  no_show: noShowSchema.nullish(),
  created_at: text,
  updated_at: text,
  // Embedded in webhook payloads; absent from GET /scheduled_events/{uuid}/invitees.
  scheduled_event: scheduledEventSchema.nullish(),
});
export type Invitee = z.infer<typeof inviteeSchema>;
