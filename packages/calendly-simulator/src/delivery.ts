// Delivers webhook changes to matching subscriptions the way Calendly does: signed POSTs,
// exponential retries, `retry_started_at`, and disabling after a window of failures.
import type { ResolvedOptions } from './options.ts';
import { signWebhook } from './signature.ts';
import { hookOwnerKey, type SimState, type Subscription } from './state.ts';
import { calendlyTime, nextStamp } from './time.ts';

export interface WebhookChange {
  event: string;
  createdAtMs: number;
  /** The host user of the changed invitee's event: user-scoped subscriptions match on it. */
  hostUri: string;
  organizationUri: string;
  payload: unknown;
}

export interface DeliveryRecord {
  subscriptionUri: string;
  url: string;
  event: string;
  attempt: number;
  at: string;
  /** 'gone': the receiver answered 410, so the subscription was deleted and is not retried. */
  outcome: 'delivered' | 'failed' | 'gone' | 'dropped';
  /** The receiver's HTTP status, or null when it never answered. */
  status: number | null;
  error: string | null;
  signature: string | null;
  body: string;
}

export interface SettleResult {
  settled: boolean;
  pending: number;
}

export interface Dispatcher {
  /** Queues one batch (the deliveries of one change) and returns at once. */
  emit(changes: WebhookChange[]): void;
  deliveries(subscriptionUri?: string): DeliveryRecord[];
  /** Resolves once nothing is in flight and no attempt is due within `horizonMs` (null: at all). */
  settle(horizonMs: number | null, timeoutMs: number): Promise<SettleResult>;
  /** Drops the pending retries of a subscription that was deleted or disabled. */
  forget(subscriptionUri: string): void;
  clear(): void;
  close(): void;
}

interface Message {
  subscription: Subscription;
  event: string;
  body: string;
}

interface Timer {
  handle: NodeJS.Timeout;
  dueAt: number;
  subscriptionUri: string | null;
}

const MAX_BACKOFF_DOUBLINGS = 6;

/**
 * Whether a change goes to a subscription: active, subscribed to the event, and in the event's
 * organization (user scope: hosted by the subscription's user). A user who moved to another
 * organization keeps the old organization's subscriptions; they hear of the old events only.
 */
export function matches(subscription: Subscription, change: WebhookChange): boolean {
  if (subscription.state !== 'active' || !subscription.events.includes(change.event)) return false;
  if (subscription.organizationUri !== change.organizationUri) return false;
  if (subscription.scope === 'user') return subscription.userUri === change.hostUri;
  return subscription.scope === 'organization';
}

/** The subscriptions a change may go to, found by key rather than by scanning them all. */
function candidates(state: SimState, change: WebhookChange): Iterable<Subscription> {
  const { organizationUri, hostUri } = change;
  return [
    ...state.subscriptions.filed('owner', hookOwnerKey(organizationUri, 'user', hostUri)),
    ...state.subscriptions.filed('owner', hookOwnerKey(organizationUri, 'organization', null)),
  ];
}

