// Seeding many users in one call, for benches: each gets an organization, a token, optionally a
// user-scoped webhook subscription and a few bookings. Nothing is delivered.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { addUser, type Failure, issueGrant } from './accounts.ts';
import { apiUri, uuid } from './ids.ts';
import { seedBooking } from './scheduling.ts';
import {
  type Plan,
  type SimState,
  type Subscription,
  type TokenGrant,
  WEBHOOK_EVENTS,
} from './state.ts';

export const MAX_BULK_USERS = 100_000;
export const MAX_BULK_EVENTS_PER_USER = 50;

export interface BulkUsersInput {
  count: number;
  plan?: Plan;
  /** Upcoming bookings per user (one event, one invitee each). Default 0. */
  eventsPerUser?: number;
  /** 'oauth' (default): a token pair as `/oauth/token` issues it; 'personal': a personal token. */
  tokens?: 'oauth' | 'personal';
  /** When set, each user gets a user-scoped subscription to this URL, created with its token. */
  webhookUrl?: string;
  /** The subscriptions' events. Default invitee.created and invitee.canceled. */
  webhookEvents?: string[];
  /** The subscriptions' own signing key. */
  signingKey?: string;
}

/**
 * One column per field, index i being the i-th user: 100,000 users as objects would repeat
 * every key 100,000 times in the answer.
 */
export interface BulkUsers {
  users: string[];
  organizations: string[];
  accessTokens: string[];
  /** Null for personal tokens. */
  refreshTokens: string[] | null;
  /** Seconds each access token lives; null for personal tokens (they never expire). */
  expiresIn: number | null;
  /** Null when no `webhookUrl` was given. */
  subscriptions: string[] | null;
}

const CHUNK = 1000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export function checkBulkInput(input: BulkUsersInput): string | null {
  const { count, eventsPerUser = 0, tokens = 'oauth', webhookUrl } = input;
  if (!Number.isInteger(count) || count < 1 || count > MAX_BULK_USERS) {
    return `count must be a whole number from 1 to ${MAX_BULK_USERS}`;
  }
  if (!Number.isInteger(eventsPerUser) || eventsPerUser < 0) {
    return 'eventsPerUser must be a whole number >= 0';
  }
  if (eventsPerUser > MAX_BULK_EVENTS_PER_USER) {
    return `eventsPerUser must be at most ${MAX_BULK_EVENTS_PER_USER}`;
  }
  if (tokens !== 'oauth' && tokens !== 'personal') return 'tokens must be oauth or personal';
  if (input.plan !== undefined && input.plan !== 'paid' && input.plan !== 'free') {
    return 'plan must be paid or free';
  }
  for (const event of input.webhookEvents ?? []) {
    if (!(WEBHOOK_EVENTS as readonly string[]).includes(event)) {
      return `webhookEvents: ${event} is not a webhook event`;
    }
  }
  if (webhookUrl !== undefined && !URL.canParse(webhookUrl)) return 'webhookUrl is not a URL';
  return null;
}

export async function seedUsers(
  state: SimState,
  now: () => number,
  options: { clientId: string; accessTokenLifetimeSeconds: number },
  input: BulkUsersInput,
): Promise<{ ok: true; value: BulkUsers } | Failure> {
  const problem = checkBulkInput(input);
  if (problem) return { ok: false, status: 400, message: problem };
  const kind = input.tokens ?? 'oauth';
  const eventsPerUser = input.eventsPerUser ?? 0;
  const events = input.webhookEvents ?? ['invitee.created', 'invitee.canceled'];
  const out: BulkUsers = {
    users: [],
    organizations: [],
    accessTokens: [],
    refreshTokens: kind === 'oauth' ? [] : null,
    expiresIn: kind === 'oauth' ? options.accessTokenLifetimeSeconds : null,
    subscriptions: input.webhookUrl ? [] : null,
  };
  for (let i = 0; i < input.count; i += 1) {
    // Between chunks the loop serves other calls and deliveries; a bench's health checks and
    // timeouts keep working while 100,000 users are seeded.
    if (i > 0 && i % CHUNK === 0) await yieldToLoop();
    const at = now();
    const added = addUser(state, at, { plan: input.plan });
    if (!added.ok) return added;
    const { user } = added;
    const grant: TokenGrant = issueGrant(state, user, {
      kind,
      clientId: kind === 'oauth' ? options.clientId : null,
      now: at,
      lifetimeSeconds: kind === 'oauth' ? options.accessTokenLifetimeSeconds : null,
    });
    out.users.push(user.uri);
    out.organizations.push(user.organizationUri);
    out.accessTokens.push(grant.accessToken);
    out.refreshTokens?.push(grant.refreshToken ?? '');
    if (input.webhookUrl) {
      const subscription: Subscription = {
        uri: apiUri(`/webhook_subscriptions/${uuid()}`),
        callbackUrl: input.webhookUrl,
        events: [...events],
        scope: 'user',
        organizationUri: user.organizationUri,
        userUri: user.uri,
        groupUri: null,
        creatorUri: user.uri,
        createdWith: kind,
        signingKey: input.signingKey ?? null,
        state: 'active',
        retryStartedAtMs: null,
        foreign: false,
        createdAtMs: at,
        updatedAtMs: at,
      };
      state.subscriptions.set(subscription.uri, subscription);
      out.subscriptions?.push(subscription.uri);
    }
    // Bookings on the hour, a day apart, from tomorrow on.
    const first = Math.ceil((at + DAY_MS) / HOUR_MS) * HOUR_MS;
    for (let e = 0; e < eventsPerUser; e += 1) {
      seedBooking(state, user, at, {
        startMs: first + e * DAY_MS,
        inviteeEmail: `invitee-${e}-${user.slug}@example.com`,
        inviteeName: `Invitee ${e}`,
      });
    }
  }
  return { ok: true, value: out };
}
