// Proves the hook-key cache against real Postgres: a forged or unknown id costs no query and
// never evicts a cached hook; minted ids (under the current or a previous key) and legacy ids
// in use resolve; a hit never waits for a query; answers in use are re-read in the background,
// all of them in one query, keys re-opened only when they changed; no answer older than the
// TTL is ever used, so a disconnect bites within it even when no refresh ran; misses expire
// unrefreshed; forget() drops an answer; grace periods end on time from the cached rows; a
// failed refresh is reported and its answers expire.
import { randomBytes } from 'node:crypto';
import { createSealer, type Sealer } from '@calhook/crypto';
import {
  connections,
  createDatabase,
  type DatabaseHandle,
  type Executor,
  webhookHooks,
} from '@calhook/db';
import { replaceHook } from '@calhook/testing';
import { inArray } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createHookIds, type HookIds } from './hook-id.ts';
import { createHookKeyResolver, type HookKeyResolverOptions } from './hook-keys.ts';

interface Seeded {
  hookId: string;
  connectionId: string;
  signingKey: string;
}

let database: DatabaseHandle;
let db: Executor;
let queries = 0;
let opened = 0;
let sealer: Sealer;
const encryptionKey = randomBytes(32);
const hookIds: HookIds = createHookIds([encryptionKey]);
let t = Date.UTC(2026, 10, 21, 12, 0, 0);

beforeAll(() => {
  database = createDatabase(inject('databaseUrl'), { max: 3, applicationName: 'hook-keys-test' });
  // The same Postgres client, with every statement counted.
  db = drizzle(database.sql, {
    logger: {
      logQuery: () => {
        queries += 1;
      },
    },
  }) as unknown as Executor;
  const real = createSealer([randomBytes(32)]);
  sealer = {
    ...real,
    open(value, context) {
      opened += 1;
      return real.open(value, context);
    },
  };
});
afterAll(async () => {
  await database.close();
});

/** An id of the shape minted before ids carried a MAC. */
const legacyId = () => randomBytes(16).toString('base64url');

async function seed(n: number, mint: () => string = hookIds.mint): Promise<Seeded[]> {
  const seeded: Seeded[] = [];
  for (let i = 0; i < n; i += 1) {
    const hookId = mint();
    const signingKey = randomBytes(32).toString('base64url');
    const [connection] = await database.db
      .insert(connections)
      .values({ userId: `hk-${hookId}`, webhookState: 'active' })
      .returning({ id: connections.id });
    if (!connection) throw new Error('insert returned nothing');
    await database.db.insert(webhookHooks).values({
      id: hookId,
      connectionId: connection.id,
      callbackUrl: `http://127.0.0.1:3000/webhooks/calendly/${hookId}`,
      state: 'active',
      signingKeyEnc: sealer.seal(signingKey, { purpose: 'hook_signing_key', id: hookId }),
    });
    seeded.push({ hookId, connectionId: connection.id, signingKey });
  }
  return seeded;
}

/** What a disconnect writes (packages/connections detachRemote). */
async function disconnect(hooks: Seeded[]) {
  const ids = hooks.map((h) => h.connectionId);
  await database.db
    .update(webhookHooks)
    .set({ state: 'retired', retiredAt: new Date(t), signingKeyEnc: null })
    .where(inArray(webhookHooks.connectionId, ids));
  await database.db
    .update(connections)
    .set({ status: 'disconnected' })
    .where(inArray(connections.id, ids));
}

function resolver(options: Partial<HookKeyResolverOptions> = {}) {
  return createHookKeyResolver({
    db,
    sealer,
    hookIds,
    appSigningKey: undefined,
    gracePeriodMs: 60_000,
    now: () => t,
    ...options,
  });
}

const kinds = async (r: ReturnType<typeof resolver>, hooks: Seeded[]) =>
  Promise.all(hooks.map(async (h) => (await r.resolve(h.hookId)).kind));

