// Realistic Calendly histories for one connected user: bookings, cancellations, reschedules
// and no-shows, each as the invitee deliveries Calendly would send in true order, plus the
// rows they must leave once every delivery has been applied, in any order.
import { randomBytes } from 'node:crypto';

export interface ExpectedInvitee {
  event: string;
  status: 'active' | 'canceled';
  noShow: boolean;
  rescheduled: boolean;
  oldInvitee: string | null;
  newInvitee: string | null;
}

export interface History {
  /** Every delivery body, in the order Calendly produced them. */
  bodies: string[];
  /** The stories, each its own list of bodies in true order. */
  stories: string[][];
  meetings: Map<string, 'active' | 'canceled'>;
  invitees: Map<string, ExpectedInvitee>;
}

export type StoryKind =
  | 'book'
  | 'cancel'
  | 'no-show'
  | 'no-show-undone'
  | 'reschedule'
  | 'reschedule-then-cancel';

const API = 'https://api.calendly.com';

/** Calendly writes microseconds. */
function calendlyTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

interface Event {
  uri: string;
  name: string;
  status: 'active' | 'canceled';
  startMs: number;
  cancellation: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
}

interface Invitee {
  uri: string;
  event: Event;
  email: string;
  name: string;
  status: 'active' | 'canceled';
  rescheduled: boolean;
  oldInvitee: string | null;
  newInvitee: string | null;
  cancellation: Record<string, unknown> | null;
  noShow: { uri: string; created_at: string } | null;
  createdAt: string;
  updatedAt: string;
}

/** Writes one user's history; `ids` makes every URI unique across the run. */
class Writer {
  readonly bodies: string[] = [];
  readonly events = new Map<string, Event>();
  readonly invitees = new Map<string, Invitee>();
  private clockMs: number;
  private readonly userUri: string;

  constructor(userUri: string, startMs: number) {
    this.userUri = userUri;
    this.clockMs = startMs;
  }

  private tick(): string {
    this.clockMs += 1_000 + Math.floor(Math.random() * 1_000);
    return calendlyTime(this.clockMs);
  }

  private id(): string {
    return randomBytes(8).toString('hex').toUpperCase();
  }

  private emit(event: string, at: string, invitee: Invitee): string {
    const scheduled = invitee.event;
    const body = JSON.stringify({
      event,
      created_at: at,
      created_by: this.userUri,
      payload: {
        uri: invitee.uri,
        event: scheduled.uri,
        email: invitee.email,
        name: invitee.name,
        first_name: invitee.name.split(' ')[0],
        last_name: invitee.name.split(' ')[1] ?? null,
        status: invitee.status,
        timezone: 'Europe/London',
        questions_and_answers: [
          { question: 'What would you like to discuss?', answer: 'Pricing', position: 0 },
        ],
        tracking: { utm_campaign: null, utm_source: 'faults', utm_medium: null },
        rescheduled: invitee.rescheduled,
        old_invitee: invitee.oldInvitee,
        new_invitee: invitee.newInvitee,
        cancel_url: `https://calendly.com/cancellations/${invitee.uri.slice(-16)}`,
        reschedule_url: `https://calendly.com/reschedulings/${invitee.uri.slice(-16)}`,
        cancellation: invitee.cancellation,
        no_show: invitee.noShow,
        payment: null,
        reconfirmation: null,
        scheduling_method: null,
        invitee_scheduled_by: null,
        created_at: invitee.createdAt,
        updated_at: invitee.updatedAt,
        scheduled_event: {
          uri: scheduled.uri,
          name: scheduled.name,
          status: scheduled.status,
          start_time: calendlyTime(scheduled.startMs),
          end_time: calendlyTime(scheduled.startMs + 30 * 60_000),
          event_type: `${API}/event_types/FAULTSTYPE`,
          location: {
            type: 'zoom',
            join_url: `https://zoom.example.com/j/${scheduled.uri.slice(-8)}`,
          },
          invitees_counter: { total: 1, active: scheduled.status === 'active' ? 1 : 0, limit: 1 },
          event_memberships: [
            { user: this.userUri, user_email: 'host@example.com', user_name: 'Host' },
          ],
          event_guests: [],
          cancellation: scheduled.cancellation,
          created_at: scheduled.createdAt,
          updated_at: scheduled.updatedAt,
        },
      },
    });
    this.bodies.push(body);
    return body;
  }

