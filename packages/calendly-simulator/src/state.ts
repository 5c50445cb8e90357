import type { RateLimiter } from './rate-limiter.ts';

/** Every OAuth scope the simulator knows; users are granted all of them unless told otherwise. */
export const ALL_SCOPES = [
  'users:read',
  'organizations:read',
  'event_types:read',
  'scheduled_events:read',
  'webhooks:read',
  'webhooks:write',
] as const;

export const WEBHOOK_EVENTS = [
  'invitee.created',
  'invitee.canceled',
  'invitee_no_show.created',
  'invitee_no_show.deleted',
  'routing_form_submission.created',
  'event_type.created',
  'event_type.updated',
  'event_type.deleted',
  'meeting_recap.created',
  'contact.created',
  'contact.updated',
  'contact.deleted',
] as const;

export type Plan = 'paid' | 'free';

export interface Organization {
  uri: string;
  createdAtMs: number;
}

export interface User {
  uri: string;
  name: string;
  email: string;
  slug: string;
  plan: Plan;
  role: 'owner' | 'user';
  /** The organization the user is in now. */
  organizationUri: string;
  /** Organizations the user left; their events stay there and still list under `user=`. */
  formerOrganizationUris: string[];
  scopes: string[];
  timezone: string;
  createdAtMs: number;
  updatedAtMs: number;
}

/** One issued pair (or a personal access token), like a Doorkeeper access-token row. */
export interface TokenGrant {
  kind: 'oauth' | 'personal';
  accessToken: string;
  refreshToken: string | null;
  userUri: string;
  clientId: string | null;
  scopes: string[];
  createdAtMs: number;
  expiresAtMs: number | null;
  revoked: boolean;
  refreshUsed: boolean;
}

export interface AuthorizationCode {
  code: string;
  clientId: string;
  redirectUri: string;
  userUri: string;
  codeChallenge: string | null;
  expiresAtMs: number;
  used: boolean;
}

export interface Subscription {
  uri: string;
  callbackUrl: string;
  events: string[];
  scope: 'user' | 'organization' | 'group';
  organizationUri: string;
  userUri: string | null;
  groupUri: string | null;
  creatorUri: string;
  /** The kind of token that created it, which decides the signing key by default. */
  createdWith: TokenGrant['kind'];
  signingKey: string | null;
  state: 'active' | 'disabled';
  retryStartedAtMs: number | null;
  /** Made through the control API to stand for another app's subscription on the same user. */
  foreign: boolean;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface Cancellation {
  canceledBy: string;
  reason: string | null;
  cancelerType: 'host' | 'invitee';
  createdAtMs: number;
}

export interface ScheduledEvent {
  uri: string;
  name: string;
  status: 'active' | 'canceled';
  startMs: number;
  endMs: number;
  eventTypeUri: string;
  hostUri: string;
  organizationUri: string;
  joinUrl: string;
  inviteeLimit: number;
  inviteeUris: string[];
  cancellation: Cancellation | null;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface QuestionAndAnswer {
  question: string;
  answer: string;
  position: number;
}

export interface Invitee {
  uri: string;
  eventUri: string;
  email: string;
  name: string;
  status: 'active' | 'canceled';
  timezone: string;
  questionsAndAnswers: QuestionAndAnswer[];
  rescheduled: boolean;
  oldInviteeUri: string | null;
  newInviteeUri: string | null;
  cancellation: Cancellation | null;
  noShow: { uri: string; createdAtMs: number } | null;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface Faults {
  duplicate: boolean;
  reorder: boolean;
  delayMs: number;
  drop: boolean;
  apiErrorRate: number;
  tokenEndpointDown: boolean;
  /** Share (0..1) of authenticated API calls answered 429, as if the user's limit were spent. */
  rateLimitRate: number;
  /** The `X-RateLimit-Reset` those injected 429s carry, in seconds. */
  rateLimitResetSeconds: number;
  /** `/oauth/token` answers leave out `owner` and `organization`, which nothing promises. */
  omitTokenOwner: boolean;
}

export const NO_FAULTS: Faults = {
  duplicate: false,
  reorder: false,
  delayMs: 0,
  drop: false,
  apiErrorRate: 0,
  tokenEndpointDown: false,
  rateLimitRate: 0,
  rateLimitResetSeconds: 1,
  omitTokenOwner: false,
};

/** Switches a test may flip while the simulator runs; `/_sim/reset` restores the options' values. */
export interface Settings {
  latencyMs: number;
  latencyJitterMs: number;
  freePlanWebhooks: 'allowed' | 'refused';
}

export interface TokenRequestRecord {
  at: string;
  grantType: string | null;
  userUri: string | null;
  status: number;
  /** 'ok' or the OAuth error code answered. */
  outcome: string;
}

export interface RequestCount {
  total: number;
  rateLimited: number;
}

type KeyOf<T> = (value: T) => string | null;

/**
 * Resources by URI, also filed under secondary keys (organization, host, owner...), so every
 * API call touches only the resources it is about. Scanning all resources per call made the
 * simulator's cost per call grow with the number of users it holds, so a bench with many
 * users measured the simulator as much as the code under test. The fields a key is made of
 * must not change while the resource is stored.
 */
export class Indexed<T, K extends string> extends Map<string, T> {
  readonly #keyOf: Record<K, KeyOf<T>>;
  readonly #filed = new Map<K, Map<string, Map<string, T>>>();

