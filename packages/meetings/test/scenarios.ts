// Random but realistic Calendly histories for the order-independence properties: a small
// simulation of Calendly produces the deliveries it would send, in true order, with strictly
// increasing timestamps, plus what the rows must say once all of them have been applied.
import fc from 'fast-check';

export const SCENARIO_USER_URI = 'https://api.calendly.com/users/SCENARIOHOST';

export interface ScenarioEnvelope {
  event: string;
  created_at: string;
  created_by: string;
  payload: Record<string, unknown>;
}

export interface ExpectedInvitee {
  status: 'active' | 'canceled';
  noShow: boolean;
  oldInviteeUri: string | null;
  newInviteeUri: string | null;
}

export interface Scenario {
  envelopes: ScenarioEnvelope[];
  expected: {
    meetings: Map<string, 'active' | 'canceled'>;
    invitees: Map<string, ExpectedInvitee>;
  };
}

type NoShowOp = 'mark' | 'unmark';

type Story =
  | {
      kind: 'single';
      noShows: NoShowOp[];
      end: 'none' | 'cancel' | 'reschedule';
      canceledByHost: boolean;
      newInviteeFirst: boolean;
      afterReschedule: 'none' | 'cancel' | 'mark';
    }
  | { kind: 'group'; cancelFirst: boolean; markSecond: boolean };

const storyArbitrary: fc.Arbitrary<Story> = fc.oneof(
  fc.record({
    kind: fc.constant('single' as const),
    noShows: fc.array(fc.constantFrom<NoShowOp>('mark', 'unmark'), { maxLength: 3 }),
    end: fc.constantFrom('none' as const, 'cancel' as const, 'reschedule' as const),
    canceledByHost: fc.boolean(),
    newInviteeFirst: fc.boolean(),
    afterReschedule: fc.constantFrom('none' as const, 'cancel' as const, 'mark' as const),
  }),
  fc.record({
    kind: fc.constant('group' as const),
    cancelFirst: fc.boolean(),
    markSecond: fc.boolean(),
  }),
);

interface SimEvent {
  uri: string;
  name: string;
  status: 'active' | 'canceled';
  start_time: string;
  end_time: string;
  event_type: string;
  location: Record<string, unknown>;
  invitees_counter: { total: number; active: number; limit: number };
  event_memberships: { user: string; user_email: string; user_name: string }[];
  cancellation: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
  oneOnOne: boolean;
}

interface SimInvitee {
  uri: string;
  event: string;
  email: string;
  name: string;
  first_name: null;
  last_name: null;
  status: 'active' | 'canceled';
  timezone: string;
  questions_and_answers: { question: string; answer: string; position: number }[];
  tracking: Record<string, string | null>;
  rescheduled: boolean;
  old_invitee: string | null;
  new_invitee: string | null;
  cancel_url: string;
  reschedule_url: string;
  cancellation: Record<string, unknown> | null;
  no_show: { uri: string; created_at: string } | null;
  created_at: string;
  updated_at: string;
}

/** Calendly-style timestamps with microseconds, one second apart. */
function calendlyTime(step: number): string {
  return new Date(Date.UTC(2024, 4, 1, 9) + step * 1000).toISOString().replace('Z', '000Z');
}

class Simulation {
  readonly envelopes: ScenarioEnvelope[] = [];
  readonly events = new Map<string, SimEvent>();
  readonly invitees = new Map<string, SimInvitee>();
  private clock = 0;
  private ids = 0;

  private tick(): string {
    this.clock += 1;
    return calendlyTime(this.clock);
  }

  newId(label: string): string {
    this.ids += 1;
    return `${label}${String(this.ids).padStart(4, '0')}`;
  }

  newEventUri(): string {
    return `https://api.calendly.com/scheduled_events/EV${this.newId('')}`;
  }

  newInviteeUri(eventUri: string): string {
    return `${eventUri}/invitees/INV${this.newId('')}`;
  }

