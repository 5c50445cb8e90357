// What to do with one Calendly user's subscriptions: a pure decision, so every case is
// unit-tested without Calendly or a database.
import { MEETING_EVENTS, type WebhookSubscriptionResource } from '@calhook/calendly';
import type { KnownHook, SubscriptionDeleteReason } from '@calhook/db';
import { hookIdOf, isUnderPublicUrl } from '@calhook/webhooks';

export interface SubscriptionPlan {
  keep: WebhookSubscriptionResource | null;
  remove: { subscription: WebhookSubscriptionResource; reason: SubscriptionDeleteReason }[];
  /** Subscriptions left alone: someone else's URL, or another connection's live hook. */
  untouched: WebhookSubscriptionResource[];
  create: boolean;
}

function sameEvents(events: readonly string[]): boolean {
  const wanted = new Set<string>(MEETING_EVENTS);
  return events.length === wanted.size && events.every((e) => wanted.has(e));
}

/**
 * Decides what to do with one Calendly user's subscriptions so that exactly one healthy
 * calhook subscription remains for this connection. "Ours" means a callback URL under the
 * current PUBLIC_URL or one of our hook ids (a PUBLIC_URL we used before). Ours and stale:
 * not a live hook of any active connection, or this connection's but disabled, duplicated,
 * on an old URL or with the wrong events. Anything else is never touched: another app
 * user connected to the same Calendly user has their own live hook.
 */
export function planSubscriptions(input: {
  subscriptions: readonly WebhookSubscriptionResource[];
  connectionId: string;
  /** This connection's current hook (not retired), if any. */
  currentHookId: string | null;
  publicUrl: string;
  knownHooks: ReadonlyMap<string, KnownHook>;
}): SubscriptionPlan {
  const plan: SubscriptionPlan = { keep: null, remove: [], untouched: [], create: false };
  for (const subscription of input.subscriptions) {
    const hookId = hookIdOf(subscription.callback_url);
    const known = hookId ? input.knownHooks.get(hookId) : undefined;
    const underCurrentUrl = isUnderPublicUrl(subscription.callback_url, input.publicUrl);
    if (!hookId || (!known && !underCurrentUrl)) {
      plan.untouched.push(subscription);
      continue;
    }
    if (!known) {
      plan.remove.push({ subscription, reason: 'unknown_hook' });
      continue;
    }
    if (known.connectionId !== input.connectionId) {
      if (known.live) plan.untouched.push(subscription);
      else plan.remove.push({ subscription, reason: 'retired_hook' });
      continue;
    }
    if (hookId !== input.currentHookId || !known.live) {
      plan.remove.push({ subscription, reason: 'retired_hook' });
    } else if (subscription.state !== 'active') {
      plan.remove.push({ subscription, reason: 'disabled' });
    } else if (!underCurrentUrl) {
      plan.remove.push({ subscription, reason: 'old_public_url' });
    } else if (!sameEvents(subscription.events)) {
      plan.remove.push({ subscription, reason: 'wrong_events' });
    } else if (plan.keep) {
      plan.remove.push({ subscription, reason: 'duplicate' });
    } else {
      plan.keep = subscription;
    }
  }
  plan.create = plan.keep === null;
  return plan;
}