  constructor(keyOf: Record<K, KeyOf<T>>) {
    super();
    this.#keyOf = keyOf;
    for (const name of Object.keys(keyOf) as K[]) this.#filed.set(name, new Map());
  }

  override set(key: string, value: T): this {
    const previous = this.get(key);
    super.set(key, value);
    for (const [name, filed] of this.#filed) {
      const keyOf = this.#keyOf[name];
      const indexKey = keyOf(value);
      const previousKey = previous === undefined ? null : keyOf(previous);
      if (previousKey !== null && previousKey !== indexKey) unfile(filed, previousKey, key);
      if (indexKey === null) continue;
      let bucket = filed.get(indexKey);
      if (!bucket) {
        bucket = new Map();
        filed.set(indexKey, bucket);
      }
      // Map.set keeps an existing entry's place: a re-set resource keeps its order.
      bucket.set(key, value);
    }
    return this;
  }

  override delete(key: string): boolean {
    const previous = this.get(key);
    if (previous !== undefined) this.#unfile(key, previous);
    return super.delete(key);
  }

  override clear(): void {
    for (const filed of this.#filed.values()) filed.clear();
    super.clear();
  }

  /** The resources filed under `indexKey` in index `name`, in the order they were first set. */
  filed(name: K, indexKey: string): IterableIterator<T> {
    return (this.#filed.get(name)?.get(indexKey) ?? new Map<string, T>()).values();
  }

  #unfile(key: string, previous: T) {
    for (const [name, filed] of this.#filed) {
      const indexKey = this.#keyOf[name](previous);
      if (indexKey !== null) unfile(filed, indexKey, key);
    }
  }
}

function unfile<T>(filed: Map<string, Map<string, T>>, indexKey: string, key: string) {
  const bucket = filed.get(indexKey);
  bucket?.delete(key);
  if (bucket?.size === 0) filed.delete(indexKey);
}

/** Where a listing or a delivery looks for subscriptions: one organization, scope and owner. */
export function hookOwnerKey(
  organizationUri: string,
  scope: Subscription['scope'],
  ownerUri: string | null,
): string {
  return `${organizationUri} ${scope} ${ownerUri ?? ''}`;
}

export type Subscriptions = Indexed<Subscription, 'owner' | 'user'>;
export type ScheduledEvents = Indexed<ScheduledEvent, 'organization' | 'host'>;

export function createSubscriptions(): Subscriptions {
  return new Indexed<Subscription, 'owner' | 'user'>({
    owner: (s) => hookOwnerKey(s.organizationUri, s.scope, s.userUri ?? s.groupUri),
    user: (s) => s.userUri,
  });
}

export function createScheduledEvents(): ScheduledEvents {
  return new Indexed<ScheduledEvent, 'organization' | 'host'>({
    organization: (e) => e.organizationUri,
    host: (e) => e.hostUri,
  });
}

export interface SimState {
  organizations: Map<string, Organization>;
  users: Map<string, User>;
  /** The first user created with each email, for `sim_user=<email>`. */
  usersByEmail: Map<string, User>;
  grantsByAccess: Map<string, TokenGrant>;
  grantsByRefresh: Map<string, TokenGrant>;
  grantsByUser: Map<string, TokenGrant[]>;
  codes: Map<string, AuthorizationCode>;
  subscriptions: Subscriptions;
  events: ScheduledEvents;
  invitees: Map<string, Invitee>;
  faults: Faults;
  settings: Settings;
  tokenRequests: TokenRequestRecord[];
  requestCounts: Map<string, RequestCount>;
  apiLimiter: RateLimiter;
  tokenLimiter: RateLimiter;
}

export function createState(
  apiLimiter: RateLimiter,
  tokenLimiter: RateLimiter,
  settings: Settings,
): SimState {
  return {
    organizations: new Map(),
    users: new Map(),
    usersByEmail: new Map(),
    grantsByAccess: new Map(),
    grantsByRefresh: new Map(),
    grantsByUser: new Map(),
    codes: new Map(),
    subscriptions: createSubscriptions(),
    events: createScheduledEvents(),
    invitees: new Map(),
    faults: { ...NO_FAULTS },
    settings: { ...settings },
    tokenRequests: [],
    requestCounts: new Map(),
    apiLimiter,
    tokenLimiter,
  };
}

export function clearState(state: SimState, settings: Settings): void {
  state.organizations.clear();
  state.users.clear();
  state.usersByEmail.clear();
  state.grantsByAccess.clear();
  state.grantsByRefresh.clear();
  state.grantsByUser.clear();
  state.codes.clear();
  state.subscriptions.clear();
  state.events.clear();
  state.invitees.clear();
  state.faults = { ...NO_FAULTS };
  state.settings = { ...settings };
  state.tokenRequests.length = 0;
  state.requestCounts.clear();
  state.apiLimiter.clear();
  state.tokenLimiter.clear();
}
