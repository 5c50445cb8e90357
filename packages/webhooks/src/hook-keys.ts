import type { Sealer } from '@calhook/crypto';
import { connections, type Executor, webhookHooks } from '@calhook/db';
import { eq, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { type HookIds, isLegacyHookId, LEGACY_HOOK_ID_LENGTH } from './hook-id.ts';
import { HOOK_ID_PATTERN } from './hook-url.ts';

/** What the receiver needs to know about a hook id, before it looks at the body. */
export type HookLookup =
  | { kind: 'unknown' }
  | { kind: 'gone' }
  | { kind: 'accept'; hookId: string; connectionId: string; keys: string[] };

/** A hook whose deliveries are accepted, with the keys that may sign them. */
export type AcceptedHook = Extract<HookLookup, { kind: 'accept' }>;

export interface HookKeyResolver {
  resolve(hookId: string): Promise<HookLookup>;
  /**
   * Says which of an answer's keys signed a delivery. Answers are shared by a hook's
   * deliveries while cached, so that key is tried first from then on: an OAuth app signs with
   * its app key, not the hook's own, and each delivery then costs one HMAC, not one per key.
   */
  signedWith(hook: AcceptedHook, keyIndex: number): void;
  /** Drops a cached answer (hit or miss), e.g. after a disconnect in the same process. */
  forget(hookId: string): void;
  /** Resolves once no background read is running; call before closing the database. */
  idle(): Promise<void>;
}

export interface HookKeyResolverOptions {
  db: Executor;
  sealer: Sealer;
  /** Checks minted ids offline: an id whose MAC fails is refused before any query. */
  hookIds: HookIds;
  /** The OAuth app's signing key, accepted for every hook (CALENDLY.md: one key per app). */
  appSigningKey: string | undefined;
  /** How long a replaced hook's URL and key stay accepted after it was retired. */
  gracePeriodMs: number;
  /**
   * The oldest a cached answer may be (from the read that confirmed it) and still be used:
   * a disconnect reaches the receiver within this time. Default 5 s; 0 reads on every call.
   */
  cacheTtlMs?: number;
  /**
   * Age at which an answer in use is re-read in the background; default 3 s, which leaves the
   * re-read 2 s to finish before the answer may no longer be used.
   */
  refreshAfterMs?: number;
  /** Bound on cached hooks (answers for ids that have a row). Default 50,000. */
  maxCacheEntries?: number;
  /**
   * Bound on cached misses, kept apart from hooks so that misses never push a hook out.
   * Default 10,000.
   */
  maxMissEntries?: number;
  /**
   * How often the set of legacy ids (stored ids minted before ids carried a MAC) is read
   * again, in the background, while legacy-shaped ids arrive. No legacy id is minted any more:
   * this only picks up one written by an older process during a rolling deploy. Default 10 min.
   */
  legacyRefreshMs?: number;
  now?: () => number;
  /** A background refresh failed; answers it could not confirm expire and are read again. */
  onRefreshError?: (error: unknown) => void;
}

const UNKNOWN: HookLookup = { kind: 'unknown' };
const GONE: HookLookup = { kind: 'gone' };
const UNKNOWN_ANSWER = Promise.resolve(UNKNOWN);
// Ids per statement of a refresh: a bounded array, however many hooks are cached.
const REFRESH_CHUNK = 1_000;

/** The row a hook id is answered from: the hook, its connection, the hook it replaced. */
interface HookRow {
  id: string;
  connectionId: string;
  connectionStatus: string;
  signingKeyEnc: string | null;
  retiredAt: Date | null;
  replacesHookId: string | null;
  replacedKeyEnc: string | null;
  replacedRetiredAt: Date | null;
}

const sameTime = (a: Date | null, b: Date | null) =>
  (a?.getTime() ?? null) === (b?.getTime() ?? null);

/** Whether two reads of a hook give the same answer (at the same instant). */
function sameRow(a: HookRow, b: HookRow): boolean {
  return (
    a.connectionId === b.connectionId &&
    a.connectionStatus === b.connectionStatus &&
    a.signingKeyEnc === b.signingKeyEnc &&
    a.replacesHookId === b.replacesHookId &&
    a.replacedKeyEnc === b.replacedKeyEnc &&
    sameTime(a.retiredAt, b.retiredAt) &&
    sameTime(a.replacedRetiredAt, b.replacedRetiredAt)
  );
}

interface Entry {
  /** When the read that confirmed this answer started. */
  checkedAt: number;
  /** When a resolve last used it: answers used within the TTL are the ones kept refreshed. */
  usedAt: number;
  /** Undefined for an id with no hook: such misses expire and are never refreshed. */
  row: HookRow | undefined;
  /** Signing keys opened from `row`, by ciphertext, so a refresh re-opens only changed ones. */
  opened: Map<string, string>;
  answer: Promise<HookLookup>;
  /** After this instant `answer` must be derived again: a grace period ends. */
  until: number;
}

/**
 * Resolves hook ids to the keys that may sign deliveries for them. An id reaches the database
 * only if it could be a hook: a minted id whose MAC verifies, or a legacy id (minted before ids
 * carried a MAC) found in the set of stored legacy ids, read once and then every
 * `legacyRefreshMs` in the background. Anything else, a forged or guessed id, is unknown at the
 * cost of an HMAC: a flood of them issues no query and touches no cache.
 *
 * Answers are cached and kept confirmed in the background: once an answer is `refreshAfterMs`
 * old, the call that finds it is answered from the cache and one query re-reads every answer
 * used within the TTL (at most one such query at a time). An answer not confirmed for
 * `cacheTtlMs` (unused, or Postgres failing) is never used: the next call reads it on the
 * request path, as does a miss once it expires. Misses are kept in a bounded cache of their
 * own, so however many there are, they never evict a hook.
 */
export function createHookKeyResolver(options: HookKeyResolverOptions): HookKeyResolver {
  const ttl = options.cacheTtlMs ?? 5_000;
  const refreshAfter = Math.min(options.refreshAfterMs ?? 3_000, ttl);
  // A refresh whose answers were all just confirmed should not be followed by a string of tiny
  // ones for answers that happened to age a moment later.
  const refreshGap = refreshAfter / 4;
  const max = options.maxCacheEntries ?? 50_000;
  const maxMisses = options.maxMissEntries ?? 10_000;
  const legacyRefresh = options.legacyRefreshMs ?? 600_000;
  const now = options.now ?? Date.now;
  const { hookIds } = options;
  /** Answers for ids that had a row when read. */
  const cache = new Map<string, Entry>();
  /** Ids read and found missing, with when the read started. */
  const misses = new Map<string, number>();
  const loading = new Map<string, Promise<HookLookup>>();
  let refreshing: Promise<void> | undefined;
  let lastRefreshAt = Number.NEGATIVE_INFINITY;
  /** Stored legacy ids: undefined until first needed. */
  let legacy: Set<string> | undefined;
  let legacyLoading: Promise<Set<string>> | undefined;
  let legacyTriedAt = Number.NEGATIVE_INFINITY;

  const replaced = alias(webhookHooks, 'replaced');
  // Built once: a refresh runs every ~3 s with ~1,000 ids, and building the query each time
  // cost more than running it. The ids go as one array parameter: one prepared statement for
  // any count, and no per-id parameter for the query builder to check.
  const byIds = options.db
    .select({
      id: webhookHooks.id,
      connectionId: webhookHooks.connectionId,
      connectionStatus: connections.status,
      signingKeyEnc: webhookHooks.signingKeyEnc,
      retiredAt: webhookHooks.retiredAt,
      replacesHookId: webhookHooks.replacesHookId,
      replacedKeyEnc: replaced.signingKeyEnc,
      replacedRetiredAt: replaced.retiredAt,
    })
    .from(webhookHooks)
    .innerJoin(connections, eq(connections.id, webhookHooks.connectionId))
    .leftJoin(replaced, eq(replaced.id, webhookHooks.replacesHookId))
    .where(sql`${webhookHooks.id} = any(${sql.placeholder('ids')})`)
    .prepare('calhook_hook_keys');
  async function read(ids: string[]): Promise<Map<string, HookRow>> {
    const rows: HookRow[] = await byIds.execute({ ids });
    return new Map(rows.map((row) => [row.id, row]));
  }

  /** Reads the stored legacy ids (at most one read at a time). */
  function loadLegacy(at: number): Promise<Set<string>> {
    legacyTriedAt = at;
    legacyLoading ??= options.db
      .select({ id: webhookHooks.id })
      .from(webhookHooks)
      .where(sql`length(${webhookHooks.id}) = ${LEGACY_HOOK_ID_LENGTH}`)
      .then((rows) => {
        legacy = new Set(rows.map((row) => row.id).filter(isLegacyHookId));
        return legacy;
      })
      .finally(() => {
        legacyLoading = undefined;
      });
    return legacyLoading;
  }

  /**
   * Whether an id with no cached answer may be read from the database. Decided offline, except
   * for the first legacy-shaped id, which waits for the set of legacy ids to be read.
   */
  function admissible(hookId: string, at: number): boolean | Promise<boolean> {
    if (hookIds.verify(hookId)) return true;
    if (!isLegacyHookId(hookId)) return false;
    if (!legacy) return loadLegacy(at).then((ids) => ids.has(hookId));
    // A failed re-read keeps the set it would have replaced and is tried again an interval
    // later: however many unknown ids arrive, at most one read of the set per interval.
    if (!legacyLoading && at - legacyTriedAt >= legacyRefresh) {
      loadLegacy(at).catch((error: unknown) => options.onRefreshError?.(error));
    }
    return legacy.has(hookId);
  }

  /** A hook's signing key, sealed for that hook's row. */
  function open(
    entry: Entry,
    previous: Map<string, string>,
    sealed: string,
    hookId: string,
  ): string {
    const key =
      previous.get(sealed) ??
      options.sealer.open(sealed, { purpose: 'hook_signing_key', id: hookId });
    entry.opened.set(sealed, key);
    return key;
  }

  /** The answer for `entry.row` at `at`, and until when it holds. */
  function derive(entry: Entry, at: number): void {
    const previous = entry.opened;
    entry.opened = new Map();
    const [lookup, until] = decide(entry, previous, at);
    entry.answer = Promise.resolve(lookup);
    entry.until = until;
  }

  function decide(entry: Entry, previous: Map<string, string>, at: number): [HookLookup, number] {
    const row = entry.row;
    if (!row) return [UNKNOWN, Number.POSITIVE_INFINITY];
    if (row.connectionStatus === 'disconnected') return [GONE, Number.POSITIVE_INFINITY];
    let until = Number.POSITIVE_INFINITY;
    if (row.retiredAt) {
      const end = row.retiredAt.getTime() + options.gracePeriodMs;
      if (end < at) return [GONE, Number.POSITIVE_INFINITY];
      until = end;
    }
    // Cleared on disconnect: a disconnected user's hooks accept nothing, whatever the grace.
    if (!row.signingKeyEnc) return [GONE, Number.POSITIVE_INFINITY];
    const keys = [open(entry, previous, row.signingKeyEnc, row.id)];
    if (options.appSigningKey) keys.push(options.appSigningKey);
    if (row.replacesHookId && row.replacedKeyEnc) {
      const end = row.replacedRetiredAt
        ? row.replacedRetiredAt.getTime() + options.gracePeriodMs
        : Number.POSITIVE_INFINITY;
      if (end >= at) {
        keys.push(open(entry, previous, row.replacedKeyEnc, row.replacesHookId));
        until = Math.min(until, end);
      }
    }
    return [{ kind: 'accept', hookId: row.id, connectionId: row.connectionId, keys }, until];
  }

  function entryOf(row: HookRow | undefined, checkedAt: number): Entry {
    const entry: Entry = {
      checkedAt,
      usedAt: checkedAt,
      row,
      opened: new Map(),
      answer: Promise.resolve(UNKNOWN),
      until: Number.POSITIVE_INFINITY,
    };
    derive(entry, now());
    return entry;
  }

  function remember(hookId: string, entry: Entry): void {
    misses.delete(hookId);
    cache.delete(hookId);
    if (cache.size >= max) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(hookId, entry);
  }

  function rememberMiss(hookId: string, checkedAt: number): void {
    cache.delete(hookId);
    misses.delete(hookId);
    if (misses.size >= maxMisses) {
      const oldest = misses.keys().next().value;
      if (oldest !== undefined) misses.delete(oldest);
    }
    misses.set(hookId, checkedAt);
  }

  function load(hookId: string): Promise<HookLookup> {
    const inFlight = loading.get(hookId);
    if (inFlight) return inFlight;
    const startedAt = now();
    const value = read([hookId]).then((rows) => {
      const row = rows.get(hookId);
      // After a forget() during the read, this caller is answered but nothing is cached.
      const keep = loading.get(hookId) === value;
      if (keep) loading.delete(hookId);
      if (!row) {
        if (keep && ttl > 0) rememberMiss(hookId, startedAt);
        return UNKNOWN;
      }
      const entry = entryOf(row, startedAt);
      if (keep && ttl > 0) remember(hookId, entry);
      return entry.answer;
    });
    // A failed read (database down) is not cached: the next delivery tries again.
    value.catch(() => {
      if (loading.get(hookId) === value) loading.delete(hookId);
    });
    loading.set(hookId, value);
    return value;
  }

  async function refresh(at: number): Promise<void> {
    const due: [string, Entry][] = [];
    for (const [hookId, entry] of cache) {
      // Expired answers are never used again: the next call for one reads it afresh.
      if (at - entry.checkedAt >= ttl) cache.delete(hookId);
      else if (entry.row && at - entry.usedAt < ttl && at - entry.checkedAt >= refreshGap) {
        due.push([hookId, entry]);
      }
    }
    for (let i = 0; i < due.length; i += REFRESH_CHUNK) {
      const chunk = due.slice(i, i + REFRESH_CHUNK);
      const startedAt = now();
      const rows = await read(chunk.map(([hookId]) => hookId));
      const derivedAt = now();
      for (const [hookId, entry] of chunk) {
        // Forgotten, or read again on the request path meanwhile: that answer stands.
        if (cache.get(hookId) !== entry || entry.checkedAt > startedAt) continue;
        const row = rows.get(hookId);
        entry.checkedAt = startedAt;
        // Nearly every re-read finds the row as it was: the answer, already derived, is kept
        // (only the deadline of a grace period moves it, in resolve). Deriving it again would
        // make a thousand new long-lived objects every few seconds for the collector.
        if (row && entry.row && sameRow(row, entry.row)) continue;
        entry.row = row;
        derive(entry, derivedAt);
      }
    }
  }

  function startRefresh(at: number): void {
    if (refreshing || at - lastRefreshAt < refreshGap) return;
    lastRefreshAt = at;
    refreshing = refresh(at)
      .catch((error: unknown) => options.onRefreshError?.(error))
      .finally(() => {
        refreshing = undefined;
      });
  }

  return {
    resolve(hookId) {
      if (!HOOK_ID_PATTERN.test(hookId)) return UNKNOWN_ANSWER;
      const at = now();
      const entry = cache.get(hookId);
      if (entry) {
        // An expired answer is read again; its id was admitted when it was first read.
        if (at - entry.checkedAt >= ttl) return load(hookId);
        entry.usedAt = at;
        if (at - entry.checkedAt >= refreshAfter && entry.row) startRefresh(at);
        if (at > entry.until) derive(entry, at);
        return entry.answer;
      }
      const missedAt = misses.get(hookId);
      if (missedAt !== undefined && at - missedAt < ttl) return UNKNOWN_ANSWER;
      const admitted = admissible(hookId, at);
      if (admitted === true) return load(hookId);
      if (admitted === false) return UNKNOWN_ANSWER;
      return admitted.then((ok) => (ok ? load(hookId) : UNKNOWN));
    },
    signedWith(hook, keyIndex) {
      if (keyIndex <= 0) return;
      const [key] = hook.keys.splice(keyIndex, 1);
      if (key !== undefined) hook.keys.unshift(key);
    },
    forget(hookId) {
      cache.delete(hookId);
      misses.delete(hookId);
      loading.delete(hookId);
    },
    async idle() {
      while (refreshing || legacyLoading) {
        await refreshing;
        // Its failure is reported to whoever started it.
        await legacyLoading?.catch(() => {});
      }
    },
  };
}
