// Renders internal records in Calendly API v2's exact JSON shapes.
import { uriPath } from './ids.ts';
import type {
  Cancellation,
  Invitee,
  ScheduledEvent,
  SimState,
  Subscription,
  User,
} from './state.ts';
import { calendlyTime } from './time.ts';

export function userResource(user: User) {
  return {
    uri: user.uri,
    name: user.name,
    slug: user.slug,
    email: user.email,
    scheduling_url: `https://calendly.com/${user.slug}`,
    timezone: user.timezone,
    time_notation: '12h',
    avatar_url: null,
    locale: 'en',
    resource_type: 'User',
    created_at: calendlyTime(user.createdAtMs),
    updated_at: calendlyTime(user.updatedAtMs),
    current_organization: user.organizationUri,
  };
}

export function subscriptionResource(subscription: Subscription) {
  // The signing key is write-only at Calendly: it never appears in a response.
  return {
    uri: subscription.uri,
    callback_url: subscription.callbackUrl,
    created_at: calendlyTime(subscription.createdAtMs),
    updated_at: calendlyTime(subscription.updatedAtMs),
    retry_started_at:
      subscription.retryStartedAtMs === null ? null : calendlyTime(subscription.retryStartedAtMs),
    state: subscription.state,
    events: [...subscription.events],
    scope: subscription.scope,
    organization: subscription.organizationUri,
    user: subscription.userUri,
    group: subscription.groupUri,
    creator: subscription.creatorUri,
  };
}

function cancellationResource(cancellation: Cancellation) {
  return {
    canceled_by: cancellation.canceledBy,
    reason: cancellation.reason,
    canceler_type: cancellation.cancelerType,
    created_at: calendlyTime(cancellation.createdAtMs),
  };
}

export function scheduledEventResource(state: SimState, event: ScheduledEvent) {
  const host = state.users.get(event.hostUri);
  const invitees = event.inviteeUris.map((uri) => state.invitees.get(uri));
  return {
    uri: event.uri,
    name: event.name,
    meeting_notes_plain: null,
    meeting_notes_html: null,
    status: event.status,
    start_time: calendlyTime(event.startMs),
    end_time: calendlyTime(event.endMs),
    event_type: event.eventTypeUri,
    location: { type: 'google_conference', status: 'pushed', join_url: event.joinUrl },
    invitees_counter: {
      total: invitees.length,
      active: invitees.filter((invitee) => invitee?.status === 'active').length,
      limit: event.inviteeLimit,
    },
    created_at: calendlyTime(event.createdAtMs),
    updated_at: calendlyTime(event.updatedAtMs),
    event_memberships: [
      { user: event.hostUri, user_email: host?.email ?? null, user_name: host?.name ?? null },
    ],
    event_guests: [],
    calendar_event: null,
    ...(event.cancellation ? { cancellation: cancellationResource(event.cancellation) } : {}),
  };
}

function splitName(name: string): { first: string | null; last: string | null } {
  const parts = name.trim().split(/\s+/);
  if (parts.length < 2) return { first: null, last: null };
  return { first: parts.slice(0, -1).join(' '), last: parts.at(-1) ?? null };
}

export function inviteeResource(invitee: Invitee) {
  const inviteeId = uriPath(invitee.uri).split('/').at(-1);
  const { first, last } = splitName(invitee.name);
  return {
    uri: invitee.uri,
    event: invitee.eventUri,
    email: invitee.email,
    name: invitee.name,
    first_name: first,
    last_name: last,
    status: invitee.status,
    timezone: invitee.timezone,
    text_reminder_number: null,
    questions_and_answers: invitee.questionsAndAnswers.map((qa) => ({ ...qa })),
    tracking: {
      utm_campaign: null,
      utm_source: null,
      utm_medium: null,
      utm_content: null,
      utm_term: null,
      salesforce_uuid: null,
    },
    rescheduled: invitee.rescheduled,
    old_invitee: invitee.oldInviteeUri,
    new_invitee: invitee.newInviteeUri,
    cancel_url: `https://calendly.com/cancellations/${inviteeId}`,
    reschedule_url: `https://calendly.com/reschedulings/${inviteeId}`,
    routing_form_submission: null,
    no_show: invitee.noShow
      ? { uri: invitee.noShow.uri, created_at: calendlyTime(invitee.noShow.createdAtMs) }
      : null,
    payment: null,
    reconfirmation: null,
    scheduling_method: null,
    invitee_scheduled_by: null,
    created_at: calendlyTime(invitee.createdAtMs),
    updated_at: calendlyTime(invitee.updatedAtMs),
    ...(invitee.cancellation ? { cancellation: cancellationResource(invitee.cancellation) } : {}),
  };
}

/** The `payload` of `invitee.*` and `invitee_no_show.*` deliveries: the invitee with its event embedded. */
export function inviteePayload(state: SimState, invitee: Invitee) {
  const event = state.events.get(invitee.eventUri);
  return {
    ...inviteeResource(invitee),
    scheduled_event: event ? scheduledEventResource(state, event) : null,
  };
}