  private emit(event: string, at: string, invitee: SimInvitee) {
    const scheduled = this.events.get(invitee.event);
    if (!scheduled) throw new Error('invitee without event');
    const { oneOnOne, ...scheduledEvent } = scheduled;
    this.envelopes.push(
      structuredClone({
        event,
        created_at: at,
        created_by: SCENARIO_USER_URI,
        payload: { ...invitee, scheduled_event: scheduledEvent },
      }),
    );
  }

  create(uri: string, eventUri: string, oneOnOne: boolean, oldInvitee: string | null) {
    const at = this.tick();
    let scheduled = this.events.get(eventUri);
    if (!scheduled) {
      scheduled = {
        uri: eventUri,
        name: oneOnOne ? 'Intro call' : 'Workshop',
        status: 'active',
        start_time: calendlyTime(86_400 + this.clock * 3600),
        end_time: calendlyTime(86_400 + this.clock * 3600 + 1800),
        event_type: 'https://api.calendly.com/event_types/ET1',
        location: { type: 'zoom', join_url: `https://zoom.example/${this.clock}` },
        invitees_counter: { total: 0, active: 0, limit: oneOnOne ? 1 : 10 },
        event_memberships: [
          { user: SCENARIO_USER_URI, user_email: 'host@example.com', user_name: 'Host' },
        ],
        cancellation: null,
        created_at: at,
        updated_at: at,
        oneOnOne,
      };
      this.events.set(eventUri, scheduled);
    }
    const invitee: SimInvitee = {
      uri,
      event: eventUri,
      email: `${uri.slice(-7).toLowerCase()}@example.com`,
      name: `Guest ${uri.slice(-4)}`,
      first_name: null,
      last_name: null,
      status: 'active',
      timezone: 'Europe/Berlin',
      questions_and_answers: [
        { question: 'Topic?', answer: `about ${uri.slice(-4)}`, position: 0 },
      ],
      tracking: { utm_source: 'scenario', utm_campaign: null },
      rescheduled: false,
      old_invitee: oldInvitee,
      new_invitee: null,
      cancel_url: 'https://calendly.com/cancellations/x',
      reschedule_url: 'https://calendly.com/reschedulings/x',
      cancellation: null,
      no_show: null,
      created_at: at,
      updated_at: at,
    };
    this.invitees.set(uri, invitee);
    this.emit('invitee.created', at, invitee);
  }

  cancel(uri: string, byHost: boolean, newInvitee: string | null) {
    const at = this.tick();
    const invitee = this.invitees.get(uri);
    const scheduled = invitee && this.events.get(invitee.event);
    if (!invitee || !scheduled) throw new Error('cancel before create');
    const cancellation = {
      canceled_by: byHost ? 'Host' : invitee.name,
      reason: newInvitee ? null : 'Something came up',
      canceler_type: byHost ? 'host' : 'invitee',
      created_at: at,
    };
    invitee.status = 'canceled';
    invitee.cancellation = cancellation;
    invitee.rescheduled = newInvitee !== null;
    invitee.new_invitee = newInvitee;
    invitee.updated_at = at;
    // A group event stays active when one of its invitees cancels.
    if (scheduled.oneOnOne) {
      scheduled.status = 'canceled';
      scheduled.cancellation = cancellation;
      scheduled.updated_at = at;
    }
    this.emit('invitee.canceled', at, invitee);
  }

  noShow(uri: string, op: NoShowOp) {
    const at = this.tick();
    const invitee = this.invitees.get(uri);
    if (!invitee) throw new Error('no-show before create');
    // Calendly cannot mark twice or unmark what is not marked: such steps send nothing.
    if (op === 'mark' && !invitee.no_show) {
      invitee.no_show = {
        uri: `https://api.calendly.com/invitee_no_shows/${this.newId('NS')}`,
        created_at: at,
      };
      this.emit('invitee_no_show.created', at, invitee);
    } else if (op === 'unmark' && invitee.no_show) {
      invitee.no_show = null;
      this.emit('invitee_no_show.deleted', at, invitee);
    }
  }
}

type Step = (sim: Simulation) => void;

