import type { Sealer } from '@calhook/crypto';
import { connections, type Executor, webhookHooks } from '@calhook/db';
import { eq } from 'drizzle-orm';

/** What the receiver needs to know about a hook id, before it looks at the body. */
export type HookLookup =
  | { kind: 'unknown' }
  | { kind: 'gone' }
  | { kind: 'accept'; hookId: string; connectionId: string; keys: string[] };

export interface HookKeyResolver {
  resolve(hookId: string): Promise<HookLookup>;
  /** Drops a cached answer, e.g. after a disconnect in the same process. */
  forget(hookId: string): void;
}

export interface HookKeyResolverOptions {
  db: Executor;
  sealer: Sealer;
  /** The OAuth app's signing key, accepted for every hook (CALENDLY.md: one key per app). */
  appSigningKey: string | undefined;
  /** How long a replaced hook's URL and key stay accepted after it was retired. */
  gracePeriodMs: number;
  /** How long an answer (found or not) is reused; short, so disconnects bite quickly. */
  cacheTtlMs?: number;
  maxCacheEntries?: number;
  now?: () => number;
}

const HOOK_ID = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * Resolves hook ids to the keys that may sign deliveries for them, with a short-lived cache of
 * hits and misses so a burst of deliveries costs one query per hook, and a flood of unknown ids
 * costs one query each per TTL at most.
 */
export function createHookKeyResolver(options: HookKeyResolverOptions): HookKeyResolver {
  const ttl = options.cacheTtlMs ?? 5_000;
  const max = options.maxCacheEntries ?? 50_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { at: number; value: Promise<HookLookup> }>();

  async function load(hookId: string): Promise<HookLookup> {
    const rows = await options.db
      .select({
        hook: {
          id: webhookHooks.id,
          connectionId: webhookHooks.connectionId,
          state: webhookHooks.state,
          signingKeyEnc: webhookHooks.signingKeyEnc,
          replacesHookId: webhookHooks.replacesHookId,
          retiredAt: webhookHooks.retiredAt,
        },
        connectionStatus: connections.status,
      })
      .from(webhookHooks)
      .innerJoin(connections, eq(connections.id, webhookHooks.connectionId))
      .where(eq(webhookHooks.id, hookId))
      .limit(1);
    const row = rows[0];
    if (!row) return { kind: 'unknown' };
    const { hook } = row;
    const at = now();
    if (row.connectionStatus === 'disconnected') return { kind: 'gone' };
    if (hook.retiredAt && hook.retiredAt.getTime() + options.gracePeriodMs < at)
      return { kind: 'gone' };

    if (!hook.signingKeyEnc) return { kind: 'gone' };
    const keys = [options.sealer.open(hook.signingKeyEnc)];
    if (options.appSigningKey) keys.push(options.appSigningKey);
    if (hook.replacesHookId) {
      const [replaced] = await options.db
        .select({ signingKeyEnc: webhookHooks.signingKeyEnc, retiredAt: webhookHooks.retiredAt })
        .from(webhookHooks)
        .where(eq(webhookHooks.id, hook.replacesHookId))
        .limit(1);
      const withinGrace =
        replaced &&
        (!replaced.retiredAt || replaced.retiredAt.getTime() + options.gracePeriodMs >= at);
      if (withinGrace && replaced.signingKeyEnc) {
        keys.push(options.sealer.open(replaced.signingKeyEnc));
      }
    }
    return { kind: 'accept', hookId: hook.id, connectionId: hook.connectionId, keys };
  }

  return {
    resolve(hookId) {
      if (!HOOK_ID.test(hookId)) return Promise.resolve({ kind: 'unknown' });
      const at = now();
      const cached = cache.get(hookId);
      if (cached && at - cached.at < ttl) return cached.value;
      const value = load(hookId);
      // A failed lookup (database down) must not be cached: the next delivery tries again.
      value.catch(() => cache.delete(hookId));
      if (cache.size >= max) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
      cache.delete(hookId);
      cache.set(hookId, { at, value });
      return value;
    },
    forget(hookId) {
      cache.delete(hookId);
    },
  };
}
