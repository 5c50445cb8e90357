// Proves reconcile and backfill heal what Calendly breaks silently: a subscription deleted by
// the user or disabled after failed deliveries is recreated (and the bookings made meanwhile
// are backfilled and counted as lost-webhook repairs), a PUBLIC_URL move re-homes the
// subscription, dropped deliveries are repaired, and a listing older than what a webhook
// already applied never overwrites it. Foreign subscriptions are never touched.
import { randomBytes } from 'node:crypto';
import type { SimUser } from '@calhook/calendly-simulator';
import { createSealer } from '@calhook/crypto';
import { connections, webhookHooks } from '@calhook/db';
import { eventually } from '@calhook/testing';
import { signatureHeader } from '@calhook/webhooks';
import { and, eq, isNull } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

let h: Harness;

beforeAll(async () => {
  // Calendly's 24 h of failing deliveries, shortened to 2 s.
  h = await startHarness({ simulator: { retryBaseMs: 50, disableAfterSeconds: 2 } });
});
afterAll(async () => {
  await h?.close();
});

const connected = () => h.connectNewUser();

async function ourSubscriptions(user: SimUser) {
  return (await h.sim.control.subscriptions()).filter(
    (s) => s.user === user.uri && s.callback_url.startsWith(h.config.publicUrl),
  );
}

/** Asks for a reconcile through the API and waits until the worker has recorded it. */
async function reconcileNow(userId: string, connectionId: string) {
  const [before] = await h.database.db
    .select()
    .from(connections)
    .where(eq(connections.id, connectionId));
  const response = await h.api('POST', `/v1/connections/${userId}/reconcile`);
  expect(response.status).toBe(202);
  return eventually(
    async () => {
      const [row] = await h.database.db
        .select()
        .from(connections)
        .where(eq(connections.id, connectionId));
      const done =
        row?.lastBackfilledAt && row.lastBackfilledAt > (before?.lastBackfilledAt ?? new Date(0));
      return done ? row : undefined;
    },
    { timeoutMs: 15_000, what: 'the reconcile job' },
  );
}

const meetingsOf = async (userId: string) =>
  (await h.api('GET', `/v1/users/${userId}/meetings`)).body.meetings as {
    calendlyEventUri: string;
    status: string;
    invitees: { email: string; status: string }[];
  }[];