export function createDispatcher(state: SimState, options: ResolvedOptions): Dispatcher {
  const records: DeliveryRecord[] = [];
  const recordsBySubscription = new Map<string, DeliveryRecord[]>();
  const timers = new Set<Timer>();
  const timersBySubscription = new Map<string, Set<Timer>>();
  const closing = new AbortController();
  let running = 0;

  function schedule(delayMs: number, subscriptionUri: string | null, run: () => Promise<void>) {
    const timer: Timer = {
      dueAt: performance.now() + delayMs,
      subscriptionUri,
      handle: setTimeout(() => {
        unlist(timer);
        running += 1;
        run().finally(() => {
          running -= 1;
        });
      }, delayMs),
    };
    timers.add(timer);
    if (subscriptionUri !== null) {
      let owned = timersBySubscription.get(subscriptionUri);
      if (!owned) {
        owned = new Set();
        timersBySubscription.set(subscriptionUri, owned);
      }
      owned.add(timer);
    }
  }

  function unlist(timer: Timer) {
    timers.delete(timer);
    if (timer.subscriptionUri === null) return;
    const owned = timersBySubscription.get(timer.subscriptionUri);
    owned?.delete(timer);
    if (owned?.size === 0) timersBySubscription.delete(timer.subscriptionUri);
  }

  function record(entry: DeliveryRecord) {
    records.push(entry);
    const owned = recordsBySubscription.get(entry.subscriptionUri);
    if (owned) owned.push(entry);
    else recordsBySubscription.set(entry.subscriptionUri, [entry]);
  }

  function signingKey(subscription: Subscription): string {
    switch (options.signingKeyPolicy) {
      case 'app':
        return options.appSigningKey;
      case 'subscription':
        return subscription.signingKey ?? options.appSigningKey;
      case 'token-kind':
        // Calendly: an OAuth app's webhooks are signed with the app's key; a personal access
        // token's subscription with the key given at creation.
        return subscription.createdWith === 'oauth'
          ? options.appSigningKey
          : (subscription.signingKey ?? options.appSigningKey);
    }
  }

  function disable(subscription: Subscription) {
    subscription.state = 'disabled';
    subscription.updatedAtMs = nextStamp(options.now(), subscription.updatedAtMs);
    options.logger.warn(`subscription ${subscription.uri} disabled after failing deliveries`);
    forget(subscription.uri);
  }

  async function attempt(message: Message, attemptNumber: number): Promise<void> {
    const { subscription } = message;
    // A subscription deleted or disabled meanwhile receives nothing more.
    if (closing.signal.aborted || subscription.state !== 'active') return;
    if (state.subscriptions.get(subscription.uri) !== subscription) return;
    const t = Math.floor(options.now() / 1000);
    const signature = signWebhook(signingKey(subscription), message.body, t);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const response = await fetch(subscription.callbackUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'calendly-webhook-signature': signature,
          'user-agent': 'Calendly-Simulator-Webhook',
        },
        body: message.body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(options.deliveryTimeoutMs), closing.signal]),
      });
      status = response.status;
      await response.arrayBuffer().catch(() => undefined);
    } catch (cause) {
      error = cause instanceof Error ? cause.message : String(cause);
    }
    if (closing.signal.aborted) return;
    const ok = status !== null && status >= 200 && status < 300;
    const gone = status === 410;
    record({
      subscriptionUri: subscription.uri,
      url: subscription.callbackUrl,
      event: message.event,
      attempt: attemptNumber,
      at: calendlyTime(options.now()),
      outcome: ok ? 'delivered' : gone ? 'gone' : 'failed',
      status,
      error: ok ? null : (error ?? `answered ${status}`),
      signature,
      body: message.body,
    });
    if (ok) {
      subscription.retryStartedAtMs = null;
      return;
    }
    if (gone) {
      // Calendly deletes a subscription whose receiver answers 410, at once and for good.
      if (state.subscriptions.get(subscription.uri) === subscription) {
        state.subscriptions.delete(subscription.uri);
        options.logger.warn(`subscription ${subscription.uri} deleted: its receiver answered 410`);
      }
      forget(subscription.uri);
      return;
    }
    const at = options.now();
    subscription.retryStartedAtMs ??= at;
    if (at - subscription.retryStartedAtMs >= options.disableAfterSeconds * 1000) {
      disable(subscription);
      return;
    }
    const delay = options.retryBaseMs * 2 ** Math.min(attemptNumber - 1, MAX_BACKOFF_DOUBLINGS);
    schedule(delay, subscription.uri, () => attempt(message, attemptNumber + 1));
  }

  function forget(subscriptionUri: string) {
    for (const timer of timersBySubscription.get(subscriptionUri) ?? []) {
      clearTimeout(timer.handle);
      unlist(timer);
    }
  }

  return {
    emit(changes) {
      const faults = state.faults;
      // The changes each subscription gets, in the order of `changes`.
      const batches = new Map<Subscription, WebhookChange[]>();
      for (const change of changes) {
        for (const subscription of candidates(state, change)) {
          if (!matches(subscription, change)) continue;
          const batch = batches.get(subscription);
          if (batch) batch.push(change);
          else batches.set(subscription, [change]);
        }
      }
      for (const [subscription, wanted] of batches) {
        let messages: Message[] = wanted.map((change) => ({
          subscription,
          event: change.event,
          // Serialised once: every attempt sends and signs exactly these bytes.
          body: JSON.stringify({
            event: change.event,
            created_at: calendlyTime(change.createdAtMs),
            created_by: subscription.creatorUri,
            payload: change.payload,
          }),
        }));
        if (faults.drop) {
          for (const message of messages) {
            record({
              subscriptionUri: subscription.uri,
              url: subscription.callbackUrl,
              event: message.event,
              attempt: 0,
              at: calendlyTime(options.now()),
              outcome: 'dropped',
              status: null,
              error: null,
              signature: null,
              body: message.body,
            });
          }
          continue;
        }
        if (faults.reorder) messages = messages.reverse();
        if (faults.duplicate) messages = messages.flatMap((message) => [message, message]);
        // One batch goes out in sequence so `reorder` is observable; a failure never holds
        // back the next message (its retry runs on its own timer).
        schedule(faults.delayMs, null, async () => {
          for (const message of messages) await attempt(message, 1);
        });
      }
    },
    deliveries(subscriptionUri) {
      if (subscriptionUri === undefined) return [...records];
      return [...(recordsBySubscription.get(subscriptionUri) ?? [])];
    },
    async settle(horizonMs, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const horizon =
          horizonMs === null ? Number.POSITIVE_INFINITY : performance.now() + horizonMs;
        let pending = running;
        for (const timer of timers) if (timer.dueAt <= horizon) pending += 1;
        if (pending === 0) return { settled: true, pending };
        if (performance.now() >= deadline) return { settled: false, pending };
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    forget,
    clear() {
      for (const timer of timers) clearTimeout(timer.handle);
      timers.clear();
      timersBySubscription.clear();
      records.length = 0;
      recordsBySubscription.clear();
    },
    close() {
      closing.abort();
      for (const timer of timers) clearTimeout(timer.handle);
      timers.clear();
      timersBySubscription.clear();
    },
  };
}
