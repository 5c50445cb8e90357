// Proves the merge rules: newer wins, older is ignored, ties go to canceled, links are never
// lost, the no-show register, and the semilattice laws that make order irrelevant.
import { type Invitee, inviteeSchema } from '@calhook/calendly';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyToMemory, emptyStore } from '../test/memory-store.ts';
import {
  type InviteeRecord,
  type MeetingRecord,
  mergeInvitee,
  mergeMeeting,
  type Observation,
} from './merge-rules.ts';
import { observationFromPayload, placeholderMeeting } from './observation.ts';

const EVENT = 'https://api.calendly.com/scheduled_events/E1';
const INVITEE = `${EVENT}/invitees/I1`;

function payload(overrides: Record<string, unknown> = {}): Invitee {
  return inviteeSchema.parse({
    uri: INVITEE,
    event: EVENT,
    email: 'guest@example.com',
    name: 'Guest',
    status: 'active',
    rescheduled: false,
    old_invitee: null,
    new_invitee: null,
    no_show: null,
    created_at: '2024-05-01T10:00:00.000000Z',
    updated_at: '2024-05-01T10:00:00.000000Z',
    scheduled_event: {
      uri: EVENT,
      name: 'Intro',
      status: 'active',
      start_time: '2024-05-02T10:00:00.000000Z',
      end_time: '2024-05-02T10:30:00.000000Z',
      created_at: '2024-05-01T10:00:00.000000Z',
      updated_at: '2024-05-01T10:00:00.000000Z',
    },
    ...overrides,
  });
}

function observe(
  invitee: Invitee,
  eventType = 'invitee.created',
  observedAt = invitee.updated_at ?? '2024-05-01T10:00:00Z',
): Observation {
  const result = observationFromPayload({
    invitee,
    eventType,
    observedAt: new Date(observedAt),
  });
  if (!result.ok) throw new Error(result.reason);
  return result.observation;
}

const canceledAt = (at: string) => ({
  status: 'canceled',
  updated_at: at,
  cancellation: { canceled_by: 'Guest', reason: 'busy', canceler_type: 'invitee', created_at: at },
});

function both<T>(merge: (a: T, b: T) => T, a: T, b: T): T {
  const ab = merge(a, b);
  expect(merge(b, a)).toEqual(ab);
  return ab;
}

describe('invitee status register', () => {
  const created = observe(payload()).invitee;
  const canceled = observe(payload(canceledAt('2024-05-01T11:00:00Z')), 'invitee.canceled').invitee;

  it('takes the newer version whichever is stored', () => {
    const merged = both(mergeInvitee, created, canceled);
    expect(merged.status).toBe('canceled');
    expect(merged.cancelReason).toBe('busy');
  });

  it('ignores an update older than the stored one', () => {
    const reactivated = observe(payload({ updated_at: '2024-05-01T09:00:00Z' })).invitee;
    expect(both(mergeInvitee, canceled, reactivated).status).toBe('canceled');
  });

  it('lets canceled beat active on a tie', () => {
    const tiedCancel = observe(payload(canceledAt('2024-05-01T10:00:00Z'))).invitee;
    expect(both(mergeInvitee, created, tiedCancel).status).toBe('canceled');
  });

  it('compares versions at millisecond precision, microseconds included in the input', () => {
    const a = observe(payload({ updated_at: '2024-05-01T10:00:00.000999Z' })).invitee;
    expect(a.sourceUpdatedAt.toISOString()).toBe('2024-05-01T10:00:00.000Z');
  });
});

describe('meeting register', () => {
  const active = observe(payload()).meeting;
  const canceled: MeetingRecord = {
    ...active,
    status: 'canceled',
    sourceUpdatedAt: new Date('2024-05-01T11:00:00Z'),
  };

  it('takes the newer scheduled event and ignores older ones', () => {
    expect(both(mergeMeeting, active, canceled).status).toBe('canceled');
  });

  it('lets canceled beat active on a tie', () => {
    const tie = { ...canceled, sourceUpdatedAt: active.sourceUpdatedAt };
    expect(both(mergeMeeting, active, tie).status).toBe('canceled');
  });

  it('breaks a full tie the same way in both orders', () => {
    const renamed = { ...active, name: 'Renamed' };
    both(mergeMeeting, active, renamed);
  });

  it('replaces a placeholder with any real data and never the reverse', () => {
    const placeholder = placeholderMeeting(EVENT);
    expect(both(mergeMeeting, placeholder, active)).toEqual(active);
  });

  it('makes a placeholder meeting when the payload embeds no scheduled event', () => {
    const observation = observe(payload({ scheduled_event: undefined }));
    expect(observation.meeting).toEqual(placeholderMeeting(EVENT));
  });
});

describe('reschedule links', () => {
  const NEW = 'https://api.calendly.com/scheduled_events/E2/invitees/I2';

  it('keeps a known link when a newer payload carries none', () => {
    const cancel = observe(
      payload({ ...canceledAt('2024-05-01T11:00:00Z'), rescheduled: true, new_invitee: NEW }),
    ).invitee;
    const later = observe(payload({ updated_at: '2024-05-01T12:00:00Z' })).invitee;
    const merged = both(mergeInvitee, cancel, later);
    expect(merged.newInviteeUri).toBe(NEW);
    expect(merged.status).toBe('active');
  });

  it('links both rows whichever half of the reschedule arrives first', () => {
    const oldCreate = observe(payload());
    const newCreate = observe(
      payload({
        uri: NEW,
        event: 'https://api.calendly.com/scheduled_events/E2',
        old_invitee: INVITEE,
        scheduled_event: undefined,
      }),
    );
    const results = [
      [oldCreate, newCreate],
      [newCreate, oldCreate],
    ].map((order) => {
      const store = emptyStore();
      for (const observation of order) applyToMemory(store, observation);
      return store;
    });
    for (const store of results) {
      expect(store.invitees.get(INVITEE)?.newInviteeUri).toBe(NEW);
      expect(store.invitees.get(NEW)?.oldInviteeUri).toBe(INVITEE);
    }
  });
});