describe('createHookKeyResolver', () => {
  it('refuses a forged id and an unknown legacy id without a query', async () => {
    const [hook] = await seed(1);
    const [old] = await seed(1, legacyId);
    if (!hook || !old) throw new Error('no hooks');
    const r = resolver();
    const q0 = queries;
    // The shape of a minted id, with one bit of its MAC wrong, or minted under other keys.
    const bytes = Buffer.from(hook.hookId, 'base64url');
    bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 1;
    const forged = [bytes.toString('base64url'), createHookIds([randomBytes(32)]).mint()];
    for (const id of forged) expect((await r.resolve(id)).kind).toBe('unknown');
    expect(queries).toBe(q0);

    // The first legacy-shaped id reads the set of stored legacy ids, once; a legacy id not in
    // it is unknown from then on without a query.
    expect((await r.resolve(legacyId())).kind).toBe('unknown');
    expect(queries).toBe(q0 + 1);
    for (let i = 0; i < 1_000; i += 1) expect((await r.resolve(legacyId())).kind).toBe('unknown');
    expect(queries).toBe(q0 + 1);
    // The real ones are read as before.
    expect((await r.resolve(old.hookId)).kind).toBe('accept');
    expect((await r.resolve(hook.hookId)).kind).toBe('accept');
    expect(queries).toBe(q0 + 3);
  });

  it('resolves a freshly minted id and a legacy id in use', async () => {
    const [old] = await seed(1, legacyId);
    const r = resolver();
    // A hook created while the resolver runs: minted ids need no set to be admitted.
    const [fresh] = await seed(1);
    if (!old || !fresh) throw new Error('no hooks');
    expect(await r.resolve(fresh.hookId)).toEqual({
      kind: 'accept',
      hookId: fresh.hookId,
      connectionId: fresh.connectionId,
      keys: [fresh.signingKey],
    });
    expect(await r.resolve(old.hookId)).toEqual({
      kind: 'accept',
      hookId: old.hookId,
      connectionId: old.connectionId,
      keys: [old.signingKey],
    });
  });

  it('re-reads the legacy set in the background once an interval, however many ids arrive', async () => {
    const r = resolver({ legacyRefreshMs: 60_000 });
    expect((await r.resolve(legacyId())).kind).toBe('unknown');
    // Written by a process still running older code, after the set was read.
    const [late] = await seed(1, legacyId);
    if (!late) throw new Error('no hook');
    const q0 = queries;
    t += 59_999;
    expect((await r.resolve(late.hookId)).kind).toBe('unknown');
    await r.idle();
    expect(queries).toBe(q0);
    t += 1;
    // Answered from the set it has; the re-read starts behind the answer.
    expect((await r.resolve(late.hookId)).kind).toBe('unknown');
    expect((await r.resolve(legacyId())).kind).toBe('unknown');
    await r.idle();
    expect(queries).toBe(q0 + 1);
    expect((await r.resolve(late.hookId)).kind).toBe('accept');
    expect(queries).toBe(q0 + 2);
  });

  it('verifies an id minted under a previous key after the key rotates', async () => {
    const previous = randomBytes(32);
    const [hook] = await seed(1, createHookIds([previous]).mint);
    if (!hook) throw new Error('no hook');
    const rotated = createHookIds([randomBytes(32), previous]);
    expect(rotated.verify(hook.hookId)).toBe(true);
    expect((await resolver({ hookIds: rotated }).resolve(hook.hookId)).kind).toBe('accept');
    // Once the previous key is dropped, its ids are forged as far as the receiver can tell.
    const q0 = queries;
    const dropped = resolver({ hookIds: createHookIds([randomBytes(32)]) });
    expect((await dropped.resolve(hook.hookId)).kind).toBe('unknown');
    expect(queries).toBe(q0);
  });

  it('keeps a cached hook through a flood of 100,000 distinct unknown ids', async () => {
    const [hook] = await seed(1);
    if (!hook) throw new Error('no hook');
    // Small caches, so a single shared one would surely have been flushed.
    const r = resolver({ maxCacheEntries: 10, maxMissEntries: 10 });
    expect((await r.resolve(hook.hookId)).kind).toBe('accept');
    const q0 = queries;
    const foreign = createHookIds([randomBytes(32)]);
    let unknown = 0;
    for (let i = 0; i < 100_000; i += 1) {
      const id = i % 2 === 0 ? foreign.mint() : legacyId();
      if ((await r.resolve(id)).kind === 'unknown') unknown += 1;
    }
    expect(unknown).toBe(100_000);
    // One read of the legacy set; no id of the flood reached the database.
    expect(queries).toBe(q0 + 1);
    // Well-minted ids with no row do reach it, one query each, and fill the miss cache many
    // times over, but misses are kept apart from hooks.
    for (let i = 0; i < 50; i += 1) expect((await r.resolve(hookIds.mint())).kind).toBe('unknown');
    expect(queries).toBe(q0 + 51);
    expect(await r.resolve(hook.hookId)).toMatchObject({ kind: 'accept', hookId: hook.hookId });
    expect(queries).toBe(q0 + 51);
  });

  it('serves hits from the cache and re-reads the answers in use with one query', async () => {
    const hooks = await seed(20);
    const r = resolver();
    const q0 = queries;
    const o0 = opened;
    expect(await r.resolve(hooks[0]?.hookId ?? '')).toEqual({
      kind: 'accept',
      hookId: hooks[0]?.hookId,
      connectionId: hooks[0]?.connectionId,
      keys: [hooks[0]?.signingKey],
    });
    expect(await kinds(r, hooks)).toEqual(hooks.map(() => 'accept'));
    expect(queries - q0).toBe(20);
    expect(opened - o0).toBe(20);

    t += 1_000;
    expect(await kinds(r, hooks)).toEqual(hooks.map(() => 'accept'));
    expect(queries - q0).toBe(20);

    // 3.5 s old: answered from the cache at once, and one query re-reads all 20 behind it.
    t += 2_500;
    expect(await kinds(r, hooks)).toEqual(hooks.map(() => 'accept'));
    await r.idle();
    expect(queries - q0).toBe(21);
    expect(opened - o0).toBe(20);

    // Half of them disconnect: still answered from the cache until the next refresh lands.
    await disconnect(hooks.slice(0, 10));
    t += 3_000;
    expect(await kinds(r, hooks)).toEqual(hooks.map(() => 'accept'));
    await r.idle();
    expect(queries - q0).toBe(22);
    expect(await kinds(r, hooks)).toEqual([
      ...hooks.slice(0, 10).map(() => 'gone'),
      ...hooks.slice(10).map(() => 'accept'),
    ]);
    expect(queries - q0).toBe(22);
  });

  it('tries first, for the cached hook, the key that signed its last delivery', async () => {
    const [hook] = await seed(1);
    if (!hook) throw new Error('no hook');
    const r = resolver({ appSigningKey: 'app-key' });
    const first = await r.resolve(hook.hookId);
    if (first.kind !== 'accept') throw new Error(`expected accept, got ${first.kind}`);
    expect(first.keys).toEqual([hook.signingKey, 'app-key']);
    r.signedWith(first, 1);
    expect(await r.resolve(hook.hookId)).toMatchObject({ keys: ['app-key', hook.signingKey] });
    r.signedWith(first, 0);
    expect(await r.resolve(hook.hookId)).toMatchObject({ keys: ['app-key', hook.signingKey] });
  });

  it('reads the same hook once for concurrent first calls', async () => {
    const [hook] = await seed(1);
    const r = resolver();
    const q0 = queries;
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => r.resolve(hook?.hookId ?? '')),
    );
    expect(answers.map((a) => a.kind)).toEqual(['accept', 'accept', 'accept', 'accept', 'accept']);
    expect(queries - q0).toBe(1);
  });

  it('never uses an answer older than the TTL, so a disconnect bites within it', async () => {
    const [hook] = await seed(1);
    if (!hook) throw new Error('no hook');
    // No background refresh at all: only the TTL stands between a disconnect and its effect.
    const r = resolver({ cacheTtlMs: 5_000, refreshAfterMs: 5_000 });
    expect((await r.resolve(hook.hookId)).kind).toBe('accept');
    await disconnect([hook]);
    const q0 = queries;
    t += 4_999;
    expect((await r.resolve(hook.hookId)).kind).toBe('accept');
    expect(queries).toBe(q0);
    t += 1;
    expect((await r.resolve(hook.hookId)).kind).toBe('gone');
    expect(queries).toBe(q0 + 1);
  });

  it('keeps a miss for the TTL without refreshing it, then reads again', async () => {
    const r = resolver();
    // A well-minted id with no row yet: the only kind of miss that reaches the database.
    const hookId = hookIds.mint();
    const q0 = queries;
    expect((await r.resolve(hookId)).kind).toBe('unknown');
    expect(queries).toBe(q0 + 1);
    // The hook appears: the miss stands until it expires, and nothing re-reads it meanwhile.
    await seed(1, () => hookId);
    t += 3_000;
    expect((await r.resolve(hookId)).kind).toBe('unknown');
    await r.idle();
    expect(queries).toBe(q0 + 1);
    t += 2_000;
    expect((await r.resolve(hookId)).kind).toBe('accept');
    expect(queries).toBe(q0 + 2);
    // Malformed ids never reach the database.
    expect((await r.resolve('../x')).kind).toBe('unknown');
    expect(queries).toBe(q0 + 2);
  });

  it('forgets an answer on request', async () => {
    const [hook] = await seed(1);
    const r = resolver();
    await r.resolve(hook?.hookId ?? '');
    const q0 = queries;
    await r.resolve(hook?.hookId ?? '');
    expect(queries).toBe(q0);
    r.forget(hook?.hookId ?? '');
    await r.resolve(hook?.hookId ?? '');
    expect(queries).toBe(q0 + 1);
  });

  it("ends a retired hook's grace, and its key's on the hook that replaced it, on time", async () => {
    const [old, fresh] = await seed(2);
    if (!old || !fresh) throw new Error('no hooks');
    await replaceHook(database.db, old, fresh, new Date(t - 50_000));
    const r = resolver({ cacheTtlMs: 60_000, refreshAfterMs: 60_000 });
    expect(await r.resolve(old.hookId)).toMatchObject({ kind: 'accept', keys: [old.signingKey] });
    expect(await r.resolve(fresh.hookId)).toMatchObject({
      kind: 'accept',
      keys: [fresh.signingKey, old.signingKey],
    });
    const q0 = queries;
    t += 10_000;
    expect((await r.resolve(old.hookId)).kind).toBe('accept');
    t += 1;
    expect((await r.resolve(old.hookId)).kind).toBe('gone');
    expect(await r.resolve(fresh.hookId)).toMatchObject({ keys: [fresh.signingKey] });
    expect(queries).toBe(q0);
  });

  it('reports a failed refresh and lets its answers expire', async () => {
    const [hook] = await seed(1);
    if (!hook) throw new Error('no hook');
    const failing = createDatabase(inject('databaseUrl'), { max: 1 });
    const errors: unknown[] = [];
    const r = resolver({ db: failing.db, onRefreshError: (error) => errors.push(error) });
    expect((await r.resolve(hook.hookId)).kind).toBe('accept');
    await failing.close();
    t += 3_500;
    expect((await r.resolve(hook.hookId)).kind).toBe('accept');
    await r.idle();
    expect(errors).toHaveLength(1);
    t += 2_500;
    await expect(r.resolve(hook.hookId)).rejects.toThrow();
  });
});