describe('reconcile', () => {
  it('recreates a subscription the user deleted, and deliveries flow again', async () => {
    const { user, userId, connectionId, subscriptionUri } = await connected();
    await h.sim.control.deleteSubscription(subscriptionUri);
    await reconcileNow(userId, connectionId);
    const subs = await ourSubscriptions(user);
    expect(subs).toHaveLength(1);
    expect(subs[0]?.uri).not.toBe(subscriptionUri);
    expect(subs[0]?.state).toBe('active');
    const booked = await h.sim.control.book(user.uri, { inviteeEmail: 'after@example.com' });
    await eventually(
      async () => (await meetingsOf(userId)).some((m) => m.calendlyEventUri === booked.eventUri),
      {
        what: 'a delivery to the new subscription',
      },
    );
  });

  it('replaces a subscription Calendly disabled while calhook was down, and backfills what was missed', async () => {
    const { user, userId, connectionId, subscriptionUri } = await connected();
    await h.stopReceiver();
    let missed: string[] = [];
    try {
      const a = await h.sim.control.book(user.uri, { inviteeEmail: 'lost1@example.com' });
      const b = await h.sim.control.book(user.uri, { inviteeEmail: 'lost2@example.com' });
      missed = [a.eventUri, b.eventUri];
      await eventually(
        async () =>
          (await ourSubscriptions(user)).find((s) => s.uri === subscriptionUri)?.state ===
          'disabled',
        {
          timeoutMs: 15_000,
          intervalMs: 100,
          what: 'Calendly to disable the failing subscription',
        },
      );
    } finally {
      await h.startReceiver();
    }
    expect(await meetingsOf(userId)).toEqual([]);

    const row = await reconcileNow(userId, connectionId);
    const subs = await ourSubscriptions(user);
    expect(subs.map((s) => s.uri)).not.toContain(subscriptionUri);
    expect(subs.filter((s) => s.state === 'active')).toHaveLength(1);
    expect((await meetingsOf(userId)).map((m) => m.calendlyEventUri).sort()).toEqual(missed.sort());
    expect(row.lastReconcileReport).toMatchObject({ backfill: { repairs: 2, initial: false } });
  });

  it('deletes a stale duplicate of ours and leaves a foreign subscription alone', async () => {
    const { user, userId, connectionId, subscriptionUri } = await connected();
    const stale = await h.sim.control.createForeignSubscription(
      user.uri,
      `${h.config.publicUrl}/webhooks/calendly/${randomBytes(16).toString('base64url')}`,
    );
    const foreign = await h.sim.control.createForeignSubscription(
      user.uri,
      'https://other-app.example.com/calendly',
    );
    await reconcileNow(userId, connectionId);
    const all = (await h.sim.control.subscriptions())
      .filter((s) => s.user === user.uri)
      .map((s) => s.uri);
    expect(all).not.toContain(stale.uri);
    expect(all).toContain(foreign.uri);
    expect(all).toContain(subscriptionUri);
  });

  it('moves the subscription to a new PUBLIC_URL and deletes the old one', async () => {
    const { user, connectionId, subscriptionUri } = await connected();
    const movedTo = 'https://hooks.new-domain.example.com';
    const service = h.connectionService({ publicUrl: movedTo });
    const report = await service.ensureSubscription(connectionId);
    expect(report.deleted).toEqual([{ uri: subscriptionUri, reason: 'old_public_url' }]);
    const subs = (await h.sim.control.subscriptions()).filter((s) => s.user === user.uri);
    expect(subs.map((s) => s.callback_url)).toEqual([
      expect.stringMatching(/^https:\/\/hooks\.new-domain\.example\.com\/webhooks\/calendly\//),
    ]);
    const live = await h.database.db
      .select()
      .from(webhookHooks)
      .where(and(eq(webhookHooks.connectionId, connectionId), isNull(webhookHooks.retiredAt)));
    expect(live.map((hook) => hook.callbackUrl)).toEqual([subs[0]?.callback_url]);
  });
});

describe('backfill', () => {
  it('repairs dropped deliveries', async () => {
    const { user, userId, connectionId } = await connected();
    await h.sim.control.faults({ drop: true });
    let booked: { eventUri: string; inviteeUri: string };
    try {
      booked = await h.sim.control.book(user.uri, { inviteeEmail: 'dropped@example.com' });
      await h.sim.control.cancel(
        (await h.sim.control.book(user.uri, { inviteeEmail: 'gone@example.com' })).inviteeUri,
      );
    } finally {
      await h.sim.control.faults({});
    }
    expect(await meetingsOf(userId)).toEqual([]);
    const row = await reconcileNow(userId, connectionId);
    const repaired = await meetingsOf(userId);
    expect(repaired).toHaveLength(2);
    expect(repaired.find((m) => m.calendlyEventUri === booked.eventUri)?.status).toBe('active');
    expect(repaired.find((m) => m.calendlyEventUri !== booked.eventUri)?.status).toBe('canceled');
    expect(row.lastReconcileReport).toMatchObject({ backfill: { repairs: 2 } });
  });

  it('skips an event Calendly will not show and cleans text Postgres cannot hold, repairing the rest', async () => {
    const { user, userId, connectionId } = await connected();
    const day = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString();
    await h.sim.control.faults({ drop: true });
    let before: { eventUri: string };
    let withNul: { eventUri: string };
    let after: { eventUri: string };
    try {
      // Booked in the organization the user then leaves: its invitees answer 403 from now on.
      before = await h.sim.control.book(user.uri, {
        inviteeEmail: 'old@example.com',
        startTime: day(2),
      });
      await h.sim.control.moveUser(user.uri);
      withNul = await h.sim.control.book(user.uri, {
        inviteeEmail: 'nul@example.com',
        inviteeName: `Nul${String.fromCharCode(0)}Name`,
        startTime: day(1),
      });
      after = await h.sim.control.book(user.uri, {
        inviteeEmail: 'later@example.com',
        startTime: day(3),
      });
    } finally {
      await h.sim.control.faults({});
    }
    const row = await reconcileNow(userId, connectionId);
    const repaired = await meetingsOf(userId);
    expect(repaired.map((m) => m.calendlyEventUri).sort()).toEqual(
      [withNul.eventUri, after.eventUri].sort(),
    );
    const named = repaired.find((m) => m.calendlyEventUri === withNul.eventUri) as unknown as {
      invitees: { name: string }[];
    };
    expect(named.invitees[0]?.name).toBe('Nul\uFFFDName');
    expect(row.lastReconcileReport).toMatchObject({
      backfill: {
        repairs: 2,
        skipped: 1,
        skippedItems: [{ uri: before.eventUri, reason: 'Calendly answered 403 to its invitees' }],
      },
    });
  });

  it('keeps webhook state that is newer than the listing', async () => {
    const { user, userId, connectionId } = await connected();
    const booked = await h.sim.control.book(user.uri, { inviteeEmail: 'client@example.com' });
    await eventually(async () => (await meetingsOf(userId)).length === 1, { what: 'the booking' });
    // A cancellation Calendly delivered but its listing does not show yet (eventual consistency):
    // stamped later than anything the listing carries.
    const [hook] = await h.database.db
      .select()
      .from(webhookHooks)
      .where(and(eq(webhookHooks.connectionId, connectionId), isNull(webhookHooks.retiredAt)));
    const listed = (await h.sim.control.deliveries()).find((d) =>
      d.body.includes(booked.inviteeUri),
    );
    const envelope = JSON.parse(listed!.body);
    const later = new Date(Date.now() + 3_600_000).toISOString();
    envelope.event = 'invitee.canceled';
    envelope.created_at = later;
    envelope.payload.status = 'canceled';
    envelope.payload.updated_at = later;
    envelope.payload.cancellation = {
      canceled_by: 'Client',
      reason: 'moved away',
      canceler_type: 'invitee',
      created_at: later,
    };
    const body = JSON.stringify(envelope);
    const sealer = createSealer(h.config.encryptionKeys);
    const posted = await fetch(hook!.callbackUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'calendly-webhook-signature': signatureHeader(
          sealer.open(hook!.signingKeyEnc!, { purpose: 'hook_signing_key', id: hook!.id }),
          Math.floor(Date.now() / 1000),
          body,
        ),
      },
      body,
    });
    expect(posted.status).toBe(200);
    await eventually(
      async () => (await meetingsOf(userId))[0]?.invitees[0]?.status === 'canceled',
      { what: 'the cancellation' },
    );

    const row = await reconcileNow(userId, connectionId);
    const [meeting] = await meetingsOf(userId);
    expect(meeting?.invitees[0]).toMatchObject({ status: 'canceled', email: 'client@example.com' });
    expect(row.lastReconcileReport).toMatchObject({ backfill: { repairs: 0 } });
  });
});