describe('no-show register', () => {
  const MARK = {
    uri: 'https://api.calendly.com/invitee_no_shows/N1',
    created_at: '2024-05-01T12:00:00Z',
  };
  const marked = observe(payload({ no_show: MARK }), 'invitee_no_show.created').invitee;
  const unmarked = observe(payload(), 'invitee_no_show.deleted', '2024-05-01T13:00:00Z').invitee;

  it('marks on invitee_no_show.created and unmarks on a newer deleted', () => {
    expect(marked.noShow).toBe(true);
    expect(both(mergeInvitee, marked, unmarked).noShow).toBe(false);
  });

  it('ignores an unmark older than the mark', () => {
    const early = observe(payload(), 'invitee_no_show.deleted', '2024-05-01T11:00:00Z').invitee;
    expect(both(mergeInvitee, marked, early).noShow).toBe(true);
  });

  it('lets the unmark win a tie', () => {
    const tie = observe(payload(), 'invitee_no_show.deleted', MARK.created_at).invitee;
    expect(both(mergeInvitee, marked, tie).noShow).toBe(false);
  });

  it('never unmarks from a payload whose no_show is null', () => {
    const laterCancel = observe(payload(canceledAt('2024-05-01T14:00:00Z')), 'invitee.canceled');
    const merged = both(mergeInvitee, marked, laterCancel.invitee);
    expect(merged).toMatchObject({ noShow: true, status: 'canceled' });
  });

  it('reads a non-null no_show in any payload as a mark at its own time', () => {
    const cancel = observe(
      payload({ ...canceledAt('2024-05-01T14:00:00Z'), no_show: MARK }),
      'invitee.canceled',
    ).invitee;
    expect(cancel.noShowUpdatedAt?.toISOString()).toBe('2024-05-01T12:00:00.000Z');
    // Replayed after the unmark, the stale mark loses: it is dated by the mark, not the delivery.
    expect(both(mergeInvitee, unmarked, cancel).noShow).toBe(false);
  });
});

describe('payload normalisation', () => {
  it('rejects a scheduled event that is not the invitee event', () => {
    const result = observationFromPayload({
      invitee: payload({ event: 'https://api.calendly.com/scheduled_events/OTHER' }),
    });
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('differs') });
  });

  it('rejects an invitee without a usable version', () => {
    const result = observationFromPayload({
      invitee: payload({ updated_at: 'yesterday', created_at: null }),
    });
    expect(result.ok).toBe(false);
  });
});

describe('semilattice laws', () => {
  const time = fc.integer({ min: 0, max: 3 }).map((n) => new Date(Date.UTC(2024, 0, 1, n)));
  const link = fc.constantFrom(null, 'https://x/a', 'https://x/b');
  const invitee: fc.Arbitrary<InviteeRecord> = fc.record({
    calendlyInviteeUri: fc.constant(INVITEE),
    calendlyEventUri: fc.constant(EVENT),
    email: fc.constantFrom('a@x', 'b@x', null),
    name: fc.constantFrom('A', 'B'),
    timezone: fc.constant(null),
    status: fc.constantFrom('active' as const, 'canceled' as const),
    rescheduled: fc.boolean(),
    canceledBy: fc.constantFrom(null, 'Host'),
    cancelerType: fc.constant(null),
    cancelReason: fc.constantFrom(null, 'r'),
    canceledAt: fc.option(time),
    questionsAndAnswers: fc.constantFrom([], [{ question: 'q', answer: 'a', position: 0 }]),
    tracking: fc.constantFrom(null, { utm_source: 's' }),
    sourceUpdatedAt: time,
    oldInviteeUri: link,
    newInviteeUri: link,
    noShow: fc.boolean(),
    noShowUri: fc.constantFrom(null, 'https://x/n1', 'https://x/n2'),
    noShowUpdatedAt: fc.option(time),
  });
  const meeting: fc.Arbitrary<MeetingRecord> = fc.record({
    calendlyEventUri: fc.constant(EVENT),
    name: fc.constantFrom(null, 'A', 'B'),
    status: fc.constantFrom('active' as const, 'canceled' as const),
    startTime: fc.option(time),
    endTime: fc.option(time),
    location: fc.constantFrom(null, { type: 'zoom' }, { type: 'phone' }),
    eventTypeUri: fc.constant(null),
    canceledAt: fc.option(time),
    canceledBy: fc.constant(null),
    cancelReason: fc.constantFrom(null, 'r'),
    sourceUpdatedAt: time,
  });

  for (const [name, arbitrary, merge] of [
    ['invitee', invitee, mergeInvitee],
    ['meeting', meeting, mergeMeeting],
  ] as const) {
    it(`${name} merge is commutative, associative and idempotent`, () => {
      const join = merge as (a: unknown, b: unknown) => unknown;
      fc.assert(
        fc.property(arbitrary, arbitrary, arbitrary, (a, b, c) => {
          expect(join(a, b)).toEqual(join(b, a));
          expect(join(join(a, b), c)).toEqual(join(a, join(b, c)));
          expect(join(a, a)).toEqual(a);
        }),
        { numRuns: 2000 },
      );
    });
  }
});
