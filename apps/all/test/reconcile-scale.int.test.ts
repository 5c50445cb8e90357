// Proves the paced reconcile against a slow Calendly (300 ms a call): 200 connections are
// reconciled within one short cycle and every broken subscription repaired, with no 429 from
// Calendly's per-user limit; under a 429 storm on half the calls every connection still
// converges and no run fails; and after a worker restart each connection is reconciled at its
// own moment of the cycle, not all at once.
import { randomBytes } from 'node:crypto';
import { connectionRepo, dropDatabase, lastSlotOf, migrateDatabase } from '@calhook/db';
import { callApi, eventually, testUrls } from '@calhook/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

const CONNECTIONS = 200;
const EVERY_MS = 20_000;
const LATENCY_MS = 300;

let h: Harness;
let databaseUrl: string;
const users: { uri: string; userId: string }[] = [];

/** A database of this file's own: a 20 s cycle sweeps every active connection it holds. */
function scratchUrl(): string {
  const url = new URL(testUrls().databaseUrl);
  url.pathname = `/calhook_scale_${randomBytes(4).toString('hex')}`;
  return url.toString();
}

async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/** Each connection's id and when it was last reconciled. */
async function reconciled(): Promise<{ id: string; at: Date | null }[]> {
  const rows = await h.database.sql<{ id: string; at: Date | null }[]>`
    select id, last_reconciled_at as at from connections where status = 'active'`;
  return rows.map((r) => ({ id: r.id, at: r.at ? new Date(r.at) : null }));
}

/** Every connection reconciled at or after `since`. */
async function allReconciledSince(since: Date): Promise<boolean> {
  const rows = await reconciled();
  return rows.length === CONNECTIONS && rows.every((r) => r.at !== null && r.at >= since);
}

/** Breaks `count` users' subscriptions at Calendly: half deleted, half disabled. */
async function breakSubscriptions(count: number): Promise<string[]> {
  const active = (await h.sim.control.subscriptions()).filter((s) => s.state === 'active');
  const victims = active.slice(0, count);
  await pool(
    victims.map((s, i) => ({ uri: s.uri, i })),
    10,
    async ({ uri, i }) => {
      if (i % 2 === 0) await h.sim.control.deleteSubscription(uri);
      else await h.sim.control.setSubscriptionState(uri, 'disabled');
    },
  );
  return victims.map((s) => s.user ?? '');
}

/** Every user has exactly one active subscription of ours at Calendly. */
async function everyoneSubscribed(): Promise<boolean> {
  const active = (await h.sim.control.subscriptions()).filter(
    (s) => s.state === 'active' && s.callback_url.startsWith(h.env.PUBLIC_URL as string),
  );
  const perUser = new Map<string, number>();
  for (const s of active) perUser.set(s.user ?? '', (perUser.get(s.user ?? '') ?? 0) + 1);
  return users.every((u) => perUser.get(u.uri) === 1);
}

async function failedReconciles(): Promise<number> {
  return (await h.queues.get('reconcile').getJobCounts('failed')).failed ?? 0;
}

beforeAll(async () => {
  databaseUrl = scratchUrl();
  await migrateDatabase(databaseUrl);
  h = await startHarness({
    env: { DATABASE_URL: databaseUrl, RECONCILE_EVERY: `${EVERY_MS / 1000}s` },
  });
  const seeded = await h.sim.control.createUsers({ count: CONNECTIONS });
  await pool(
    seeded.users.map((uri, i) => ({ uri, i })),
    10,
    async ({ uri, i }) => {
      const userId = `scale-${i}`;
      const answer = await callApi(
        h.apiUrl,
        h.env.API_TOKEN as string,
        'PUT',
        `/v1/connections/${userId}`,
        {
          accessToken: seeded.accessTokens[i],
          refreshToken: seeded.refreshTokens?.[i],
          expiresAt: new Date(Date.now() + (seeded.expiresIn ?? 7200) * 1000).toISOString(),
        },
      );
      if (answer.status !== 200) throw new Error(`connect answered ${answer.status}`);
      users.push({ uri, userId });
    },
  );
  await eventually(
    async () => {
      const [row] = await h.database.sql<{ n: number }[]>`
        select count(*)::int as n from connections where last_backfilled_at is not null`;
      return row?.n === CONNECTIONS;
    },
    { timeoutMs: 60_000, what: 'every first import' },
  );
  await h.sim.control.latency({ latencyMs: LATENCY_MS });
}, 120_000);

afterAll(async () => {
  await h?.close();
  await dropDatabase(databaseUrl).catch(() => {});
});

describe('reconcile at 300 ms a call', () => {
  it('reconciles all 200 connections within one cycle and repairs every broken one', async () => {
    const broken = await breakSubscriptions(20);
    expect(broken).toHaveLength(20);
    const since = new Date();
    await eventually(async () => (await allReconciledSince(since)) && everyoneSubscribed(), {
      // One cycle, and the time the slowest run of the last slice takes.
      timeoutMs: EVERY_MS + 15_000,
      intervalMs: 250,
      what: 'every connection reconciled and subscribed once more',
    });
    const counts = await h.sim.control.requests();
    for (const user of users) expect(counts[user.uri]?.rateLimited ?? 0).toBe(0);
    expect(await failedReconciles()).toBe(0);
    for (const user of users) {
      const row = await connectionRepo.findByUser(h.database.db, user.userId);
      expect(row?.webhookState).toBe('active');
    }
  }, 60_000);

  it('converges through a 429 storm on half the calls, and no run fails', async () => {
    await h.sim.control.faults({ rateLimitRate: 0.5, rateLimitResetSeconds: 1 });
    try {
      await breakSubscriptions(20);
      const since = new Date();
      await eventually(async () => (await allReconciledSince(since)) && everyoneSubscribed(), {
        timeoutMs: 90_000,
        intervalMs: 250,
        what: 'every connection reconciled and subscribed once more under 429s',
      });
      const counts = await h.sim.control.requests();
      const refused = users.reduce((n, u) => n + (counts[u.uri]?.rateLimited ?? 0), 0);
      // The storm did happen, and was ridden out.
      expect(refused).toBeGreaterThan(0);
      expect(await failedReconciles()).toBe(0);
      const statuses = await h.database.sql<{ status: string }[]>`
        select distinct status from connections`;
      expect(statuses.map((s) => s.status)).toEqual(['active']);
    } finally {
      await h.sim.control.faults({});
    }
  }, 120_000);

  it('keeps each connection at its own moment of the cycle after a restart', async () => {
    await h.restartWorker();
    const restartedAt = new Date();
    await eventually(() => allReconciledSince(restartedAt), {
      timeoutMs: EVERY_MS + 15_000,
      intervalMs: 250,
      what: 'every connection reconciled after the restart',
    });
    // Each run came in its own slice of the cycle (its hash offset), a slice and the
    // run's Calendly calls late at most; a burst at start would put most far from theirs.
    const late = (await reconciled()).map((r) => {
      const at = r.at as Date;
      return at.getTime() - lastSlotOf(r.id, EVERY_MS, at).getTime();
    });
    const farFromSlot = late.filter((ms) => ms > EVERY_MS / 4);
    expect(farFromSlot).toEqual([]);
    // And the first seconds after the restart saw only their share, not everyone.
    const rows = await reconciled();
    const firstQuarter = rows.filter(
      (r) => (r.at as Date).getTime() - restartedAt.getTime() < EVERY_MS / 4,
    );
    expect(firstQuarter.length).toBeLessThan(CONNECTIONS / 2);
  }, 60_000);
});
