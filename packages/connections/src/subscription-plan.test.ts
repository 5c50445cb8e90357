// Proves the subscription planner keeps exactly one healthy subscription of this connection,
// deletes ours that are stale (with the reason), and never touches another app's URL or another
// connection's live hook.
import { MEETING_EVENTS, type WebhookSubscriptionResource } from '@calhook/calendly';
import type { KnownHook } from '@calhook/db';
import { describe, expect, it } from 'vitest';
import { planSubscriptions } from './subscription-plan.ts';

const publicUrl = 'https://hooks.example.com';
const me = 'conn-me';
const other = 'conn-other';
const hookId = (n: number) => `hook${String(n).padStart(20, '0')}`;

function subscription(
  id: number,
  overrides: Partial<WebhookSubscriptionResource> = {},
): WebhookSubscriptionResource {
  return {
    uri: `https://api.calendly.com/webhook_subscriptions/S${id}`,
    callback_url: `${publicUrl}/webhooks/calendly/${hookId(id)}`,
    state: 'active',
    events: [...MEETING_EVENTS],
    scope: 'user',
    organization: 'https://api.calendly.com/organizations/O1',
    ...overrides,
  };
}

const known = (...hooks: KnownHook[]) => new Map(hooks.map((h) => [h.id, h]));
const hook = (n: number, connectionId: string, live = true): KnownHook => ({
  id: hookId(n),
  connectionId,
  live,
});

function plan(
  subscriptions: WebhookSubscriptionResource[],
  hooks: Map<string, KnownHook>,
  currentHookId: string | null = hookId(1),
) {
  return planSubscriptions({
    subscriptions,
    connectionId: me,
    currentHookId,
    publicUrl,
    knownHooks: hooks,
  });
}

const reasons = (p: ReturnType<typeof plan>) => p.remove.map((r) => r.reason);

describe('planSubscriptions', () => {
  it('keeps the live hook of this connection and creates nothing', () => {
    const p = plan([subscription(1)], known(hook(1, me)));
    expect(p.keep?.uri).toBe(subscription(1).uri);
    expect(p.create).toBe(false);
    expect(p.remove).toEqual([]);
  });

  it('creates one when Calendly holds none of ours', () => {
    const p = plan([], known(hook(1, me)));
    expect(p).toMatchObject({ keep: null, create: true, remove: [], untouched: [] });
  });

  it('deletes a disabled subscription and creates a new one', () => {
    const p = plan([subscription(1, { state: 'disabled' })], known(hook(1, me)));
    expect(reasons(p)).toEqual(['disabled']);
    expect(p.create).toBe(true);
  });

  it('keeps one of two copies of the live hook and deletes the other as a duplicate', () => {
    const copy = subscription(1, { uri: 'https://api.calendly.com/webhook_subscriptions/S1b' });
    const p = plan([subscription(1), copy], known(hook(1, me)));
    expect(p.keep?.uri).toBe(subscription(1).uri);
    expect(reasons(p)).toEqual(['duplicate']);
  });

  it('deletes ours with the wrong events or under an old public URL', () => {
    const wrongEvents = subscription(1, { events: ['invitee.created'] });
    expect(reasons(plan([wrongEvents], known(hook(1, me))))).toEqual(['wrong_events']);
    const moved = subscription(1, {
      callback_url: `https://old.example.com/webhooks/calendly/${hookId(1)}`,
    });
    expect(reasons(plan([moved], known(hook(1, me))))).toEqual(['old_public_url']);
  });

  it('deletes a retired hook of this connection and an unknown hook under our URL', () => {
    const p = plan([subscription(2), subscription(3)], known(hook(1, me), hook(2, me, false)));
    expect(reasons(p)).toEqual(['retired_hook', 'unknown_hook']);
  });

  it("never touches another app's URL or another connection's live hook", () => {
    const foreign = subscription(9, { callback_url: 'https://crm.example.org/calendly' });
    const theirs = subscription(4);
    const p = plan([foreign, theirs, subscription(1)], known(hook(1, me), hook(4, other)));
    expect(p.untouched.map((s) => s.uri)).toEqual([foreign.uri, theirs.uri]);
    expect(p.remove).toEqual([]);
  });

  it("deletes another connection's hook once it is no longer live", () => {
    const p = plan([subscription(4)], known(hook(4, other, false)), null);
    expect(reasons(p)).toEqual(['retired_hook']);
    expect(p.create).toBe(true);
  });

  it('leaves an unknown hook under an old URL alone: it may be another deployment', () => {
    const elsewhere = subscription(5, {
      callback_url: `https://staging.example.com/webhooks/calendly/${hookId(5)}`,
    });
    expect(plan([elsewhere], known()).untouched).toHaveLength(1);
  });
});
