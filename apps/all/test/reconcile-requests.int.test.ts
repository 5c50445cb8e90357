// Proves every accepted reconcile request gets a run that starts after it: two requests a
// moment apart, each made right after a change Calendly never delivered, repair both changes,
// whether the first run has finished or is still running when the second request arrives.
// Also that the scheduled reconcile-sweep carries its catalog options in Redis.
import type { SimUser } from '@calhook/calendly-simulator';
import { jobCatalog } from '@calhook/queue';
import { eventually, testDatabase } from '@calhook/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const connected = () => h.connectNewUser();

const statusOf = async (userId: string, eventUri: string) => {
  const body = (await h.api('GET', `/v1/users/${userId}/meetings`)).body as {
    meetings: { calendlyEventUri: string; status: string }[];
  };
  return body.meetings.find((m) => m.calendlyEventUri === eventUri)?.status;
};

/** Cancels the invitee at Calendly with every delivery of it dropped: only a backfill sees it. */
async function cancelUndelivered(inviteeUri: string) {
  await h.sim.control.faults({ drop: true });
  try {
    await h.sim.control.cancel(inviteeUri, {});
  } finally {
    await h.sim.control.faults({});
  }
}

async function requestReconcile(userId: string) {
  const response = await h.api('POST', `/v1/connections/${userId}/reconcile`);
  expect(response.status).toBe(202);
}

/** Two bookings a day apart, delivered and visible: `first` starts before `second`. */
async function twoBookings(user: SimUser, userId: string) {
  const day = 86_400_000;
  const first = await h.sim.control.book(user.uri, {
    inviteeEmail: 'first@example.com',
    startTime: new Date(Date.now() + day).toISOString(),
  });
  const second = await h.sim.control.book(user.uri, {
    inviteeEmail: 'second@example.com',
    startTime: new Date(Date.now() + 2 * day).toISOString(),
  });
  await eventually(async () => (await statusOf(userId, second.eventUri)) === 'active', {
    what: 'both bookings delivered',
  });
  return { first, second };
}

describe('reconcile requests', () => {
  it('repairs both changes when two requests come a moment apart', async () => {
    const { user, userId } = await connected();
    const { first, second } = await twoBookings(user, userId);

    await cancelUndelivered(first.inviteeUri);
    await requestReconcile(userId);
    // The scenario: the second request within the same second as the first.
    await new Promise((resolve) => setTimeout(resolve, 150));
    await cancelUndelivered(second.inviteeUri);
    await requestReconcile(userId);

    await eventually(
      async () =>
        (await statusOf(userId, first.eventUri)) === 'canceled' &&
        (await statusOf(userId, second.eventUri)) === 'canceled',
      { timeoutMs: 15_000, what: 'both cancellations repaired' },
    );
  });

  it('gives a request made while a run is active a run of its own', async () => {
    const { user, userId, connectionId } = await connected();
    // The later booking's meeting is written last by a backfill (events come by start time).
    const { first, second } = await twoBookings(user, userId);
    await cancelUndelivered(second.inviteeUri);

    // Hold the later meeting's row: the first run lists both bookings, then waits on it.
    const blocker = testDatabase();
    try {
      await blocker.sql.begin(async (tx) => {
        await tx`select 1 from meetings
          where connection_id = ${connectionId} and calendly_event_uri = ${second.eventUri}
          for update`;
        const [me] = (await tx`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
        await requestReconcile(userId);
        await eventually(
          async () => {
            const [row] = (await blocker.sql`select count(*)::int as n from pg_stat_activity
              where ${me.pid}::int = any(pg_blocking_pids(pid))`) as unknown as [{ n: number }];
            return row.n > 0;
          },
          { timeoutMs: 15_000, what: 'the first run to wait on the held meeting' },
        );
        // The first run has listed the bookings already: this change comes after its listing,
        // and the request while it runs.
        await cancelUndelivered(first.inviteeUri);
        await requestReconcile(userId);
      });
    } finally {
      await blocker.close();
    }

    await eventually(
      async () =>
        (await statusOf(userId, first.eventUri)) === 'canceled' &&
        (await statusOf(userId, second.eventUri)) === 'canceled',
      { timeoutMs: 15_000, what: 'both cancellations repaired' },
    );
  });
});

describe('the reconcile schedule', () => {
  it('runs reconcile-sweep with the catalog retry and removal options', async () => {
    const scheduler = await h.queues.get('connections').getJobScheduler('reconcile-sweep');
    const expected = jobCatalog['reconcile-sweep'].options;
    expect(scheduler?.template?.opts).toMatchObject({
      attempts: expected.attempts,
      backoff: expected.backoff,
      removeOnComplete: expected.removeOnComplete,
      removeOnFail: expected.removeOnFail,
    });
  });
});
