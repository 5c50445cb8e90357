// Proves the change feed tells the app what happened, through GET /v1/changes on the real roles
// and the simulator: a connection's status and webhook state, a booking, a no-show, a group
// event's second invitee, a reschedule and a cancellation each appear as the right change type
// with a snapshot equal to what the meetings API shows and a growing version; a reconcile that
// changes nothing records nothing; bad and expired cursors answer 400 and 410.
import { type Change, connectionRepo } from '@calhook/db';
import { eventually } from '@calhook/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

/** A reader of one user's feed that remembers its cursor, as an app's poll loop would. */
function feedOf(userId: string) {
  let cursor: string | undefined;
  const seen: Change[] = [];
  const poll = async () => {
    const query = new URLSearchParams({ userId, limit: '3', ...(cursor ? { after: cursor } : {}) });
    const { status, body } = await h.api('GET', `/v1/changes?${query}`);
    expect(status).toBe(200);
    expect(typeof body.nextCursor).toBe('string');
    cursor = body.nextCursor;
    seen.push(...(body.changes as Change[]));
    return body.changes as Change[];
  };
  return {
    seen,
    /**
     * Polls until a change matching `match` has arrived (now or before); returns the changes
     * that arrived during this call.
     */
    async until(match: (change: Change) => boolean, what: string): Promise<Change[]> {
      const from = seen.length;
      await eventually(
        async () => {
          while ((await poll()).length > 0) {}
          return seen.some(match);
        },
        { what },
      );
      return seen.slice(from);
    },
    async drain() {
      while ((await poll()).length > 0) {}
    },
  };
}

type MeetingData = {
  id: string;
  calendlyEventUri: string;
  status: string;
  version: number;
  invitees: { uri: string; noShow: boolean; status: string; oldInviteeUri: string | null }[];
};

const meetingOf = (change: Change) => change.data as MeetingData;

async function apiMeeting(userId: string, eventUri: string) {
  const { body } = await h.api('GET', `/v1/users/${userId}/meetings?limit=200`);
  return (body.meetings as MeetingData[]).find((m) => m.calendlyEventUri === eventUri);
}

