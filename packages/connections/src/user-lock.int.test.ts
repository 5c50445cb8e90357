// The per-user lock on real Postgres, held from separate pools as separate processes would:
// one holder per user at a time, many users at once without a connection each, a dead
// holder's lease taken over, a long holder kept by its renewals, a busy user reported.
import { createDatabase, type DatabaseHandle, userLockRepo } from '@calhook/db';
import { createLogger } from '@calhook/observability';
import { testUrls, uniqueId } from '@calhook/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { UserLockBusyError, withUserLock } from './user-lock.ts';

let a: DatabaseHandle;
let b: DatabaseHandle;
const logger = createLogger({ level: 'silent' });
beforeAll(() => {
  a = createDatabase(testUrls().databaseUrl, { max: 2 });
  b = createDatabase(testUrls().databaseUrl, { max: 2 });
});
afterAll(async () => {
  await a.close();
  await b.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('lets one holder at a time change a user, across processes', async () => {
  const user = uniqueId('lock-user-');
  const spans: { holder: string; from: number; to: number }[] = [];
  const hold = (db: DatabaseHandle, holder: string) =>
    withUserLock({ db: db.db, logger }, user, async () => {
      const from = performance.now();
      await sleep(60);
      spans.push({ holder, from, to: performance.now() });
    });
  await Promise.all([hold(a, 'a1'), hold(b, 'b1'), hold(a, 'a2'), hold(b, 'b2')]);
  expect(spans.map((s) => s.holder).sort()).toEqual(['a1', 'a2', 'b1', 'b2']);
  spans.sort((x, y) => x.from - y.from);
  for (let i = 1; i < spans.length; i++) {
    expect(spans[i]?.from).toBeGreaterThanOrEqual(spans[i - 1]?.to as number);
  }
});

it('holds many users at once on a pool of two connections', async () => {
  // Every holder waits until all are inside: a lock that kept a connection per holder could
  // never let the tenth in on a pool of two.
  const users = Array.from({ length: 30 }, () => uniqueId('lock-many-'));
  let inside = 0;
  let allInside: () => void = () => {};
  const everyone = new Promise<void>((resolve) => {
    allInside = resolve;
  });
  await Promise.all(
    users.map((user) =>
      withUserLock({ db: a.db, logger }, user, async () => {
        inside += 1;
        if (inside === users.length) allInside();
        await everyone;
      }),
    ),
  );
  expect(inside).toBe(users.length);
});

it("takes over a holder's lease once it lapses, and not before", async () => {
  const user = uniqueId('lock-dead-');
  // A holder that died without releasing: its lease runs for 400 ms more.
  expect(await userLockRepo.tryAcquire(b.db, user, 'dead holder', 400)).toBe(true);
  const started = performance.now();
  const waited = await withUserLock({ db: a.db, logger }, user, async () => {
    return performance.now() - started;
  });
  expect(waited).toBeGreaterThanOrEqual(300);
  // Released: the next taker gets it at once.
  expect(await userLockRepo.tryAcquire(b.db, user, 'next', 1_000)).toBe(true);
});

it('keeps a lease renewed while its work outlasts it', async () => {
  const user = uniqueId('lock-long-');
  const leaseMs = 300;
  let contenderIn = false;
  let holderDone = false;
  const holder = withUserLock({ db: a.db, logger, userLockLeaseMs: leaseMs }, user, async () => {
    await sleep(4 * leaseMs);
    holderDone = true;
  });
  await sleep(50);
  const contender = withUserLock(
    { db: b.db, logger, userLockLeaseMs: 10 * leaseMs },
    user,
    async () => {
      contenderIn = true;
      return holderDone;
    },
  );
  await holder;
  expect(await contender).toBe(true);
  expect(contenderIn).toBe(true);
});

it('reports a user held past two leases as busy, and releases a failed holder', async () => {
  const user = uniqueId('lock-busy-');
  expect(await userLockRepo.tryAcquire(b.db, user, 'slow holder', 5_000)).toBe(true);
  const waited = withUserLock({ db: a.db, logger, userLockLeaseMs: 200 }, user, async () => 'in');
  await expect(waited).rejects.toBeInstanceOf(UserLockBusyError);
  await userLockRepo.release(b.db, user, 'slow holder');

  await expect(
    withUserLock({ db: a.db, logger }, user, async () => {
      throw new Error('the work failed');
    }),
  ).rejects.toThrow('the work failed');
  expect(await userLockRepo.tryAcquire(b.db, user, 'after the failure', 1_000)).toBe(true);
});