function stepsOf(story: Story, sim: Simulation): Step[] {
  if (story.kind === 'group') {
    const eventUri = sim.newEventUri();
    const [first, second] = [sim.newInviteeUri(eventUri), sim.newInviteeUri(eventUri)];
    const steps: Step[] = [
      (s) => s.create(first, eventUri, false, null),
      (s) => s.create(second, eventUri, false, null),
    ];
    if (story.cancelFirst) steps.push((s) => s.cancel(first, false, null));
    if (story.markSecond) steps.push((s) => s.noShow(second, 'mark'));
    return steps;
  }
  const eventUri = sim.newEventUri();
  const uri = sim.newInviteeUri(eventUri);
  const steps: Step[] = [(s) => s.create(uri, eventUri, true, null)];
  for (const op of story.noShows) steps.push((s) => s.noShow(uri, op));
  if (story.end === 'cancel') steps.push((s) => s.cancel(uri, story.canceledByHost, null));
  if (story.end === 'reschedule') {
    const newEventUri = sim.newEventUri();
    const newUri = sim.newInviteeUri(newEventUri);
    const cancelOld: Step = (s) => s.cancel(uri, false, newUri);
    const createNew: Step = (s) => s.create(newUri, newEventUri, true, uri);
    steps.push(...(story.newInviteeFirst ? [createNew, cancelOld] : [cancelOld, createNew]));
    if (story.afterReschedule === 'cancel') steps.push((s) => s.cancel(newUri, true, null));
    if (story.afterReschedule === 'mark') steps.push((s) => s.noShow(newUri, 'mark'));
  }
  return steps;
}

function build(stories: Story[], interleaving: number[]): Scenario {
  const sim = new Simulation();
  const queues = stories.map((story) => stepsOf(story, sim));
  let pick = 0;
  for (;;) {
    const open = queues.filter((q) => q.length > 0);
    if (open.length === 0) break;
    const queue = open[(interleaving[pick++] ?? 0) % open.length];
    queue?.shift()?.(sim);
  }
  return {
    envelopes: sim.envelopes,
    expected: {
      meetings: new Map([...sim.events.values()].map((e) => [e.uri, e.status])),
      invitees: new Map(
        [...sim.invitees.values()].map((i) => [
          i.uri,
          {
            status: i.status,
            noShow: i.no_show !== null,
            oldInviteeUri: i.old_invitee,
            newInviteeUri: i.new_invitee,
          },
        ]),
      ),
    },
  };
}

export const scenarioArbitrary: fc.Arbitrary<Scenario> = fc
  .tuple(
    fc.array(storyArbitrary, { minLength: 1, maxLength: 3 }),
    fc.array(fc.nat({ max: 11 }), { minLength: 30, maxLength: 30 }),
  )
  .map(([stories, interleaving]) => build(stories, interleaving));

export interface DeliveryPlan {
  /** The deliveries that reach us, in true order. Half the time all of them. */
  inOrder: number[];
  /** The same deliveries in any order, with up to `maxDuplicates` repeats anywhere. */
  shuffled: number[];
}

/**
 * Dropping deliveries matters: with every delivery present each reschedule half carries its
 * own link, so only a partial set exercises filling a link from the counterpart's payload.
 */
export function deliveryPlanArbitrary(
  count: number,
  maxDuplicates = 4,
): fc.Arbitrary<DeliveryPlan> {
  const indices = Array.from({ length: count }, (_, i) => i);
  return fc.oneof(fc.constant(indices), fc.subarray(indices)).chain((inOrder) =>
    fc
      .array(fc.constantFrom(...(inOrder.length > 0 ? inOrder : [-1])), {
        maxLength: inOrder.length === 0 ? 0 : maxDuplicates,
      })
      .chain((duplicates) => {
        const all = [...inOrder, ...duplicates];
        return fc
          .shuffledSubarray(all, { minLength: all.length, maxLength: all.length })
          .map((shuffled) => ({ inOrder, shuffled }));
      }),
  );
}