describe('the change feed', () => {
  it('records each change to a meeting with the right type and the API snapshot', async () => {
    const { user, userId } = await h.connectNewUser();
    const feed = feedOf(userId);
    // A change shows once every older transaction on the Postgres server has ended: wait for
    // the webhook's last state rather than read once right after the connect.
    await feed.until(
      (c) =>
        c.type === 'connection.updated' &&
        (c.data as { webhook: { state: string } }).webhook.state === 'active',
      'the connection active with its webhook',
    );
    await feed.drain();
    const connectionChanges = feed.seen.filter((c) => c.type === 'connection.updated');
    expect(connectionChanges.at(-1)?.data).toMatchObject({
      userId,
      status: 'active',
      webhook: { state: 'active' },
    });
    for (const change of feed.seen) {
      expect(change).toMatchObject({ userId, id: expect.stringMatching(/^chg_/) });
      expect(Number.isNaN(Date.parse(change.occurredAt))).toBe(false);
    }

    const booked = await h.sim.control.book(user.uri, {
      inviteeEmail: 'a@example.com',
      inviteeLimit: 3,
    });
    const created = (
      await feed.until((c) => meetingOf(c).calendlyEventUri === booked.eventUri, 'the booking')
    ).filter((c) => c.type.startsWith('meeting.'));
    expect(created.map((c) => c.type)).toEqual(['meeting.created']);
    const first = meetingOf(created[0]!);
    expect(first.version).toBe(1);
    expect(first).toEqual(await apiMeeting(userId, booked.eventUri));

    // A second invitee of the group event, then a no-show: each an update with a new version.
    await h.sim.control.book(user.uri, {
      inviteeEmail: 'b@example.com',
      groupEventUri: booked.eventUri,
    });
    const second = await feed.until((c) => meetingOf(c).invitees?.length === 2, 'the 2nd invitee');
    expect(second.map((c) => c.type)).toEqual(['meeting.updated']);
    await h.sim.control.markNoShow(booked.inviteeUri);
    const noShow = await feed.until(
      (c) => meetingOf(c).invitees?.some((i) => i.noShow) ?? false,
      'the no-show',
    );
    expect(noShow.map((c) => c.type)).toEqual(['meeting.updated']);
    const withNoShow = meetingOf(noShow.at(-1)!);
    expect(withNoShow.version).toBeGreaterThan(meetingOf(second.at(-1)!).version);
    expect(withNoShow).toEqual(await apiMeeting(userId, booked.eventUri));

    // A reconcile (with a backfill) that finds nothing new records nothing.
    const asked = new Date();
    const { status } = await h.api('POST', `/v1/connections/${userId}/reconcile`);
    expect(status).toBe(202);
    await eventually(
      async () => {
        const row = await connectionRepo.findByUser(h.database.db, userId);
        return (row?.lastBackfilledAt?.getTime() ?? 0) >= asked.getTime();
      },
      { what: 'the reconcile run' },
    );
    const before = feed.seen.length;
    await feed.drain();
    expect(feed.seen.slice(before)).toEqual([]);
  });

  it('records a reschedule and a cancellation, and a connection that must reconnect', async () => {
    const { user, userId } = await h.connectNewUser();
    const feed = feedOf(userId);
    await feed.drain();
    const booked = await h.sim.control.book(user.uri, { inviteeEmail: 'c@example.com' });
    await feed.until((c) => meetingOf(c).calendlyEventUri === booked.eventUri, 'the booking');

    const moved = await h.sim.control.reschedule(booked.inviteeUri, {
      startTime: new Date(Date.now() + 5 * 86_400_000).toISOString(),
    });
    const rescheduled = await feed.until(
      (c) =>
        meetingOf(c).calendlyEventUri === moved.eventUri &&
        meetingOf(c).invitees.some((i) => i.oldInviteeUri === booked.inviteeUri),
      'the new meeting linked to the old invitee',
    );
    await feed.until(
      (c) =>
        meetingOf(c).calendlyEventUri === booked.eventUri && meetingOf(c).status === 'canceled',
      'the old meeting canceled',
    );
    const oldMeeting = feed.seen.filter(
      (c) => c.type.startsWith('meeting.') && meetingOf(c).calendlyEventUri === booked.eventUri,
    );
    expect(oldMeeting.map((c) => c.type)).toContain('meeting.canceled');
    expect(rescheduled.find((c) => meetingOf(c).calendlyEventUri === moved.eventUri)?.type).toBe(
      'meeting.created',
    );

    await h.sim.control.cancel(moved.inviteeUri, {});
    const canceled = await feed.until(
      (c) => meetingOf(c).calendlyEventUri === moved.eventUri && meetingOf(c).status === 'canceled',
      'the cancellation',
    );
    expect(canceled.at(-1)?.type).toBe('meeting.canceled');
    expect(meetingOf(canceled.at(-1)!)).toEqual(await apiMeeting(userId, moved.eventUri));

    // Calendly revokes the tokens: the next call's refresh is refused, the user must reconnect.
    await h.sim.control.revokeTokens(user.uri);
    await h.api('POST', `/v1/connections/${userId}/reconcile`);
    const reauth = await feed.until(
      (c) =>
        c.type === 'connection.updated' &&
        (c.data as { status: string }).status === 'reauth_required',
      'the connection to need reconnecting',
    );
    expect(reauth.at(-1)?.data).toEqual((await h.api('GET', `/v1/connections/${userId}`)).body);
  });

  it('answers 400 for a cursor it did not issue', async () => {
    for (const after of ['nonsense', 'c1.', `c1.${Buffer.from('x.1').toString('base64url')}`]) {
      const { status, body } = await h.api('GET', `/v1/changes?after=${encodeURIComponent(after)}`);
      expect(status).toBe(400);
      expect(body).toMatchObject({ error: 'invalid_request', field: 'querystring.after' });
    }
    const { status } = await h.api('GET', '/v1/changes?limit=501');
    expect(status).toBe(400);
  });
});