  book(oldInvitee: string | null = null): { invitee: Invitee; body: string } {
    const at = this.tick();
    const eventId = this.id();
    const event: Event = {
      uri: `${API}/scheduled_events/${eventId}`,
      name: 'Intro call',
      status: 'active',
      startMs: this.clockMs + 7 * 86_400_000,
      cancellation: null,
      createdAt: at,
      updatedAt: at,
    };
    this.events.set(event.uri, event);
    const n = this.id();
    const invitee: Invitee = {
      uri: `${event.uri}/invitees/${n}`,
      event,
      email: `guest-${n.toLowerCase()}@example.com`,
      name: `Guest ${n.slice(0, 6)}`,
      status: 'active',
      rescheduled: false,
      oldInvitee,
      newInvitee: null,
      cancellation: null,
      noShow: null,
      createdAt: at,
      updatedAt: at,
    };
    this.invitees.set(invitee.uri, invitee);
    return { invitee, body: this.emit('invitee.created', at, invitee) };
  }

  cancel(invitee: Invitee, newInvitee: string | null = null): string {
    const at = this.tick();
    const cancellation = {
      canceled_by: newInvitee ? invitee.name : 'Host',
      reason: newInvitee ? null : 'Something came up',
      canceler_type: newInvitee ? 'invitee' : 'host',
      created_at: at,
    };
    Object.assign(invitee, {
      status: 'canceled',
      cancellation,
      rescheduled: newInvitee !== null,
      newInvitee,
      updatedAt: at,
    });
    Object.assign(invitee.event, { status: 'canceled', cancellation, updatedAt: at });
    return this.emit('invitee.canceled', at, invitee);
  }

  markNoShow(invitee: Invitee): string {
    const at = this.tick();
    invitee.noShow = { uri: `${API}/invitee_no_shows/${this.id()}`, created_at: at };
    return this.emit('invitee_no_show.created', at, invitee);
  }

  unmarkNoShow(invitee: Invitee): string {
    const at = this.tick();
    invitee.noShow = null;
    return this.emit('invitee_no_show.deleted', at, invitee);
  }

  /** Calendly's reschedule: the old invitee canceled (rescheduled) and a new one booked. */
  reschedule(old: Invitee): { invitee: Invitee; bodies: string[] } {
    // The new invitee (linked to the old one) first, then the cancel that points at it.
    const created = this.book(old.uri);
    const canceled = this.cancel(old, created.invitee.uri);
    return { invitee: created.invitee, bodies: [created.body, canceled] };
  }

  story(kind: StoryKind): string[] {
    const first = this.book();
    const bodies = [first.body];
    switch (kind) {
      case 'book':
        break;
      case 'cancel':
        bodies.push(this.cancel(first.invitee));
        break;
      case 'no-show':
        bodies.push(this.markNoShow(first.invitee));
        break;
      case 'no-show-undone':
        bodies.push(this.markNoShow(first.invitee), this.unmarkNoShow(first.invitee));
        break;
      case 'reschedule':
        bodies.push(...this.reschedule(first.invitee).bodies);
        break;
      case 'reschedule-then-cancel': {
        const moved = this.reschedule(first.invitee);
        bodies.push(...moved.bodies, this.cancel(moved.invitee));
        break;
      }
    }
    return bodies;
  }
}

const KINDS: StoryKind[] = [
  'book',
  'cancel',
  'no-show',
  'no-show-undone',
  'reschedule',
  'reschedule-then-cancel',
];

const LENGTH: Record<StoryKind, number> = {
  book: 1,
  cancel: 2,
  'no-show': 2,
  'no-show-undone': 3,
  reschedule: 3,
  'reschedule-then-cancel': 4,
};

/** Stories of every kind, in turn, until the history holds exactly `events` deliveries. */
export function writeHistory(
  userUri: string,
  events: number,
  kinds: readonly StoryKind[] = KINDS,
): History {
  const writer = new Writer(userUri, Date.UTC(2026, 0, 5, 9));
  const stories: string[][] = [];
  let count = 0;
  for (let i = 0; count < events; i++) {
    const kind = kinds[i % kinds.length] as StoryKind;
    // Single bookings fill whatever the last full story would overshoot.
    const story = writer.story(count + LENGTH[kind] > events ? 'book' : kind);
    stories.push(story);
    count += story.length;
  }
  return {
    bodies: stories.flat(),
    stories,
    meetings: new Map([...writer.events.values()].map((e) => [e.uri, e.status])),
    invitees: new Map(
      [...writer.invitees.values()].map((i) => [
        i.uri,
        {
          event: i.event.uri,
          status: i.status,
          noShow: i.noShow !== null,
          rescheduled: i.rescheduled,
          oldInvitee: i.oldInvitee,
          newInvitee: i.newInvitee,
        },
      ]),
    ),
  };
}
